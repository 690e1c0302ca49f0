"""bm25s (our engine) against rank-bm25 (the reference) on a small real corpus."""

from __future__ import annotations

import json
from itertools import islice
from pathlib import Path

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from indexer.index.local.bm25 import BM25Index, tokenize


def test_tokenize_stems_and_drops_stopwords() -> None:
    assert tokenize(["The patients were treated with statins"]) == [["patient", "were", "treat", "statin"]]
    assert tokenize(["", "the of and"]) == [[], []]


def test_empty_and_unknown_queries_return_nothing(tmp_path: Path) -> None:
    index = BM25Index.build([7, 8], ["insulin dose in diabetes", "vitamin d and bone"])
    assert index.search(["", "the of", "zebra"], k=5) == [{}, {}, {}]
    assert list(index.search(["insulin"], k=5)[0]) == [7]
    index.save(tmp_path)
    assert list(BM25Index.load(tmp_path).search(["bone vitamin"], k=5)[0]) == [8]


def test_bm25s_ranks_like_rank_bm25(shared_data: Path) -> None:
    with open(shared_data / "nfcorpus" / "corpus.jsonl", encoding="utf-8") as fh:
        docs = [json.loads(line) for line in islice(fh, 400)]
    texts = [f"{d['title']}\n{d['text']}" for d in docs]
    with open(shared_data / "nfcorpus" / "queries.jsonl", encoding="utf-8") as fh:
        queries = [json.loads(line)["text"] for line in islice(fh, 60)]
    # Same formula on both sides (Robertson/Okapi IDF); rank-bm25 multiplies every score by (k1 + 1), which
    # changes no ranking. Equal scores at every rank means the same ranking up to exact ties.
    ours = BM25Index.build(list(range(len(texts))), texts, k1=1.5, b=0.75, method="robertson")
    reference = BM25Okapi(tokenize(texts), k1=1.5, b=0.75, epsilon=0.0)
    compared = 0
    for query, run in zip(queries, ours.search(queries, k=10), strict=True):
        ref_scores = reference.get_scores(tokenize([query])[0])
        ref_top = [int(i) for i in np.argsort(-ref_scores, kind="stable")[:10] if ref_scores[i] > 0]
        ours_scaled = [2.5 * s for s in run.values()]
        assert [ref_scores[i] for i in run] == pytest.approx(ours_scaled, rel=1e-4)
        assert [ref_scores[i] for i in ref_top] == pytest.approx(ours_scaled, rel=1e-4)
        assert sum(a == b for a, b in zip(ref_top, run, strict=False)) >= len(run) - 2
        compared += bool(run)
    assert compared >= 40
