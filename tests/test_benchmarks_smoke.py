"""Smoke tests of the benchmark scripts at tiny sizes: each runs and writes every result key (no timings asserted)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
from trainer_fixtures import tiny_beir, tiny_triplets  # noqa: F401 - fixtures

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

needs_data = pytest.mark.skipif(
    not (DATA / "nfcorpus").is_dir() or not (DATA / "medquad").is_dir(),
    reason="needs ../shared/data (benchmark data beside the repo)",
)

LATENCY_KEYS = {"p50_ms", "p95_ms", "mean_ms", "n"}
PATHS = {"encode", "encode_torch", "faiss_search", "faiss_exact", "dense", "bm25", "bm25_numpy", "fusion", "hybrid",
         "hybrid_concurrent"}


def _load_benchmark(monkeypatch: pytest.MonkeyPatch, name: str = "query_latency"):
    """The script as a module, imported by path (``benchmarks/`` is not an installed package)."""
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


@needs_data
def test_query_latency_writes_all_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    bench = _load_benchmark(monkeypatch)
    out = tmp_path / "latency.json"
    bench.main([
        "--data-dir", str(DATA), "--out", str(out), "--n-chunks", "2000", "--n-real", "50", "--n-queries", "10",
        "--warmup", "2", "--ref-chunks", "500", "--e2e-docs", "10", "--threads", "1", "--ann-threshold", "1000",
        "--n-exact", "5",
    ])

    results = json.loads(out.read_text(encoding="utf-8"))
    assert {"date_utc", "config", "machine", "corpus", "build", "latency", "reference_bm25", "end_to_end",
            "ratios", "loadavg_at_end"} <= results.keys()
    assert {"cpu_model", "nproc", "ram_gib", "uptime_at_start", "loadavg_at_start", "busy_processes_at_start",
            "torch_threads", "faiss_omp_threads", "versions"} <= results["machine"].keys()
    assert results["corpus"]["n_chunks"] == 2000
    build = results["build"]
    assert {"bm25_build_s", "dense_add_s", "ann_build_s", "bm25_matrix_bytes", "faiss_vector_bytes",
            "faiss_serialised_bytes", "ann_serialised_bytes", "rss_mb_start", "rss_mb_after_bm25",
            "rss_mb_after_dense", "vectors", "dense_search"} <= build.keys()
    assert build["faiss_vector_bytes"] == 2000 * 384 * 4
    assert build["dense_search"]["approximate"]["kind"] == "hnsw"  # 2,000 chunks > --ann-threshold 1000
    assert build["ann_serialised_bytes"] > 0
    assert build["vectors"]["n_real"] == 50
    assert build["vectors"]["n_synthetic"] == 1950
    assert set(results["latency"]) == {"1"}
    lat = results["latency"]["1"]
    assert PATHS <= lat.keys()
    for name in PATHS:
        assert LATENCY_KEYS <= lat[name].keys()
    assert lat["encode"]["n"] == 10 and lat["faiss_exact"]["n"] == 5
    assert 0.0 <= lat["ann_recall"]["recall@10"] <= 1.0 and lat["ann_recall"]["approximate"] is True
    assert {"rank_bm25", "bm25s", "n_chunks"} <= results["reference_bm25"].keys()
    assert {"bm25", "dense", "hybrid"} == set(results["end_to_end"]["latency"]["1"])
    assert {"hybrid_over_dense", "hybrid_over_bm25", "dense_over_bm25", "encode_torch_over_encode",
            "hybrid_over_hybrid_concurrent"} <= results["ratios"]["1"].keys()
    printed = capsys.readouterr().out
    assert "| path | chunks | threads | p50 ms |" in printed
    assert "hybrid: bm25 in a thread while dense runs" in printed


@needs_data
def test_encode_throughput_and_ann_tuning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    enc = _load_benchmark(monkeypatch, "encode_throughput").main([
        "--data-dir", str(DATA), "--out", str(tmp_path / "enc.json"), "--n-chunks", "12", "--n-queries", "8",
        "--variants", "plain-loop,openvino"])
    assert set(enc["variants"]) == {"plain-loop", "openvino"}
    for row in enc["variants"].values():
        assert {"chunks_per_s", "speedup_vs_first", "ndcg@10", "ndcg@10_delta_vs_first", "min_cos_to_baseline"} <= \
            row.keys()
    assert enc["variants"]["openvino"]["min_cos_to_baseline"] > 0.99  # the same model, another runtime

    ann = _load_benchmark(monkeypatch, "ann_tuning").main([
        "--data-dir", str(DATA), "--out", str(tmp_path / "ann.json"), "--n-real", "100", "--n-queries", "10",
        "--n-scale", "1000", "--nprobes", "2,64", "--efs", "16", "--n-timed", "3", "--n-exact-timed", "3"])
    assert [row["nprobe"] for row in ann["real"]["ivf"]["sweep"]] == [2, 64]
    assert ann["real"]["ivf"]["sweep"][1]["recall@10"] == 1.0  # every list probed: exact
    assert {"recall@10", "recall@100", "p50_ms"} <= ann["real"]["hnsw"]["sweep"][0].keys()
    assert ann["scale"]["n_vectors"] == 1000 and "hnsw" not in ann["scale"]


def test_gpu_bench_runs_tiny_on_cpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    res = _load_benchmark(monkeypatch, "gpu_bench").main(["--out", str(tmp_path / "gpu.json"), "--device", "cpu",
                                                          "--tiny"])
    assert {"forward_only_texts_per_s", "end_to_end_texts_per_s", "end_to_end_share_of_bound"} <= \
        res["encode"]["16"].keys()
    assert res["search"]["2000"]["queries_per_s"] > 0 and res["train"]["triplets_per_s"] > 0


@pytest.mark.skipif(not (DATA / "pdfs").is_dir(), reason="needs ../shared/data/pdfs")
def test_ingest_pdfs_runs_on_one_pdf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    res = _load_benchmark(monkeypatch, "ingest_pdfs").main(["--out", str(tmp_path / "ingest.json"), "--pdfs",
                                                            str(DATA / "pdfs"), "--max-pdfs", "1", "--no-profile",
                                                            "--baseline-encoder", "onnx"])
    assert [run["encoder"] for run in res["runs"]] == ["openvino-bf16", "onnx"]  # the default, then the baseline
    for run in res["runs"]:
        assert run["pdfs"] == 1 and run["chunks"] > 0 and run["failed"] == 0
        assert {"ingest_s", "model_load_s", "index_s", "total_s"} <= run.keys()


def test_train_throughput_writes_all_keys(tiny_triplets: Path, tmp_path: Path,  # noqa: F811
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    bench = _load_benchmark(monkeypatch, "train_throughput")
    out = tmp_path / "train.json"
    bench.main([str(tiny_triplets), "--out", str(out), "--steps", "1", "--warmup", "0", "--batch-size", "4",
                "--variants", "p256-fp32,p256-q64-bf16-grouped-pairs,p256-q64-bf16-grouped-kdloss"])
    results = json.loads(out.read_text(encoding="utf-8"))
    assert set(results["summary"]) == {"p256-fp32", "p256-q64-bf16-grouped-pairs", "p256-q64-bf16-grouped-kdloss"}
    assert all(r["triplets_per_second"] > 0 for r in results["summary"].values())
    assert results["runs"]["p256-fp32"][0]["examples"] > 0 and "cpu_model" in results["machine"]
    assert results["base_dev_ndcg@10"] is None and "dev_ndcg@10" not in results["summary"]["p256-fp32"]


def test_train_throughput_scores_each_variant_on_dev(tiny_triplets: Path, tiny_beir: Path, tmp_path: Path,  # noqa: F811
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    bench = _load_benchmark(monkeypatch, "train_throughput")
    out = tmp_path / "train.json"
    bench.main([str(tiny_triplets), "--out", str(out), "--steps", "1", "--warmup", "0", "--batch-size", "4",
                "--variants", "p128-q64-bf16-grouped-pairs,p256-q64-bf16-grouped", "--dev", str(tiny_beir)])
    results = json.loads(out.read_text(encoding="utf-8"))
    assert 0.0 < results["base_dev_ndcg@10"] <= 1.0 and "tinymed" in results["dev"]
    assert all(0.0 <= r["dev_ndcg@10"] <= 1.0 for r in results["summary"].values())
    assert set(bench.ABLATION) <= set(bench.VARIANTS)


def test_fusion_choice_scores_every_fusion(tiny_beir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
                                           ) -> None:
    monkeypatch.setenv("MEDEMBED_HOME", str(tmp_path / "home"))
    bench = _load_benchmark(monkeypatch, "fusion_choice")
    out = tmp_path / "fusion.json"
    bench.main(["--model", "minilm", "--data", str(tiny_beir.parent), "--datasets", "tinymed:dev", "--out", str(out)])
    rows = json.loads(out.read_text(encoding="utf-8"))["rows"]
    assert [r["retriever"] for r in rows[:2]] == ["bm25", "dense:minilm"] and len(rows) == 2 + len(bench.FUSIONS)
    assert {r["fusion"] for r in rows[2:]} >= {"rrf dense_weight=1", "convex alpha=0.5"}
    assert all(0.0 <= r["ndcg@10"] <= 1.0 for r in rows)


def test_breadth_dev_per_set_mean_is_the_merge_evaluators_figure(tiny_beir: Path, tmp_path: Path,  # noqa: F811
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from medcore.config import Settings
    from trainer.devset import build_dev_set, evaluate
    from trainer.models import load_model

    bench = _load_benchmark(monkeypatch, "breadth_dev")
    out = tmp_path / "breadth.json"
    bench.main(["--model", "minilm", "--data", str(tiny_beir.parent), "--sets", "tinymed", "--dev-queries", "20",
                "--dev-corpus", "30", "--out", str(out)])
    scores = json.loads(out.read_text(encoding="utf-8"))["models"]["minilm"]
    assert set(scores) == {"tinymed", "mean"} and scores["tinymed"] == scores["mean"]
    dev = build_dev_set([tiny_beir], "dev", 20, 30, Settings.load().train.seed)
    assert abs(scores["mean"] - evaluate(load_model("minilm", "cpu")[1], dev)["ndcg@10"]) < 0.01
    assert bench.per_set_ndcg({"a/1": ["x", "y"], "b/1": ["z"]}, {"a/1": {"y"}, "b/1": {"z"}}) == {
        "a": 0.63093, "b": 1.0, "mean": 0.81546}


def test_second_model_rescore_weight_zero_is_the_first_stage(tiny_beir: Path, tmp_path: Path,  # noqa: F811
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDEMBED_HOME", str(tmp_path / "home"))
    bench = _load_benchmark(monkeypatch, "second_model_rescore")
    out = tmp_path / "second.json"
    bench.main(["--model", "minilm", "--second", "minilm", "--data", str(tiny_beir.parent), "--sets", "tinymed",
                "--weights", "0", "1", "--depth", "5", "--out", str(out)])
    row = json.loads(out.read_text(encoding="utf-8"))["ndcg@10"]["tinymed"]
    assert set(row) == {"second alone", "w=0.0", "w=1.0"} and all(0.0 <= v <= 1.0 for v in row.values())
    from medcore.config import Settings
    from search_app.evaluation.runner import evaluate_dataset

    first = evaluate_dataset(tiny_beir, "dev", "hybrid:minilm", Settings.load()).metrics["ndcg@10"]
    assert abs(row["w=0.0"] - first) < 1e-9, "weight 0 leaves the first stage's order"
    # the top `depth` documents follow the second model's cosine; one it never ranked gets its lowest cosine
    first = {"q": {"a": 0.9, "b": 0.8, "c": 0.7, "d": 0.1}}
    run, missing = bench.rescored(first, {"q": {"b": 0.9, "c": 0.5, "d": 0.95, "e": 0.2}}, 2, 1.0)
    assert list(run["q"]) == ["b", "a", "c", "d"] and missing == 1, "only the top 2 are rescored; a had no cosine"
    run, missing = bench.rescored(first, {"q": {"b": 0.9, "c": 0.5, "d": 0.95, "e": 0.2}}, 4, 1.0)
    assert list(run["q"]) == ["d", "b", "c", "a"] and missing == 1
    # embedding only the candidates' chunks gives each of them the cosine the second model's own run gives it
    cand = tmp_path / "candidates.json"
    bench.main(["--model", "minilm", "--second", "minilm", "--data", str(tiny_beir.parent), "--sets", "tinymed",
                "--weights", "0", "1", "--depth", "5", "--candidates-only", "--out", str(cand)])
    assert set(json.loads(cand.read_text(encoding="utf-8"))["ndcg@10"]["tinymed"]) == {"w=0.0", "w=1.0"}
    from medcore.beir import load_qrels, load_queries
    from search_app.evaluation.runner import judged_queries

    settings, queries = Settings.load(), load_queries(tiny_beir)
    qids = judged_queries(load_qrels(tiny_beir, "dev"), queries)
    runs, searcher = bench.document_runs(tiny_beir, settings, "hybrid:minilm", queries, qids, 100)
    cosines = bench.candidate_cosines(searcher, "minilm", queries, runs, 5)
    dense, _ = bench.document_runs(tiny_beir, settings, "dense:minilm", queries, qids, 5000)
    assert all(list(cosines[q]) == list(runs[q])[:5] for q in qids), "the top 5 of each query, in the first's order"
    gaps = [abs(cosine - dense[q][doc]) for q in qids for doc, cosine in cosines[q].items()]
    assert max(gaps) < 1e-3, max(gaps)


def test_teacher_agreement_counts_where_the_teacher_ranks_the_labelled_positive_first(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from trainer.data import Triplet

    pairs = [("statins and liver enzymes", "Statins raise liver enzymes in a few patients."),
             ("aspirin and stomach bleeding", "Aspirin increases the risk of gastrointestinal bleeding."),
             ("vitamin D and bone density", "Vitamin D supports bone mineral density in older adults.")]
    rows = [Triplet(q, pos, "Bananas are yellow.", f"q{i}", f"p{i}", "n", "qrels", "test")
            for i, (q, pos) in enumerate(pairs)]
    path, out = tmp_path / "tiny.jsonl", tmp_path / "agree.json"
    path.write_text("".join(json.dumps(t.to_json()) + "\n" for t in rows), encoding="utf-8")
    bench = _load_benchmark(monkeypatch, "teacher_agreement")
    bench.main([str(path), "--teacher", "minilm", "--batches", "1", "--batch-size", "3", "--out", str(out)])
    shares = json.loads(out.read_text(encoding="utf-8"))["shares"]
    assert shares["tiny"] == {"rows": 3, "teacher_first": 1.0} and shares["all"]["rows"] == 3
