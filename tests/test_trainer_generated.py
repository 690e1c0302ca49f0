"""Generated training data: the brief prompt, the filters a small LLM needs (round trip, queries about the text),
pairs files, random negatives for small corpora, and the share of LLM-written pairs in a model's card."""

from __future__ import annotations

import json
from pathlib import Path

from trainer_fixtures import tiny_beir  # noqa: F401 - the fixture

from trainer.card import combined_data, data_counts, render_card
from trainer.data import Passage, Triplet, read_beir, triplets_from_pairs
from trainer.generate import GenerateConfig, GenerateSummary, TripletSink, _triplets_for_reply, triplets_from_qrels
from trainer.llm import ValidationConfig, build_messages, parse_reply, reply_items, validate_item
from trainer.mining import MiningConfig, NegativeMiner

POOL = [
    Passage("p1", "d1", "Metformin lowers blood glucose in type 2 diabetes and rarely causes lactic acidosis."),
    Passage("p2", "d2", "Statins reduce LDL cholesterol and the risk of myocardial infarction in adults."),
    Passage("p3", "d3", "Vitamin D supplementation reduced falls in older adults with low vitamin D levels."),
    Passage("p4", "d4", "Peppermint oil relieved abdominal pain in irritable bowel syndrome compared with placebo."),
    Passage("p5", "d5", "The metformin dose is halved when kidney function falls."),
]
BRIEF = ValidationConfig(require_span=False)


def test_brief_prompt_asks_for_the_queries_alone_after_a_worked_example() -> None:
    messages = build_messages(POOL[0].text, ("keyword", "question"), style="brief")
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert json.loads(messages[2]["content"]) == {"keyword": "statins familial hypercholesterolemia LDL",
                                                  "question": "how much do statins reduce cholesterol in inherited "
                                                              "high cholesterol?"}
    assert "span" not in messages[3]["content"] and POOL[0].text in messages[3]["content"]


def test_brief_replies_keyed_by_kind_become_items() -> None:
    items, negative = reply_items(parse_reply('{"keyword": "metformin lactic acidosis", "question": "is metformin '
                                              'safe?", "note": "ignored"}'))
    assert items == [{"kind": "keyword", "query": "metformin lactic acidosis"},
                     {"kind": "question", "query": "is metformin safe?"}]
    assert negative is None


def test_queries_about_the_text_rather_than_its_topic_are_dropped() -> None:
    for query in ("what does this study report about metformin?", "summary of the passage",
                  "main findings of the above paper"):
        assert validate_item({"kind": "question", "query": query}, POOL[0].text, BRIEF) == (None,
                                                                                             "refers_to_passage")
    kept, reason = validate_item({"kind": "question", "query": "does metformin cause lactic acidosis?"},
                                 POOL[0].text, BRIEF)
    assert reason is None and kept is not None and kept.span == ""


def test_round_trip_keeps_a_query_only_when_its_passage_ranks_in_the_top_k() -> None:
    miner = NegativeMiner(POOL, None, MiningConfig(method="bm25"))
    ranks = miner.positive_ranks(["metformin lactic acidosis", "statin cholesterol myocardial infarction"],
                                 [POOL[0], POOL[0]])
    assert ranks[0] == 1 and ranks[1] > 1
    summary = GenerateSummary()
    reply = json.dumps({"keyword": "metformin lactic acidosis", "question": "do statins prevent heart attacks?"})
    config = GenerateConfig(kinds=("keyword", "question"), style="brief", validation=BRIEF, round_trip_k=1)

    class _Sink:
        seen_queries: set[str] = set()

    triplets, status = _triplets_for_reply(reply, POOL[0], "test", miner, _Sink(), config, summary)  # type: ignore[arg-type]
    assert status == "ok"
    assert [t.query for t in triplets] == ["metformin lactic acidosis"]
    assert summary.dropped["round_trip"] == 1 and summary.generated == 2 and summary.kept_queries == 1


def test_passages_are_cut_at_a_word_in_the_prompt() -> None:
    long = Passage("x", "x", "word " * 1000)
    text = GenerateConfig(max_passage_chars=300, style="brief").messages(long)[-1]["content"]
    assert "word " * 59 in text and "word " * 61 not in text


