"""Score fusion for hybrid search: pure functions over per-query runs.

A run here is one retriever's scores for one query, ``{id: score}`` (higher is better), e.g.
``{"chunk-12": 14.2, "chunk-3": 9.8}``. Ids are chunk ids or doc ids. Scores are assumed finite.
Every function returns a new dict ordered best first (score descending, ties by id ascending) and never
mutates its inputs.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from typing import TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")


def _ordered(run: Mapping[str, float]) -> list[str]:
    return sorted(run, key=lambda id_: (-run[id_], id_))


def _sorted_run(scores: Mapping[str, float]) -> dict[str, float]:
    return {id_: scores[id_] for id_ in _ordered(scores)}


def ranks(run: Mapping[str, float]) -> dict[str, int]:
    """1-based rank of each id: score descending, ties by id ascending.

    Args:
        run: ``{id: score}``, e.g. ``{"a": 0.2, "b": 0.9, "c": 0.2}``.

    Returns:
        ``{id: rank}`` best first, e.g. ``{"b": 1, "a": 2, "c": 3}``.
    """
    return {id_: rank for rank, id_ in enumerate(_ordered(run), start=1)}


def rrf(runs: Sequence[Mapping[str, float]], k: int = 60, weights: Sequence[float] | None = None) -> dict[str, float]:
    """Reciprocal rank fusion: ``score(id) = sum_i weights[i] / (k + rank_i(id))`` over the runs holding ``id``.

    Args:
        runs: One ``{id: score}`` per retriever, e.g. ``[{"a": 0.9, "b": 0.1}, {"b": 12.0}]``.
        k: Rank offset (60 in Cormack et al. 2009); must be >= 0.
        weights: One non-negative weight per run; all 1.0 when omitted.

    Returns:
        ``{id: fused score}`` best first, e.g. ``{"b": 1/62 + 1/61, "a": 1/61}``. The sum is exactly rounded
        (``math.fsum``), so the result does not depend on the order of the runs.
    """
    if k < 0:
        raise ValueError(f"rrf k must be >= 0, got {k!r}; the usual value is 60.")
    if weights is None:
        weights = [1.0] * len(runs)
    if len(weights) != len(runs):
        raise ValueError(f"rrf got {len(runs)} runs but {len(weights)} weights; pass one weight per run.")
    if any(w < 0 for w in weights):
        raise ValueError(f"rrf weights must be non-negative, got {list(weights)!r}.")
    parts: dict[str, list[float]] = {}
    for run, weight in zip(runs, weights):
        for id_, rank in ranks(run).items():
            parts.setdefault(id_, []).append(weight / (k + rank))
    return _sorted_run({id_: math.fsum(values) for id_, values in parts.items()})


def _min_max(run: Mapping[str, float]) -> dict[str, float]:
    if not run:
        return {}
    low, high = min(run.values()), max(run.values())
    if high == low:
        return dict.fromkeys(run, 1.0)
    return {id_: (score - low) / (high - low) for id_, score in run.items()}


def convex(runs: Sequence[Mapping[str, float]], alpha: float = 0.5) -> dict[str, float]:
    """Convex combination of min-max normalised scores: ``alpha * dense + (1 - alpha) * bm25``.

    Each run is scaled to [0, 1] on its own (a run whose scores are all equal becomes all 1.0); an id missing
    from a run gets 0 from that run.

    Args:
        runs: Exactly two runs, ``[dense, bm25]`` in that order, e.g. ``[{"a": 0.82, "b": 0.40}, {"b": 7.1}]``.
        alpha: Weight of the dense run, in [0, 1]; 1.0 orders like the dense run, 0.0 like bm25.

    Returns:
        ``{id: fused score}`` best first, e.g. ``{"a": 0.5, "b": 0.5}`` for the example above with alpha=0.5.

    Raises:
        ValueError: If there are not exactly two runs or alpha is outside [0, 1].
    """
    if len(runs) != 2:
        raise ValueError(
            f"convex fusion needs exactly two runs, [dense, bm25], got {len(runs)}; use rrf() to fuse other numbers."
        )
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"convex alpha must be in [0, 1] (weight of the dense run), got {alpha!r}.")
    dense, bm25 = _min_max(runs[0]), _min_max(runs[1])
    fused = {id_: alpha * dense.get(id_, 0.0) + (1 - alpha) * bm25.get(id_, 0.0) for id_ in dense.keys() | bm25}
    return _sorted_run(fused)


def cap_per_group(
    ranked: Iterable[T], group_of: Mapping[T, Hashable] | Callable[[T], Hashable], cap: int,
    max_groups: int | None = None,
) -> Iterator[T]:
    """Keeps at most ``cap`` items per group, in the given order (e.g. at most 2 chunks per document), and, with
    ``max_groups``, items of only the first ``max_groups`` groups seen. Lazy: stop reading when you have enough.

    Args:
        ranked: Items best first, e.g. ``["c1", "c2", "c3", "c4"]``.
        group_of: ``{item: group}`` or a function item -> group, e.g. ``{"c1": "d1", "c2": "d1", "c3": "d1",
            "c4": "d2"}``.
        cap: Maximum items kept per group, at least 1.
        max_groups: Maximum number of groups kept (None: no limit).

    Returns:
        The kept items in order, e.g. ``["c1", "c2", "c4"]`` for ``cap=2``.

    Raises:
        ValueError: If cap < 1 (at the call, not at the first item).
        KeyError: If ``group_of`` is a mapping that lacks one of the items.
    """
    if cap < 1:
        raise ValueError(f"cap must be >= 1, got {cap!r}.")
    lookup = group_of.__getitem__ if isinstance(group_of, Mapping) else group_of
    return _capped(ranked, lookup, cap, max_groups)


def _capped(ranked: Iterable[T], lookup: Callable[[T], Hashable], cap: int, max_groups: int | None) -> Iterator[T]:
    counts: dict[Hashable, int] = {}
    for item in ranked:
        group = lookup(item)
        seen = counts.get(group, 0)
        if seen >= cap or (seen == 0 and max_groups is not None and len(counts) >= max_groups):
            continue
        counts[group] = seen + 1
        yield item


def rerank_order(first: Mapping[str, float], second: Mapping[str, float], weight: float = 1.0) -> dict[str, float]:
    """A first-stage run with its top candidates rescored by a second stage (a reranker).

    The ids in ``second`` (a subset of ``first``) come first, ordered by ``convex([second, first], alpha=weight)``
    over their own scores (each min-max normalised among them); every other id of ``first`` follows in its
    first-stage order, with scores below the lowest rescored one, so that the reranker decides the top and never
    lets an unscored candidate rise above a scored one.

    Args:
        first: the first stage's run, e.g. ``{"a": 0.9, "b": 0.8, "c": 0.1}``.
        second: the reranker's scores of first's top candidates, e.g. ``{"a": -2.0, "b": 3.5}``.
        weight: weight of the reranker (1.0: its order alone; 0.0: the first stage's order).

    Returns:
        ``{id: score}`` best first, e.g. ``{"b": 1.0, "a": 0.0, "c": -1.0}`` for weight 1.0.

    Raises:
        ValueError: if ``second`` holds an id that ``first`` does not.
    """
    stray = second.keys() - first.keys()
    if stray:
        raise ValueError(f"rerank_order: the reranker scored ids the first stage never returned: {sorted(stray)[:5]}")
    if not second:
        return _sorted_run(first)
    top = convex([second, {id_: first[id_] for id_ in second}], alpha=weight)
    low = min(top.values())
    rest = [id_ for id_ in _ordered(first) if id_ not in second]
    return top | {id_: low - 1.0 - i / max(len(rest), 1) for i, id_ in enumerate(rest)}
