"""Reading lists and recent searches in the real SQL store (SQLite and PostgreSQL): per user, kept across restarts,
checked by role, audited; and the `medembed reading-list` / `medembed recent` commands."""

from __future__ import annotations

import rispy
from click.testing import CliRunner

from access import audit
from access.roles import Principal
from cli.main import cli
from indexer.parse.document import ParsedDocument
from library import reading_list
from medcore.errors import PermissionDenied
from medcore.types import Chunk
from store import Store

ANN, BOB = Principal("ann", "reader"), Principal("bob", "reader")


def _library(store: Store) -> list[int]:
    docs = []
    for i, title in enumerate(["Methemoglobinemia in pregnancy", "Tularemia after a coyote bite"]):
        parsed = ParsedDocument(source="pdf", sha256=f"{i:064d}", title=title, pmcid=f"PMC{1000 + i}", year=2016,
                                authors="Doe Jane", journal="Case Reports", study_type="case_report",
                                study_evidence="title")
        docs.append((parsed, [Chunk(id=0, doc_id=0, ordinal=0, text=f"{title} text", page=1)]))
    return store.add_documents(docs)


def test_reading_list_is_per_user_kept_across_restarts_and_audited(store_url: str) -> None:
    store = Store(store_url)
    first, second = _library(store)
    assert reading_list.add(store, ANN, first) and reading_list.add(store, ANN, second)
    assert not reading_list.add(store, ANN, first), "adding twice keeps one entry"
    assert reading_list.note(store, ANN, first, "  discuss at journal club  ")
    assert reading_list.add(store, BOB, second)
    store.close()

    store = Store(store_url)  # a restart: a new engine on the same database
    listed = reading_list.items(store, ANN)
    assert [i.document.id for i in listed] == [second, first], "newest first"
    assert listed[1].note == "discuss at journal club" and listed[1].document.study_type == "case_report"
    assert [i.document.id for i in reading_list.items(store, BOB)] == [second], "each user has their own list"
    assert reading_list.remove(store, ANN, second) and not reading_list.remove(store, ANN, second)
    assert reading_list.saved_ids(store, ANN) == {first}

    entries = audit.query(store, actor="ann")
    assert [e.action for e in entries] == ["reading-list remove", "reading-list note", "reading-list add",
                                           "reading-list add"]
    assert entries[1].detail == {"doc_id": first, "chars": 23, "owner": "ann"}, "the note's length, not its text"
    assert "Tularemia" in entries[0].target

    store.delete_document(first)
    assert reading_list.items(store, ANN) == [], "a deleted paper leaves every list"
    store.close()


def test_others_lists_need_an_admin(store_url: str) -> None:
    store = Store(store_url)
    doc, _ = _library(store)
    try:
        reading_list.add(store, ANN, doc, owner="bob")
    except PermissionDenied as exc:
        assert "admin" in str(exc)
    else:
        raise AssertionError("a reader changed another user's list")
    assert reading_list.add(store, Principal("root", "admin"), doc, owner="bob")
    assert [i.document.id for i in reading_list.items(store, BOB)] == [doc]
    try:
        reading_list.items(store, None)
    except PermissionDenied as exc:
        assert "Sign in" in str(exc)
    store.close()


def test_recent_searches_keep_settings_move_repeats_to_the_top_and_stay_bounded(store_url: str) -> None:
    store = Store(store_url)
    hybrid = {"mode": "hybrid", "model": "minilm", "view": "Papers", "k": 10, "study_types": ["rct"]}
    reading_list.record_search(store, ANN, "methemoglobinemia", hybrid)
    reading_list.record_search(store, ANN, "tularemia", {"mode": "bm25"})
    reading_list.record_search(store, ANN, "methemoglobinemia", hybrid)
    reading_list.record_search(store, ANN, "methemoglobinemia", {"mode": "bm25"})
    recent = reading_list.recent(store, ANN)
    assert [(r.query, r.options.get("mode")) for r in recent] == [
        ("methemoglobinemia", "bm25"), ("methemoglobinemia", "hybrid"), ("tularemia", "bm25")]
    assert recent[1].options == hybrid and reading_list.recent(store, BOB) == []
    for i in range(60):
        reading_list.record_search(store, BOB, f"q{i}", {})
    assert len(reading_list.recent(store, BOB, limit=200)) == 50
    assert reading_list.recent(store, BOB, 1)[0].query == "q59"
    assert reading_list.clear_recent(store, ANN) == 3 and reading_list.recent(store, ANN) == []
    assert audit.query(store, actor="ann")[0].action == "recent-searches clear"
    store.close()


