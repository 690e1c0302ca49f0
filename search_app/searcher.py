"""The public search API: ``Searcher.search(query, k) -> list[Hit]`` over BM25, dense or hybrid retrieval."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from indexer.bm25 import BM25Index
from indexer.build import bm25_dir, check_manifest, dense_dir
from indexer.dense import DenseIndex
from indexer.embedder import Embedder
from indexer.store import Store
from indexer.versioned import current_version, read_manifest
from medcore.config import Settings
from medcore.errors import IndexNotFoundError, MedEmbedError
from medcore.models import resolve
from medcore.types import Chunk, Document, Hit, Mode
from search_app.fusion import convex, ranks, rrf

logger = logging.getLogger(__name__)

MODES: tuple[Mode, ...] = ("bm25", "dense", "hybrid")


@dataclass(frozen=True)
class Retriever:
    """``bm25``, ``dense:MODEL`` or ``hybrid:MODEL`` (the model defaults to ``settings.index.model``)."""

    mode: Mode
    model: str | None = None

    @classmethod
    def parse(cls, spec: str, default_model: str = "minilm") -> Retriever:
        mode, _, model = spec.strip().partition(":")
        if mode not in MODES:
            raise MedEmbedError(f"Unknown retriever '{spec}'; use bm25, dense:MODEL or hybrid:MODEL.")
        if mode == "bm25":
            if model:
                raise MedEmbedError(f"'{spec}': bm25 takes no model; use plain 'bm25'.")
            return cls("bm25")
        return cls(mode, model or default_model)  # type: ignore[arg-type]

    def __str__(self) -> str:
        return self.mode if self.model is None else f"{self.mode}:{self.model}"


@dataclass(frozen=True)
class SearchFilters:
    """Metadata filters; empty fields do not filter."""

    collections: tuple[str, ...] = ()
    journals: tuple[str, ...] = ()
    year_min: int | None = None
    year_max: int | None = None

    def __bool__(self) -> bool:
        return bool(self.collections or self.journals or self.year_min is not None or self.year_max is not None)

    def matches(self, doc: Document) -> bool:
        if self.collections and doc.collection not in self.collections:
            return False
        if self.journals and doc.journal not in self.journals:
            return False
        if self.year_min is not None and (doc.year is None or doc.year < self.year_min):
            return False
        return not (self.year_max is not None and (doc.year is None or doc.year > self.year_max))


class Searcher:
    """Searches one store's indexes with one retriever. Load once, search many times; ``refresh()`` picks up
    indexes rebuilt by another process."""

    def __init__(self, settings: Settings, store: Store, retriever: Retriever) -> None:
        self.settings = settings
        self.store = store
        self.retriever = retriever
        self.embedder: Embedder | None = None
        self.bm25: BM25Index | None = None
        self.dense: DenseIndex | None = None
        self._versions: dict[str, Path | None] = {}
        self._doc_keys: dict[int, str] | None = None
        self.refresh()

    @classmethod
    def from_settings(cls, settings: Settings, retriever: str | Retriever | None = None,
                      store: Store | None = None) -> Searcher:
        if not isinstance(retriever, Retriever):
            default = "bm25" if settings.search.mode == "bm25" else f"{settings.search.mode}:{settings.index.model}"
            retriever = Retriever.parse(retriever or default, settings.index.model)
        return cls(settings, store or Store.from_settings(settings), retriever)

    # -- loading -------------------------------------------------------------------------------------------
    def _roots(self) -> dict[str, Path]:
        roots = {}
        if self.retriever.mode in ("bm25", "hybrid"):
            roots["bm25"] = bm25_dir(self.settings)
        if self.retriever.mode in ("dense", "hybrid"):
            roots["dense"] = dense_dir(self.settings, resolve(self.retriever.model or self.settings.index.model))
        return roots

    def refresh(self) -> bool:
        """Reload any index whose live version changed on disk; returns True when something was reloaded."""
        changed = False
        for kind, root in self._roots().items():
            version = current_version(root)
            if version is None:
                what = "bm25" if kind == "bm25" else f"--model {self.retriever.model}"
                raise IndexNotFoundError(
                    f"No {kind} index under {root.parent}; run `medembed ingest PATH...` then `medembed index` "
                    f"({what})."
                )
            if self._versions.get(kind) == version:
                continue
            self._load(kind, root)
            self._versions[kind] = version
            changed = True
        if changed:
            self._doc_keys = None
        return changed

    def _load(self, kind: str, root: Path) -> None:
        version, manifest = read_manifest(root)
        if kind == "bm25":
            self.bm25 = BM25Index.load(version)
            return
        spec = resolve(self.retriever.model or self.settings.index.model)
        check_manifest(manifest, spec, root)
        self.dense = DenseIndex.load(version, manifest["dimension"])
        if self.embedder is None:
            self.embedder = Embedder.load(self.retriever.model or self.settings.index.model, self.settings)

    # -- retrieval -----------------------------------------------------------------------------------------
    def _runs(self, queries: Sequence[str], depth: int) -> list[dict[str, dict[int, float]]]:
        """Each retriever's chunk run per query: ``[{"bm25": {chunk_id: score}, "dense": {...}}]``."""
        out: list[dict[str, dict[int, float]]] = [{} for _ in queries]
        if self.bm25 is not None and "bm25" in self._versions:
            for row, run in zip(out, self.bm25.search(queries, depth), strict=True):
                row["bm25"] = run
        if self.dense is not None and self.embedder is not None and "dense" in self._versions:
            vectors = self.embedder.encode_queries(list(queries))
            for row, run in zip(out, self.dense.search(vectors, depth), strict=True):
                row["dense"] = run
        return out

    def _fuse(self, runs: Mapping[str, Mapping]) -> dict:
        if self.retriever.mode != "hybrid":
            return dict(runs[self.retriever.mode])
        dense, bm25 = runs.get("dense", {}), runs.get("bm25", {})
        if self.settings.search.fusion == "convex":
            return convex([dense, bm25], alpha=self.settings.search.alpha)
        return rrf([dense, bm25], k=self.settings.search.rrf_k, weights=[self.settings.search.dense_weight, 1.0])

    def search(self, query: str, k: int = 10, filters: SearchFilters | None = None) -> list[Hit]:
        """The best ``k`` chunks for ``query``, at most ``search.per_doc_cap`` per document."""
        return self.batch_search([query], k, filters)[0]

    def batch_search(self, queries: Sequence[str], k: int = 10,
                     filters: SearchFilters | None = None) -> list[list[Hit]]:
        queries = [_check_query(q) for q in queries]
        depth = max(self.settings.search.candidates, k * self.settings.search.per_doc_cap)
        if filters:
            depth *= 5
        return [self._hits(runs, k, filters) for runs in self._runs(queries, depth)]

    def _hits(self, runs: dict[str, dict[int, float]], k: int, filters: SearchFilters | None) -> list[Hit]:
        fused = self._fuse(runs)
        rank_of = {name: ranks(run) for name, run in runs.items()}
        rows = self.store.get_chunks(list(fused)) if fused else {}
        hits: list[Hit] = []
        per_doc: dict[int, int] = {}
        for chunk_id, score in fused.items():
            if chunk_id not in rows:
                continue  # deleted from the store since the index was built
            chunk, doc = rows[chunk_id]
            if filters and not filters.matches(doc):
                continue
            if per_doc.get(doc.id, 0) >= self.settings.search.per_doc_cap:
                continue
            per_doc[doc.id] = per_doc.get(doc.id, 0) + 1
            hits.append(_hit(chunk, doc, score, len(hits) + 1, rank_of, runs))
            if len(hits) == k:
                break
        return hits

    def batch_search_documents(self, queries: Sequence[str], k: int = 100) -> list[dict[str, float]]:
        """Document-level runs for evaluation: ``[{doc_key: score}]``, best first, a document's best chunk
        standing for it in each retriever before fusion. Keys are BEIR ``_id`` values where known."""
        if self._doc_keys is None:
            self._doc_keys = self.store.chunk_doc_keys()
        keys = self._doc_keys
        out = []
        for runs in self._runs([q if q.strip() else "?" for q in queries], max(k, self.settings.search.candidates)):
            doc_runs = {name: _best_per_doc(run, keys) for name, run in runs.items()}
            out.append(dict(list(self._fuse(doc_runs).items())[:k]))
        return out


