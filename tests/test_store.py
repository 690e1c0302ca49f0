"""The SQL store, against SQLite and the real PostgreSQL server."""

from __future__ import annotations

import pytest

from indexer.parse.document import ParsedDocument, Segment
from medcore.types import Chunk
from store import Store


def _doc(n: int, **meta) -> tuple[ParsedDocument, list[Chunk]]:
    parsed = ParsedDocument(source="pdf", sha256=f"{n:064x}", title=f"Paper {n}", segments=[Segment("x", 1)], **meta)
    chunks = [Chunk(id=0, doc_id=0, ordinal=i, text=f"text {n}.{i}", page=i + 1, char_start=i * 10,
                    char_end=i * 10 + 8) for i in range(3)]
    return parsed, chunks


def test_add_read_delete(store_url: str) -> None:
    store = Store(store_url)
    (a,) = store.add_documents([_doc(1, doi="10.1/ABC", pmcid="PMC1", year=2016, journal="J")])
    b, c = store.add_documents([_doc(2), _doc(3)])
    assert store.counts() == (3, 9)
    assert store.has_sha256(f"{1:064x}") and not store.has_sha256(f"{9:064x}")
    assert store.known_sha256([f"{2:064x}", f"{9:064x}"]) == {f"{2:064x}"}
    assert store.duplicate_claims("10.1/abc", None) == store.duplicate_claims(None, "PMC1") == [(a, "Paper 1")]
    assert store.duplicate_claims("10.9/none", None) == []
    ids = store.chunk_ids()
    rows = store.get_chunks(ids[:4])
    chunk, doc = rows[ids[3]]
    assert doc.id == b and chunk.ordinal == 0 and chunk.page == 1 and chunk.text == "text 2.0"
    assert [t for _, t, _ in next(store.iter_index_texts(ids[:2]))] == ["text 1.0", "text 1.1"]
    assert store.delete_document(b) and not store.delete_document(b)
    assert store.counts() == (2, 6)
    assert {d.id for d, n in store.documents()} == {a, c}
    assert all(n == 3 for _, n in store.documents())
    assert store.get_document(a).year == 2016
    store.close()


def test_a_failed_transaction_stores_nothing(store_url: str) -> None:
    store = Store(store_url)
    store.add_documents([_doc(1)])
    with pytest.raises(Exception):  # noqa: B017 - the duplicate sha256 violates the unique constraint
        store.add_documents([_doc(2), _doc(1)])
    assert store.counts() == (1, 3)
    store.close()


def test_eval_runs_are_saved(store_url: str) -> None:
    store = Store(store_url)
    store.save_eval_run("nfcorpus", "test", "bm25", 323, {"ndcg@10": 0.32}, 1.5)
    (run,) = store.eval_runs()
    assert (run.dataset, run.retriever, run.metrics["ndcg@10"]) == ("nfcorpus", "bm25", 0.32)
    store.close()


def test_facets_come_from_queries_and_show_a_curators_design(store_url: str) -> None:
    store = Store(store_url)
    empty = store.facets()
    assert (empty.n_documents, empty.years, empty.journals, empty.study_types) == (0, [], [], set())
    ids = store.add_documents([
        _doc(1, year=2016, journal="BMJ", study_type="rct"),
        _doc(2, year=2012, journal="Lancet", collection="trials", study_type="cohort_case_control"),
        _doc(3, journal="BMJ")])
    store.set_curated_design(ids[1], "case_report", by="cura")
    facets = store.facets()
    assert facets.n_documents == 3 and facets.years == [2012, 2016] and facets.journals == ["BMJ", "Lancet"]
    assert facets.collections == ["library", "trials"] and facets.study_types == {"rct", "case_report"}
    docs = [d for d, _ in store.documents()]
    assert facets.study_types == {d.study_type for d in docs if d.study_type}  # what loading them all would say
    store.close()
