"""`medembed eval` on real BEIR data: the metric shape, caching, and quality floors."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli
from medcore.beir import load_qrels, open_text
from search_app.evaluation.benchmarks import corpus_size
from search_app.evaluation.metrics import METRIC_NAMES
from search_app.evaluation.runner import dataset_settings, evaluate_dataset
from tests.conftest import suite_settings


def _mini_nfcorpus(shared_data: Path, folder: Path, n_queries: int = 40, n_docs: int = 500) -> Path:
    """40 NFCorpus test queries, every document judged for them, and random other documents up to 500."""
    src = shared_data / "nfcorpus"
    qrels = load_qrels(src, "test")
    qids = sorted(qrels)[:: max(1, len(qrels) // n_queries)][:n_queries]
    judged = {d for q in qids for d in qrels[q]}
    corpus = [json.loads(line) for line in open(src / "corpus.jsonl", encoding="utf-8")]
    others = [d for d in corpus if d["_id"] not in judged]
    keep = judged | {d["_id"] for d in random.Random(0).sample(others, max(0, n_docs - len(judged)))}
    (folder / "qrels").mkdir(parents=True)
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(d) + "\n" for d in corpus if d["_id"] in keep)
    queries = [json.loads(line) for line in open(src / "queries.jsonl", encoding="utf-8")]
    with open(folder / "queries.jsonl", "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(q) + "\n" for q in queries if q["_id"] in qids)
    with open(folder / "qrels" / "test.tsv", "w", encoding="utf-8") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        fh.writelines(f"{q}\t{d}\t{r}\n" for q in qids for d, r in qrels[q].items() if d in keep)
    return folder


def test_bm25_on_nfcorpus_test_matches_published(shared_data: Path, tmp_path: Path) -> None:
    env = {"MEDEMBED_HOME": str(tmp_path / "home")}
    args = ["-q", "eval", str(shared_data / "nfcorpus"), "--split", "test", "--retriever", "bm25", "--json"]
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert (out["dataset"], out["split"], out["retriever"], out["n_queries"]) == ("nfcorpus", "test", "bm25", 323)
    assert list(out["metrics"]) == list(METRIC_NAMES)
    assert out["metrics"]["ndcg@10"] >= 0.320, out["metrics"]  # published BM25: 0.322-0.325

    home = dataset_settings(shared_data / "nfcorpus", suite_settings().with_home(tmp_path / "home")).paths.home
    bm25_version = (home / "indexes" / "bm25" / "CURRENT").read_text()
    again = CliRunner().invoke(cli, args, env=env)
    assert json.loads(again.stdout.strip().splitlines()[-1])["metrics"] == out["metrics"]
    assert (home / "indexes" / "bm25" / "CURRENT").read_text() == bm25_version, "the cached index is reused"


def test_dense_and_hybrid_on_a_nfcorpus_sample(shared_data: Path, tmp_path: Path, minilm) -> None:
    folder = _mini_nfcorpus(shared_data, tmp_path / "mini-nfcorpus")
    settings = suite_settings().with_home(tmp_path / "home")
    scores = {r: evaluate_dataset(folder, "test", r, settings).metrics for r in ("bm25", "dense:minilm",
                                                                                  "hybrid:minilm")}
    ndcg = {r: m["ndcg@10"] for r, m in scores.items()}
    # Floors about 0.05 under what these 40 queries measured; hybrid must not fall below the weaker retriever.
    assert ndcg["bm25"] >= 0.30 and ndcg["dense:minilm"] >= 0.30, ndcg
    assert ndcg["hybrid:minilm"] >= min(ndcg["bm25"], ndcg["dense:minilm"]), ndcg
    for metrics in scores.values():
        assert all(0.0 <= v <= 1.0 for v in metrics.values())
        assert metrics["recall@1"] <= metrics["recall@5"] <= metrics["recall@10"]


def test_eval_errors_say_what_to_do(tmp_path: Path, shared_data: Path) -> None:
    env = {"MEDEMBED_HOME": str(tmp_path / "home")}
    result = CliRunner().invoke(cli, ["-q", "eval", str(tmp_path), "--retriever", "bm25"], env=env)
    assert result.exit_code == 1 and "is not a BEIR folder" in result.output
    result = CliRunner().invoke(cli, ["-q", "eval", str(shared_data / "medquad"), "--split", "test",
                                      "--retriever", "bm25"], env=env)
    assert result.exit_code == 1 and "No qrels for split 'test'" in result.output and "dev" in result.output
    result = CliRunner().invoke(cli, ["-q", "eval", str(shared_data / "nfcorpus"), "--retriever", "sparse"], env=env)
    assert result.exit_code == 1 and "Unknown retriever 'sparse'" in result.output


@pytest.mark.slow
@pytest.mark.parametrize("retriever", ["dense:minilm", "hybrid:minilm"])
def test_full_nfcorpus_dense_and_hybrid(shared_data: Path, tmp_path_factory, retriever: str) -> None:
    home = Path.home() / ".cache" / "medembed-test-eval"  # reused between runs: embedding NFCorpus takes minutes
    metrics = evaluate_dataset(shared_data / "nfcorpus", "test", retriever, suite_settings().with_home(home)).metrics
    assert metrics["ndcg@10"] >= (0.31 if retriever.startswith("dense") else 0.335), metrics


def test_eval_scores_a_folders_only_split_and_says_what_its_time_covers(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's MedQuAD sample has only a dev split: `medembed eval FOLDER` scores it instead of failing on
    'test'; with several splits and no test it says which to choose. The time printed says indexing came first."""
    import shutil

    tiny = tmp_path / "tiny"
    shutil.copytree(Path(__file__).resolve().parent / "browser" / "data" / "beir_tiny", tiny)
    (tiny / "qrels" / "test.tsv").rename(tiny / "qrels" / "dev.tsv")
    monkeypatch.setenv("MEDEMBED_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(cli, ["eval", str(tiny), "--retriever", "bm25", "--json", "--no-save"])
    assert result.exit_code == 0, result.output
    scored = json.loads(result.stdout.strip().splitlines()[-1])
    assert scored["split"] == "dev" and scored["n_queries"] == 3 and scored["prepare_seconds"] > 0
    assert "searched in" in result.stderr and "preparing the corpus's store and indexes" in result.stderr
    shutil.copy(tiny / "qrels" / "dev.tsv", tiny / "qrels" / "train.tsv")
    result = CliRunner().invoke(cli, ["eval", str(tiny), "--retriever", "bm25", "--no-save"])
    assert result.exit_code == 1 and "no 'test' split; choose one with --split: dev, train" in result.output


def _self_hit_set(folder: Path) -> Path:
    """An ArguAna-shaped set: the query "q1" is itself a corpus document, and the document that answers it is d2."""
    (folder / "qrels").mkdir(parents=True)
    docs = {"q1": "Statins cause muscle pain in some patients: statin myopathy.",
            "d2": "Muscle symptoms under statin therapy are rare and usually mild.",
            "d3": "Malaria rapid diagnostic tests detect parasite antigens in blood."}
    (folder / "corpus.jsonl").write_text("".join(json.dumps({"_id": i, "title": "", "text": t}) + "\n"
                                                 for i, t in docs.items()))
    (folder / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": docs["q1"]}) + "\n")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td2\t1\n")
    return folder


def test_eval_ignores_a_hit_whose_id_is_the_query_id_unless_told_not_to(tmp_path: Path, monkeypatch) -> None:
    dataset = _self_hit_set(tmp_path / "arguana-like")
    monkeypatch.setenv("MEDEMBED_HOME", str(tmp_path / "home"))
    ignored = evaluate_dataset(dataset, "test", "bm25", suite_settings().with_home(tmp_path / "home"))
    kept = evaluate_dataset(dataset, "test", "bm25", suite_settings().with_home(tmp_path / "home"),
                            ignore_identical_ids=False)
    assert ignored.metrics["ndcg@1"] == 1.0  # d2, once the query's own document is set aside
    assert kept.metrics["ndcg@1"] == 0.0  # the query found itself first
    out = CliRunner().invoke(cli, ["eval", str(dataset), "--retriever", "bm25", "--json", "--no-save",
                                   "--keep-identical-ids"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout.strip().splitlines()[-1])["metrics"]["ndcg@1"] == 0.0


@pytest.mark.parametrize("suffix", ["", ".gz", ".xz"])
def test_corpus_size_counts_documents_in_plain_gzip_and_xz_corpora(tmp_path: Path, suffix: str) -> None:
    lines = "".join(json.dumps({"_id": f"d{i}", "text": f"passage {i}"}) + "\n" for i in range(1000))
    path = tmp_path / f"corpus.jsonl{suffix}"
    with open_text(path, "wt") as fh:
        fh.write(lines)
    assert corpus_size(tmp_path) == 1000


def test_benchmark_stores_skip_what_scoring_never_reads(tmp_path: Path) -> None:
    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / "corpus.jsonl").write_text('{"_id": "d1", "title": "", "text": "aspirin"}\n', encoding="utf-8")
    settings = dataset_settings(folder, suite_settings().with_home(tmp_path / "home"))
    # both embed every document or sentence once more, and no metric reads key sentences or study designs
    assert not settings.index.sentence_vectors and not settings.ingest.design_model
    assert settings.paths.home.parent == suite_settings().with_home(tmp_path / "home").paths.eval_dir
