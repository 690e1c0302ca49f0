"""search_app.evaluation.metrics must equal pytrec_eval (trec_eval) as BEIR uses it, per query and on the mean."""

from __future__ import annotations

import copy
import csv
import json
import math
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import pytrec_eval
from hypothesis import given, settings
from hypothesis import strategies as st

from search_app.evaluation.metrics import (
    METRIC_NAMES,
    evaluate,
    evaluate_named,
    evaluate_per_query,
    map_at_k,
    mrr_at_k,
    ndcg_at_k,
    precision_at_k,
    rank_ids,
    recall_at_k,
)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
NFCORPUS = SHARED_DATA / "nfcorpus"
K_VALUES = (1, 5, 10)
TOL = 1e-9
_TREC_NAME = {"ndcg": "ndcg_cut_{k}", "map": "map_cut_{k}", "recall": "recall_{k}", "precision": "P_{k}"}


def _top(scores: dict[str, float], k: int) -> dict[str, float]:
    """trec_eval's order written out independently: score descending, ties by doc id descending."""
    return dict(sorted(scores.items(), key=lambda item: (item[1], item[0]), reverse=True)[:k])


def pytrec_per_query(qrels, run, k_values=K_VALUES) -> dict[str, dict[str, float]]:
    """pytrec_eval's scores in our key names, over qrels queries with a relevant doc; missing queries score 0."""
    ks = ",".join(map(str, k_values))
    measures = {f"ndcg_cut.{ks}", f"map_cut.{ks}", f"recall.{ks}", f"P.{ks}"}
    main = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)
    rr = {
        k: pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(
            {qid: _top(scores, k) for qid, scores in run.items()}
        )
        for k in k_values
    }
    out = {}
    for qid, rels in qrels.items():
        if not any(rel > 0 for rel in rels.values()):
            continue
        row = {}
        for k in k_values:
            for metric, trec in _TREC_NAME.items():
                row[f"{metric}@{k}"] = main.get(qid, {}).get(trec.format(k=k), 0.0)
            row[f"mrr@{k}"] = rr[k].get(qid, {}).get("recip_rank", 0.0)
        out[qid] = row
    return out


def max_abs_diff(qrels, run) -> float:
    """Largest |ours - pytrec_eval| over every query and metric, and over the means."""
    ours, theirs = evaluate_per_query(qrels, run, K_VALUES), pytrec_per_query(qrels, run)
    assert ours.keys() == theirs.keys()
    diffs = [abs(ours[q][m] - theirs[q][m]) for q in ours for m in ours[q]]
    mean = evaluate(qrels, run, K_VALUES)
    assert mean.keys() == next(iter(theirs.values())).keys()
    diffs += [abs(mean[m] - sum(row[m] for row in theirs.values()) / len(theirs)) for m in mean]
    return max(diffs)


# Ties, graded 1-2, rel-0 judgements, no relevant doc retrieved, runs shorter than k, queries missing from run,
# a query with only rel-0 judgements, an empty run, and a run query absent from qrels.
SYNTH_QRELS = {
    "q1": {"d1": 2, "d2": 1, "d3": 0, "d4": 1},
    "q2": {"d5": 1, "d6": 0},
    "q3": {"d1": 1, "d9": 2},
    "q4": {"d2": 0},
    "q5": {"d7": 2},
    "q6": {"d1": 1, "d2": 2, "d3": 1, "d4": 1, "d5": 2, "d6": 1, "d7": 1, "d8": 1, "d9": 1, "d10": 1, "d11": 2},
    "q7": {"a": 1},
}
SYNTH_RUN = {
    "q1": {"d3": 5.0, "d1": 5.0, "d2": 5.0, "d8": 4.0, "d4": 1.0},
    "q2": {"d6": 3.0, "d8": 2.0},
    "q3": {"d9": 0.5, "d1": 0.5, "d0": 0.5},
    "q4": {"d2": 1.0},
    "q6": {f"d{i}": float(i % 4) for i in range(1, 14)},
    "q7": {},
    "q99": {"d1": 1.0},
}


def test_synthetic_matches_pytrec_eval():
    assert max_abs_diff(SYNTH_QRELS, SYNTH_RUN) <= TOL


def test_synthetic_hand_values():
    per_query = evaluate_per_query(SYNTH_QRELS, SYNTH_RUN)
    assert set(per_query) == {"q1", "q2", "q3", "q5", "q6", "q7"}  # q4 has no relevant doc; q99 is not judged
    # q1 ranks d3, d2, d1 (tie on 5.0 -> doc id descending), d8, d4.
    assert rank_ids(SYNTH_RUN["q1"]) == ["d3", "d2", "d1", "d8", "d4"]
    q1 = per_query["q1"]
    assert q1["mrr@1"] == 0.0 and q1["mrr@5"] == 0.5 and q1["precision@5"] == 3 / 5
    assert q1["map@5"] == pytest.approx((1 / 2 + 2 / 3 + 3 / 5) / 3)
    dcg = 1 / math.log2(3) + 2 / math.log2(4) + 1 / math.log2(6)
    assert q1["ndcg@5"] == pytest.approx(dcg / (2 + 1 / math.log2(3) + 1 / math.log2(4)))
    assert per_query["q5"] == dict.fromkeys(per_query["q5"], 0.0)  # missing from the run counts as zero


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from([f"q{i}" for i in range(4)]),
        st.dictionaries(st.sampled_from([f"d{i}" for i in range(15)]), st.integers(0, 2), max_size=8),
        min_size=1,
    ),
    st.dictionaries(
        st.sampled_from([f"q{i}" for i in range(5)]),
        st.dictionaries(st.sampled_from([f"d{i}" for i in range(15)]), st.sampled_from([0.0, 0.5, 1.0, 2.0, -1.0])),
    ),
)
def test_random_matches_pytrec_eval(qrels, run):
    if not any(rel > 0 for rels in qrels.values() for rel in rels.values()):
        with pytest.raises(ValueError, match="no query with a relevant document"):
            evaluate(qrels, run)
        return
    assert max_abs_diff(qrels, run) <= TOL


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


