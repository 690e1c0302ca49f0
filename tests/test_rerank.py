"""The reranker: its order over the first stage (pure), its retriever spec, its training groups, a tiny real training
run whose model the CPU runtimes score alike, and the shipped reranker as the second stage of real searches."""

from __future__ import annotations

import json
import math
import random
from dataclasses import replace
from itertools import islice
from pathlib import Path

import numpy as np
import pytest

from medcore.errors import MedEmbedError
from medcore.fusion import rerank_order
from medcore.retrievers import RetrieverSpec
from trainer.rerank import QueryGroup, RerankTrainConfig, read_groups, sample_group, train_reranker

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "models" / "medembed-rerank"


# -- pure logic ---------------------------------------------------------------------------------------------------
def test_rerank_order_puts_the_rescored_top_first_and_never_lifts_an_unscored_candidate() -> None:
    first = {"a": 0.9, "b": 0.8, "c": 0.7, "d": 0.1}
    assert list(rerank_order(first, {"a": -2.0, "b": 3.5, "c": 1.0})) == ["b", "c", "a", "d"]
    assert list(rerank_order(first, {"a": -2.0, "b": 3.5}, weight=0.0)) == ["a", "b", "c", "d"], "the first order"
    mixed = rerank_order(first, {"a": 0.0, "b": 1.0, "c": 0.9}, weight=0.5)
    assert list(mixed)[:3] == ["b", "a", "c"] and all(mixed[x] < min(mixed[y] for y in "abc") for x in "d")
    assert rerank_order(first, {}) == first
    with pytest.raises(ValueError, match="never returned"):
        rerank_order(first, {"zz": 1.0})


def test_retriever_specs_carry_the_reranker_and_say_how_to_write_one() -> None:
    for text in ("hybrid:medembed-small+rerank", "dense:minilm+rerank", "bm25+rerank", "hybrid:minilm"):
        assert str(RetrieverSpec.parse(text)) == text
    spec = RetrieverSpec.parse("hybrid+rerank", default_model="minilm")
    assert (spec.mode, spec.model, spec.rerank) == ("hybrid", "minilm", True)
    assert spec.first_stage == RetrieverSpec("hybrid", "minilm")
    assert str(RetrieverSpec.of("bm25", "minilm", rerank=True)) == "bm25+rerank"
    with pytest.raises(MedEmbedError, match=r"\+rerank"):
        RetrieverSpec.parse("colbert:minilm+rerank")


def _triplets(path: Path) -> Path:
    rows = []
    for q in range(6):
        for n in range(3):
            rows.append({"query": f"question {q}", "pos": f"answer {q}", "neg": f"wrong {q}.{n}", "query_id": str(q),
                         "pos_id": f"p{q}", "neg_id": f"n{q}.{n}", "kind": "qrels", "source": "qrels:toy/train"})
    rows.append({**rows[0], "neg": "answer 0"})  # a "negative" that is the positive itself is never one
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_groups_collect_a_querys_negatives_and_samples_never_hold_its_positive(tmp_path: Path) -> None:
    groups = read_groups([_triplets(tmp_path / "t.jsonl")])
    assert len(groups) == 6 and groups[0].positives == ("answer 0",) and len(groups[0].negatives) == 3
    pool = [t for g in groups for t in g.positives + g.negatives]
    rng = random.Random(0)
    for _ in range(20):
        drawn = sample_group(groups[0], 6, pool, rng)
        assert drawn[0] == "answer 0" and len(drawn) == 6 and len(set(drawn)) == 6
        assert "answer 0" not in drawn[1:]
    lonely = QueryGroup("q", ("p",), (), "s")
    assert sample_group(lonely, 4, [], rng) == ["p"], "nothing to add: the caller pads"


