"""Loading sentence-transformers models for mining, training and merging, offline first (registry names work)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from medcore.errors import ModelUnavailableError
from medcore.models import ModelSpec, resolve

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)


def pick_device(device: str = "auto") -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_model(name: str, device: str = "auto", allow_download: bool = False) -> tuple[ModelSpec, SentenceTransformer]:
    """``(spec, model)`` for a registry name, a local folder or a cached hub id.

    Raises:
        ModelUnavailableError: the model is neither on disk nor in the Hugging Face cache (and downloads are off).
    """
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    if not logger.isEnabledFor(logging.INFO):  # -q: no "Loading weights" / "Writing model shards" bars either
        hf_logging.disable_progress_bar()
    spec = resolve(name)
    device = pick_device(device)
    if spec.local_path is not None and spec.local_path.is_dir():
        logger.info("Loading %s from %s on %s", spec.name, spec.local_path, device)
        return spec, SentenceTransformer(str(spec.local_path), device=device)
    if spec.hub_id is None:
        raise ModelUnavailableError(f"Model '{name}' has no folder at {spec.local_path}; train it first or pass "
                                    "another --base-model.")
    try:
        return spec, SentenceTransformer(spec.hub_id, device=device, local_files_only=not allow_download)
    except Exception as exc:  # noqa: BLE001 - the hub raises many kinds of errors for a cache miss
        raise ModelUnavailableError(
            f"Model '{name}' ({spec.hub_id}) is not on disk or in the Hugging Face cache ({type(exc).__name__}). "
            "Pass a local model folder, or set MEDEMBED_MODELS_ALLOW_DOWNLOAD=1 where the hub can be reached."
        ) from None
