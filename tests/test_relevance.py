"""Results a clinician can trust: a relevance with one meaning across queries, a floor under which nothing is shown,
evidence order within relevance, key sentences from index-time sentence vectors. Pure logic first, then the 17 PDFs
of ../shared/data/pdfs indexed with the real MiniLM (the suite's model and fusion, tests/conftest.py), searched
with and without the shipped reranker."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner

from cli.main import cli
from indexer.index.layout import dense_dir
from indexer.index.sentence_vectors import SENTENCES_FILE, SentenceVectors, chunk_sentences
from indexer.index.versioned import read_manifest
from medcore.models import resolve, weights_digest
from medcore.types import Document, Hit
from search_app import key_sentence, relevance
from search_app.papers import group_papers, sort_papers
from search_app.searcher import Searcher
from ui import present

# paraphrases: none repeats the title's key words where a lay or clinical synonym exists
PARAPHRASES = {
    "can a child catch rabbit fever after being bitten by a wild canine": "PMC4738698",
    "how should the bowel be cleaned out before swallowing a camera capsule": "PMC4736012",
    "do painkillers such as ibuprofen or aspirin make stomach bleeding more likely in old age": "PMC4736379",
    "is a heart ultrasound worth doing in people who fainted but have a normal ECG": "PMC4736231",
    "how good is a quick malaria test compared with looking at blood films under the microscope": "PMC4737045",
    "can a quinolone antibiotic make the platelet count drop": "PMC4738914",
    "is bad sleep in MS linked to depression": "PMC4739473",
    "abnormal haemoglobin making a pregnant woman blue with low oxygen saturation": "PMC4736312",
}
OFF_TOPIC = [
    "what is the best treatment for an ankle sprain",
    "how is glaucoma diagnosed",
    "treatment options for male pattern baldness",
    "zzqx blorf",
    "purple guitar velvet ladder",
    "what is the capital of france",
    "best pizza recipe with mozzarella",
]


def _hit(doc_id: int, score: float, rank: int, study_type: str | None, rel: float | None) -> Hit:
    doc = Document(id=doc_id, source="pdf", title=f"doc {doc_id}", study_type=study_type)
    return Hit(chunk_id=rank * 10 + doc_id, doc_id=doc_id, score=score, text="t", title=doc.title, rank=rank,
               document=doc, relevance=rel)


# -- pure logic ---------------------------------------------------------------------------------------------------
def test_evidence_order_sorts_only_papers_above_the_floor_ties_by_relevance_and_renumbers() -> None:
    papers = group_papers([_hit(1, 0.9, 1, "case_report", 0.9), _hit(2, 0.8, 2, "systematic_review", 0.1),
                           _hit(3, 0.7, 3, "rct", 0.6), _hit(4, 0.6, 4, "rct", 0.8), _hit(5, 0.5, 5, None, 0.7)])
    ordered = sort_papers(papers, "evidence", floor=0.5)
    assert [p.doc_id for p in ordered] == [4, 3, 1, 5, 2], "RCTs (more relevant first), case report, other; " \
                                                             "the off-topic review stays last"
    assert [p.rank for p in ordered] == [1, 2, 3, 4, 5], "cards are numbered as shown"
    shown, weak = relevance.split(ordered, 0.5)
    assert [p.doc_id for p in weak] == [2]
    by_relevance = sort_papers(papers, "relevance", floor=0.5)
    assert [p.doc_id for p in by_relevance] == [1, 3, 4, 5, 2], "below the floor never above one above it"
    assert [p.doc_id for p in sort_papers(papers, "evidence")] == [2, 4, 3, 1, 5], "no floor: evidence decides"


def test_relevance_is_a_logistic_of_the_cosine_and_missing_dense_scores_are_bounded() -> None:
    cal = relevance.Calibration("m", intercept=-10.0, slope=20.0, floor=0.5)
    assert cal.relevance(0.5) == 0.5 and cal.relevance(0.8) > 0.99 and cal.relevance(0.2) < 0.01
    assert relevance.hit_relevance(cal, 1, {1: 0.8}) == round(cal.relevance(0.8), 4)
    assert relevance.hit_relevance(cal, 3, {1: 0.8, 2: 0.3}) == round(cal.relevance(0.3), 4)
    assert relevance.hit_relevance(None, 1, {1: 0.8}) is None and relevance.hit_relevance(cal, 1, {}) is None
    assert relevance.passes(_hit(1, 1, 1, None, None), 0.5), "no calibration: nothing is hidden"


def test_a_model_without_a_calibration_for_its_weights_gets_no_floor_and_says_so(tmp_path, caplog) -> None:
    spec = resolve("minilm")
    table = tmp_path / "cal.json"
    table.write_text(json.dumps({"version": 1, "models": {"minilm@0000": {"intercept": 0, "slope": 1, "floor": 0.5}}}))
    with caplog.at_level(logging.WARNING, logger="search_app.relevance"):
        assert relevance.calibration_for(spec, table) is None
    assert "fitted for other weights" in caplog.text and "relevance_calibration.py --model minilm" in caplog.text
    key = relevance.calibration_key("minilm", weights_digest(spec))
    table.write_text(json.dumps({"version": 1, "models": {key: {"intercept": -1, "slope": 2, "floor": 0.4}}}))
    assert relevance.calibration_for(spec, table) == relevance.Calibration("minilm", -1.0, 2.0, 0.4)
    assert relevance.calibration_for(spec) is not None, "the committed file calibrates the suite's model"


def test_plain_words_say_what_matched_and_the_details_stay_available() -> None:
    both = Hit(chunk_id=1, doc_id=1, score=0.03, text="t", ranks={"bm25": 2, "dense": 1},
               scores={"bm25": 2.1, "dense": 0.8}, relevance=0.82)
    assert present.why_here(both, "hybrid") == "matches your words and meaning · relevance 0.82"
    meaning = Hit(chunk_id=1, doc_id=1, score=0.03, text="t", ranks={"dense": 1}, scores={"dense": 0.8})
    assert present.why_here(meaning, "hybrid") == "close in meaning to your question"
    assert "BM25 #2 (2.1)" in present.why_ranked(both, "hybrid")


def test_sentence_vectors_round_trip_and_lookup(tmp_path) -> None:
    vectors = SentenceVectors(np.array([7, 3, 7]), np.array([[0, 30], [0, 40], [31, 70]]),
                              np.eye(3, dtype=np.float32))
    vectors.save(tmp_path)
    loaded = SentenceVectors.load(tmp_path)
    spans, found = loaded.lookup(7)
    assert spans == [(0, 30), (31, 70)] and found.shape == (2, 3)
    assert loaded.lookup(5)[0] == [] and len(loaded.without(np.array([7]))) == 1
    assert SentenceVectors.load(tmp_path / "nowhere") is None
    assert chunk_sentences("Short. " + "A sentence long enough to be kept here.") == [(7, 46)]


# -- the 17 papers ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("retriever", ["hybrid:minilm", "hybrid:minilm+rerank"])
def test_off_topic_and_nonsense_find_nothing_and_paraphrases_find_their_paper(seventeen_home, retriever) -> None:
    searcher = Searcher.from_settings(seventeen_home, retriever)
    assert searcher.floor is not None, "the suite's model and the shipped reranker are calibrated"
    for query in OFF_TOPIC:
        papers = searcher.search_papers(query, 10)
        shown, weak = relevance.split(papers, searcher.floor)
        assert not shown, (query, [(p.title, p.relevance) for p in shown])
        assert weak and all(0.0 <= p.relevance < searcher.floor for p in weak), "the nearest are kept, marked weak"
    missed = {}
    for query, pmcid in PARAPHRASES.items():
        shown, _ = relevance.split(searcher.search_papers(query, 10), searcher.floor)
        top = [p.document.pmcid for p in shown[:3]]
        if pmcid not in top:
            missed[query] = [(p.document.pmcid, p.relevance) for p in shown[:3]]
    assert not missed, missed


@pytest.mark.parametrize("retriever", ["bm25", "bm25+rerank"])
def test_keyword_search_reads_relevance_from_the_models_dense_index(seventeen_home, retriever) -> None:
    """BM25 alone has no cosine, so it reads index.model's dense index for relevance: the same floor as a dense
    search, off-topic keyword searches show nothing, and a keyword query's paper passes the floor. With the reranker,
    relevance stays the cosine's (the reranker's logit alone had put the README's malaria paper under its floor)."""
    searcher = Searcher.from_settings(seventeen_home, retriever)
    assert searcher.floor is not None
    assert searcher.floor == Searcher.from_settings(seventeen_home, "dense:minilm").floor
    for query in OFF_TOPIC:
        shown, _ = relevance.split(searcher.search_papers(query, 10), searcher.floor)
        assert not shown, (query, [(p.title, p.relevance) for p in shown])
    shown, _ = relevance.split(searcher.search_papers("rapid malaria test", 5), searcher.floor)
    assert shown and shown[0].document.pmcid == "PMC4737045", [(p.document.pmcid, p.relevance) for p in shown]


