"""The second reading of the test split and the agreement measures of ``benchmarks/study_design_agreement.py``."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from benchmarks.study_design_agreement import SECOND, agreement, cohen_kappa, either_score
from benchmarks.study_design_train import load
from medcore.study_types import DESIGNS


def test_kappa_is_one_for_readers_who_always_agree_and_zero_for_chance() -> None:
    assert cohen_kappa(["rct", "other", "rct"], ["rct", "other", "rct"]) == pytest.approx(1.0)
    # each reader says rct half the time, independently of the other: observed agreement 0.5 is all chance
    assert cohen_kappa(["rct", "rct", "other", "other"], ["rct", "other", "rct", "other"]) == pytest.approx(0.0)
    # worked by hand: observed 3/5; expected 0.6 * 0.6 + 0.4 * 0.4 = 0.52; kappa 0.08 / 0.48
    first, second = ["a", "a", "a", "b", "b"], ["a", "a", "b", "b", "a"]
    assert cohen_kappa(first, second) == pytest.approx(0.08 / 0.48)


def test_agreement_counts_per_design_and_the_disagreements() -> None:
    result = agreement(["rct", "rct", "other"], ["rct", "other", "other"])
    assert result["agreement"] == pytest.approx(2 / 3)
    assert result["per_design"]["rct"] == {"either": 2, "both": 1}
    assert result["per_design"]["other"] == {"either": 2, "both": 1}
    assert result["disagreements"] == [("rct|other", 1)]


def test_a_design_either_reader_gave_counts_as_right_and_abstentions_as_claims_not_made() -> None:
    first, second = ["rct", "rct", "other", "rct"], ["rct", "other", "other", "rct"]
    result = either_score(first, second, ["rct", "other", "cross_sectional", "undetermined"])
    assert result["accuracy"] == pytest.approx(2 / 4)  # the second paper is right by the second reader alone
    assert (result["claimed"], result["precision"]) == (3, pytest.approx(2 / 3))


def test_the_second_reading_covers_the_test_split_once_with_valid_labels() -> None:
    rows = [json.loads(line) for line in SECOND.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == [r["id"] for r in load("test")]
    assert all(r["label"] in DESIGNS and r["reason"].strip() for r in rows)
    assert sorted(Counter(r["reader"] for r in rows).values()) == [60, 60, 60, 60]
    first = {r["id"]: r["label"] for r in load("test")}
    # the figure RULES.md and BENCHMARKS.md quote: a change to either reading must change them too
    assert sum(first[r["id"]] == r["label"] for r in rows) == 232
