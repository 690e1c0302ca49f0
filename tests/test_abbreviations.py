"""Abbreviations: Schwartz-Hearst pairs from real text, the library's table, and BM25 query expansion end to end."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cli.main import cli
from indexer.text.abbreviations import best_long_form, expand, extract_pairs, library_table
from search_app.searcher import Searcher
from store import Store
from tests.conftest import reloaded


@pytest.mark.parametrize(("short", "long", "expected"), [
    ("UGIB", "patients with upper gastrointestinal bleeding", "upper gastrointestinal bleeding"),
    ("MetHb", "an increase in methemoglobin", "methemoglobin"),
    ("ICH", "children with intracerebral hemorrhage", "intracerebral hemorrhage"),
    ("XYZ", "nothing that matches here", None),
])
def test_best_long_form(short: str, long: str, expected: str | None) -> None:
    assert best_long_form(short, long) == expected


def test_extract_pairs_keeps_abbreviation_like_short_forms_only() -> None:
    text = ("NSAIDs and acetylsalicylic acid (ASA) may cause upper gastrointestinal\nbleeding (UGIB). The odds "
            "ratio (OR) was 1.2 (95% CI 1.1-1.4) in stage (iii) disease; ASA (again) is not redefined.")
    assert extract_pairs(text) == [("ASA", "acetylsalicylic acid"), ("UGIB", "upper gastrointestinal bleeding")]


def test_library_table_and_expand() -> None:
    table = library_table([("ICH", "intracerebral hemorrhage"), ("ICH", "intracerebral hemorrhage"),
                           ("ICH", "intracranial hypertension"), ("ASA", "acetylsalicylic acid")])
    assert table == {"ICH": "intracerebral hemorrhage", "ASA": "acetylsalicylic acid"}
    assert expand("ICH in children", table) == ("ICH in children intracerebral hemorrhage",
                                                [("ICH", "intracerebral hemorrhage")])
    assert expand("ich in children", table)[1] == [], "case-sensitive: 'ich' is not the abbreviation"
    assert expand("ICH intracerebral hemorrhage", table)[1] == [], "the long form is there already"
    assert expand("amyloidosis AA", {"AA": "areata"})[1] == [], "two-letter forms are too ambiguous to expand"


def test_ingest_stores_pairs_and_bm25_searches_the_long_form(library_home, monkeypatch) -> None:
    store = Store.from_settings(library_home)
    table = library_table(store.abbreviation_pairs())
    assert table.get("ICH") == "intracerebral hemorrhage", sorted(table.items())[:20]
    searcher = Searcher.from_settings(library_home, "bm25")
    assert searcher.expansions("ICH outcome") == [("ICH", "intracerebral hemorrhage")]
    assert searcher.search("ICH outcome", 3)[0].document.pmcid == "PMC4735909"
    off = Searcher.from_settings(reloaded(library_home, monkeypatch, SEARCH_EXPAND_ABBREVIATIONS="false"), "bm25")
    assert off.expansions("ICH outcome") == []
    # the CLI in BM25 mode with expansion off; a spelled-out query, since relevance (and so the floor) reads the dense
    # cosine of the query as typed, and the suite's MiniLM does not know what "ICH" stands for
    out = CliRunner().invoke(cli, ["search", "intracerebral hemorrhage outcome", "--mode", "bm25", "--json",
                                   "-k", "1"])
    row = json.loads(out.stdout.splitlines()[0])
    assert out.exit_code == 0 and row["pmcid"] == "PMC4735909" and 0 <= row["relevance"] <= 1


# -- poisoning: one uploader planting papers cannot redefine what everyone's queries expand to ----------------------
def _paper(folder, name: str, title: str, text: str) -> tuple[str, bytes]:  # noqa: ANN001 - a Path
    from hostile_pdfs import text_pdf

    path = text_pdf(folder / name, title, [text])
    return name, path.read_bytes()


def test_four_planted_papers_from_one_uploader_do_not_redefine_an_abbreviation(tmp_path) -> None:  # noqa: ANN001
    """Two curators' papers define AMI as acute myocardial infarction; a third curator uploads four papers defining it
    as a miracle device. Each uploader is one source: the planted four weigh one vote, not four."""
    from access.roles import Principal
    from library.manage import add_uploads
    from tests.conftest import suite_settings

    settings = suite_settings().with_home(tmp_path / "home")
    store = Store.from_settings(settings)
    genuine = ("Patients with acute myocardial infarction (AMI) were treated with aspirin and early reperfusion. "
               "Mortality after AMI fell.")
    planted = "Our about miracle implant device (AMI) cures everything. Buy AMI today."
    for user, n, text in (("ann", 1, genuine), ("bob", 1, genuine), ("mallory", 4, planted)):
        uploads = [_paper(tmp_path, f"{user}-{i}.pdf", f"Report {user} number {i} on AMI", text + f" Case {user}{i}.")
                   for i in range(n)]
        results = add_uploads(store, settings, uploads, user=Principal(user, "curator"))
        assert [r.status for r in results] == ["added"] * n, results
    table = library_table(store.abbreviation_pairs())
    assert table["AMI"] == "acute myocardial infarction", table
    assert expand("AMI outcomes", table)[0] == "AMI outcomes acute myocardial infarction"
    store.close()


def test_one_source_has_one_vote_shared_among_its_long_forms() -> None:
    pairs = [("AMI", "acute myocardial infarction", "ann"), ("AMI", "acute myocardial infarction", "bob"),
             *[("AMI", "about miracle implant device", "inbox:uid1000")] * 4,
             ("ICH", "intracerebral hemorrhage", "inbox:uid1000"),
             ("ICH", "intracranial hypertension", "inbox:uid1000"),
             ("ICH", "intracerebral hemorrhage", "inbox:uid1000")]
    table = library_table(pairs)
    assert table["AMI"] == "acute myocardial infarction"
    assert table["ICH"] == "intracerebral hemorrhage", "within one source, the long form more of its papers give"
