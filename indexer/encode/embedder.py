"""Load embedding models from the registry (offline first) and encode queries and passages."""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from indexer.encode.onnx_encoder import FAST_KINDS, OnnxEncoder, default_export_dir, exported_model
from medcore.config import Settings
from medcore.errors import ModelUnavailableError
from medcore.models import ModelSpec, load_sentence_transformer, pick_device, resolve
from medcore.progress import show_progress

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=8)
def _cached_model(spec: ModelSpec, device: str, allow_download: bool, cache_dir: str | None) -> SentenceTransformer:
    logger.info("Loading model %s on %s", spec.name, device)
    return load_sentence_transformer(spec, device, allow_download, cache_dir)


@functools.lru_cache(maxsize=8)
def _cached_fast_encoder(model: SentenceTransformer, spec: ModelSpec, kind: str, threads: int,
                         export_dir: Path) -> OnnxEncoder | None:
    """The ONNX Runtime / OpenVINO encoder of ``kind``, or None (torch) when the model cannot be exported."""
    try:
        path = exported_model(model, spec.local_path, spec.name, kind, export_dir)
        return OnnxEncoder(model, path, kind, threads)
    except (ModelUnavailableError, OSError, RuntimeError) as exc:  # not exportable, no cache folder, runtime error
        logger.warning("Cannot use the %s encoder (%s); encoding with torch instead.", kind, exc)
        return None


class Embedder:
    """A sentence-transformers model with the registry's prefixes; returns L2-normalised float32 vectors.

    Passages go through ``passage_encoder`` and queries through ``query_encoder`` when set (ONNX Runtime or
    OpenVINO, :mod:`indexer.encode.onnx_encoder`), else through the torch model.
    """

    def __init__(self, spec: ModelSpec, model: SentenceTransformer, batch_size: int = 64,
                 passage_encoder: OnnxEncoder | None = None, query_encoder: OnnxEncoder | None = None) -> None:
        self.spec = spec
        self.model = model
        self.batch_size = batch_size
        self.passage_encoder = passage_encoder
        self.query_encoder = query_encoder

    @classmethod
    def load(cls, name: str, settings: Settings | None = None) -> Embedder:
        """Load a registry name, local folder or hub id; raises :class:`ModelUnavailableError` when it cannot."""
        settings = settings or Settings()
        spec = resolve(name)
        cache = str(settings.models.cache_dir) if settings.models.cache_dir else None
        device = pick_device(settings.index.device)
        model = _cached_model(spec, device, settings.models.allow_download, cache)
        idx = settings.index
        export_dir = idx.export_dir or default_export_dir(settings.models.cache_dir)

        def fast(kind: str, threads: int) -> OnnxEncoder | None:
            if kind not in FAST_KINDS or device != "cpu":
                return None
            return _cached_fast_encoder(model, spec, kind, threads, Path(export_dir))

        return cls(spec, model, idx.batch_size, fast(idx.encoder, idx.encoder_threads),
                   fast(idx.query_encoder, idx.query_threads))

    @property
    def encoder_name(self) -> str:
        """What encodes passages: ``torch`` or an ONNX kind (recorded in the dense index manifest)."""
        return self.passage_encoder.kind if self.passage_encoder is not None else "torch"

    @property
    def dimension(self) -> int:
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(get_dim())

    @property
    def max_seq_length(self) -> int:
        return int(self.model.max_seq_length)

    def encode_queries(self, queries: list[str]) -> np.ndarray:
        """``(n_queries, dim)`` float32, normalised."""
        texts = [self.spec.query_prefix + q for q in queries]
        if self.query_encoder is not None and texts:
            return self.query_encoder.encode(texts, self.batch_size)
        return self._encode(texts, show_progress_bar=False)

    def encode_passages(self, passages: list[str], show_progress_bar: bool | None = None) -> np.ndarray:
        """``(n_passages, dim)`` float32, normalised. Batches are length-sorted (here or by sentence-transformers)."""
        texts = [self.spec.passage_prefix + p for p in passages]
        show_progress_bar = show_progress(show_progress_bar, logger, len(texts), more_than=256)
        if self.passage_encoder is not None and texts:
            return self.passage_encoder.encode(texts, self.batch_size, show_progress_bar)
        return self._encode(texts, show_progress_bar=show_progress_bar)

    def encode_sentences(self, sentences: list[str]) -> np.ndarray:
        """``(n_sentences, dim)`` float32, normalised: short passage-side texts embedded at query time (key
        sentences). They carry the passage prefix but run on the query encoder, which is set up for short texts on
        one thread (the passage encoder takes every core, which a search beside other users' searches must not)."""
        texts = [self.spec.passage_prefix + s for s in sentences]
        if self.query_encoder is not None and texts:
            return self.query_encoder.encode(texts, self.batch_size)
        return self._encode(texts, show_progress_bar=False)

    def _encode(self, texts: list[str], show_progress_bar: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=show_progress_bar,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)
