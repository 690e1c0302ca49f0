"""The ``faiss`` backend: BM25 in bm25s and dense vectors in FAISS, each in versioned folders (one machine).

``<index_dir>/bm25/`` and ``<index_dir>/dense-<model>/`` each hold version folders and a ``CURRENT`` pointer
(:mod:`indexer.index.versioned`); a sync writes a new version and switches the pointer atomically.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from indexer.encode.embedder import Embedder
from indexer.index.backend import RetrieverRuns, SyncResult
from indexer.index.layout import bm25_dir, check_manifest, chunk_texts, dense_dir, weights_changed
from indexer.index.local.ann import AnnConfig
from indexer.index.local.bm25 import BM25Index
from indexer.index.local.dense import FAISS_FILE, DenseIndex
from indexer.index.sentence_vectors import ENCODE_CHARS, MIN_CHARS, SENTENCES_FILE, SentenceVectors
from indexer.index.versioned import current_version, new_version, read_manifest
from medcore.config import Settings
from medcore.errors import IndexMismatchError, IndexNotFoundError
from medcore.models import ModelSpec, weights_digest
from medcore.progress import show_progress
from medcore.types import Mode, SearchFilters
from store import Store

logger = logging.getLogger(__name__)


class LocalBackend:
    """bm25s + FAISS (exact inner product, approximate past ``index.ann_threshold``), in versioned folders under
    ``settings.paths.index_dir``."""

    name = "faiss"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def sync(self, store: Store, store_ids: np.ndarray, spec: ModelSpec | None, rebuild: bool,
             show_progress_bar: bool | None, embedder: Embedder | None) -> SyncResult:
        bm25_rebuilt = _sync_bm25(store, self.settings, store_ids, rebuild)
        if spec is None:
            return SyncResult(bm25_rebuilt)
        added, removed, total = _sync_dense(store, self.settings, spec, store_ids, rebuild, show_progress_bar,
                                            embedder)
        return SyncResult(bm25_rebuilt, added, removed, total)

    def has_index(self, spec: ModelSpec | None) -> bool:
        root = bm25_dir(self.settings) if spec is None else dense_dir(self.settings, spec)
        return current_version(root) is not None

    def reader(self, mode: Mode, spec: ModelSpec | None) -> LocalReader:
        return LocalReader(self.settings, mode, spec)


class LocalReader:
    """Loads the live versions of the BM25 and/or dense index and searches them in process."""

    fuses = False
    filters_in_engine = False

    def __init__(self, settings: Settings, mode: Mode, spec: ModelSpec | None) -> None:
        self.settings, self.mode, self.spec = settings, mode, spec
        self.bm25: BM25Index | None = None
        self.dense: DenseIndex | None = None
        #: the dense index's sentence vectors (key sentences), None for an index built without them
        self.sentences: SentenceVectors | None = None
        self._versions: dict[str, Path | None] = {}

    def _roots(self) -> dict[str, Path]:
        roots = {}
        if self.mode in ("bm25", "hybrid"):
            roots["bm25"] = bm25_dir(self.settings)
        if self.mode in ("dense", "hybrid") and self.spec is not None:
            roots["dense"] = dense_dir(self.settings, self.spec)
        return roots

    def refresh(self) -> bool:
        changed = False
        for kind, root in self._roots().items():
            version = current_version(root)
            if version is None:
                what = "bm25" if kind == "bm25" else f"--model {self.spec.name if self.spec else ''}"
                raise IndexNotFoundError(
                    f"No {kind} index under {root.parent}; run `medembed ingest PATH...` then `medembed index` "
                    f"({what})."
                )
            if self._versions.get(kind) == version:
                continue
            self._load(kind, root)
            self._versions[kind] = version
            changed = True
        return changed

    def _load(self, kind: str, root: Path) -> None:
        version, manifest = read_manifest(root)
        idx = self.settings.index
        if kind == "bm25":
            self.bm25 = BM25Index.load(version, idx.bm25_backend, idx.bm25_numba_min_chunks)
            return
        assert self.spec is not None  # noqa: S101 - _roots only lists dense with a spec
        check_manifest(manifest, self.spec, root)
        self.dense = DenseIndex.load(version, manifest["dimension"], AnnConfig.from_settings(idx))
        self.sentences = SentenceVectors.load(version)

    def runs(self, queries: Sequence[str], vectors: np.ndarray | None, depth: int,
             filters: SearchFilters | None = None) -> list[RetrieverRuns]:
        out: list[RetrieverRuns] = [{} for _ in queries]
        if self.bm25 is not None and "bm25" in self._versions:
            for row, run in zip(out, self.bm25.search(queries, depth), strict=True):
                row["bm25"] = run
        if self.dense is not None and vectors is not None and "dense" in self._versions:
            for row, run in zip(out, self.dense.search(vectors, depth), strict=True):
                row["dense"] = run
        return out


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
    texts = chunk_texts(store, settings, store_ids)
    index = BM25Index.build(store_ids, texts, k1=settings.index.bm25_k1, b=settings.index.bm25_b, backend="numpy")
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
    sentences: SentenceVectors | None = None
    ann = AnnConfig.from_settings(settings.index)
    if version is not None and not rebuild:
        _, manifest = read_manifest(root)
        if manifest.get("model") == spec.name and weights_changed(manifest, spec):
            logger.warning("The dense index of %s holds vectors of other (or unrecorded) weights of the model; "
                           "re-embedding every chunk with the weights on disk.", spec.name)
        else:
            check_manifest(manifest, spec, root)
            if manifest.get("title_in_text") == settings.index.title_in_text:
                index = DenseIndex.load(version, manifest["dimension"], ann)
                sentences = SentenceVectors.load(version)
    have = index.ids() if index is not None else np.zeros(0, dtype=np.int64)
    new_ids = np.setdiff1d(store_ids, have, assume_unique=True)
    gone_ids = np.setdiff1d(have, store_ids, assume_unique=True)
    want_sentences = settings.index.sentence_vectors
    if index is not None and len(new_ids) == 0 and len(gone_ids) == 0 and (sentences is not None
                                                                              or not want_sentences):
        return 0, 0, len(index)
    embedder = embedder or Embedder.load(spec.name, settings)
    if index is None:
        index = DenseIndex(embedder.dimension, ann=ann)
    elif index.dimension != embedder.dimension:
        raise IndexMismatchError(
            f"{root} holds {index.dimension}-d vectors; {spec.name} makes {embedder.dimension}-d; use --rebuild."
        )
    index.remove(gone_ids)
    _embed_into(index, store, settings, embedder, new_ids, show_progress_bar)
    if want_sentences:
        # an index made before sentence vectors existed gets them for every chunk, once
        todo = new_ids if sentences is not None else index.ids()
        kept = sentences.without(gone_ids) if sentences is not None else SentenceVectors.empty(index.dimension)
        sentences = kept.merged(SentenceVectors.encode(store, embedder, todo))
    manifest = {"kind": "dense", "model": spec.name, "weights": weights_digest(spec), "dimension": index.dimension,
                "n_chunks": len(index),
                "query_prefix": spec.query_prefix, "title_in_text": settings.index.title_in_text,
                "index_type": "IndexIDMap2(IndexFlatIP)", "ids_file": "ids.npy", "faiss_file": FAISS_FILE,
                "encoder": getattr(embedder, "encoder_name", "torch")}
    if want_sentences and sentences is not None:
        manifest["sentences"] = {"file": SENTENCES_FILE, "n": len(sentences), "min_chars": MIN_CHARS,
                                 "encode_chars": ENCODE_CHARS}
    with new_version(root, manifest) as out:
        index.save(out)
        if want_sentences and sentences is not None:
            sentences.save(out)  # builds or updates the approximate index past index.ann_threshold (local/ann.py)
        manifest["search"] = index.info()
        np.save(out / "ids.npy", index.ids())
    return len(new_ids), len(gone_ids), len(index)


def _embed_into(index: DenseIndex, store: Store, settings: Settings, embedder: Embedder, ids: np.ndarray,
                show_progress_bar: bool | None) -> None:
    if len(ids) == 0:
        return
    show_progress_bar = show_progress(show_progress_bar, logger)
    step = 4096
    with tqdm(total=len(ids), desc=f"Embedding with {embedder.spec.name}", unit="chunk",
              disable=not show_progress_bar) as bar:
        for i in range(0, len(ids), step):
            part = ids[i : i + step]
            texts = chunk_texts(store, settings, part)
            index.add(part, embedder.encode_passages(texts, show_progress_bar=False))
            bar.update(len(part))
