"""The dense index: normalised vectors in FAISS, inner product, addressed by chunk id."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from medcore.errors import MedEmbedError

logger = logging.getLogger(__name__)

FAISS_FILE = "faiss.index"


def _faiss():
    try:
        import faiss
    except ImportError:
        raise MedEmbedError("faiss is not installed; run `pip install faiss-cpu` (or `.[gpu]`).") from None
    return faiss


class DenseIndex:
    """Exact inner-product search over chunk vectors (``IndexIDMap2(IndexFlatIP)``), moved to a GPU when present."""

    def __init__(self, dimension: int, index=None) -> None:  # noqa: ANN001 - faiss object
        faiss = _faiss()
        self.dimension = dimension
        self.index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
        self._search_index = None  # a GPU copy, made on first search

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def ids(self) -> np.ndarray:
        """Chunk ids held, ``(n,)`` int64."""
        faiss = _faiss()
        return faiss.vector_to_array(self.index.id_map).astype(np.int64)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add ``vectors`` ``(n, dim)`` for chunk ``ids`` ``(n,)``."""
        if vectors.shape[1] != self.dimension:
            raise MedEmbedError(f"Vectors have dimension {vectors.shape[1]}, the index {self.dimension}.")
        self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))
        self._search_index = None

    def remove(self, ids: np.ndarray) -> int:
        if len(ids) == 0:
            return 0
        removed = int(self.index.remove_ids(np.asarray(ids, dtype=np.int64)))
        self._search_index = None
        return removed

    def search(self, queries: np.ndarray, k: int) -> list[dict[int, float]]:
        """For each query vector ``(n_queries, dim)``, ``{chunk_id: inner product}`` best first."""
        if len(self) == 0 or len(queries) == 0:
            return [{} for _ in range(len(queries))]
        if self._search_index is None:
            self._search_index = _maybe_gpu(self.index)
        scores, ids = self._search_index.search(np.ascontiguousarray(queries, dtype=np.float32), min(k, len(self)))
        return [
            {int(i): float(s) for i, s in zip(row_ids, row_scores, strict=True) if i >= 0}
            for row_ids, row_scores in zip(ids, scores, strict=True)
        ]

    def save(self, directory: Path) -> None:
        _faiss().write_index(self.index, str(directory / FAISS_FILE))

    @classmethod
    def load(cls, directory: Path, dimension: int) -> DenseIndex:
        index = _faiss().read_index(str(directory / FAISS_FILE))
        if index.d != dimension:
            raise MedEmbedError(f"{directory} holds {index.d}-d vectors, the manifest says {dimension}.")
        return cls(dimension, index)


def _maybe_gpu(index):  # noqa: ANN001, ANN202 - faiss objects
    """A GPU copy of ``index`` for searching when faiss-gpu and a GPU are present; else the index itself."""
    faiss = _faiss()
    if not hasattr(faiss, "StandardGpuResources") or faiss.get_num_gpus() < 1 or index.ntotal == 0:
        return index
    try:
        return faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
    except Exception:  # noqa: BLE001 - fall back to CPU search
        logger.warning("Could not move the FAISS index to the GPU; searching on CPU.", exc_info=True)
        return index