def test_cli_json_carries_relevance_and_prints_nothing_below_the_floor(seventeen_home) -> None:
    env = {"MEDEMBED_HOME": str(seventeen_home.paths.home)}
    out = CliRunner().invoke(cli, ["-q", "search", "can a quinolone antibiotic make the platelet count drop",
                                   "--papers", "--json", "-k", "3"], env=env)
    assert out.exit_code == 0, out.output
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert rows and rows[0]["pmcid"] == "PMC4738914" and all(0 <= r["relevance"] <= 1 for r in rows)
    passages = CliRunner().invoke(cli, ["-q", "search", "low platelets after levofloxacin", "--json", "-k", "2"],
                                  env=env)
    assert all(0 <= json.loads(line)["relevance"] <= 1 for line in passages.stdout.splitlines())
    for args in (["--json"], ["--papers", "--json"], ["--papers", "--sort", "evidence", "--json"]):
        none = CliRunner().invoke(cli, ["-q", "search", "zzqx blorf", *args], env=env)
        assert none.exit_code == 0 and none.stdout == "", none.stdout
        assert "No good match" in none.stderr


def test_key_sentences_come_from_index_time_vectors_in_milliseconds(seventeen_home) -> None:
    version, manifest = read_manifest(dense_dir(seventeen_home, resolve("minilm")))
    assert (version / SENTENCES_FILE).is_file() and manifest["sentences"]["n"] > 1000
    searcher = Searcher.from_settings(seventeen_home)
    query = "did the antibiotic given after the bite prevent the infection"
    papers = searcher.search_papers(query, 5)
    start = time.perf_counter()
    marked = searcher.mark_key_sentences(query, papers)
    seconds = time.perf_counter() - start
    assert seconds < 0.5, f"a lookup and dot products, not encoding: {seconds:.3f} s"
    top = marked[0].passages[0]
    assert top.key_sentence is not None
    spans = key_sentence.sentence_spans(top.text)
    embedder = searcher.sentence_embedder()
    fresh = embedder.encode_sentences([top.text[a:min(b, a + 300)] for a, b in spans])
    best = spans[key_sentence.best_sentence(embedder.encode_queries([query])[0], fresh)]
    assert top.key_sentence == best, "the index's sentence vectors pick what embedding the sentences now picks"


