"""Load embedding models from the registry (offline first) and encode queries and passages."""

from __future__ import annotations

import functools
import logging
import os
from typing import TYPE_CHECKING

import numpy as np

from medcore.config import Settings
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


def _unavailable(spec: ModelSpec, why: str) -> ModelUnavailableError:
    how = (
        f"set MEDEMBED_MODELS_ALLOW_DOWNLOAD=1 on a machine with network access to fetch {spec.hub_id}, "
        f"or download it elsewhere and pass its folder (--model /path/to/{spec.hub_id.split('/')[-1]})"
        if spec.hub_id
        else "check the path, or train the model first (see README: medembed train)"
    )
    return ModelUnavailableError(f"Model '{spec.name}' is not available: {why}. To use it, {how}.")


def _load_sentence_transformer(spec: ModelSpec, device: str, allow_download: bool, cache_dir: str | None):
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights" bars on every load; our own bars say what matters
    if spec.local_path is not None and spec.local_path.is_dir():
        return SentenceTransformer(str(spec.local_path), device=device)
    if spec.hub_id is None:
        raise _unavailable(spec, f"no model folder at {spec.local_path}")
    try:
        return SentenceTransformer(spec.hub_id, device=device, local_files_only=True, cache_folder=cache_dir)
    except Exception as exc:  # noqa: BLE001 - huggingface raises many kinds of errors for a cache miss
        if not allow_download or os.environ.get("HF_HUB_OFFLINE") == "1":
            raise _unavailable(spec, "it is not in the local Hugging Face cache and downloads are off") from exc
    os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", "10")
    os.environ.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", "30")
    try:
        return SentenceTransformer(spec.hub_id, device=device, cache_folder=cache_dir)
    except Exception as exc:  # noqa: BLE001
        raise _unavailable(spec, f"downloading {spec.hub_id} failed ({type(exc).__name__}: {exc})") from exc


@functools.lru_cache(maxsize=8)
def _cached_model(spec: ModelSpec, device: str, allow_download: bool, cache_dir: str | None) -> SentenceTransformer:
    logger.info("Loading model %s on %s", spec.name, device)
    return _load_sentence_transformer(spec, device, allow_download, cache_dir)


class Embedder:
    """A sentence-transformers model with the registry's prefixes; returns L2-normalised float32 vectors."""

    def __init__(self, spec: ModelSpec, model: SentenceTransformer, batch_size: int = 64) -> None:
        self.spec = spec
        self.model = model
        self.batch_size = batch_size

    @classmethod
    def load(cls, name: str, settings: Settings | None = None) -> Embedder:
        """Load a registry name, local folder or hub id; raises :class:`ModelUnavailableError` when it cannot."""
        settings = settings or Settings()
        spec = resolve(name)
        cache = str(settings.models.cache_dir) if settings.models.cache_dir else None
        model = _cached_model(spec, pick_device(settings.index.device), settings.models.allow_download, cache)
        return cls(spec, model, settings.index.batch_size)

    @property
    def dimension(self) -> int:
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(get_dim())

    @property
    def max_seq_length(self) -> int:
        return int(self.model.max_seq_length)

    def encode_queries(self, queries: list[str]) -> np.ndarray:
        """``(n_queries, dim)`` float32, normalised."""
        return self._encode([self.spec.query_prefix + q for q in queries], show_progress_bar=False)

    def encode_passages(self, passages: list[str], show_progress_bar: bool | None = None) -> np.ndarray:
        """``(n_passages, dim)`` float32, normalised. Batches are length-sorted by sentence-transformers."""
        return self._encode([self.spec.passage_prefix + p for p in passages], show_progress_bar=show_progress_bar)

    def _encode(self, texts: list[str], show_progress_bar: bool | None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if show_progress_bar is None:
            show_progress_bar = logger.getEffectiveLevel() <= logging.INFO and len(texts) > 256
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=show_progress_bar,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)
