"""Drug names in queries: the packaged brand -> generic table, query expansion, and search end to end."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from cli.main import cli
from indexer.text.drug_names import drug_table, expand, words
from search_app.searcher import Searcher
from tests.conftest import reloaded


def test_the_packaged_table_maps_brands_to_generic_names() -> None:
    table = drug_table()
    assert len(table) > 15_000
    assert table["norvasc"] == "amlodipine" and table["lasix"] == "furosemide" and table["tylenol"] == "acetaminophen"
    assert all(variant != generic and " ".join(words(variant)) == variant for variant, generic in table.items())
    assert table["luvox"] == "fluvoxamine", "a brand inside its generic's spelling (fluvoxamine) is still a brand"


@pytest.mark.parametrize(("query", "expected"), [
    ("what is in Norvasc?", ("what is in Norvasc? amlodipine", [("norvasc", "amlodipine")])),
    ("Tylenol with LASIX", ("Tylenol with LASIX acetaminophen furosemide",
                            [("tylenol", "acetaminophen"), ("lasix", "furosemide")])),
    ("norvasc or amlodipine for angina", ("norvasc or amlodipine for angina", [])),  # the generic is there already
    ("norvascs", ("norvascs", [])),  # whole words only
    ("Lasix-induced hypokalemia", ("Lasix-induced hypokalemia furosemide", [("lasix", "furosemide")])),
    ("x-ray of the long-term users", ("x-ray of the long-term users", [])),
    ("DNase-seq of chromatin", ("DNase-seq of chromatin", [])),  # a method named after the enzyme
    # a longer name that is not a drug is read whole: the drug name inside it adds nothing
    ("alanine aminotransferase elevation", ("alanine aminotransferase elevation", [])),
    ("corticotropin-releasing hormone in depression", ("corticotropin-releasing hormone in depression", [])),
    ("first-line treatment of hypothyroidism", ("first-line treatment of hypothyroidism", [])),
    ("Norvasc’s side effects", ("Norvasc’s side effects amlodipine", [("norvasc", "amlodipine")])),
    # everyday words that some dictionary lists as a drug's name are not taken for one
    ("survival at 10 years after surgery", ("survival at 10 years after surgery", [])),
    ("role of M cells in Peyer's patches", ("role of M cells in Peyer's patches", [])),
    ("plan B after chemotherapy", ("plan B after chemotherapy", [])),
    ("caps and gowns in the operating room", ("caps and gowns in the operating room", [])),
    ("activated protein C resistance", ("activated protein C resistance", [])),
])
def test_expand(query: str, expected: tuple[str, list[tuple[str, str]]]) -> None:
    assert expand(query) == expected


def test_the_longest_name_wins_and_a_generic_is_added_once() -> None:
    table = {"tylenol": "acetaminophen", "tylenol pm": "acetaminophen and diphenhydramine", "panadol": "acetaminophen"}
    assert expand("Tylenol PM at night", table)[1] == [("tylenol pm", "acetaminophen and diphenhydramine")]
    assert expand("tylenol or panadol", table) == ("tylenol or panadol acetaminophen", [("tylenol", "acetaminophen")])
    assert expand("Armour for hypothyroidism", {"armour": "thyroid"})[1] == [("armour", "thyroid")], "whole words"


def test_the_dense_model_reads_the_expanded_query(library_home) -> None:  # noqa: ANN001
    searcher = Searcher.from_settings(library_home, "dense:minilm")
    searcher.search("Marcaine toxicity", 3)
    expanded = searcher.embedder.encode_queries(["Marcaine toxicity bupivacaine"])[0]
    assert abs(float(searcher.query_vector("Marcaine toxicity") @ expanded) - 1.0) < 1e-4


def test_a_brand_name_finds_the_paper_that_names_the_generic(library_home, monkeypatch) -> None:  # noqa: ANN001
    # the methaemoglobinaemia case report names bupivacaine, never its brand Marcaine
    searcher = Searcher.from_settings(library_home, "bm25")
    assert searcher.expansions("Marcaine toxicity") == [("marcaine", "bupivacaine")]
    assert searcher.search("Marcaine toxicity", 3)[0].document.pmcid == "PMC4736312"
    off = Searcher.from_settings(reloaded(library_home, monkeypatch, SEARCH_EXPAND_DRUG_NAMES="false"), "bm25")
    assert off.expansions("Marcaine toxicity") == []
    assert all("bupivacaine" not in hit.text.lower() for hit in off.search("Marcaine toxicity", 3))
    # the CLI says what it also searched: first in plain output, on standard error with --json
    monkeypatch.setenv("MEDEMBED_SEARCH_EXPAND_DRUG_NAMES", "true")
    plain = CliRunner().invoke(cli, ["search", "Marcaine toxicity", "--mode", "bm25", "-k", "1"])
    assert plain.exit_code == 0 and plain.stdout.startswith("Also searched: bupivacaine (marcaine)\n"), plain.output
    as_json = CliRunner().invoke(cli, ["search", "Marcaine toxicity", "--mode", "bm25", "-k", "1", "--json"])
    assert as_json.exit_code == 0 and "Also searched: bupivacaine (marcaine)" in as_json.stderr
    assert all(line.startswith("{") for line in as_json.stdout.splitlines())
