"""Loading sentence-transformers models for mining, training and merging, offline first (registry names work)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from medcore.models import ModelSpec, load_sentence_transformer, pick_device, resolve

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)


def load_model(name: str, device: str = "auto", allow_download: bool = False) -> tuple[ModelSpec, SentenceTransformer]:
    """``(spec, model)`` for a registry name, a local folder or a cached hub id.

    Raises:
        ModelUnavailableError: the model is neither on disk nor in the Hugging Face cache (and downloads are off).
    """
    spec = resolve(name)
    device = pick_device(device)
    logger.info("Loading %s on %s", spec.name, device)
    return spec, load_sentence_transformer(spec, device, allow_download)
