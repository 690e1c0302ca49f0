"""Tests for indexer.parse.jats: the PMC JATS XML of the committed fixtures and of ../shared/data, and error cases."""

from __future__ import annotations

import csv
import difflib
import hashlib
import re
from pathlib import Path

import pytest
from lxml import etree

from indexer.parse.jats import parse_jats
from medcore.errors import IngestError
from medcore.identifiers import as_pmcid, find_pmcid

SHARED_PDFS = Path(__file__).resolve().parents[2] / "shared" / "data" / "pdfs"
FIXTURES = Path(__file__).resolve().parent / "data" / "pdfs"
needs_shared = pytest.mark.skipif(
    not (SHARED_PDFS / "MANIFEST.csv").is_file(), reason="needs ../shared/data (benchmark data beside the repo)"
)

ARTICLE = """<?xml version="1.0"?>
<!DOCTYPE article PUBLIC "-//NLM//DTD JATS (Z39.96) Journal Archiving and Interchange DTD v1.1 20151215//EN"
  "JATS-archivearticle1.dtd">
<article xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:mml="http://www.w3.org/1998/Math/MathML">
<front>
  <journal-meta>
    <journal-title-group><journal-title>Journal of Tests</journal-title></journal-title-group>
  </journal-meta>
  <article-meta>
    <article-id pub-id-type="pmid">111</article-id>
    <article-id pub-id-type="pmc">{pmc}</article-id>
    <article-id pub-id-type="doi">10.1234/jt.5</article-id>
    <title-group><article-title>Nested <italic>Sections</italic> Flattened</article-title></title-group>
    <contrib-group>
      <contrib contrib-type="author"><name><surname>Doe</surname><given-names>Jane A.</given-names></name></contrib>
      <contrib contrib-type="editor"><name><surname>Editor</surname><given-names>Ed</given-names></name></contrib>
      <contrib contrib-type="author"><collab>The Test Group</collab></contrib>
    </contrib-group>
    <pub-date pub-type="epub"><year>2019</year></pub-date>
    <pub-date pub-type="ppub"><year>2020</year></pub-date>
    <abstract abstract-type="graphical"><p>Graphical abstract.</p></abstract>
    <abstract><sec><title>Background</title><p>Why we did it.</p></sec><sec><title>Results</title>
      <p>What we found: Fe<sup>3+</sup> rose.</p></sec></abstract>
  </article-meta>
</front>
<body>
  <sec><title>1. Introduction</title><p>Intro text [<xref ref-type="bibr" rid="B1">1</xref>].</p></sec>
  <sec><title>2. Methods</title>
    <p>Methods overview.</p>
    <sec><title>2.1. Design</title><p>Design text.</p>
      <list><list-item><p>first item</p></list-item><list-item><p>second item</p></list-item></list></sec>
    <sec><title>2.2. Analysis</title><p>Analysis with <inline-formula><mml:math><mml:mi>x</mml:mi></mml:math>
      <tex-math>\\alpha</tex-math></inline-formula> done.</p>
      <fig id="f1"><label>Figure 1</label><caption><p>A figure caption.</p></caption><graphic/></fig></sec>
  </sec>
  <sec><title>3. Empty parent</title><sec><title>3.1. Child</title><p>Child text.</p></sec></sec>
</body>
<back>
  <ack><title>Acknowledgments</title><p>Thanks to all.</p></ack>
  <ref-list><title>References</title><ref id="B1"><element-citation><article-title>A cited paper title</article-title>
  </element-citation></ref></ref-list>
</back>
<floats-group>
  <table-wrap id="t1"><label>Table 1</label><caption><p>Baseline data.</p></caption>
    <table><thead><tr><th>Group</th><th>N</th></tr></thead><tbody><tr><td>Cases</td><td>12</td></tr></tbody></table>
  </table-wrap>
</floats-group>
</article>
"""


def normalise(text: str) -> str:
    """Casefold and collapse punctuation and whitespace, for title comparison."""
    return " ".join(re.sub(r"[\W_]+", " ", text.casefold()).split())


