"""Tests for indexer.parse.pdf: real PMC PDFs (committed fixtures and ../shared/data), clean-up rules, error cases."""

from __future__ import annotations

import csv
import difflib
import hashlib
import re
import unicodedata
from collections import Counter
from pathlib import Path

import pymupdf
import pytest

from indexer.parse.pdf import file_sha256, join_hyphenated, parse_pdf
from medcore.errors import IngestError, PDFParseError

SHARED_PDFS = Path(__file__).resolve().parents[2] / "shared" / "data" / "pdfs"
FIXTURES = Path(__file__).resolve().parent / "data" / "pdfs"
needs_shared = pytest.mark.skipif(
    not (SHARED_PDFS / "MANIFEST.csv").is_file(), reason="needs ../shared/data (benchmark data beside the repo)"
)

# The committed fixtures (tests/data/pdfs/ATTRIBUTION.md): PMCID -> (title, DOI, pages).
FIXTURE_EXPECTED = {
    "PMC4736312": ("Rare Case of Methemoglobinemia Complicating Pregnancy", "10.1155/2016/9740403", 3),
    "PMC4735909": (
        "Spectrum of Intracerebral Hemorrhage in Children: A Report from PICU of a Resource Limited Country",
        "10.1155/2016/9124245",
        4,
    ),
    "PMC4738698": ("First Pediatric Case of Tularemia after a Coyote Bite", "10.1155/2016/8095138", 4),
}


def normalise(text: str) -> str:
    """Casefold and collapse punctuation and whitespace, for title comparison."""
    return " ".join(re.sub(r"[\W_]+", " ", text.casefold()).split())


def title_matches(found: str | None, expected: str) -> bool:
    """Titles match when their normalised forms are equal or nearly so (difflib ratio >= 0.9)."""
    return difflib.SequenceMatcher(None, normalise(found or ""), normalise(expected)).ratio() >= 0.9


