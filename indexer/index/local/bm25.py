"""The BM25 index (bm25s) over :mod:`medcore.analysis` terms, addressed by chunk id."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from medcore.analysis import BM25_B, BM25_K1, bm25s_module, tokenize

logger = logging.getLogger(__name__)

IDS_FILE = "bm25_ids.npy"


def scoring_backend(backend: str, n_chunks: int, numba_min_chunks: int = 20_000) -> str:
    """``numpy`` or ``numba`` for bm25s scoring. ``auto``: numba (about 10x faster per query, but a few seconds of
    JIT compilation once per process) when it is installed and the index has ``numba_min_chunks`` or more."""
    if backend == "auto":
        if n_chunks < numba_min_chunks:
            return "numpy"
        try:
            import numba  # noqa: F401
        except ImportError:
            return "numpy"
        return "numba"
    return backend


class BM25Index:
    """Okapi BM25 (Lucene variant) over chunk texts. Built whole; ``ids[i]`` is the chunk id of row ``i``.

    ``backend`` picks bm25s's scoring (:func:`scoring_backend`); both give the same scores.
    """

    def __init__(self, retriever, ids: np.ndarray, backend: str = "auto",  # noqa: ANN001 - bm25s.BM25
                 numba_min_chunks: int = 20_000) -> None:
        self.retriever = retriever
        self.ids = np.asarray(ids, dtype=np.int64)
        self.backend = scoring_backend(backend, len(self.ids), numba_min_chunks)
        self.retriever.backend = self.backend

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def build(cls, ids: Sequence[int], texts: Sequence[str], k1: float = BM25_K1, b: float = BM25_B,
              method: str = "lucene", backend: str = "auto", numba_min_chunks: int = 20_000) -> BM25Index:
        """Index ``texts`` (row ``i`` is chunk ``ids[i]``); ``method`` is a bm25s variant (lucene, robertson, ...)."""
        retriever = bm25s_module().BM25(k1=k1, b=b, method=method)
        if len(texts):
            retriever.index(tokenize(texts), show_progress=False)
        return cls(retriever, np.asarray(ids, dtype=np.int64), backend, numba_min_chunks)

    def search(self, queries: Sequence[str], k: int) -> list[dict[int, float]]:
        """For each query, ``{chunk_id: bm25 score}`` best first; chunks that match no query term are left out."""
        k = min(k, len(self))
        if k == 0:
            return [{} for _ in queries]
        tokens = tokenize(queries)
        known = [[t for t in q if t in self.retriever.vocab_dict] for q in tokens]
        out: list[dict[int, float]] = [{} for _ in queries]
        todo = [i for i, q in enumerate(known) if q]
        if not todo:
            return out
        docs, scores = self.retriever.retrieve(
            [known[i] for i in todo], k=k, show_progress=False, n_threads=0, return_as="tuple"
        )
        for row, qi in enumerate(todo):
            out[qi] = {int(self.ids[d]): float(s) for d, s in zip(docs[row], scores[row], strict=True) if s > 0}
        return out

    def save(self, directory: Path) -> None:
        if len(self):
            self.retriever.save(str(directory / "bm25s"), show_progress=False)
        np.save(directory / IDS_FILE, self.ids)

    @classmethod
    def load(cls, directory: Path, backend: str = "auto", numba_min_chunks: int = 20_000) -> BM25Index:
        bm25s = bm25s_module()
        ids = np.load(directory / IDS_FILE)
        retriever = bm25s.BM25.load(str(directory / "bm25s"), show_progress=False) if len(ids) else bm25s.BM25()
        index = cls(retriever, ids, backend, numba_min_chunks)
        index.warm_up()
        return index

    def warm_up(self) -> None:
        """Compile numba's scoring now (a few seconds, once per process) rather than in the first search."""
        if self.backend == "numba" and len(self) and self.retriever.vocab_dict:
            self.retriever.retrieve([[next(iter(self.retriever.vocab_dict))]], k=1, show_progress=False)
