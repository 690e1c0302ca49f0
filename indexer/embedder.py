"""Load embedding models from the registry (offline first) and encode queries and passages."""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING

import numpy as np

from medcore.config import Settings
from medcore.models import ModelSpec, load_sentence_transformer, pick_device, resolve

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=8)
def _cached_model(spec: ModelSpec, device: str, allow_download: bool, cache_dir: str | None) -> SentenceTransformer:
    logger.info("Loading model %s on %s", spec.name, device)
    return load_sentence_transformer(spec, device, allow_download, cache_dir)


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