# -- real models --------------------------------------------------------------------------------------------------
def test_a_tiny_training_run_saves_a_reranker_that_every_runtime_scores_alike(tmp_path: Path, settings) -> None:
    from indexer.encode.cross_encoder import CrossEncoder
    from medcore.models import resolve

    out = tmp_path / "rr"
    config = RerankTrainConfig(group_size=2, batch_queries=2, max_steps=2, max_length=32, save_steps=1)
    info = train_reranker(read_groups([_triplets(tmp_path / "t.jsonl")]), resolve("minilm").local_path, out, config)
    assert info["steps"] == 2 and (out / "reranker.json").is_file() and not (out / "checkpoint.pt").exists()
    passages = ["answer 3 with more words than the other one", "wrong 3.1", "x"]
    scores = {}
    for kind in ("torch", "onnx", "openvino"):
        cfg = replace(settings, search=replace(settings.search, reranker=str(out), rerank_encoder=kind))
        model = CrossEncoder.load(str(out), cfg)
        assert model.kind == kind
        scores[kind] = model.score("question 3", passages)
    assert scores["torch"].shape == (3,)
    np.testing.assert_allclose(scores["onnx"], scores["torch"], atol=1e-3)
    np.testing.assert_allclose(scores["openvino"], scores["torch"], atol=1e-3)

    # training on from the saved (fp16) reranker keeps its head and trains in float32: in fp16 the loss is NaN
    again = train_reranker(read_groups([_triplets(tmp_path / "t.jsonl")]), out, tmp_path / "rr2",
                           replace(config, max_steps=3, learning_rate=1e-5, head_learning_rate=1e-5))
    assert math.isfinite(again["last_loss"])
    cfg = replace(settings, search=replace(settings.search, reranker=str(tmp_path / "rr2"), rerank_encoder="torch"))
    np.testing.assert_allclose(CrossEncoder.load(str(tmp_path / "rr2"), cfg).score("question 3", passages),
                               scores["torch"], atol=0.05)


def test_an_unknown_reranker_says_how_to_go_on(settings) -> None:
    from indexer.encode.cross_encoder import CrossEncoder, reranker_reason

    assert "--no-rerank" in reranker_reason("no-such-reranker")
    with pytest.raises(MedEmbedError, match="train-reranker"):
        CrossEncoder.load("no-such-reranker", settings)


# -- the shipped reranker in real searches -------------------------------------------------------------------------
def test_relevance_comes_from_whichever_calibration_tells_topics_apart_better() -> None:
    from search_app.relevance import Calibration
    from search_app.rerank import relevance_source

    first, strong, weak = (Calibration("m", 0, 1, 0.5, auc=0.84), Calibration("r", 0, 1, 0.6, auc=0.9),
                           Calibration("r", 0, 1, 0.6, auc=0.75))
    assert relevance_source(strong, first) is strong and relevance_source(weak, first) is first
    assert relevance_source(None, first) is first and relevance_source(weak, None) is weak


def test_the_int8_reranker_orders_real_passages_much_as_the_fp32_one_does(settings, shared_data: Path) -> None:
    """``search.rerank_encoder = onnx-int8`` quantises the shipped model's dense layers (cached beside the fp32 export)
    and keeps most of its order: NFCorpus dev queries against their judged documents and as many unjudged ones.

    The bounds are loose on purpose: this reranker's logits are close together (std about 0.4-0.5 over such a list), so
    int8 moves pairs of near-equal passages (Kendall tau 0.79 and 0.88 on these two queries, top 5 sharing 4 and 5);
    a broken quantisation (activations of attention in int8, scrambled scales) orders at random."""
    from scipy.stats import kendalltau

    from indexer.encode.cross_encoder import CrossEncoder
    from medcore.beir import load_qrels, load_queries, read_jsonl

    folder = shared_data / "nfcorpus"
    qrels, queries = load_qrels(folder, "dev"), load_queries(folder)
    corpus = {d["_id"]: f"{d.get('title', '')}. {d['text']}" for d in read_jsonl(folder / "corpus.jsonl")}
    unjudged = iter(sorted(corpus))
    models = {kind: CrossEncoder.load(str(SHIPPED), replace(settings, search=replace(
        settings.search, rerank_encoder=kind))) for kind in ("onnx", "onnx-int8")}
    assert {kind: m.kind for kind, m in models.items()} == {"onnx": "onnx", "onnx-int8": "onnx-int8"}
    qids = [q for q in qrels if q in queries and sum(g > 0 for g in qrels[q].values()) >= 5][:2]
    for qid in qids:
        judged = [d for d, g in qrels[qid].items() if g > 0 and d in corpus][:12]
        passages = [corpus[d] for d in judged] + [corpus[d] for d in islice(
            (d for d in unjudged if d not in qrels[qid]), len(judged))]
        fp32, int8 = (models[kind].score(queries[qid], passages) for kind in ("onnx", "onnx-int8"))
        tau = kendalltau(fp32, int8).statistic
        top_fp32, top_int8 = set(np.argsort(-fp32)[:5]), set(np.argsort(-int8)[:5])
        assert tau >= 0.6, f"{qid}: Kendall tau {tau:.3f} between the fp32 and int8 logits"
        assert len(top_fp32 & top_int8) >= 3, f"{qid}: top 5 {sorted(top_fp32)} against {sorted(top_int8)}"
        assert np.abs(fp32 - int8).max() <= fp32.std(), f"{qid}: fp32 {fp32} against int8 {int8}"


