"""Retrieval metrics on BEIR-shaped dicts, equal to trec_eval / pytrec_eval as BEIR uses them.

Shapes:
    qrels: ``{qid: {doc_id: graded relevance}}``, e.g. ``{"q1": {"d1": 2, "d7": 0}}``; relevant means relevance > 0.
    run:   ``{qid: {doc_id: score}}``, e.g. ``{"q1": {"d7": 12.5, "d1": 11.0}}``; higher score ranks higher.

A run is ranked like trec_eval: score descending, ties broken by doc id in descending string order.
Every function is pure and never mutates its inputs.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence

logger = logging.getLogger(__name__)

Qrels = Mapping[str, Mapping[str, int]]
Run = Mapping[str, Mapping[str, float]]

#: The metrics the CLI reports, in report order.
METRIC_NAMES: tuple[str, ...] = (
    "ndcg@1", "ndcg@5", "ndcg@10", "map@5", "map@10", "recall@1", "recall@5", "recall@10",
    "precision@1", "precision@5", "mrr@1", "mrr@5", "mrr@10",
)  # fmt: skip


def rank_ids(scores: Mapping[str, float]) -> list[str]:
    """Orders one query's doc ids like trec_eval: score descending, ties by doc id descending.

    Args:
        scores: ``{doc_id: score}`` for one query, e.g. ``{"d1": 1.0, "d2": 1.0, "d3": 3.0}``.

    Returns:
        Doc ids best first, e.g. ``["d3", "d2", "d1"]``.
    """
    return sorted(scores, key=lambda doc_id: (scores[doc_id], doc_id), reverse=True)


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}; use e.g. k=10 to score the top 10 documents.")


def _num_relevant(rels: Mapping[str, int]) -> int:
    return sum(1 for rel in rels.values() if rel > 0)


def ndcg_at_k(ranked_ids: Sequence[str], rels: Mapping[str, int], k: int) -> float:
    """nDCG@k with linear gain (gain = relevance), as trec_eval ``ndcg_cut.k``.

    Args:
        ranked_ids: One query's doc ids, best first, e.g. ``["d3", "d1"]``.
        rels: That query's judgements ``{doc_id: relevance}``, e.g. ``{"d1": 2, "d2": 1, "d3": 0}``.
        k: Cutoff, at least 1.

    Returns:
        DCG of the top k divided by the DCG of the ideal ranking of all judged relevant docs; 0.0 if none.
    """
    _check_k(k)
    dcg = 0.0
    for i, doc_id in enumerate(ranked_ids[:k]):
        rel = rels.get(doc_id, 0)
        if rel > 0:
            dcg += rel / math.log2(i + 2)
    ideal = sorted((rel for rel in rels.values() if rel > 0), reverse=True)[:k]
    idcg = sum(rel / math.log2(i + 2) for i, rel in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def map_at_k(ranked_ids: Sequence[str], rels: Mapping[str, int], k: int) -> float:
    """Average precision cut at k, as trec_eval ``map_cut.k`` for one query.

    Args:
        ranked_ids: One query's doc ids, best first, e.g. ``["d3", "d1"]``.
        rels: That query's judgements ``{doc_id: relevance}``, e.g. ``{"d1": 2, "d3": 0}``.
        k: Cutoff, at least 1.

    Returns:
        Sum of precision at each relevant rank within k, divided by the number of relevant docs; 0.0 if none.
    """
    _check_k(k)
    num_rel = _num_relevant(rels)
    hits = 0
    total = 0.0
    for i, doc_id in enumerate(ranked_ids[:k]):
        if rels.get(doc_id, 0) > 0:
            hits += 1
            total += hits / (i + 1)
    return total / num_rel if num_rel else 0.0


def recall_at_k(ranked_ids: Sequence[str], rels: Mapping[str, int], k: int) -> float:
    """Relevant docs within the top k over all relevant docs, as trec_eval ``recall_k``.

    Args:
        ranked_ids: One query's doc ids, best first, e.g. ``["d3", "d1"]``.
        rels: That query's judgements ``{doc_id: relevance}``, e.g. ``{"d1": 1}``.
        k: Cutoff, at least 1.

    Returns:
        A value in [0, 1]; 0.0 if the query has no relevant doc.
    """
    _check_k(k)
    num_rel = _num_relevant(rels)
    found = sum(1 for doc_id in ranked_ids[:k] if rels.get(doc_id, 0) > 0)
    return found / num_rel if num_rel else 0.0


def precision_at_k(ranked_ids: Sequence[str], rels: Mapping[str, int], k: int) -> float:
    """Relevant docs within the top k over k, as trec_eval ``P_k`` (divides by k even if fewer were retrieved).

    Args:
        ranked_ids: One query's doc ids, best first, e.g. ``["d3", "d1"]``.
        rels: That query's judgements ``{doc_id: relevance}``, e.g. ``{"d1": 1}``.
        k: Cutoff, at least 1.

    Returns:
        A value in [0, 1].
    """
    _check_k(k)
    return sum(1 for doc_id in ranked_ids[:k] if rels.get(doc_id, 0) > 0) / k


def mrr_at_k(ranked_ids: Sequence[str], rels: Mapping[str, int], k: int) -> float:
    """Reciprocal rank of the first relevant doc within the top k, else 0 (trec_eval ``recip_rank`` on the top k).

    Args:
        ranked_ids: One query's doc ids, best first, e.g. ``["d3", "d1"]``.
        rels: That query's judgements ``{doc_id: relevance}``, e.g. ``{"d1": 1}``.
        k: Cutoff, at least 1.

    Returns:
        ``1 / rank`` (1-based) of the first relevant doc, e.g. 0.5 for the example above; 0.0 if none in the top k.
    """
    _check_k(k)
    for i, doc_id in enumerate(ranked_ids[:k]):
        if rels.get(doc_id, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


_METRICS: dict[str, Callable[[Sequence[str], Mapping[str, int], int], float]] = {
    "ndcg": ndcg_at_k,
    "map": map_at_k,
    "recall": recall_at_k,
    "precision": precision_at_k,
    "mrr": mrr_at_k,
}


def _parse(names: Iterable[str]) -> list[tuple[str, Callable[[Sequence[str], Mapping[str, int], int], float], int]]:
    parsed = []
    for name in names:
        metric, _, cutoff = name.partition("@")
        if metric not in _METRICS or not cutoff.isdigit() or int(cutoff) < 1:
            raise ValueError(
                f"Unknown metric name {name!r}: expected '<metric>@<k>' with metric one of "
                f"{sorted(_METRICS)} and k a positive integer, e.g. 'ndcg@10'."
            )
        parsed.append((name, _METRICS[metric], int(cutoff)))
    return parsed


def _per_query(qrels: Qrels, run: Run, names: Iterable[str]) -> dict[str, dict[str, float]]:
    specs = _parse(names)
    results: dict[str, dict[str, float]] = {}
    for qid, rels in qrels.items():
        if _num_relevant(rels) == 0:
            continue
        ranked = rank_ids(run.get(qid, {}))
        results[qid] = {name: fn(ranked, rels, k) for name, fn, k in specs}
    return results


def _mean(per_query: Mapping[str, Mapping[str, float]], names: Sequence[str]) -> dict[str, float]:
    if not per_query:
        raise ValueError(
            "qrels has no query with a relevant document (relevance > 0), so there is nothing to average; "
            "check that the qrels file is the right split and that its relevance column is parsed as int."
        )
    return {name: math.fsum(scores[name] for scores in per_query.values()) / len(per_query) for name in names}


def _names_for(k_values: Iterable[int]) -> list[str]:
    ks = list(k_values)
    for k in ks:
        _check_k(k)
    return [f"{metric}@{k}" for metric in _METRICS for k in ks]


def evaluate_per_query(
    qrels: Qrels, run: Run, k_values: Iterable[int] = (1, 5, 10)
) -> dict[str, dict[str, float]]:
    """Scores every query of ``qrels`` that has at least one relevant doc.

    Args:
        qrels: ``{qid: {doc_id: relevance}}``, e.g. ``{"q1": {"d1": 2, "d2": 0}, "q2": {"d9": 0}}``.
        run: ``{qid: {doc_id: score}}``, e.g. ``{"q1": {"d2": 3.1, "d1": 2.4}}``; a missing query scores zero.
        k_values: Cutoffs, each at least 1.

    Returns:
        ``{qid: {"ndcg@k": ..., "map@k": ..., "recall@k": ..., "precision@k": ..., "mrr@k": ...}}``; queries
        with no relevant doc (``"q2"`` above) are left out, as are run queries absent from ``qrels``.
    """
    return _per_query(qrels, run, _names_for(k_values))


def evaluate(qrels: Qrels, run: Run, k_values: Iterable[int] = (1, 5, 10)) -> dict[str, float]:
    """Mean of :func:`evaluate_per_query` over the queries with at least one relevant doc.

    Args:
        qrels: ``{qid: {doc_id: relevance}}``, e.g. ``{"q1": {"d1": 2, "d2": 0}}``.
        run: ``{qid: {doc_id: score}}``, e.g. ``{"q1": {"d2": 3.1, "d1": 2.4}}``.
        k_values: Cutoffs, each at least 1.

    Returns:
        ``{"ndcg@1": ..., "ndcg@5": ..., ..., "mrr@10": ...}``: five metrics for each k.

    Raises:
        ValueError: If a k is below 1 or no query of ``qrels`` has a relevant doc.
    """
    names = _names_for(k_values)
    return _mean(_per_query(qrels, run, names), names)


def evaluate_named(qrels: Qrels, run: Run, names: Sequence[str] = METRIC_NAMES) -> dict[str, float]:
    """Like :func:`evaluate`, for an explicit list of ``"<metric>@<k>"`` names (default: what the CLI reports).

    Args:
        qrels: ``{qid: {doc_id: relevance}}``.
        run: ``{qid: {doc_id: score}}``.
        names: e.g. ``("ndcg@10", "recall@5")``; metric is one of ndcg, map, recall, precision, mrr.

    Returns:
        Exactly those keys in that order, e.g. ``{"ndcg@10": 0.41, "recall@5": 0.3}``.

    Raises:
        ValueError: If a name is malformed or no query of ``qrels`` has a relevant doc.
    """
    names = list(names)
    return _mean(_per_query(qrels, run, names), names)


def drop_self_hits(run: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """``run`` without each query's own id among its documents, as BEIR's and MTEB's ``ignore_identical_ids`` do:
    where a query is itself a corpus document (ArguAna, Quora), finding it is no retrieval. Returns a new run.

    Example: ``{"q1": {"q1": 9.0, "d2": 3.0}}`` gives ``{"q1": {"d2": 3.0}}``.
    """
    return {qid: {doc: score for doc, score in docs.items() if doc != qid} for qid, docs in run.items()}
