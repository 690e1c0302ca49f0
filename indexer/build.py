"""Bring the BM25 index and a model's dense index in line with the store: add new chunks, drop deleted ones.

The work is done by the configured index backend (:mod:`indexer.backend`); this module holds the lock, the
report and the helpers every backend shares (what text is indexed for a chunk, where local indexes live)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from indexer.backend import open_backend
from indexer.store import Store
from indexer.versioned import writer_lock
from medcore.config import Settings
from medcore.errors import IndexMismatchError
from medcore.models import ModelSpec, resolve

if TYPE_CHECKING:
    from indexer.embedder import Embedder

logger = logging.getLogger(__name__)

BM25_DIR = "bm25"


def dense_dir(settings: Settings, spec: ModelSpec) -> Path:
    return settings.paths.index_dir / f"dense-{spec.slug}"


def bm25_dir(settings: Settings) -> Path:
    return settings.paths.index_dir / BM25_DIR


def index_text(text: str, title: str | None, with_title: bool) -> str:
    """What gets embedded and BM25-indexed for a chunk: its document title, then its text."""
    return f"{title}\n{text}" if with_title and title else text


@dataclass(frozen=True)
class IndexReport:
    model: str
    added: int
    removed: int
    total: int
    bm25_rebuilt: bool
    seconds: float


def check_manifest(manifest: dict, spec: ModelSpec, root: Path) -> None:
    """Refuse an index built with another model than the one asked for."""
    if manifest.get("model") != spec.name:
        raise IndexMismatchError(
            f"The index at {root} was built with model '{manifest.get('model')}', not '{spec.name}'. "
            f"Search with --model {manifest.get('model')}, or rebuild: medembed index --model {spec.name} --rebuild."
        )


def build_indexes(
    store: Store, settings: Settings, model: str | None = None, rebuild: bool = False,
    show_progress_bar: bool | None = None, embedder: Embedder | None = None, dense: bool = True,
) -> IndexReport:
    """Sync BM25 and (with ``dense``) the dense index of ``model`` with the store's chunks.

    Incremental: only chunks not yet indexed are embedded, deleted ones are removed. ``rebuild`` starts over.
    The engine is ``settings.index.backend`` (:func:`indexer.backend.open_backend`).
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


def chunk_texts(store: Store, settings: Settings, ids: Sequence[int] | np.ndarray) -> list[str]:
    """The indexed text (:func:`index_text`) of each chunk in ``ids``, in that order."""
    out: list[str] = []
    for batch in store.iter_index_texts([int(i) for i in ids]):
        out.extend(index_text(text, title, settings.index.title_in_text) for _, text, title in batch)
    if len(out) != len(ids):
        raise IndexMismatchError("The store changed while indexing; run `medembed index` again.")
    return out

