"""Bring the BM25 index and a model's dense index in line with the store: add new chunks, drop deleted ones."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from indexer.bm25 import BM25Index
from indexer.dense import FAISS_FILE, DenseIndex
from indexer.embedder import Embedder
from indexer.store import Store
from indexer.versioned import current_version, new_version, read_manifest, writer_lock
from medcore.config import Settings
from medcore.errors import IndexMismatchError
from medcore.models import ModelSpec, resolve

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
    """
    start = time.perf_counter()
    spec = resolve(model or settings.index.model)
    with writer_lock(settings.paths.index_dir):
        store_ids = np.asarray(store.chunk_ids(), dtype=np.int64)
        bm25_rebuilt = _sync_bm25(store, settings, store_ids, rebuild)
        added, removed, total = (
            _sync_dense(store, settings, spec, store_ids, rebuild, show_progress_bar, embedder) if dense else (0, 0, 0)
        )
    seconds = time.perf_counter() - start
    report = IndexReport(spec.name if dense else "bm25", added, removed, total, bm25_rebuilt, seconds)
    logger.info("Indexed: %s", report)
    return report


def _sync_bm25(store: Store, settings: Settings, store_ids: np.ndarray, rebuild: bool) -> bool:
    root = bm25_dir(settings)
    version = current_version(root)
    if version is not None and not rebuild:
        existing = np.load(version / "bm25_ids.npy")
        params = read_manifest(root)[1]
        same_params = (params.get("k1"), params.get("b"), params.get("title_in_text")) == (
            settings.index.bm25_k1, settings.index.bm25_b, settings.index.title_in_text)
        if same_params and np.array_equal(existing, store_ids):
            return False
    texts = _texts(store, settings, store_ids)
    index = BM25Index.build(store_ids, texts, k1=settings.index.bm25_k1, b=settings.index.bm25_b)
    manifest = {"kind": "bm25", "n_chunks": len(store_ids), "k1": settings.index.bm25_k1, "b": settings.index.bm25_b,
                "title_in_text": settings.index.title_in_text, "ids_file": "bm25_ids.npy"}
    with new_version(root, manifest) as out:
        index.save(out)
    return True


def _sync_dense(
    store: Store, settings: Settings, spec: ModelSpec, store_ids: np.ndarray, rebuild: bool,
    show_progress_bar: bool | None, embedder: Embedder | None,
) -> tuple[int, int, int]:
    root = dense_dir(settings, spec)
    version = current_version(root)
    index: DenseIndex | None = None
    if version is not None and not rebuild:
        _, manifest = read_manifest(root)
        check_manifest(manifest, spec, root)
        if manifest.get("title_in_text") == settings.index.title_in_text:
            index = DenseIndex.load(version, manifest["dimension"])
    have = index.ids() if index is not None else np.zeros(0, dtype=np.int64)
    new_ids = np.setdiff1d(store_ids, have, assume_unique=True)
    gone_ids = np.setdiff1d(have, store_ids, assume_unique=True)
    if index is not None and len(new_ids) == 0 and len(gone_ids) == 0:
        return 0, 0, len(index)
    embedder = embedder or Embedder.load(spec.name, settings)
    if index is None:
        index = DenseIndex(embedder.dimension)
    elif index.dimension != embedder.dimension:
        raise IndexMismatchError(
            f"{root} holds {index.dimension}-d vectors; {spec.name} makes {embedder.dimension}-d; use --rebuild."
        )
    index.remove(gone_ids)
    _embed_into(index, store, settings, embedder, new_ids, show_progress_bar)
    manifest = {"kind": "dense", "model": spec.name, "dimension": index.dimension, "n_chunks": len(index),
                "query_prefix": spec.query_prefix, "title_in_text": settings.index.title_in_text,
                "index_type": "IndexIDMap2(IndexFlatIP)", "ids_file": "ids.npy", "faiss_file": FAISS_FILE}
    with new_version(root, manifest) as out:
        index.save(out)
        np.save(out / "ids.npy", index.ids())
    return len(new_ids), len(gone_ids), len(index)


def _embed_into(index: DenseIndex, store: Store, settings: Settings, embedder: Embedder, ids: np.ndarray,
                show_progress_bar: bool | None) -> None:
    if len(ids) == 0:
        return
    if show_progress_bar is None:
        show_progress_bar = logger.getEffectiveLevel() <= logging.INFO
    step = 4096
    with tqdm(total=len(ids), desc=f"Embedding with {embedder.spec.name}", unit="chunk",
              disable=not show_progress_bar) as bar:
        for i in range(0, len(ids), step):
            part = ids[i : i + step]
            texts = _texts(store, settings, part)
            index.add(part, embedder.encode_passages(texts, show_progress_bar=False))
            bar.update(len(part))


def _texts(store: Store, settings: Settings, ids: Sequence[int] | np.ndarray) -> list[str]:
    out: list[str] = []
    for batch in store.iter_index_texts([int(i) for i in ids]):
        out.extend(index_text(text, title, settings.index.title_in_text) for _, text, title in batch)
    if len(out) != len(ids):
        raise IndexMismatchError("The store changed while indexing; run `medembed index` again.")
    return out