def test_a_search_is_recorded_once_per_distinct_query_and_settings(store_url: str) -> None:
    """The Search page records each run; clicks that change nothing shown (the paper order of a passage list, the
    model of a BM25 search, an emptied filter) must not add near-duplicates, and what differs is shown."""
    from ui.present import describe_search

    store = Store(store_url)
    page = {"mode": "bm25", "model": "minilm", "k": 10, "view": "Passages", "sort": "Relevance", "study_types": [],
            "journals": [], "collections": [], "year_min": None, "year_max": None}
    reading_list.record_search(store, ANN, "statin myopathy", page)
    # a passage list has no paper order
    reading_list.record_search(store, ANN, " statin  myopathy ", page | {"sort": "Level of evidence"})
    reading_list.record_search(store, ANN, "statin myopathy", page | {"model": "medembed-small"})  # BM25 uses no model
    reading_list.record_search(store, ANN, "statin myopathy", dict(reversed(list(page.items()))))
    assert [r.options for r in reading_list.recent(store, ANN)] == [{"mode": "bm25", "k": 10, "view": "Passages"}]
    papers = page | {"mode": "hybrid", "view": "Papers", "sort": "Level of evidence", "study_types": ["rct"],
                     "journals": ["Lancet"], "year_min": 2015}
    reading_list.record_search(store, ANN, "statin myopathy", papers)
    reading_list.record_search(store, ANN, "statin myopathy", papers | {"sort": "Relevance"})
    shown = [describe_search(r.options) for r in reading_list.recent(store, ANN)]
    rct = "Randomised controlled trial · Lancet · 2015–…"
    assert shown == [f"hybrid · minilm · Papers · 10 results · {rct}",
                     f"hybrid · minilm · Papers · 10 results · by level of evidence · {rct}",
                     "BM25 · Passages · 10 results"]
    store.close()


def test_cli_reading_list_and_recent(tmp_path, monkeypatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("MEDEMBED_HOME", str(home))
    home.mkdir()
    store = Store(f"sqlite:///{home / 'medembed.db'}")
    first, second = _library(store)
    reading_list.record_search(store, Principal("localhost", "admin", "open"), "tularemia", {"mode": "bm25", "k": 5})
    runner = CliRunner()
    assert "Added" in runner.invoke(cli, ["reading-list", "add", str(first), str(second)]).output
    assert runner.invoke(cli, ["reading-list", "note", str(first), "read first"]).exit_code == 0
    out = runner.invoke(cli, ["reading-list", "show", "--export", "ris"])
    records = rispy.loads(out.output)
    assert {r["custom3"] for r in records} == {"PMC1000", "PMC1001"}
    assert [r.get("notes") for r in records if r["custom3"] == "PMC1000"] == [["read first"]]
    missing = runner.invoke(cli, ["reading-list", "note", "999", "x"])
    assert missing.exit_code == 1 and "add it first" in missing.output
    assert '"query": "tularemia"' in runner.invoke(cli, ["recent"]).output
    assert audit.query(store, actions=["reading-list add"])[0].actor.startswith("cli:")
    store.close()


def test_notes_and_queries_lose_control_characters_and_export_as_one_ris_record(tmp_path, monkeypatch) -> None:
    """A note with newlines forges no RIS record (also in an admin's export of another user's list), and neither a
    note nor a query keeps ESC or other controls that a terminal would obey."""
    home = tmp_path / "home"
    monkeypatch.setenv("MEDEMBED_HOME", str(home))
    home.mkdir()
    store = Store(f"sqlite:///{home / 'medembed.db'}")
    first, _ = _library(store)
    note = "mine\nER  - \nTY  - JOUR\nTI  - Forged paper\n\x1b[2J\x1b]0;owned\x07 \u202eevil"
    assert reading_list.add(store, ANN, first) and reading_list.note(store, ANN, first, note)
    reading_list.record_search(store, ANN, "sepsis\x1b[31m red\x00", {"mode": "bm25"})
    [item] = reading_list.items(store, ANN)
    assert "\x1b" not in item.note and "\x07" not in item.note and "\u202e" not in item.note
    assert [s.query for s in reading_list.recent(store, ANN)] == ["sepsis[31m red"]
    out = CliRunner().invoke(cli, ["reading-list", "show", "--user", "ann", "--export", "ris"])
    assert out.exit_code == 0, out.output
    records = rispy.loads(out.output)
    assert len(records) == 1 and records[0]["custom3"] == "PMC1000" and "\x1b" not in out.output
    store.close()
