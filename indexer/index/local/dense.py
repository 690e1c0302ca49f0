"""The dense index: normalised vectors in FAISS, inner product, addressed by chunk id.

Exact search (``IndexIDMap2(IndexFlatIP)``) up to ``AnnConfig.threshold`` vectors; past it, an approximate IVF or
HNSW index built beside the flat one answers searches (:mod:`indexer.index.local.ann`). The flat index stays the
source of truth for adds, removes and rebuilds.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from indexer.index.local.ann import AnnConfig, AnnIndex
from indexer.index.local.faiss_lib import load_faiss
from medcore.errors import MedEmbedError

logger = logging.getLogger(__name__)

FAISS_FILE = "faiss.index"


class DenseIndex:
    """Inner-product search over chunk vectors: exact (``IndexIDMap2(IndexFlatIP)``, moved to a GPU when present)
    up to ``ann.threshold`` vectors, approximate past it (``ann``: :class:`indexer.index.local.ann.AnnConfig`;
    default: the ``index.ann*`` defaults)."""

    def __init__(self, dimension: int, index=None, ann: AnnConfig | None = None,  # noqa: ANN001 - faiss object
                 ann_index: AnnIndex | None = None) -> None:
        faiss = load_faiss()
        self.dimension = dimension
        self.index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
        self.ann_config = ann or AnnConfig()
        self.ann: AnnIndex | None = ann_index
        self._ann_stale = ann_index is None or not ann_index.fits(self.ann_config, len(self))
        self._search_index = None  # a GPU copy, made on first search

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def ids(self) -> np.ndarray:
        """Chunk ids held, ``(n,)`` int64."""
        faiss = load_faiss()
        return faiss.vector_to_array(self.index.id_map).astype(np.int64)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add ``vectors`` ``(n, dim)`` for chunk ``ids`` ``(n,)``."""
        if vectors.shape[1] != self.dimension:
            raise MedEmbedError(f"Vectors have dimension {vectors.shape[1]}, the index {self.dimension}.")
        self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))
        self._search_index = None
        if self.ann is not None and not self._ann_stale and len(ids):
            if self.ann.deleted.intersection(int(i) for i in ids):
                self._ann_stale = True  # an id coming back over its own tombstone: rebuild
            else:
                self.ann.add(ids, vectors)
        self._ann_stale = self._ann_stale or self.ann is None or not self.ann.fits(self.ann_config, len(self))

    def remove(self, ids: np.ndarray) -> int:
        if len(ids) == 0:
            return 0
        removed = int(self.index.remove_ids(np.asarray(ids, dtype=np.int64)))
        self._search_index = None
        if self.ann is not None and not self._ann_stale and not self.ann.remove(ids):
            self._ann_stale = True
        return removed

    def vectors(self) -> np.ndarray:
        """All vectors, ``(n, dim)`` float32, in the order of :meth:`ids`."""
        flat = load_faiss().downcast_index(self.index.index)
        return flat.reconstruct_n(0, len(self)) if len(self) else np.zeros((0, self.dimension), dtype=np.float32)

    def refresh_ann(self) -> None:
        """Build (or drop) the approximate index so it matches the size and settings; a no-op when it does."""
        if not self.ann_config.wanted(len(self)):
            self.ann, self._ann_stale = None, False
            return
        if self._ann_stale or self.ann is None:
            self.ann = AnnIndex.build(self.ids(), self.vectors(), self.ann_config)
            self._ann_stale = False

    @property
    def approximate(self) -> bool:
        """Whether searches go to the approximate index (after :meth:`refresh_ann`)."""
        return self.ann_config.wanted(len(self))

    def search(self, queries: np.ndarray, k: int) -> list[dict[int, float]]:
        """For each query vector ``(n_queries, dim)``, ``{chunk_id: inner product}`` best first."""
        if len(self) == 0 or len(queries) == 0:
            return [{} for _ in range(len(queries))]
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if self.approximate:
            self.refresh_ann()
            scores, ids = self.ann.search(queries, min(k, len(self)), self.ann_config)
        else:
            if self._search_index is None:
                self._search_index = _maybe_gpu(self.index)
            scores, ids = self._search_index.search(queries, min(k, len(self)))
        return [
            {int(i): float(s) for i, s in zip(row_ids, row_scores, strict=True) if i >= 0}
            for row_ids, row_scores in zip(ids, scores, strict=True)
        ]

    def save(self, directory: Path) -> None:
        """Write ``faiss.index`` and, past the threshold, the approximate index (built or updated first)."""
        load_faiss().write_index(self.index, str(directory / FAISS_FILE))
        self.refresh_ann()
        if self.ann is not None:
            self.ann.save(directory)

    def info(self) -> dict:
        """What the manifest records about the search structure."""
        out: dict = {"exact": "IndexIDMap2(IndexFlatIP)", "approximate": None, "ann_settings": vars(self.ann_config)}
        if self.ann is not None:
            out["approximate"] = self.ann.meta
        return out

    @classmethod
    def load(cls, directory: Path, dimension: int, ann: AnnConfig | None = None) -> DenseIndex:
        """Read a version folder; its approximate index is used when it still fits ``ann`` (else rebuilt lazily)."""
        index = load_faiss().read_index(str(directory / FAISS_FILE))
        if index.d != dimension:
            raise MedEmbedError(f"{directory} holds {index.d}-d vectors, the manifest says {dimension}.")
        config = ann or AnnConfig()
        ann_index = AnnIndex.load(directory) if config.wanted(int(index.ntotal)) else None
        if ann_index is not None and len(ann_index) != index.ntotal:
            logger.warning("%s: the approximate index holds %d vectors, the exact one %d; rebuilding it.",
                           directory, len(ann_index), index.ntotal)
            ann_index = None
        return cls(dimension, index, config, ann_index)


def _maybe_gpu(index):  # noqa: ANN001, ANN202 - faiss objects
    """A GPU copy of ``index`` for searching when faiss-gpu and a GPU are present; else the index itself."""
    faiss = load_faiss()
    if not hasattr(faiss, "StandardGpuResources") or faiss.get_num_gpus() < 1 or index.ntotal == 0:
        return index
    try:
        return faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
    except Exception:  # noqa: BLE001 - fall back to CPU search
        logger.warning("Could not move the FAISS index to the GPU; searching on CPU.", exc_info=True)
        return index
