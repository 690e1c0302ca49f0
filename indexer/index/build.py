"""Bring the BM25 index and a model's dense index in line with the store: add new chunks, drop deleted ones.

Orchestration only: the work is done by the configured index backend (:mod:`indexer.index.backend`); this module holds
the writer lock and the report. Paths and the indexed text are in :mod:`indexer.index.layout`."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from indexer.index.factory import open_backend
from indexer.index.versioned import writer_lock
from medcore.config import Settings
from medcore.models import resolve
from store import Store

if TYPE_CHECKING:
    from indexer.encode.embedder import Embedder

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexReport:
    model: str
    added: int
    removed: int
    total: int
    bm25_rebuilt: bool
    seconds: float


def build_indexes(
    store: Store, settings: Settings, model: str | None = None, rebuild: bool = False,
    show_progress_bar: bool | None = None, embedder: Embedder | None = None, dense: bool = True,
) -> IndexReport:
    """Sync BM25 and (with ``dense``) the dense index of ``model`` with the store's chunks.

    Incremental: only chunks not yet indexed are embedded, deleted ones are removed. ``rebuild`` starts over.
    The engine is ``settings.index.backend`` (:func:`indexer.index.factory.open_backend`).
    """
    start = time.perf_counter()
    spec = resolve(model or settings.index.model)
    backend = open_backend(settings)
    with writer_lock(settings.paths.index_dir):
        store_ids = np.asarray(store.chunk_ids(), dtype=np.int64)
        result = backend.sync(store, store_ids, spec if dense else None, rebuild, show_progress_bar, embedder)
    seconds = time.perf_counter() - start
    report = IndexReport(spec.name if dense else "bm25", result.added, result.removed, result.total,
                         result.bm25_rebuilt, seconds)
    logger.info("Indexed: %s", report)
    return report

