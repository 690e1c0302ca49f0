"""Smoke test of benchmarks/query_latency.py at tiny sizes: it runs and writes every result key (no timings)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

pytestmark = pytest.mark.skipif(
    not (DATA / "nfcorpus").is_dir() or not (DATA / "medquad").is_dir(),
    reason="needs ../shared/data (benchmark data beside the repo)",
)

LATENCY_KEYS = {"p50_ms", "p95_ms", "mean_ms", "n"}
PATHS = {"encode", "faiss_search", "dense", "bm25", "fusion", "hybrid"}


def _load_benchmark(monkeypatch: pytest.MonkeyPatch):
    """The script as a module, imported by path (``benchmarks/`` is not an installed package)."""
    spec = importlib.util.spec_from_file_location("query_latency", REPO / "benchmarks" / "query_latency.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def test_query_latency_writes_all_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    bench = _load_benchmark(monkeypatch)
    out = tmp_path / "latency.json"
    bench.main([
        "--data-dir", str(DATA), "--out", str(out), "--n-chunks", "2000", "--n-real", "50", "--n-queries", "10",
        "--warmup", "2", "--ref-chunks", "500", "--e2e-docs", "10", "--threads", "1",
    ])

    results = json.loads(out.read_text(encoding="utf-8"))
    assert {"date_utc", "config", "machine", "corpus", "build", "latency", "reference_bm25", "end_to_end",
            "ratios", "loadavg_at_end"} <= results.keys()
    assert {"cpu_model", "nproc", "ram_gib", "uptime_at_start", "loadavg_at_start", "busy_processes_at_start",
            "torch_threads", "faiss_omp_threads", "versions"} <= results["machine"].keys()
    assert results["corpus"]["n_chunks"] == 2000
    assert {"bm25_build_s", "dense_add_s", "bm25_matrix_bytes", "faiss_vector_bytes", "faiss_serialised_bytes",
            "rss_mb_start", "rss_mb_after_bm25", "rss_mb_after_dense", "vectors"} <= results["build"].keys()
    assert results["build"]["faiss_vector_bytes"] == 2000 * 384 * 4
    assert results["build"]["vectors"]["n_real"] == 50
    assert results["build"]["vectors"]["n_synthetic"] == 1950
    assert set(results["latency"]) == {"1"}
    assert PATHS <= results["latency"]["1"].keys()
    for stats in results["latency"]["1"].values():
        assert LATENCY_KEYS <= stats.keys()
        assert stats["n"] == 10
    assert {"rank_bm25", "bm25s", "n_chunks"} <= results["reference_bm25"].keys()
    assert {"bm25", "dense", "hybrid"} == set(results["end_to_end"]["latency"]["1"])
    assert {"hybrid_over_dense", "hybrid_over_bm25", "dense_over_bm25"} <= results["ratios"]["1"].keys()
    printed = capsys.readouterr().out
    assert "| path | chunks | threads | p50 ms |" in printed
    assert "hybrid: bm25 + dense + rrf + cap" in printed
