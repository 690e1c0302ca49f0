"""medcore.fusion: examples, error messages and hypothesis properties."""

from __future__ import annotations

import copy
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medcore.fusion import cap_per_group, convex, ranks, rrf

ids = st.text("abcdef", min_size=1, max_size=2)
runs_strategy = st.lists(
    st.dictionaries(ids, st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False), max_size=10), max_size=4
)


def test_ranks():
    run = {"a": 0.2, "b": 0.9, "c": 0.2}
    assert list(ranks(run).items()) == [("b", 1), ("a", 2), ("c", 3)]


def test_rrf_example():
    fused = rrf([{"a": 0.9, "b": 0.1}, {"b": 12.0}])
    assert list(fused) == ["b", "a"]
    assert fused == pytest.approx({"b": 1 / 62 + 1 / 61, "a": 1 / 61})
    weighted = rrf([{"a": 0.9, "b": 0.1}, {"b": 12.0}], k=0, weights=[3.0, 1.0])
    assert weighted == pytest.approx({"a": 3.0, "b": 3 / 2 + 1.0})
    assert rrf([]) == {} and rrf([{}, {}]) == {}


def test_convex_example_and_edge_cases():
    fused = convex([{"a": 0.82, "b": 0.40}, {"b": 7.1}])
    assert list(fused.items()) == [("a", 0.5), ("b", 0.5)]
    assert convex([{"a": 3.0, "b": 3.0}, {}], alpha=0.25) == {"a": 0.25, "b": 0.25}  # all-equal run -> 1.0
    assert list(convex([{"a": 1.0, "b": 2.0}, {"a": 5.0, "c": 0.0}], alpha=0.0)) == ["a", "b", "c"]
    assert convex([{}, {}]) == {}


def test_error_messages():
    msg = "convex fusion needs exactly two runs, [dense, bm25], got 3; use rrf() to fuse other numbers."
    with pytest.raises(ValueError, match=re.escape(msg)):
        convex([{}, {}, {}])
    with pytest.raises(
        ValueError, match=re.escape("convex alpha must be in [0, 1] (weight of the dense run), got 1.5.")
    ):
        convex([{}, {}], alpha=1.5)
    with pytest.raises(ValueError, match=re.escape("rrf got 2 runs but 1 weights; pass one weight per run.")):
        rrf([{}, {}], weights=[1.0])
    with pytest.raises(ValueError, match=re.escape("cap must be >= 1, got 0.")):
        cap_per_group(["a"], {"a": "d"}, 0)


@given(runs_strategy, st.randoms(use_true_random=False))
def test_rrf_invariant_to_run_order_and_pure(runs, rnd):
    before = copy.deepcopy(runs)
    fused = rrf(runs)
    assert runs == before
    shuffled = list(runs)
    rnd.shuffle(shuffled)
    assert list(rrf(shuffled).items()) == list(fused.items())
    assert list(fused.values()) == sorted(fused.values(), reverse=True)


@given(runs_strategy.filter(bool))
def test_rrf_id_first_everywhere_gets_max_score(runs):
    runs = [{**run, "TOP": max(run.values(), default=0.0) + 1.0} for run in runs]
    fused = rrf(runs)
    assert next(iter(fused)) == "TOP"
    assert all(score < fused["TOP"] for id_, score in fused.items() if id_ != "TOP")


@given(st.dictionaries(ids, st.integers(-1000, 1000), max_size=10), st.dictionaries(ids, st.floats(-1e6, 1e6)))
def test_convex_alpha_one_orders_like_dense(dense_ints, bm25):
    dense = {id_: float(score) for id_, score in dense_ints.items()}
    before = copy.deepcopy((dense, bm25))
    fused = convex([dense, bm25], alpha=1.0)
    assert (dense, bm25) == before
    assert [id_ for id_ in fused if id_ in dense] == list(ranks(dense))
    assert fused.keys() == dense.keys() | bm25.keys()
    assert all(0.0 <= score <= 1.0 for score in fused.values())


@given(
    st.lists(ids, unique=True, max_size=20),
    st.dictionaries(ids, st.sampled_from(["d1", "d2", "d3"])),
    st.integers(1, 4),
)
def test_cap_per_group(ranked, groups, cap):
    group_of = {id_: groups.get(id_, "d0") for id_ in ranked}
    kept = list(cap_per_group(ranked, group_of, cap))
    assert kept == [id_ for id_ in ranked if id_ in set(kept)]  # a subsequence: relative order kept
    counts = {g: sum(1 for id_ in kept if group_of[id_] == g) for g in set(group_of.values())}
    assert all(n <= cap for n in counts.values())
    dropped = [id_ for id_ in ranked if id_ not in set(kept)]
    assert all(counts[group_of[id_]] == cap for id_ in dropped)  # only full groups drop ids
    assert list(cap_per_group(ranked, group_of.__getitem__, cap)) == kept


def test_cap_per_group_keeps_the_first_groups_only_with_max_groups():
    ranked = ["c1", "c2", "c3", "c4", "c5"]
    group_of = {"c1": "d1", "c2": "d2", "c3": "d1", "c4": "d3", "c5": "d2"}
    assert list(cap_per_group(ranked, group_of, 2, max_groups=2)) == ["c1", "c2", "c3", "c5"]