def _check_query(query: str) -> str:
    cleaned = "".join(ch if ch.isprintable() else " " for ch in query).strip()
    if not cleaned:
        raise MedEmbedError("The query is empty; type a question or some keywords.")
    return cleaned[:10_000]


def _best_per_doc(run: Mapping[int, float], keys: Mapping[int, str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for chunk_id, score in run.items():
        key = keys.get(chunk_id)
        if key is not None and key not in out:
            out[key] = score
    return out


def _hit(chunk: Chunk, doc: Document, score: float, rank: int, rank_of: Mapping[str, Mapping[int, int]],
         runs: Mapping[str, Mapping[int, float]]) -> Hit:
    return Hit(
        chunk_id=chunk.id,
        doc_id=doc.id,
        score=float(score),
        text=chunk.text,
        title=doc.title,
        page=chunk.page,
        rank=rank,
        document=doc,
        ranks={name: r[chunk.id] for name, r in rank_of.items() if chunk.id in r},
        scores={name: float(run[chunk.id]) for name, run in runs.items() if chunk.id in run},
    )


def with_retriever(searcher: Searcher, retriever: str) -> Searcher:
    """Another retriever over the same store and settings."""
    return Searcher(searcher.settings, searcher.store, Retriever.parse(retriever, searcher.settings.index.model))

