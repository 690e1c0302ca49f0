"""Reference lists stay out of the indexed text: the PDF cut (indexer.parse.pdf) and the JATS <ref-list> exclusion."""

from __future__ import annotations

import re
from pathlib import Path

import pymupdf
import pytest
from lxml import etree

from indexer.parse.document import ParsedDocument
from indexer.parse.jats import parse_jats
from indexer.parse.pdf import parse_pdf

SHARED_PDFS = Path(__file__).resolve().parents[2] / "shared" / "data" / "pdfs"
FIXTURES = Path(__file__).resolve().parent / "data" / "pdfs"
needs_shared = pytest.mark.skipif(
    not (SHARED_PDFS / "MANIFEST.csv").is_file(), reason="needs ../shared/data (benchmark data beside the repo)"
)

# A reference entry: "[15] N. Nkrumah, ... 2012" (number in brackets, author initials, a year in the same paragraph).
REFERENCE_ENTRY = re.compile(r"(?:^|\s)\[\d{1,3}\]\s+(?:[A-Z][.-]\s*)+[A-Z][\w'’-]+[^\n]*?\b(?:19|20)\d{2}\b", re.M)


def reference_entries(doc: ParsedDocument) -> list[str]:
    """Reference-list entries left in the document's text."""
    return [match.group().strip() for s in doc.segments for match in REFERENCE_ENTRY.finditer(s.text)]


def paragraphs(doc: ParsedDocument) -> list[str]:
    """The document's paragraphs, over all segments."""
    return [p for s in doc.segments for p in s.text.split("\n\n")]


def n_chars(doc: ParsedDocument) -> int:
    """Characters of text in the document's segments."""
    return sum(len(s.text) for s in doc.segments)


def assert_only_references_cut(kept: ParsedDocument, full: ParsedDocument) -> None:
    """Every kept segment is its page's full text or the start of it: nothing before the reference list is lost."""
    full_pages = {s.page: s.text for s in full.segments}
    assert [s.page for s in kept.segments] == [s.page for s in full.segments][: len(kept.segments)]
    for segment in kept.segments:
        assert full_pages[segment.page].startswith(segment.text), segment.page
    assert kept.segments[0].text == full.segments[0].text  # the abstract page is whole
    assert (kept.title, kept.doi, kept.pmcid, kept.year, kept.n_pages) == (
        full.title,
        full.doi,
        full.pmcid,
        full.year,
        full.n_pages,
    )


# --- PDF: the benchmark papers and the committed fixtures ---------------------------------------------------------


@needs_shared
def test_shared_pdfs_lose_their_reference_lists() -> None:
    pdfs = sorted(SHARED_PDFS.glob("*.pdf"))
    assert len(pdfs) == 17
    clean, before, after = 0, 0, 0
    for pdf in pdfs:
        full, kept = parse_pdf(pdf, keep_references=True), parse_pdf(pdf)
        assert reference_entries(full), f"{pdf.name}: expected a numbered reference list in the full text"
        clean += not reference_entries(kept)
        before, after = before + n_chars(full), after + n_chars(kept)
        assert n_chars(kept) >= 0.5 * n_chars(full), pdf.name
        assert_only_references_cut(kept, full)
    assert clean >= 15
    assert after >= 0.6 * before


@needs_shared
def test_malaria_paper_keeps_its_body_but_not_its_references() -> None:
    text = "\n\n".join(s.text for s in parse_pdf(SHARED_PDFS / "PMC4737045.pdf").segments)
    assert "CyScope" in text and "Acknowledgment" in text
    assert "Nkrumah" not in text and "References" not in text.split("\n\n")


@pytest.mark.parametrize("pdf", sorted(FIXTURES.glob("*.pdf")), ids=lambda p: p.stem)
def test_committed_pdfs_lose_their_reference_lists(pdf: Path) -> None:
    full, kept = parse_pdf(pdf, keep_references=True), parse_pdf(pdf)
    assert reference_entries(full) and not reference_entries(kept)
    assert "References" in paragraphs(full) and "References" not in paragraphs(kept)
    assert 0.6 * n_chars(full) <= n_chars(kept) < n_chars(full)
    assert_only_references_cut(kept, full)


# --- PDF: the rules, on synthetic documents -----------------------------------------------------------------------


def make_pdf(path: Path, pages: list[list[tuple[str, float]]]) -> Path:
    """Write a PDF whose pages hold the given ``(text, font size)`` blocks, one below the other."""
    doc = pymupdf.open()
    for blocks in pages:
        page = doc.new_page()  # A4, 595 x 842 pt
        y = 120.0
        for text, size in blocks:
            page.insert_text((72, y), text, fontsize=size)
            y += (text.count("\n") + 2.5) * size * 1.3
    doc.save(path)
    return path


