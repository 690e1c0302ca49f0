"""bm25s's numba scoring (used for large indexes) returns the same chunks and scores as its numpy scoring."""

from __future__ import annotations

import json
from itertools import islice
from pathlib import Path

import pytest

from indexer.index.local.bm25 import BM25Index, scoring_backend


def test_auto_backend_uses_numba_only_for_large_indexes() -> None:
    pytest.importorskip("numba")
    assert scoring_backend("auto", 100, numba_min_chunks=1000) == "numpy"
    assert scoring_backend("auto", 1000, numba_min_chunks=1000) == "numba"
    assert scoring_backend("numpy", 10**7) == "numpy"


def test_numba_scores_equal_numpy(shared_data: Path, tmp_path: Path) -> None:
    pytest.importorskip("numba")
    with open(shared_data / "nfcorpus" / "corpus.jsonl", encoding="utf-8") as fh:
        texts = [f"{(d := json.loads(line))['title']}\n{d['text']}" for line in islice(fh, 300)]
    with open(shared_data / "nfcorpus" / "queries.jsonl", encoding="utf-8") as fh:
        queries = [json.loads(line)["text"] for line in islice(fh, 40)] + ["", "zebra"]
    ids = list(range(500, 800))
    numpy_index = BM25Index.build(ids, texts, k1=1.5, b=0.4, backend="numpy")
    numpy_index.save(tmp_path)
    numba_index = BM25Index.load(tmp_path, backend="numba")
    assert (numpy_index.backend, numba_index.backend) == ("numpy", "numba")
    want, got = numpy_index.search(queries, k=20), numba_index.search(queries, k=20)
    assert sum(bool(run) for run in want) >= 35
    for w, g in zip(want, got, strict=True):
        assert set(g) == set(w) or len(w) == 20  # ties at the cut may differ
        common = w.keys() & g.keys()
        assert [g[c] for c in common] == pytest.approx([w[c] for c in common], rel=1e-5)
        assert list(g.values()) == pytest.approx(list(w.values()), rel=1e-5)
