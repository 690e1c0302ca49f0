"""Searching the ``qdrant`` backend: one batched Query API call per search, fusion and filters in the engine."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from indexer.index.backend import RetrieverRuns
from indexer.index.layout import check_manifest
from indexer.index.qdrant.conn import QdrantCollections, models
from indexer.index.qdrant.sparse import query_weights
from medcore.errors import IndexNotFoundError
from medcore.types import SearchFilters

if TYPE_CHECKING:
    from medcore.models import ModelSpec
    from medcore.types import Mode

logger = logging.getLogger(__name__)


def engine_filter(filters: SearchFilters | None) -> Any:
    """``SearchFilters`` as a Qdrant ``Filter`` on the points' payload (None when nothing filters)."""
    if not filters:
        return None
    must: list[Any] = []
    if filters.collections:
        must.append(models.FieldCondition(key="collection", match=models.MatchAny(any=list(filters.collections))))
    if filters.journals:
        must.append(models.FieldCondition(key="journal", match=models.MatchAny(any=list(filters.journals))))
    if filters.year_min is not None or filters.year_max is not None:
        must.append(models.FieldCondition(key="year", range=models.Range(gte=filters.year_min, lte=filters.year_max)))
    return models.Filter(must=must)


class QdrantReader:
    """RetrieverRuns for one retriever. Hybrid search asks for the BM25 run, the dense run and their RRF (fused by the
    engine) in one batch, so hits can still show each retriever's rank; convex fusion (min-max, which Qdrant
    does not offer) is left to the searcher over the two engine runs."""

    filters_in_engine = True

    def __init__(self, backend: QdrantCollections, mode: Mode, spec: ModelSpec | None) -> None:
        self.backend, self.mode, self.spec = backend, mode, spec
        self.settings = backend.settings
        self.fuses = mode == "hybrid" and self.settings.search.fusion == "rrf"
        self._seen: tuple[str, int] | None = None

    @property
    def collection(self) -> str:
        return self.backend.alias(None if self.mode == "bm25" else self.spec)

    def refresh(self) -> bool:
        spec = None if self.mode == "bm25" else self.spec
        live = self.backend.live(spec)
        if live is None:
            what = "bm25" if spec is None else f"--model {spec.name}"
            raise IndexNotFoundError(
                f"No {'bm25' if spec is None else 'dense'} index in Qdrant ({self.backend.alias(spec)}); run "
                f"`medembed ingest PATH...` then `medembed index` ({what})."
            )
        meta = self.backend.client.get_collection(live).config.metadata or {}
        if spec is not None:
            check_manifest(meta, spec, f"Qdrant collection {live}")
        seen = (live, int(meta.get("generation", 0)))
        changed, self._seen = seen != self._seen, seen
        return changed

    def runs(self, queries: Sequence[str], vectors: np.ndarray | None, depth: int,
             filters: SearchFilters | None = None) -> list[RetrieverRuns]:
        flt = engine_filter(filters)
        names: list[str] = []
        if self.mode in ("bm25", "hybrid"):
            names.append("bm25")
        if self.mode in ("dense", "hybrid") and vectors is not None:
            names.append("dense")
        if self.fuses and len(names) == 2:
            names.append("fused")
        sparse = query_weights(queries) if "bm25" in names else []
        requests = []
        for i in range(len(queries)):
            bm25 = models.SparseVector(indices=sparse[i][0], values=sparse[i][1]) if sparse else None
            dense = vectors[i].tolist() if vectors is not None and "dense" in names else None
            for name in names:
                requests.append(self._request(name, bm25, dense, depth, flt))
        responses = self.backend.client.query_batch_points(self.collection, requests=requests) if requests else []
        out: list[RetrieverRuns] = []
        for i in range(len(queries)):
            row = responses[i * len(names) : (i + 1) * len(names)]
            out.append({name: {int(p.id): float(p.score) for p in r.points} for name, r in zip(names, row,
                                                                                                 strict=True)})
        return out

    def _request(self, name: str, bm25: Any, dense: list[float] | None, depth: int, flt: Any) -> Any:
        if name == "bm25":
            return models.QueryRequest(query=bm25, using="bm25", limit=depth, filter=flt)
        if name == "dense":
            return models.QueryRequest(query=dense, using="dense", limit=depth, filter=flt)
        s = self.settings.search
        # Qdrant's RRF scores rank r (1-based) as 1 / (r / w + k - 1); ours (medcore.fusion.rrf) as
        # w / (k + r). With k = rrf_k + 1 and weight 1 the two are the same; other dense weights differ in shape.
        weights = None if s.dense_weight == 1.0 else [1.0, s.dense_weight]
        return models.QueryRequest(
            prefetch=[models.Prefetch(query=bm25, using="bm25", limit=depth, filter=flt),
                      models.Prefetch(query=dense, using="dense", limit=depth, filter=flt)],
            query=models.RrfQuery(rrf=models.Rrf(k=s.rrf_k + 1, weights=weights)), limit=depth, filter=flt,
        )
