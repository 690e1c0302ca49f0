"""Approximate dense search for large indexes: an IVF or HNSW structure built beside the exact flat index.

The exact ``IndexIDMap2(IndexFlatIP)`` in :mod:`indexer.index.local.dense` stays the source of truth (add, remove,
save). Past ``threshold`` vectors, an approximate index over the same ids answers searches:

- ``ivf``: ``IndexIVFFlat`` (inner product, ``nlist`` k-means lists, ``nprobe`` searched). It takes adds and
  removes in place; it is retrained from the flat vectors when the index has grown past 4x its training size.
- ``hnsw``: ``IndexIDMap(IndexHNSWFlat)`` (``M`` links, ``efSearch``). It takes adds; removed ids become
  tombstones (left out of results; a search asks for that many more) until they exceed ``MAX_TOMBSTONES`` or 10%
  of the index, when it is rebuilt from the flat vectors.

Both keep full vectors, so scores are exact inner products (only which vectors are scored is approximate). The
approximate index is saved as ``ann.index`` + ``ann.json`` in the same version folder as ``faiss.index``.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from indexer.index.local.faiss_lib import load_faiss

if TYPE_CHECKING:
    from medcore.config import IndexSettings

logger = logging.getLogger(__name__)

ANN_FILE = "ann.index"
ANN_META = "ann.json"
ANN_DELETED = "ann_deleted.npy"
MAX_TOMBSTONES = 2000  # HNSW: removed ids kept as tombstones before a rebuild
RETRAIN_GROWTH = 4.0  # retrain IVF when the index holds this many times the vectors it was trained on


@dataclass(frozen=True)
class AnnConfig:
    """When and how to search approximately (the ``index.ann*`` settings)."""

    kind: str = "hnsw"  # hnsw | ivf | none
    threshold: int = 50_000
    nlist: int = 0  # 0: auto
    nprobe: int = 128
    hnsw_m: int = 32
    ef_search: int = 256

    @classmethod
    def from_settings(cls, index: IndexSettings) -> AnnConfig:
        return cls(index.ann, index.ann_threshold, index.ann_nlist, index.ann_nprobe, index.ann_hnsw_m,
                   index.ann_ef_search)

    def wanted(self, n: int) -> bool:
        return self.kind != "none" and n > self.threshold

    def lists_for(self, n: int) -> int:
        """IVF lists: ``nlist``, or 4 * sqrt(n) rounded down to a power of two (at most n / 39)."""
        if self.nlist:
            return self.nlist
        return max(1, min(2 ** int(math.log2(max(4 * math.sqrt(n), 1))), n // 39))


class AnnIndex:
    """One approximate index over ``(ids, vectors)``; ``meta`` records how it was built."""

    def __init__(self, index, meta: dict, deleted: np.ndarray | None = None) -> None:  # noqa: ANN001 - faiss
        self.index = index
        self.meta = meta
        self.deleted: set[int] = set() if deleted is None else {int(i) for i in deleted}  # HNSW tombstones

    @classmethod
    def build(cls, ids: np.ndarray, vectors: np.ndarray, config: AnnConfig, seed: int = 0) -> AnnIndex:
        """Train (IVF) and fill an approximate index with ``vectors`` ``(n, dim)`` for chunk ``ids`` ``(n,)``."""
        faiss = load_faiss()
        n, dim = vectors.shape
        start = time.perf_counter()
        if config.kind == "hnsw":
            index = faiss.IndexIDMap(faiss.IndexHNSWFlat(dim, config.hnsw_m, faiss.METRIC_INNER_PRODUCT))
            meta = {"kind": "hnsw", "M": config.hnsw_m}
        else:
            nlist = config.lists_for(n)
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
            sample = vectors
            if n > nlist * 64:  # k-means on a sample: 64 points per list is plenty
                rows = np.random.default_rng(seed).choice(n, nlist * 64, replace=False)
                sample = vectors[np.sort(rows)]
            index.train(np.ascontiguousarray(sample, dtype=np.float32))
            meta = {"kind": "ivf", "nlist": nlist, "trained_n": n}
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))
        meta["build_s"] = round(time.perf_counter() - start, 2)
        logger.info("Built %s approximate index over %d vectors in %.1f s", meta["kind"], n, meta["build_s"])
        return cls(index, meta)

    def __len__(self) -> int:
        """Live vectors (tombstones not counted)."""
        return int(self.index.ntotal) - len(self.deleted)

    def fits(self, config: AnnConfig, n: int) -> bool:
        """Whether this index still serves ``config`` at ``n`` vectors (else rebuild it)."""
        if self.meta.get("kind") != config.kind:
            return False
        if config.kind == "hnsw":
            return self.meta.get("M") == config.hnsw_m
        trained = self.meta.get("trained_n", 0)
        return n <= trained * RETRAIN_GROWTH and (not config.nlist or self.meta.get("nlist") == config.nlist)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))

    def remove(self, ids: np.ndarray) -> bool:
        """Remove ``ids`` (IVF: in place; HNSW: as tombstones); False when the index should be rebuilt instead."""
        if self.meta.get("kind") == "ivf":
            self.index.remove_ids(np.asarray(ids, dtype=np.int64))
            return True
        self.deleted.update(int(i) for i in ids)
        return len(self.deleted) <= min(MAX_TOMBSTONES, 0.1 * self.index.ntotal)

    def search(self, queries: np.ndarray, k: int, config: AnnConfig) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, ids)``, each ``(n_queries, k)``; ids are -1 where fewer than k were found."""
        faiss = load_faiss()
        if self.meta.get("kind") == "hnsw":  # set on the HNSW itself: IndexIDMap may not pass parameters on
            extra = min(len(self.deleted), int(self.index.ntotal) - k) if self.deleted else 0
            faiss.downcast_index(self.index.index).hnsw.efSearch = max(config.ef_search, k + extra)
            scores, ids = self.index.search(queries, k + extra)
            return _drop_deleted(scores, ids, self.deleted, k) if extra else (scores, ids)
        params = faiss.SearchParametersIVF(nprobe=min(config.nprobe, self.meta["nlist"]))
        return self.index.search(queries, k, params=params)

    def nbytes(self) -> int:
        return int(load_faiss().serialize_index(self.index).nbytes)

    def save(self, directory: Path) -> None:
        load_faiss().write_index(self.index, str(directory / ANN_FILE))
        (directory / ANN_META).write_text(json.dumps({**self.meta, "tombstones": len(self.deleted)}),
                                          encoding="utf-8")
        if self.deleted:
            np.save(directory / ANN_DELETED, np.fromiter(sorted(self.deleted), dtype=np.int64))

    @classmethod
    def load(cls, directory: Path) -> AnnIndex | None:
        if not (directory / ANN_FILE).is_file():
            return None
        meta = json.loads((directory / ANN_META).read_text(encoding="utf-8"))
        meta.pop("tombstones", None)
        deleted = np.load(directory / ANN_DELETED) if (directory / ANN_DELETED).is_file() else None
        return cls(load_faiss().read_index(str(directory / ANN_FILE)), meta, deleted)


def _drop_deleted(scores: np.ndarray, ids: np.ndarray, deleted: set[int], k: int) -> tuple[np.ndarray, np.ndarray]:
    """The best ``k`` per row of ``(scores, ids)`` that are not tombstones; -1 ids pad short rows."""
    out_s = np.full((len(ids), k), -np.inf, dtype=np.float32)
    out_i = np.full((len(ids), k), -1, dtype=np.int64)
    for row, (s_row, i_row) in enumerate(zip(scores, ids, strict=True)):
        keep = [j for j, i in enumerate(i_row) if i >= 0 and int(i) not in deleted][:k]
        out_s[row, : len(keep)], out_i[row, : len(keep)] = s_row[keep], i_row[keep]
    return out_s, out_i
