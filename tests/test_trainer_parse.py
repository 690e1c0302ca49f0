"""Pure parts of the trainer: reply parsing, query validation, triplet files, no-duplicate batches, merge weights."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from medcore.config import Settings
from medcore.errors import ConfigError, TrainingError
from trainer.data import Triplet, read_triplets
from trainer.generate import TripletSink, done_path
from trainer.llm import (
    MalformedReply,
    ValidationConfig,
    build_messages,
    copy_overlap,
    parse_reply,
    reply_items,
    validate_item,
)
from trainer.loop import no_duplicate_batches
from trainer.merge import weight_vectors

PASSAGE = (
    "Vitamin D supplementation reduced the rate of falls in older adults with low serum 25-hydroxyvitamin D. "
    "Patients received 800 IU daily for twelve months and were followed up every three months for hypercalcaemia."
)

#: Real replies of Qwen2.5-Coder-0.5B-Instruct (Q4_K_M, llama.cpp server) to an earlier zero-shot prompt, no JSON mode.
CAPTURED = {
    "refusal_like": "Mark this passage for search engines.",
    "prose_fields": "Marking: Do you think cognitive behavioral therapy improves sleep efficiency more than "
                    "zolpidem?\nSpan: Cognitive Behavioral Therapy improves sleep efficiency more than zolpidem at "
                    "six months.\nRelevance: 5\n",
    "placeholder_then_prose": 'Marked: {"kind": "keyword", "query": "...", "span": "...", "relevance": 5}\n'
                              "Question: What are the effects of vitamin D supplementation on falls in older adults "
                              "with low serum 25-hydroxyvitamin D?\nClinical: Does Vitamin D supplementation improve "
                              "overall health and reduce falls in older adults?",
    "placeholder_spans": '{"queries": [{"kind": "keyword", "query": "Metformin", "span": "...", "relevance": 5}, '
                         '{"kind": "question", "query": "type 2 diabetes", "span": "...", "relevance": 5}]}',
}

#: Shapes other models are known to produce (not captured here): fenced JSON with trailing prose, a trailing comma.
SHAPES = {
    "fenced": '```json\n{"queries": [{"kind": "keyword", "query": "vitamin D falls elderly", "span": "Vitamin D '
              'supplementation reduced the rate of falls", "relevance": 5}]}\n```\nThese queries cover the passage.',
    "prose_then_json": 'Sure! Here are the queries:\n{"queries": [{"kind": "question", "query": "Does vitamin D '
                       'prevent falls in old people?", "span": "reduced the rate of falls in older adults", '
                       '"relevance": 5},]}',
    "unterminated": '{"queries": [{"kind": "keyword", "query": "vitamin D", "span": "Vitamin D supplementation',
    "list_of_strings": '["vitamin D falls", "hypercalcaemia follow-up"]',
}


def test_build_messages_shows_a_worked_example_then_asks_for_each_kind() -> None:
    messages = build_messages(PASSAGE, ("keyword", "question", "clinical"), negative=True)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    user = messages[-1]["content"]
    assert PASSAGE in user and '"negative"' in user and "JSON only" in user
    assert all(f'- "{k}":' in user for k in ("keyword", "question", "clinical"))
    example = json.loads(messages[2]["content"])
    assert [q["kind"] for q in example["queries"]] == ["keyword", "question", "clinical"] and example["negative"]
    for item in example["queries"]:  # the example itself passes validation against its passage
        assert validate_item(item, messages[1]["content"], ValidationConfig())[1] is None
    assert "negative" not in build_messages(PASSAGE, ("question",))[2]["content"]


@pytest.mark.parametrize("name", ["fenced", "prose_then_json"])
def test_parse_reply_digs_json_out_of_fences_prose_and_trailing_commas(name: str) -> None:
    items, negative = reply_items(parse_reply(SHAPES[name]))
    assert len(items) == 1 and items[0]["query"] and negative is None


@pytest.mark.parametrize(("text", "malformed"), [
    (CAPTURED["refusal_like"], True), (CAPTURED["prose_fields"], True), (SHAPES["unterminated"], True),
    (SHAPES["list_of_strings"], True), (CAPTURED["placeholder_then_prose"], False),
    (CAPTURED["placeholder_spans"], False),
])
def test_captured_garbage_is_malformed_or_fails_validation(text: str, malformed: bool) -> None:
    if malformed:
        with pytest.raises(MalformedReply):
            reply_items(parse_reply(text))
        return
    items, _ = reply_items(parse_reply(text))
    reasons = [validate_item(item, PASSAGE, ValidationConfig())[1] for item in items]
    assert reasons and all(reason in ("too_short", "span_not_in_passage") for reason in reasons)


def test_reply_shapes_keyed_by_kind_and_single_item() -> None:
    items, negative = reply_items({"keyword": {"query": "a b"}, "negative": "other text"})
    assert items == [{"kind": "keyword", "query": "a b"}] and negative == "other text"
    assert reply_items({"kind": "question", "query": "q?"})[0] == [{"kind": "question", "query": "q?"}]


def _item(query: str, span: str = "reduced the rate of falls", kind: str = "question", relevance: object = 5) -> dict:
    return {"kind": kind, "query": query, "span": span, "relevance": relevance}


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        (_item("does vitamin d prevent falls in elderly people?"), None),
        (_item("vitamin D falls", kind="keyword"), None),
        (_item("x", kind="keyword"), "too_short"),
        (_item("how does it work?"), "vague"),  # a real reply of the test LLM: names no topic
        (_item("what causes it?"), "vague"),
        (_item("word " * 50), "too_long"),
        (_item("does vitamin d prevent falls?", span="an invented sentence"), "span_not_in_passage"),
        (_item("Patients received 800 IU daily for twelve months and were followed up"), "copies_passage"),
        (_item("does vitamin d prevent falls?", relevance=2), "low_relevance"),
        (_item("does vitamin d prevent falls?", relevance="high"), "no_relevance"),
        (_item("does vitamin d prevent falls?", kind="summary"), "unknown_kind"),
        (_item(""), "empty_query"),
    ],
)
def test_validate_item_drops_with_a_reason(item: dict, reason: str | None) -> None:
    query, why = validate_item(item, PASSAGE, ValidationConfig())
    assert why == reason and (query is None) == (reason is not None)


def test_span_check_ignores_case_punctuation_and_line_breaks() -> None:
    query, why = validate_item(_item("when is follow-up after vitamin d?", span="followed up EVERY\nthree months"),
                               PASSAGE, ValidationConfig())
    assert why is None and query is not None and query.span == "followed up EVERY three months"


def test_copy_overlap() -> None:
    assert copy_overlap("Patients received 800 IU daily", PASSAGE) == 1.0
    assert copy_overlap("how much cholecalciferol for seniors", PASSAGE) == 0.0


def test_sink_resumes_and_deduplicates(tmp_path: Path) -> None:
    out = tmp_path / "t.jsonl.gz"
    t = Triplet("q one", "pos", "neg", "q1", "p1", "n1", "keyword", "llm:m", "bm25")
    sink = TripletSink(out)
    sink.write("p1", [t])
    sink.write("p2", [], status="malformed")
    again = TripletSink(out)
    assert again.done == {"p1", "p2"} and again.seen_queries == {"q one"}
    assert read_triplets(out) == [t] and done_path(out).name == "t.jsonl.gz.done"


def test_triplet_missing_fields_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"query": "q", "pos": "p"}) + "\n")
    with pytest.raises(Exception, match=re.escape("A triplet lacks the field(s) ['neg', 'query_id'")):
        read_triplets(path)


def test_no_duplicate_batches_never_repeat_a_text_within_a_batch() -> None:
    triplets = [Triplet(f"q{i}", f"p{i % 3}", f"n{i}", str(i), f"p{i % 3}", f"n{i}", "qrels", "s") for i in range(12)]
    batches = no_duplicate_batches(triplets, 4, seed=1, epoch=0)
    assert sorted(i for b in batches for i in b) == list(range(12))
    for batch in batches:
        assert len({triplets[i].pos for i in batch}) == len(batch) <= 3
    assert batches == no_duplicate_batches(triplets, 4, seed=1, epoch=0) != no_duplicate_batches(triplets, 4, 1, 1)


def test_weight_vectors() -> None:
    assert weight_vectors(["0.7"], 2) == [(0.7, 0.3)]  # exactly: 1 - 0.7 would be recorded as 0.30000000000000004
    assert weight_vectors([], 2) == [(0.3, 0.7), (0.5, 0.5), (0.7, 0.3)]
    assert weight_vectors(["0.5,0.25,0.25"], 3) == [(0.5, 0.25, 0.25)]
    with pytest.raises(TrainingError, match=re.escape("weights must be >= 0 and sum to 1")):
        weight_vectors(["0.5,0.6"], 2)
    with pytest.raises(TrainingError, match=re.escape("has 2 values for 3 models")):
        weight_vectors(["0.5,0.5"], 3)


def test_train_settings_section_is_validated() -> None:
    s = Settings.from_toml(environ={"MEDEMBED_TRAIN_LOSS": "cached_mnrl", "MEDEMBED_TRAIN_BATCH_SIZE": "64"})
    assert (s.train.loss, s.train.batch_size, s.train.base_model) == ("cached_mnrl", 64, "minilm")
    with pytest.raises(ConfigError, match=re.escape("train.batch_size=1 is too small")):
        Settings.from_dict({"train": {"batch_size": 1}})