class CountingEncoder:
    """The real embedder, counting what it is asked to encode."""

    def __init__(self, embedder) -> None:  # noqa: ANN001 - an Embedder
        self.inner, self.spec, self.calls = embedder, embedder.spec, []

    def encode_queries(self, queries: list[str]):  # noqa: ANN201
        self.calls.append(("queries", len(queries)))
        return self.inner.encode_queries(queries)

    def encode_sentences(self, sentences: list[str]):  # noqa: ANN201
        self.calls.append(("sentences", len(sentences)))
        return self.inner.encode_sentences(sentences)


def test_keyword_search_marks_key_sentences_from_the_models_index_encoding_the_query_once(seventeen_home,
                                                                                          minilm) -> None:
    """BM25 alone reads relevance from index.model's dense index; its key sentences come from that index's sentence
    vectors too, with the one query vector relevance already needed: no sentence is embedded at search time."""
    searcher = Searcher.from_settings(seventeen_home, "bm25")
    assert searcher.sentence_vectors() is not None and searcher.calibration is not None  # relevance needs the vector
    searcher._sentence_embedder = counting = CountingEncoder(minilm)
    query = "coyote bite tularemia amoxicillin"
    marked = searcher.mark_key_sentences(query, searcher.search_papers(query, 3))
    assert counting.calls == [("queries", 1)], counting.calls
    top = marked[0].passages[0]
    assert top.key_sentence is not None
    dense = Searcher.from_settings(seventeen_home, "dense:minilm")
    (same,) = dense.mark_key_sentences(query, [top])
    assert same.key_sentence == top.key_sentence, "the same model's sentence vectors pick the same sentence"


def test_keyword_search_without_the_models_dense_index_carries_no_relevance_reranked_or_not(library_home) -> None:
    """Where index.model has no dense index in the library, BM25 has no cosine: its hits carry no relevance and no
    floor hides any, with the reranker too (its logit alone had hidden the README's malaria paper)."""
    settings = replace(library_home, index=replace(library_home.index, model="medembed-small"))
    for retriever in ("bm25", "bm25+rerank"):
        searcher = Searcher.from_settings(settings, retriever)
        hits = searcher.search("coyote bite tularemia", 3)
        assert searcher.floor is None and hits and all(h.relevance is None for h in hits), retriever