def write(tmp_path: Path, name: str, text: str) -> Path:
    """Write ``text`` to ``tmp_path / name`` and return the path."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_synthetic_article(tmp_path: Path) -> None:
    path = write(tmp_path, "article.xml", ARTICLE.format(pmc="4567"))
    doc = parse_jats(path, collection="tests")
    assert doc.source == "jats"
    assert doc.collection == "tests"
    assert doc.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert doc.title == "Nested Sections Flattened"
    assert doc.authors == "Doe Jane A., The Test Group"
    assert doc.journal == "Journal of Tests"
    assert doc.year == 2020  # print year before the online year
    assert doc.doi == "10.1234/jt.5"
    assert doc.pmcid == "PMC4567"
    assert doc.file_path == str(path)
    assert [s.heading for s in doc.segments] == [
        "Abstract",
        "1. Introduction",
        "2. Methods",
        "2.1. Design",
        "2.2. Analysis",
        "3.1. Child",
        "Acknowledgments",
        "Table 1",
    ]
    by_heading = {s.heading: s.text for s in doc.segments}
    assert all(s.page is None for s in doc.segments)
    assert by_heading["Abstract"] == "Background\n\nWhy we did it.\n\nResults\n\nWhat we found: Fe3+ rose."
    assert by_heading["1. Introduction"] == "Intro text [1]."
    assert by_heading["2. Methods"] == "Methods overview."  # subsections are their own segments
    assert by_heading["2.1. Design"] == "Design text.\n\nfirst item\n\nsecond item"
    assert by_heading["2.2. Analysis"] == "Analysis with x done.\n\nFigure 1: A figure caption."  # no TeX copy
    assert by_heading["Table 1"] == "Table 1: Baseline data.\n\nGroup | N\nCases | 12"
    assert "Graphical abstract" not in by_heading["Abstract"]
    assert all("cited paper" not in s.text and s.heading != "References" for s in doc.segments)


@pytest.mark.parametrize(("value", "name", "expected"), [("PMC4567", "a.xml", "PMC4567"), ("", "PMC77.nxml", "PMC77")])
def test_pmcid_forms(tmp_path: Path, value: str, name: str, expected: str) -> None:
    assert parse_jats(write(tmp_path, name, ARTICLE.format(pmc=value))).pmcid == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("PMCID: PMC4736312.", "PMC4736312"), ("pmc77.nxml", "PMC77"), ("article_PMC4736312_supp.pdf", "PMC4736312"),
    ("XPMC123 and PMC1234567890123", None), ("no id here", None),
])
def test_a_pmcid_is_found_in_text_and_file_names_alike(text: str, expected: str | None) -> None:
    assert find_pmcid(text) == expected


@pytest.mark.parametrize(("value", "expected"), [("PMC4567", "PMC4567"), ("pmc4567", "PMC4567"), ("4567", "PMC4567"),
                                                 ("PMC 4567", None), ("doi:10.1/x", None)])
def test_a_jats_article_id_is_a_pmcid_with_or_without_its_prefix(value: str, expected: str | None) -> None:
    assert as_pmcid(value) == expected


def test_malformed_xml(tmp_path: Path) -> None:
    text = ARTICLE.format(pmc="1")
    path = write(tmp_path, "cut.xml", text[: len(text) // 2])
    with pytest.raises(IngestError, match=r"^cut\.xml: malformed XML \(.*\); re-download"):
        parse_jats(path)


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match=r"empty\.xml: malformed XML"):
        parse_jats(write(tmp_path, "empty.xml", ""))


def test_not_jats(tmp_path: Path) -> None:
    path = write(tmp_path, "page.xml", "<html><body><p>Hello</p></body></html>")
    with pytest.raises(
        IngestError, match=re.escape("page.xml: not a JATS article (root element <html>, no <article>)")
    ):
        parse_jats(path)


def test_article_without_text(tmp_path: Path) -> None:
    path = write(tmp_path, "bare.xml", "<article><front><article-meta/></front></article>")
    with pytest.raises(IngestError, match="without an abstract or body text"):
        parse_jats(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match=r"gone\.xml: cannot read the file"):
        parse_jats(tmp_path / "gone.xml")


def test_external_entities_are_not_resolved(tmp_path: Path) -> None:
    secret = write(tmp_path, "secret.txt", "TOP SECRET")
    text = (
        f'<!DOCTYPE article [<!ENTITY xxe SYSTEM "file://{secret}">]>'
        "<article><front><article-meta><abstract><p>a &xxe; b</p></abstract></article-meta></front></article>"
    )
    doc = parse_jats(write(tmp_path, "xxe.xml", text))
    assert "TOP SECRET" not in doc.segments[0].text


@pytest.mark.parametrize("xml", sorted(FIXTURES.glob("*.xml")), ids=lambda p: p.stem)
def test_committed_fixtures(xml: Path) -> None:
    doc = parse_jats(xml)
    assert doc.pmcid == xml.stem
    assert doc.doi and doc.doi.startswith("10.1155/2016/")
    assert doc.year == 2016
    assert doc.segments[0].heading == "Abstract" and len(doc.segments[0].text) > 200
    assert len(doc.segments) >= 4
    assert all(s.text.strip() == s.text and s.text for s in doc.segments)


@needs_shared
def test_all_shared_articles_match_manifest() -> None:
    with (SHARED_PDFS / "MANIFEST.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 17
    for row in rows:
        path = SHARED_PDFS / row["jats_xml"]
        doc = parse_jats(path)
        ratio = difflib.SequenceMatcher(None, normalise(doc.title or ""), normalise(row["title"])).ratio()
        assert ratio >= 0.9, (row["pmcid"], doc.title)
        assert doc.pmcid == row["pmcid"]
        assert doc.doi == row["doi"]
        assert doc.journal == row["journal"]
        assert doc.year == int(row["year"])
        assert doc.segments[0].heading == "Abstract" and doc.segments[0].text, row["pmcid"]
        cited = [
            " ".join("".join(t.itertext()).split()) for t in etree.parse(str(path)).iterfind(".//ref//article-title")
        ]
        cited = [title for title in cited if len(title) > 30][:5]
        text = "\n".join(s.text for s in doc.segments)
        assert cited and not any(title in text for title in cited), row["pmcid"]  # references left out