def test_random_negatives_keep_pairs_the_miner_cannot_serve(tiny_beir: Path, tmp_path: Path) -> None:  # noqa: F811
    data = read_beir(tiny_beir, "train")
    # a margin of 1 skips every candidate: no mined negative passes
    miner = NegativeMiner(list(data.corpus.values()), None, MiningConfig(method="bm25", relative_margin=1.0))
    dropped = triplets_from_qrels(data, miner, tmp_path / "a.jsonl")
    kept = triplets_from_qrels(data, miner, tmp_path / "b.jsonl", random_negatives=True)
    assert dropped.triplets == 0 and dropped.dropped["no_negative"] == dropped.generated > 0
    assert kept.triplets == kept.generated == dropped.generated
    rows = [json.loads(line) for line in (tmp_path / "b.jsonl").read_text().splitlines()]
    for row in rows:
        assert row["neg_source"] == "random" and row["neg_id"] not in data.qrels[row["query_id"]]


def test_without_a_miner_pairs_take_random_unjudged_documents(tiny_beir: Path, tmp_path: Path) -> None:  # noqa: F811
    data = read_beir(tiny_beir, "train")
    summary = triplets_from_qrels(data, None, tmp_path / "r.jsonl", max_per_query=2)
    rows = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert summary.triplets == summary.generated == len(rows) > 0 and not summary.dropped
    assert {r["neg_source"] for r in rows} == {"random"}
    assert all(r["neg_id"] not in data.qrels[r["query_id"]] for r in rows)
    assert len({r["neg_id"] for r in rows}) > 1  # drawn, not one document for every pair


def test_question_pairs_become_triplets_and_resume(tmp_path: Path) -> None:
    pairs = tmp_path / "curai-mqp" / "pairs.jsonl"
    pairs.parent.mkdir()
    pairs.write_text(json.dumps({"query": "Can I drink alcohol on antibiotics?", "positive": "Is alcohol safe with "
                                 "amoxicillin?", "negative": "Do antibiotics cause nausea?", "source_id": "q0"}) + "\n"
                     + json.dumps({"query": "Am I overweight?", "positive": "Is 193 lbs too much at 39?"}) + "\n")
    rows = triplets_from_pairs(pairs)
    assert [(t.query_id, t.source, t.neg_source) for t in rows] == [("q0", "pairs:curai-mqp", "dataset"),
                                                                    ("curai-mqp:2", "pairs:curai-mqp", "")]
    sink = TripletSink(tmp_path / "out.jsonl")
    sink.write(rows[0].query_id, rows[:1])
    assert TripletSink(tmp_path / "out.jsonl").done == {"q0"}


def _triplet(source: str, kind: str = "qrels") -> Triplet:
    return Triplet("q " + source, "pos", "neg", "qid", "p", "n", kind, source, "bm25")


def test_the_card_gives_the_generated_share_and_the_licences_of_its_data() -> None:
    run = data_counts([_triplet("llm:qwen", "keyword"), _triplet("qrels:bioasq-b7-11/train"),
                       _triplet("qrels:nfcorpus/train"), _triplet("pairs:curai-mqp")])
    assert run["generated_share"] == 0.25
    older = {"triplets": 4, "queries": 4, "by_source_kind": {"qrels:medquad/train / qrels": 4}, "by_negative": {}}
    merged = combined_data([{"model": "a", "weight": 0.5, "data": run},
                            {"model": "b", "weight": 0.3, "parts": [{"model": "c", "weight": 0.8, "data": older},
                                                                    {"model": "minilm", "weight": 0.2}]},
                            {"model": "minilm", "weight": 0.2}])
    assert merged is not None
    assert (merged["triplets"], merged["runs"], merged["generated_share"]) == (8, 2, 0.125)
    card = render_card({"name": "m", "base_model": "minilm", "data": merged})
    assert "12.5% of the pairs have a query written by an LLM" in card
    assert "BioASQ terms of use" in card and "MedQuAD" in card and "Curai" in card
    assert combined_data([{"model": "minilm", "weight": 1.0}]) is None


def test_a_step_limited_run_says_how_many_of_its_pairs_it_read() -> None:
    data = data_counts([Triplet(f"q{i}", "pos", "neg", f"q{i}", "p", "n", "qrels", "qrels:nfcorpus/train", "bm25")
                        for i in range(1000)])
    hp = {"batch_size": 64, "epochs": 1.0}
    stopped = render_card({"name": "m", "data": data, "hyperparameters": {**hp, "max_steps": 10}})
    assert "1000 training pairs" in stopped and "it read at most 640 of the 1000 pairs" in stopped
    for steps in (-1, 20):  # no limit; a limit past the epoch
        card = render_card({"name": "m", "data": data, "hyperparameters": {**hp, "max_steps": steps}})
        assert "it read at most" not in card
