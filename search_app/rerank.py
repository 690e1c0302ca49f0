"""The second stage of search: a cross-encoder rescores the first stage's top candidates, and its calibrated
probability becomes each hit's relevance.

The first stage (BM25, dense or hybrid) is fast and recalls well, but scores a query and a passage apart; the
cross-encoder (:mod:`indexer.encode.cross_encoder`) reads them together, which ranks better and gives a score with one
meaning across queries. It reads only the top ``search.rerank_depth`` candidates (after filters), so a search pays
for a fixed number of passages; the order of those is :func:`medcore.fusion.rerank_order` of its logits and the
first-stage scores (``search.rerank_weight``), and the candidates it did not read follow in first-stage order.

Relevance: ``sigmoid(intercept + slope * logit)``, fitted on dev data per reranker weights by
``benchmarks/relevance_calibration.py --reranker``, with the floor chosen there. The searcher takes it only where it
tells on-topic from off-topic at least as well on those dev pairs as the first stage's calibrated cosine
(:func:`relevance_source`); else relevance and floor stay the first stage's, and the reranker only reorders.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass

from indexer.encode.cross_encoder import CrossEncoder, reranker_source
from medcore.config import Settings
from medcore.fusion import rerank_order
from medcore.models import ModelSpec
from search_app.relevance import Calibration, calibration_for

#: Calibrations of rerankers are keyed ``rerank:<name>@<weights>`` beside the embedding models' in the same file.
CALIBRATION_PREFIX = "rerank:"


def calibration_spec(name: str) -> ModelSpec:
    """The reranker as a :class:`ModelSpec` for :func:`search_app.relevance.calibration_for` (weights hashed from its
    folder, so a retrained reranker loses its calibration until it is fitted again)."""
    _, folder = reranker_source(name)
    return ModelSpec(name=CALIBRATION_PREFIX + name, local_path=folder)


def relevance_source(reranker: Calibration | None, first_stage: Calibration | None) -> Calibration | None:
    """The calibration a reranked search's relevance and floor come from: the reranker's where its dev AUC is at least
    the first stage's (or the first stage has none), else the first stage's."""
    if reranker is None or (first_stage is not None and (reranker.auc or 0.0) < (first_stage.auc or 0.0)):
        return first_stage
    return reranker


@dataclass(frozen=True)
class Reranked:
    """What the second stage made of one query's candidates: the new run (every first-stage id, best first), the
    reranker's logit of each id it read, and the relevance of each id (a candidate the reranker did not read gets the
    lowest relevance it gave: it ranks below all of them)."""

    run: dict
    logits: dict
    relevance: dict


class Reranker:
    """Rescore candidates with a cross-encoder; load once per process (:meth:`load`)."""

    def __init__(self, model: CrossEncoder, calibration: Calibration | None, depth: int, weight: float) -> None:
        self.model = model
        self.calibration = calibration
        self.depth = depth
        self.weight = weight

    @classmethod
    def load(cls, settings: Settings) -> Reranker:
        search = settings.search
        return cls(CrossEncoder.load(search.reranker, settings), calibration_for(calibration_spec(search.reranker)),
                   search.rerank_depth, search.rerank_weight)

    def rerank(self, query: str, run: Mapping[Hashable, float], texts: Mapping[Hashable, str]) -> Reranked:
        """Rescore the first ``depth`` ids of ``run`` (best first) that have a text in ``texts``; every id of ``run``
        is in the result."""
        ids = [id_ for id_ in run if id_ in texts][: self.depth]
        logits = self.model.score(query, [texts[id_] for id_ in ids]) if ids else []
        scores = {id_: float(logit) for id_, logit in zip(ids, logits, strict=True)}
        ordered = rerank_order(run, scores, self.weight)
        if self.calibration is None:
            return Reranked(ordered, scores, {})
        relevance = {id_: round(self.calibration.relevance(s), 4) for id_, s in scores.items()}
        lowest = min(relevance.values(), default=None)
        return Reranked(ordered, scores, {id_: relevance.get(id_, lowest) for id_ in ordered})