# Distinct on every page, or the running-header rule would take it for a repeated header or footer.
BODY = ("Body text of the {n} page reports the results of the study.", 10.0)
REFS = ("[1] A. B. Author, “A cited paper,” Journal, 2010.\n[2] C. Dee, “Another one,” Journal, 2011.", 9.0)


def body(n: int) -> tuple[str, float]:
    """The body-text block of page ``n``."""
    return BODY[0].format(n=["first", "second", "third", "fourth"][n - 1]), BODY[1]


def page_texts(path: Path, keep_references: bool = False) -> dict[int, str]:
    """{page: text} of a parsed PDF."""
    return {s.page or 0: s.text for s in parse_pdf(path, keep_references=keep_references).segments}


def test_cut_runs_from_the_heading_to_the_end(tmp_path: Path) -> None:
    pages = [[body(1)], [body(2)], [body(3), ("References", 12.0), REFS], [REFS, REFS]]
    pdf = make_pdf(tmp_path / "a.pdf", pages)
    texts = page_texts(pdf)
    assert sorted(texts) == [1, 2, 3]  # page 4 holds only references
    assert texts[3] == body(3)[0]
    assert "[1] A. B. Author" in page_texts(pdf, keep_references=True)[4]


def test_heading_in_the_first_half_does_not_cut(tmp_path: Path) -> None:
    contents = [("Contents\nIntroduction\nReferences", 10.0)]  # a table of contents lists "References" on page 1
    pages = [[*contents, ("References", 12.0), body(1)], [body(2)], [body(3)], [body(4)]]
    pdf = make_pdf(tmp_path / "toc.pdf", pages)
    assert all(body(n)[0] in text for n, text in page_texts(pdf).items())
    assert len(page_texts(pdf)) == 4


@pytest.mark.parametrize("heading", ["REFERENCES", "Bibliography", "Literature Cited", "7. References", "References:"])
def test_heading_forms(tmp_path: Path, heading: str) -> None:
    pdf = make_pdf(tmp_path / "h.pdf", [[body(1)], [body(2), (heading, 12.0), REFS]])
    assert page_texts(pdf) == {1: body(1)[0], 2: body(2)[0]}


@pytest.mark.parametrize("line", ["references", "References to earlier work were checked.", "See References"])
def test_other_mentions_do_not_cut(tmp_path: Path, line: str) -> None:
    pdf = make_pdf(tmp_path / "m.pdf", [[body(1)], [(line, 10.0), body(2)]])
    assert body(2)[0] in page_texts(pdf)[2]


def test_document_that_is_only_a_reference_list_is_kept(tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "only.pdf", [[("References", 12.0), REFS]])  # nothing before the heading
    assert page_texts(pdf)[1].startswith("References\n\n[1] A. B. Author")


def test_appendix_after_the_references_is_kept(tmp_path: Path) -> None:
    appendix = ("Appendix A: Search Strategy", 12.0)
    small = ("Appendix 2, pp. 1–9, 2001.", 9.0)  # a reference line, not a heading: set in the references' size
    pages = [
        [body(1)],
        [("References", 12.0), REFS, small, appendix, ("We searched PubMed.", 10.0)],
    ]
    text = page_texts(make_pdf(tmp_path / "app.pdf", pages))[2]
    assert text == "Appendix A: Search Strategy\n\nWe searched PubMed."


# --- JATS: <ref-list> is never text ------------------------------------------------------------------------------


@pytest.mark.parametrize("xml", sorted(FIXTURES.glob("*.xml")), ids=lambda p: p.stem)
def test_committed_jats_has_no_references(xml: Path) -> None:
    doc = parse_jats(xml)
    cited = [" ".join("".join(t.itertext()).split()) for t in etree.parse(str(xml)).iterfind(".//ref//article-title")]
    cited = [title for title in cited if len(title) > 30]
    text = "\n".join(s.text for s in doc.segments)
    assert cited and not any(title in text for title in cited)
    assert not any(s.heading and re.fullmatch(r"(?i)references?", s.heading) for s in doc.segments)


JATS = """<article><front><article-meta><abstract><p>Malaria diagnosis by microscopy.</p></abstract></article-meta>
</front><body><sec><title>Results</title><p>CyScope was sensitive [1].</p></sec></body>
<back><sec sec-type="references"><title>References</title><ref-list><ref id="B1"><mixed-citation>N. Nkrumah,
"Rapid tests for malaria," BMC Infectious Diseases, 2012.</mixed-citation></ref></ref-list></sec>
<app-group><app><title>Appendix</title><p>Study questionnaire.</p></app></app-group></back></article>"""


def test_jats_reference_section_in_back_is_left_out(tmp_path: Path) -> None:
    path = tmp_path / "refs.xml"
    path.write_text(JATS, encoding="utf-8")
    doc = parse_jats(path)
    assert [(s.heading, s.text) for s in doc.segments] == [
        ("Abstract", "Malaria diagnosis by microscopy."),
        ("Results", "CyScope was sensitive [1]."),
        ("Appendix", "Study questionnaire."),
    ]