def test_search_rerank_reorders_the_first_stages_candidates(seventeen_home) -> None:
    from search_app.searcher import Searcher

    query = "do painkillers such as ibuprofen or aspirin make stomach bleeding more likely in old age"
    first = Searcher.from_settings(seventeen_home, "hybrid:minilm")
    alone = replace(seventeen_home, search=replace(seventeen_home.search, rerank_weight=1.0))
    second = Searcher.from_settings(alone, "hybrid:minilm+rerank")
    assert second.reranker is not None and second.reranker.calibration is not None
    reranked = second.search(query, 10)
    assert [h.rank for h in reranked] == list(range(1, 11))
    assert {h.chunk_id for h in reranked} <= {h.chunk_id for h in first.search(query, second.reranker.depth)}, \
        "the reranker reorders the first stage's candidates"
    logits = [h.scores["rerank"] for h in reranked]
    assert logits == sorted(logits, reverse=True), "weight 1: the reranker's order alone"
    assert [h.ranks["rerank"] for h in reranked] == list(range(1, 11))
    assert reranked[0].document.pmcid == "PMC4736379"
    # the shipped reranker tells on-topic from off-topic less well on dev than MiniLM's cosine (AUC 0.75 vs 0.84):
    # relevance and floor stay the first stage's
    assert second.floor == first.floor and all(0 <= h.relevance <= 1 for h in reranked)


def test_cli_search_and_eval_take_the_reranker(seventeen_home, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from cli.main import cli

    env = {"MEDEMBED_HOME": str(seventeen_home.paths.home)}
    out = CliRunner().invoke(cli, ["-q", "search", "rabbit fever after a coyote bite", "--rerank", "--papers",
                                   "--json", "-k", "3"], env=env)
    assert out.exit_code == 0, out.output
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert rows[0]["pmcid"] == "PMC4738698" and all(0 <= r["relevance"] <= 1 for r in rows)
    none = CliRunner().invoke(cli, ["-q", "search", "zzqx blorf", "--rerank", "--json"], env=env)
    assert none.exit_code == 0 and none.stdout == "" and "No good match" in none.stderr
    sample = REPO / "samples" / "benchmarks" / "medquad-sample"
    env = {"MEDEMBED_HOME": str(tmp_path / "home")}
    result = CliRunner().invoke(cli, ["-q", "eval", str(sample), "--retriever", "bm25", "--retriever", "bm25+rerank",
                                      "--max-queries", "20", "--json"], env=env)
    assert result.exit_code == 0, result.output
    scores = {r["retriever"]: r["metrics"]["ndcg@10"] for r in map(json.loads, result.stdout.splitlines())}
    assert set(scores) == {"bm25", "bm25+rerank"} and scores["bm25+rerank"] != scores["bm25"]