@pytest.fixture(scope="module")
def manifest() -> list[dict[str, str]]:
    """Rows of ../shared/data/pdfs/MANIFEST.csv."""
    with (SHARED_PDFS / "MANIFEST.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def parsed(manifest: list[dict[str, str]]) -> dict[str, object]:
    """Every benchmark PDF parsed once, reference lists kept (tests/test_references.py covers the cut)."""
    return {row["file"]: parse_pdf(SHARED_PDFS / row["file"], keep_references=True) for row in manifest}


# --- committed fixtures: run without ../shared -------------------------------------------------------------------


@pytest.mark.parametrize("pmcid", sorted(FIXTURE_EXPECTED))
def test_committed_fixture_parses(pmcid: str) -> None:
    title, doi, pages = FIXTURE_EXPECTED[pmcid]
    path = FIXTURES / f"{pmcid}.pdf"
    doc = parse_pdf(path, collection="fixtures", keep_references=True)  # every page, references included
    assert doc.source == "pdf"
    assert doc.collection == "fixtures"
    assert title_matches(doc.title, title), doc.title
    assert doc.doi == doi
    assert doc.pmcid == pmcid
    assert doc.year == 2016
    assert doc.n_pages == pages
    assert doc.file_path == str(path)
    assert doc.sha256 == hashlib.sha256(path.read_bytes()).hexdigest() == file_sha256(path)
    assert [s.page for s in doc.segments] == list(range(1, pages + 1))


def test_committed_fixture_text_is_clean() -> None:
    doc = parse_pdf(FIXTURES / "PMC4736312.pdf", keep_references=True)  # the hanging-indent case is a reference
    page1, page2 = doc.segments[0].text, doc.segments[1].text
    # "dissoci-\nation" and "Ele-\nvated" are joined; "38-\nweek" keeps its hyphen; lines become one paragraph.
    assert "oxygen-hemoglobin dissociation curve is shifted to the left." in page1
    assert "Elevated levels can be caused" in page1
    assert "emergency at 38-week period of gestation" in page1
    assert "\n\n1. Introduction\n\n" in page1
    # The running header (journal name) and the page number are gone from page 2.
    assert not page2.startswith(("2", "Case Reports in Obstetrics"))
    assert "Case Reports in Obstetrics and Gynecology" not in page2
    # A paragraph cut by the page-2 column break is joined again; so is a reference split at a hanging indent.
    assert "and R. B. Colah, “Clinical spectrum" in page2
    assert all(not re.search(r"[\x00-\x08\x0b-\x1f]", s.text) for s in doc.segments)
    assert all("  " not in s.text and "\n\n\n" not in s.text for s in doc.segments)


# --- cleanup rules on a synthetic PDF ----------------------------------------------------------------------------


def make_pdf(path: Path, pages: int = 3, meta_title: str = "Microsoft Word - draft3.docx") -> Path:
    """Write a PDF with a running header and footer, a two-line big title and hyphenated body lines."""
    doc = pymupdf.open()
    body = "Methods\n\nThe treat-\nment of long-\nterm COVID-\n19 patients was\nstudied in 38-\nweek cohorts.\n\n"
    body += "A second paragraph starts here and\nends here."
    for number in range(1, pages + 1):
        page = doc.new_page()  # A4, 595 x 842 pt
        page.insert_text((72, 40), "Journal of Synthetic Tests", fontsize=9)
        page.insert_text((72, 820), f"Page {number} of {pages}", fontsize=9)
        if number == 1:
            page.insert_text((72, 110), "Research Article", fontsize=20)
            page.insert_text((72, 135), "A Synthetic Study of Parsing", fontsize=20)
            page.insert_text((72, 160), "Cleanup Rules", fontsize=20)
            page.insert_text((72, 190), "Published 3 May 2019. doi:10.1234/synth.2019.001.", fontsize=9)
        page.insert_text((72, 240), f"{body}\nBell\x07 and nul\x00 on page {number}.", fontsize=11)
    doc.set_metadata({"title": meta_title, "author": "Jane Doe; John Roe", "creationDate": "D:20200102"})
    doc.save(path)
    return path


def test_synthetic_pdf_cleanup_and_metadata(tmp_path: Path) -> None:
    doc = parse_pdf(make_pdf(tmp_path / "PMC999999.pdf"))
    assert doc.title == "A Synthetic Study of Parsing Cleanup Rules"  # file-name metadata title ignored, label dropped
    assert doc.doi == "10.1234/synth.2019.001"  # trailing full stop stripped
    assert doc.year == 2019  # "Published ..." wins over the creation date
    assert doc.authors == "Jane Doe; John Roe"
    assert doc.pmcid == "PMC999999"  # from the file name
    assert doc.n_pages == 3
    for number, segment in enumerate(doc.segments, start=1):
        assert segment.page == number
        assert "Journal of Synthetic Tests" not in segment.text
        assert "Page" not in segment.text
        assert "The treatment of long-term COVID-19 patients was studied in 38-week cohorts." in segment.text
        assert "\n\nA second paragraph starts here and ends here.\n\n" in segment.text
        assert f"Bell and nul on page {number}." in segment.text


def test_real_metadata_title_is_used(tmp_path: Path) -> None:
    doc = parse_pdf(make_pdf(tmp_path / "x.pdf", pages=1, meta_title="Cleanup Rules for Parsing PDFs"))
    assert doc.title == "Cleanup Rules for Parsing PDFs"


def test_single_page_keeps_its_edge_lines(tmp_path: Path) -> None:
    doc = parse_pdf(make_pdf(tmp_path / "x.pdf", pages=1))
    assert "Journal of Synthetic Tests" in doc.segments[0].text  # nothing repeats on a one-page document


@pytest.mark.parametrize(
    ("left", "right", "words", "expected"),
    [
        ("the treat-", "ment of", (), "the treatment of"),
        ("oxygen dissoci-", "ation curve", (), "oxygen dissociation curve"),
        ("patients with COVID-", "19 were", (), "patients with COVID-19 were"),
        ("anti-", "TNF therapy", (), "anti-TNF therapy"),
        ("at 38-", "week period", (), "at 38-week period"),
        ("IL-", "6 levels", (), "IL-6 levels"),
        ("β-", "catenin", (), "β-catenin"),
        ("a long-", "term study", (), "a long-term study"),
        ("high-", "risk case", {"high-risk"}, "high-risk case"),
        ("a parallel-", "group trial", {"parallel", "group"}, "a parallel-group trial"),
        ("the gastro-", "esophageal", {"gastroesophageal", "gastro", "esophageal"}, "the gastroesophageal"),
        ("HIV/", "AIDS", (), "HIV/AIDS"),
        ("pp. 646–", "656", (), "pp. 646–656"),
        ("a value -", "and more", (), "a value - and more"),
        ("soft\u00ad", "hyphen", (), "softhyphen"),
        ("plain line", "next line", (), "plain line next line"),
        ("", "only right", (), "only right"),
    ],
)
def test_join_hyphenated(left: str, right: str, words: tuple[str, ...] | set[str], expected: str) -> None:
    assert join_hyphenated(left, right, frozenset(words)) == expected


# --- error cases -------------------------------------------------------------------------------------------------


def test_truncated_pdf(tmp_path: Path) -> None:
    data = (FIXTURES / "PMC4736312.pdf").read_bytes()
    path = tmp_path / "half.pdf"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(PDFParseError, match=r"^half\.pdf: truncated or corrupt PDF .*re-download"):
        parse_pdf(path)


def test_pdf_missing_its_tail(tmp_path: Path) -> None:
    data = (FIXTURES / "PMC4736312.pdf").read_bytes()
    path = tmp_path / "cut.pdf"
    path.write_bytes(data[:-40])  # pages survive MuPDF's repair, the %%EOF marker does not
    with pytest.raises(PDFParseError, match=r"truncated PDF \(no %%EOF end marker"):
        parse_pdf(path)


def test_encrypted_pdf(tmp_path: Path) -> None:
    path = tmp_path / "locked.pdf"
    with pymupdf.open(FIXTURES / "PMC4736312.pdf") as doc:
        doc.save(path, encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="x", owner_pw="y")
    with pytest.raises(PDFParseError, match=re.escape("locked.pdf: encrypted PDF (needs a password); decrypt it")):
        parse_pdf(path)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.pdf"
    path.write_bytes(b"")
    with pytest.raises(PDFParseError, match=re.escape("empty.pdf: empty file (0 bytes)")):
        parse_pdf(path)


def test_text_file_named_pdf(tmp_path: Path) -> None:
    path = tmp_path / "notes.pdf"
    path.write_text("These are my notes, not a PDF.\n", encoding="utf-8")
    with pytest.raises(PDFParseError, match=re.escape("notes.pdf: not a PDF (no %PDF- header")):
        parse_pdf(path)


def test_blank_page_pdf(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    with pymupdf.open() as doc:
        doc.new_page()
        doc.save(path)
    with pytest.raises(PDFParseError, match=r"scan\.pdf: no extractable text .*OCR it first"):
        parse_pdf(path)


def test_garbage_after_header(tmp_path: Path) -> None:
    path = tmp_path / "garbage.pdf"
    path.write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 20)
    with pytest.raises(PDFParseError, match=r"garbage\.pdf: (corrupt|truncated)"):
        parse_pdf(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PDFParseError, match=r"nothing\.pdf: cannot read the file"):
        parse_pdf(tmp_path / "nothing.pdf")


def test_parse_errors_are_ingest_errors() -> None:
    assert issubclass(PDFParseError, IngestError)


# --- the 17 benchmark PDFs in ../shared/data ---------------------------------------------------------------------


@needs_shared
def test_all_titles_match_manifest(manifest: list[dict[str, str]], parsed: dict) -> None:
    wrong = {
        r["file"]: parsed[r["file"]].title for r in manifest if not title_matches(parsed[r["file"]].title, r["title"])
    }
    assert len(manifest) == 17
    assert not wrong, f"titles that do not match MANIFEST.csv: {wrong}"


@needs_shared
def test_page_counts_match_manifest(manifest: list[dict[str, str]], parsed: dict) -> None:
    wrong = {r["file"]: parsed[r["file"]].n_pages for r in manifest if parsed[r["file"]].n_pages != int(r["pages"])}
    assert not wrong, f"page counts that differ from MANIFEST.csv: {wrong}"


@needs_shared
def test_dois_match_manifest(manifest: list[dict[str, str]], parsed: dict) -> None:
    wrong = {
        r["file"]: parsed[r["file"]].doi
        for r in manifest
        if (parsed[r["file"]].doi or "").casefold() != r["doi"].casefold()
    }
    assert len(manifest) - len(wrong) >= 15, f"DOIs that differ from MANIFEST.csv: {wrong}"


@needs_shared
def test_pmcids_and_hashes(manifest: list[dict[str, str]], parsed: dict) -> None:
    for row in manifest:
        doc = parsed[row["file"]]
        assert doc.pmcid == row["pmcid"]
        assert doc.sha256 == row["sha256"]


@needs_shared
def test_segment_page_numbers(parsed: dict) -> None:
    """Each page's longest unique line lands in that page's segment and in no other."""
    for name, doc in parsed.items():
        assert [s.page for s in doc.segments] == sorted({s.page for s in doc.segments}), name
        flat = {s.page: " ".join(unicodedata.normalize("NFKC", s.text).split()) for s in doc.segments}
        with pymupdf.open(SHARED_PDFS / name) as pdf:
            raw_pages = [page.get_text() for page in pdf]
        all_lines = Counter(line for raw in raw_pages for line in raw.splitlines())
        for number, raw in enumerate(raw_pages, start=1):
            lines = [ln for ln in raw.splitlines() if all_lines[ln] == 1 and not ln.rstrip().endswith("-")]
            marker = " ".join(unicodedata.normalize("NFKC", max(lines, key=len)).split())
            assert marker in flat[number], (name, number, marker)
            assert all(marker not in text for page, text in flat.items() if page != number), (name, number)


@needs_shared
def test_no_running_header_left(parsed: dict) -> None:
    """A line found on every page after the first (the journal name) loses its running-header copy on each."""
    for name, doc in parsed.items():
        with pymupdf.open(SHARED_PDFS / name) as pdf:
            raw_pages = [page.get_text() for page in pdf]
        line_sets = [{ln.strip() for ln in raw.splitlines() if ln.strip()} for raw in raw_pages[1:]]
        headers = [h for h in set.intersection(*line_sets) if not h.isdigit() and len(h) > 3]
        assert headers, f"{name}: expected a running header on every page after the first"
        for segment in doc.segments[1:]:
            raw_flat = " ".join(raw_pages[segment.page - 1].split())
            for header in headers:
                assert segment.text.count(header) < raw_flat.count(header), (name, segment.page, header)
            paragraphs = [p.strip() for p in segment.text.split("\n\n")]
            assert str(segment.page) not in paragraphs, (name, segment.page, "page number left")
