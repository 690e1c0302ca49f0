"""Paper-level results: the pure grouping, and papers from the real searcher, the CLI and the store's designs."""

from __future__ import annotations

import json

from click.testing import CliRunner

from cli.main import cli
from medcore.types import Document, Hit, SearchFilters
from search_app.papers import group_papers, sort_papers
from search_app.searcher import Searcher
from store import Store


def _hit(doc_id: int, score: float, rank: int, study_type: str | None = None) -> Hit:
    doc = Document(id=doc_id, source="pdf", title=f"doc {doc_id}", study_type=study_type)
    return Hit(chunk_id=rank * 10 + doc_id, doc_id=doc_id, score=score, text="t", title=doc.title, page=rank,
               rank=rank, document=doc)


def test_group_papers_ranks_by_best_score_and_keeps_best_passages_first() -> None:
    hits = [_hit(7, 0.9, 1), _hit(3, 0.8, 2), _hit(7, 0.5, 3), _hit(7, 0.4, 4), _hit(7, 0.3, 5), _hit(5, 0.2, 6)]
    papers = group_papers(hits, max_passages=3)
    assert [(p.doc_id, p.rank) for p in papers] == [(7, 1), (3, 2), (5, 3)]
    assert [h.score for h in papers[0].passages] == [0.9, 0.5, 0.4], "best three passages, best first"
    assert papers[0].score == 0.9 and papers[0].title == "doc 7"
    assert [p.doc_id for p in group_papers(list(reversed(hits)), k=2)] == [7, 3], "input order does not matter"
    assert group_papers([]) == []


def test_sort_by_evidence_puts_stronger_designs_first_and_numbers_cards_as_shown() -> None:
    papers = group_papers([_hit(1, 0.9, 1, "case_report"), _hit(2, 0.8, 2, None), _hit(3, 0.7, 3, "rct"),
                           _hit(4, 0.6, 4, "systematic_review"), _hit(5, 0.5, 5, "case_report")])
    assert [p.doc_id for p in sort_papers(papers, "evidence")] == [4, 3, 1, 5, 2]
    assert [p.rank for p in sort_papers(papers, "evidence")] == [1, 2, 3, 4, 5]
    assert [p.doc_id for p in sort_papers(papers, "relevance")] == [1, 2, 3, 4, 5]


def test_search_papers_on_the_real_library(library_home) -> None:
    searcher = Searcher.from_settings(library_home, "hybrid:minilm")
    papers = searcher.search_papers("tularemia after a coyote bite in a child", k=3, passages=3)
    assert papers[0].document.pmcid == "PMC4738698"
    assert len({p.doc_id for p in papers}) == len(papers) == 3, "one card per paper; the library has three"
    assert len(papers[0].passages) == 3 and all(h.doc_id == papers[0].doc_id for h in papers[0].passages)
    assert [h.score for h in papers[0].passages] == sorted((h.score for h in papers[0].passages), reverse=True)
    assert [p.score for p in papers] == sorted((p.score for p in papers), reverse=True)
    passages = searcher.search("tularemia after a coyote bite in a child", k=10)
    assert papers[0].score == passages[0].score, "a paper ranks by its best passage's fused score"


def test_study_designs_are_stored_at_ingest_and_filter_results(library_home) -> None:
    store = Store.from_settings(library_home)
    designs = {doc.pmcid: (doc.study_type, doc.study_evidence) for doc, _ in store.documents()}
    assert designs["PMC4736312"][0] == designs["PMC4738698"][0] == "case_report"
    # 50 children's records reviewed, no design named: the trained model reads the abstract as a case series
    assert designs["PMC4735909"][0] == "case_report"
    assert designs["PMC4735909"][1].startswith("classified from the abstract (confidence 0.")
    assert "case-report" in designs["PMC4738698"][1] or "Case of" in designs["PMC4738698"][1]
    searcher = Searcher.from_settings(library_home, "bm25")
    only = SearchFilters(study_types=("case_report",))
    papers = searcher.search_papers("children bleeding infection pregnancy", k=10, filters=only)
    assert papers and {p.document.study_type for p in papers} == {"case_report"}
    assert searcher.search("children", 10, SearchFilters(study_types=("rct",))) == []


def test_cli_papers(library_home, monkeypatch) -> None:
    monkeypatch.setenv("MEDEMBED_HOME", str(library_home.paths.home))
    runner = CliRunner()
    out = runner.invoke(cli, ["search", "tularemia after a coyote bite in children", "--mode", "bm25", "--papers",
                              "-k", "2", "--json"])
    assert out.exit_code == 0, out.output
    rows = [json.loads(line) for line in out.output.splitlines()]
    # BM25 mode carries relevance too: papers under the floor are not printed (the second is about something else)
    assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1)) and rows[0]["pmcid"] == "PMC4738698"
    assert all(0 <= r["relevance"] <= 1 for r in rows)
    assert rows[0]["study_type"] == "case_report" and 1 <= len(rows[0]["passages"]) <= 3
    plain = runner.invoke(cli, ["search", "coyote bite", "--mode", "bm25", "--papers", "--study-type", "other"])
    assert plain.exit_code == 0 and "Tularemia" not in plain.output, plain.output
    bad = runner.invoke(cli, ["search", "x", "--study-type", "trial"])
    assert bad.exit_code == 2 and "rct" in bad.output


def test_classify_backfills_a_store_made_before_designs(library_home, tmp_path, monkeypatch) -> None:
    import shutil

    from sqlalchemy import inspect

    from store.tables import AbbreviationRow, StudyDesignRow

    home = tmp_path / "home"
    shutil.copytree(library_home.paths.home, home)
    old = Store.from_settings(library_home.with_home(home))
    for table in (StudyDesignRow.__table__, AbbreviationRow.__table__):
        table.drop(old.engine)  # the store as the release before study designs left it: no migrations either
    with old.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE alembic_version")
    old.close()
    store = Store.from_settings(library_home.with_home(home))
    assert {"study_designs", "abbreviations"} <= set(inspect(store.engine).get_table_names()), "opening adds them"
    assert {doc.study_type for doc, _ in store.documents()} == {None}
    assert Searcher.from_settings(library_home.with_home(home), "bm25").search("coyote", 1), "still searchable"
    monkeypatch.setenv("MEDEMBED_HOME", str(home))
    out = CliRunner().invoke(cli, ["classify"])
    assert out.exit_code == 0 and "Classified 3 documents" in out.output, out.output
    designs = {doc.pmcid: doc.study_type for doc, _ in store.documents()}
    assert designs == {"PMC4736312": "case_report", "PMC4738698": "case_report", "PMC4735909": "case_report"}
    assert ("ICH", "intracerebral hemorrhage") in [(short, long) for short, long, _ in store.abbreviation_pairs()]
