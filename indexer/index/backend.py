"""The index backend seam: what the indexer and the searcher need from an index engine, and how one is chosen.

Two backends implement it: ``faiss`` (:mod:`indexer.index.local.backend`: bm25s + FAISS in versioned folders under
``paths.index_dir``) and ``qdrant`` (:mod:`indexer.index.qdrant.backend`: BM25 as sparse vectors plus dense vectors in
one Qdrant collection, fused by the engine). ``index.backend`` in the settings picks one; ingest, index, search,
eval, the UI and the watcher go through :func:`indexer.index.factory.open_backend` and never name a backend.

Writing: :meth:`IndexBackend.sync` brings the engine in line with the store's chunk ids (the caller holds the
index-writer lock). Reading: :meth:`IndexBackend.reader` returns an :class:`IndexReader` for one retriever, whose
:meth:`IndexReader.runs` returns each query's chunk runs ``{"bm25": {chunk_id: score}, "dense": {...}}`` and,
where the engine fuses them itself, ``"fused"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from medcore.types import Mode, SearchFilters

if TYPE_CHECKING:
    from indexer.encode.embedder import Embedder
    from medcore.models import ModelSpec
    from store import Store

#: One query's runs: ``{"bm25": {chunk_id: score}, "dense": {chunk_id: score}, "fused": {chunk_id: score}}``,
#: each best first; "fused" only from a backend that fuses server-side (see :attr:`IndexReader.fuses`).
RetrieverRuns = dict[str, dict[int, float]]


@dataclass(frozen=True)
class SyncResult:
    """What :meth:`IndexBackend.sync` changed: BM25 rebuilt or updated, dense chunks added/removed, dense total."""

    bm25_rebuilt: bool
    added: int = 0
    removed: int = 0
    total: int = 0


class IndexReader(Protocol):
    """Searches one retriever's indexes (``mode`` bm25, dense or hybrid; ``spec`` the dense model or None)."""

    #: True when :meth:`runs` returns a server-side "fused" run for hybrid search (the searcher then uses it).
    fuses: bool
    #: True when :meth:`runs` applies ``filters`` in the engine (else the searcher filters after retrieval).
    filters_in_engine: bool

    def refresh(self) -> bool:
        """Pick up an index rebuilt by another process; True when something was reloaded. Raises
        :class:`IndexNotFoundError` (saying how to build it) when an index this retriever needs does not exist."""
        ...

    def runs(self, queries: Sequence[str], vectors: np.ndarray | None, depth: int,
             filters: SearchFilters | None = None) -> list[RetrieverRuns]:
        """Each query's runs, ``depth`` chunks per retriever. ``vectors`` ``(n_queries, dim)`` are the encoded
        queries (None for bm25)."""
        ...


class IndexBackend(Protocol):
    """An index engine holding BM25 and per-model dense indexes of one store's chunks."""

    name: str

    def sync(self, store: Store, store_ids: np.ndarray, spec: ModelSpec | None, rebuild: bool,
             show_progress_bar: bool | None, embedder: Embedder | None) -> SyncResult:
        """Bring BM25 and (when ``spec`` is given) that model's dense index in line with ``store_ids``:
        embed and add new chunks, remove deleted ones; ``rebuild`` starts over. Readers see the old index or the
        new one, and a crash leaves the last complete index live."""
        ...

    def has_index(self, spec: ModelSpec | None) -> bool:
        """Whether the BM25 index (``spec`` None) or ``spec``'s dense index exists."""
        ...

    def reader(self, mode: Mode, spec: ModelSpec | None) -> IndexReader:
        """A reader for one retriever; call its ``refresh()`` before the first search."""
        ...