@pytest.fixture(scope="module")
def nfcorpus_case() -> tuple[dict[str, dict[str, int]], dict[str, dict[str, float]]]:
    """50 nfcorpus test queries and a real top-100 run from an idf-weighted term-overlap scorer."""
    if not (NFCORPUS / "qrels" / "test.tsv").exists():
        pytest.skip("needs ../shared/data (benchmark data beside the repo)")
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    with open(NFCORPUS / "qrels" / "test.tsv", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            qrels[row["query-id"]][row["corpus-id"]] = int(row["score"])
    with open(NFCORPUS / "queries.jsonl") as f:
        queries = {q["_id"]: q["text"] for q in map(json.loads, f)}
    qids = [qid for qid in sorted(qrels) if qid in queries][::6][:50]
    postings: dict[str, set[str]] = defaultdict(set)
    with open(NFCORPUS / "corpus.jsonl") as f:
        docs = [json.loads(line) for line in f]
    for doc in docs:
        for term in set(_tokens(f"{doc.get('title', '')} {doc['text']}")):
            postings[term].add(doc["_id"])
    run = {}
    for qid in qids:
        scores: Counter[str] = Counter()
        for term in set(_tokens(queries[qid])):
            idf = round(math.log(len(docs) / len(postings[term])), 2) if term in postings else 0.0
            for doc_id in postings.get(term, ()):
                scores[doc_id] += idf  # rounded idf keeps many exact ties
        run[qid] = _top(dict(scores), 100)
    return {qid: qrels[qid] for qid in qids}, run


def test_nfcorpus_matches_pytrec_eval(nfcorpus_case):
    qrels, run = nfcorpus_case
    sizes = [len(scores) for scores in run.values()]
    assert len(qrels) == 50 and max(sizes) == 100 and sizes.count(100) >= 25 and 0 in sizes  # full, short, empty
    assert max_abs_diff(qrels, run) <= TOL
    assert 0.0 < evaluate(qrels, run)["ndcg@10"] < 1.0


def test_evaluate_named_keys_and_errors():
    result = evaluate_named(SYNTH_QRELS, SYNTH_RUN)
    assert tuple(result) == METRIC_NAMES
    full = evaluate(SYNTH_QRELS, SYNTH_RUN)
    assert all(result[name] == full[name] for name in METRIC_NAMES)
    msg = (
        "Unknown metric name 'ndcg10': expected '<metric>@<k>' with metric one of "
        "['map', 'mrr', 'ndcg', 'precision', 'recall'] and k a positive integer, e.g. 'ndcg@10'."
    )
    with pytest.raises(ValueError, match=re.escape(msg)):
        evaluate_named(SYNTH_QRELS, SYNTH_RUN, ["ndcg10"])
    with pytest.raises(ValueError, match=re.escape("k must be a positive integer, got 0;")):
        evaluate(SYNTH_QRELS, SYNTH_RUN, k_values=(0,))


qrels_strategy = st.dictionaries(
    st.text("abc", min_size=1, max_size=2),
    st.dictionaries(st.text("xyz", min_size=1, max_size=2), st.integers(0, 3), max_size=6),
    min_size=1,
    max_size=3,
).filter(lambda q: any(rel > 0 for rels in q.values() for rel in rels.values()))
run_strategy = st.dictionaries(
    st.text("abc", min_size=1, max_size=2),
    st.dictionaries(st.text("xyz", min_size=1, max_size=2), st.floats(-10, 10, allow_nan=False), max_size=8),
    max_size=3,
)


@given(qrels_strategy, run_strategy)
def test_metrics_in_unit_interval_and_inputs_untouched(qrels, run):
    before = copy.deepcopy((qrels, run))
    per_query = evaluate_per_query(qrels, run, (1, 3, 10))
    assert all(0.0 <= value <= 1.0 for row in per_query.values() for value in row.values())
    assert all(0.0 <= value <= 1.0 for value in evaluate_named(qrels, run).values())
    assert (qrels, run) == before


@given(st.dictionaries(st.text("xyz", min_size=1, max_size=3), st.integers(0, 3), max_size=10), st.integers(1, 12))
def test_ideal_ranking_has_ndcg_one(rels, k):
    ideal = sorted((doc_id for doc_id, rel in rels.items() if rel > 0), key=lambda doc_id: -rels[doc_id])
    expected = 1.0 if ideal else 0.0
    assert ndcg_at_k(ideal, rels, k) == pytest.approx(expected, abs=1e-12)


@given(
    st.lists(st.text("xyz", min_size=1, max_size=3), unique=True, max_size=12),
    st.dictionaries(st.text("xyz", min_size=1, max_size=3), st.integers(0, 2), max_size=10),
)
def test_recall_monotone_in_k(ranked, rels):
    recalls = [recall_at_k(ranked, rels, k) for k in range(1, 15)]
    assert recalls == sorted(recalls)
    for fn in (ndcg_at_k, map_at_k, recall_at_k, precision_at_k, mrr_at_k):
        assert 0.0 <= fn(ranked, rels, 5) <= 1.0
