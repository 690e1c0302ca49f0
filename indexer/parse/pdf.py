"""PDF -> ParsedDocument with PyMuPDF: one cleaned segment per page (no running headers, hyphenation undone,
paragraphs split by blank lines), plus the metadata of :mod:`indexer.parse.pdf_metadata`.

Size: one pass over a page model (text blocks, fonts, positions) that drops running headers and footers, joins
hyphenated words and cuts the reference list; the steps share that model's private helpers.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from indexer.parse.document import ParsedDocument, Segment
from indexer.parse.hyphenation import join_hyphenated, vocabulary
from indexer.parse.pdf_metadata import extract_metadata, read_info
from medcore.errors import PDFParseError

__all__ = ["file_sha256", "join_hyphenated", "parse_pdf"]

try:
    import pymupdf
except ImportError:  # pragma: no cover - only without the optional dependency
    pymupdf = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

_HEADER_BAND = 0.10  # running headers sit in the top 10% of the page height
_FOOTER_BAND = 0.08  # running footers in the bottom 8%
_TERMINAL = ".!?:;"
# A heading that opens the reference list, alone on its line ("References", "7. REFERENCES", "Literature Cited").
_REFERENCES_RE = re.compile(
    r"(?:\d{1,2}\.?\s+|[IVX]{1,5}\.\s+)?(?=[A-Z])"
    r"(?i:references?(?: and notes)?|reference list|bibliography|literature cited|works cited)\s*:?"
)
# A heading after the reference list that starts a section worth keeping ("Appendix A", "Supplementary Material").
_AFTER_REFERENCES_RE = re.compile(
    r"(?:\d{1,2}\.?\s+)?(?=[A-Z])(?i:appendix|appendices|supplementary|supplemental|supporting information)\b.{0,60}"
)
_CONTROL = [c for c in range(32) if c not in (9, 10)] + list(range(127, 160))
_DROP_CHARS = dict.fromkeys([*_CONTROL, 0x200B, 0xFEFF, 0xFFFD])  # controls, zero-width space, BOM, unknown glyph


@dataclass(frozen=True)
class _Line:
    """One text line of a page, with its position and largest font size."""

    text: str
    x0: float
    x1: float
    y0: float
    y1: float
    size: float
    in_band: bool  # inside the header or footer band of its page


def file_sha256(path: Path, chunk_size: int = 1 << 20) -> str:
    """Return the hex SHA-256 of a file's bytes, read in chunks so large files never sit in memory."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def parse_pdf(path: Path, collection: str = "library", keep_references: bool = False,
              sha256: str | None = None) -> ParsedDocument:
    """Parse a PDF into one cleaned segment per page with text, plus the metadata that can be found.

    The reference list is left out (see :func:`_drop_references`), so pages holding only references get no segment.

    Args:
        path: The PDF file.
        collection: The collection the document belongs to.
        keep_references: Keep the reference list in the text.

    Returns:
        A ParsedDocument with source "pdf" and 1-based page numbers on its segments.

    Raises:
        PDFParseError: The file is empty, not a PDF, corrupt or truncated, encrypted, or has no extractable text.
    """
    path = Path(path)
    if pymupdf is None:  # pragma: no cover - only without the optional dependency
        raise ImportError("Reading PDFs needs PyMuPDF; install it with `pip install pymupdf`.")
    _check_header(path)
    doc = _open(path)
    try:
        info = read_info(doc)
        pages = _read_pages(path, doc)
        n_pages = doc.page_count
    finally:
        doc.close()
    segments = _clean_pages(pages, keep_references)
    if not segments:
        raise PDFParseError(
            f"{path.name}: no extractable text on any of its {n_pages} page(s) (scanned images only?); "
            "OCR it first (e.g. `ocrmypdf in.pdf out.pdf`) and ingest again."
        )
    meta = extract_metadata(info, path, pages)
    logger.debug("Parsed %s: %d pages, %d segments", path.name, n_pages, len(segments))
    return ParsedDocument(
        source="pdf",
        sha256=sha256 or file_sha256(path),
        segments=segments,
        collection=collection,
        title=meta.title,
        authors=meta.authors,
        year=meta.year,
        doi=meta.doi,
        pmcid=meta.pmcid,
        file_path=str(path),
        n_pages=n_pages,
    )


def _check_header(path: Path) -> None:
    """Reject unreadable, empty and non-PDF files before MuPDF sees them."""
    try:
        with path.open("rb") as handle:
            head = handle.read(1024)
    except OSError as exc:
        raise PDFParseError(f"{path.name}: cannot read the file ({exc.strerror or exc}); check the path.") from exc
    if not head:
        raise PDFParseError(f"{path.name}: empty file (0 bytes); re-download or re-export the PDF and ingest again.")
    if b"%PDF-" not in head:
        raise PDFParseError(
            f"{path.name}: not a PDF (no %PDF- header in the first 1024 bytes; it starts with {head[:16]!r}); "
            "check what the file really is and ingest the real PDF."
        )


def _open(path: Path) -> Any:
    """Open the PDF with MuPDF, turning its failures, encryption and truncation into PDFParseError."""
    try:
        doc = pymupdf.open(path, filetype="pdf")
    except Exception as exc:  # MuPDF raises FileDataError, RuntimeError or ValueError on broken files
        raise PDFParseError(f"{path.name}: corrupt PDF, MuPDF cannot open it ({exc}); re-download it.") from exc
    problem = None
    try:
        if doc.needs_pass:
            problem = "encrypted PDF (needs a password); decrypt it (e.g. `qpdf --decrypt`) and ingest again."
        elif doc.page_count == 0:
            problem = "truncated or corrupt PDF (no readable pages); re-download the file and ingest again."
        elif doc.is_repaired and not _has_eof_marker(path):
            problem = ("truncated PDF (no %%EOF end marker, MuPDF had to repair it); re-download the file and "
                       "ingest again.")
    except Exception as exc:  # noqa: BLE001 - MuPDF fails on a damaged page tree (found by tests/test_fuzz_pdf.py)
        problem = f"corrupt PDF, its page tree cannot be read ({exc}); re-download the file and ingest again."
    if problem:
        doc.close()
        raise PDFParseError(f"{path.name}: {problem}")
    return doc


def _has_eof_marker(path: Path, max_padding: int = 16 << 20) -> bool:
    """Whether the %%EOF marker that a complete PDF ends with is in its last 2 KiB, not counting trailing NUL bytes
    and whitespace (a download padded with zeros is complete; up to ``max_padding`` bytes of padding are skipped)."""
    end = path.stat().st_size
    with path.open("rb") as handle:
        while end > 0:
            start = max(0, end - (64 << 10))
            handle.seek(start)
            block = handle.read(end - start).rstrip(b"\x00 \t\r\n\f")
            if block or path.stat().st_size - start > max_padding:
                end = start + len(block)
                break
            end = start
        handle.seek(max(0, end - 2048))
        return b"%%EOF" in handle.read(max(0, min(2048, end)))


def _read_pages(path: Path, doc: Any) -> list[list[list[_Line]]]:
    """Read every page as text blocks of lines; a MuPDF failure on any page becomes a PDFParseError."""
    flags = pymupdf.TEXT_MEDIABOX_CLIP | pymupdf.TEXT_PRESERVE_WHITESPACE  # ligatures are expanded
    pages = []
    for number in range(doc.page_count):
        try:
            page = doc.load_page(number)
            raw = page.get_text("dict", flags=flags)
        except Exception as exc:  # MuPDF errors on damaged content streams
            raise PDFParseError(
                f"{path.name}: corrupt PDF, page {number + 1} cannot be read ({exc}); re-download the file."
            ) from exc
        height = page.rect.height or 1.0
        blocks = [[_to_line(line, height) for line in block.get("lines", ())] for block in raw["blocks"]]
        pages.append([[ln for ln in block if ln.text] for block in blocks if any(ln.text for ln in block)])
    return pages


def _to_line(raw: dict[str, Any], height: float) -> _Line:
    """Turn one MuPDF line dict into a _Line with clean text."""
    text = _clean_chars("".join(span["text"] for span in raw["spans"]))
    size = max((span["size"] for span in raw["spans"] if span["text"].strip()), default=0.0)
    x0, y0, x1, y1 = raw["bbox"]
    in_band = y1 <= _HEADER_BAND * height or y0 >= (1 - _FOOTER_BAND) * height
    return _Line(text, x0, x1, y0, y1, size, in_band)


def _clean_chars(text: str) -> str:
    """Drop NUL and control characters and inner soft hyphens, fold math letters (U+1D400..), collapse whitespace."""
    text = text.translate(_DROP_CHARS)
    text = "".join(unicodedata.normalize("NFKC", c) if "\U0001d400" <= c <= "\U0001d7ff" else c for c in text)
    return re.sub("\u00ad(?=.)", "", re.sub(r"\s+", " ", text).strip())


def _clean_pages(pages: list[list[list[_Line]]], keep_references: bool = False) -> list[Segment]:
    """Build one Segment per page that has text, without running headers and footers (nor references)."""
    running = _running_keys(pages)
    words = vocabulary([ln.text for page in pages for block in page for ln in block])
    cleaned = []
    for page in pages:
        edges = set(_edge_lines(page))
        cleaned.append([[ln for ln in block if not (ln in edges and _key(ln.text) in running)] for block in page])
    if not keep_references:
        cleaned = _drop_references(cleaned)
    segments = []
    for number, page in enumerate(cleaned, start=1):
        if text := _page_text([block for block in page if block], words):
            segments.append(Segment(text=text, page=number))
    return segments


def _drop_references(pages: list[list[list[_Line]]]) -> list[list[list[_Line]]]:
    """Leave out the reference list: from its heading line to the end, or to an appendix or supplement heading.

    A heading counts only on a page of the second half of the document (page ``p`` of ``n`` with ``2p > n``)
    and after some kept text, so a table of contents or an early mention never cuts the body. The appendix or
    supplement heading that ends the cut starts a block and is set at least as large as the references heading.
    """
    dropping, heading_size, kept_any = False, 0.0, False
    out: list[list[list[_Line]]] = []
    for number, page in enumerate(pages, start=1):
        blocks: list[list[_Line]] = []
        for block in page:
            kept: list[_Line] = []
            for index, line in enumerate(block):
                if not dropping and kept_any and 2 * number > len(pages) and _REFERENCES_RE.fullmatch(line.text):
                    dropping, heading_size = True, line.size
                    logger.debug("Reference list starts on page %d of %d", number, len(pages))
                elif dropping and index == 0 and line.size >= heading_size - 0.5:
                    dropping = not _AFTER_REFERENCES_RE.fullmatch(line.text)
                if not dropping:
                    kept.append(line)
                    kept_any = True
            blocks.append(kept)
        out.append(blocks)
    return out


def _key(text: str) -> str:
    """Normalise a line for header matching: casefold, every number becomes '#'."""
    return re.sub(r"\d+", "#", text.casefold())


def _edge_lines(page: list[list[_Line]]) -> list[_Line]:
    """Lines in the header or footer band of a page, plus its topmost and bottommost line."""
    lines = sorted((ln for block in page for ln in block), key=lambda ln: ln.y0)
    return [ln for ln in lines if ln.in_band] + lines[:1] + lines[-1:]


def _running_keys(pages: list[list[list[_Line]]]) -> set[str]:
    """Normalised lines that recur at the top or bottom of at least half the pages (and of two or more)."""
    counts: Counter[str] = Counter()
    for page in pages:
        counts.update({_key(ln.text) for ln in _edge_lines(page)})
    need = max(2, (len(pages) + 1) // 2)
    return {key for key, count in counts.items() if count >= need}


def _page_text(blocks: list[list[_Line]], words: Collection[str]) -> str:
    """Join a page's blocks into paragraphs separated by blank lines, rejoining paragraphs split across columns."""
    paragraphs: list[str] = []
    previous_width = 0.0
    for block in blocks:
        width = max(ln.x1 for ln in block) - min(ln.x0 for ln in block)
        same_column = abs(width - previous_width) <= 0.2 * max(width, previous_width)  # not a table or a caption
        previous_width = width
        for index, lines in enumerate(_block_paragraphs(block)):
            text = lines[0]
            for line in lines[1:]:
                text = join_hyphenated(text, line, words)
            if index == 0 and same_column and paragraphs and _continues(paragraphs[-1], text):
                paragraphs[-1] = join_hyphenated(paragraphs[-1], text, words)
            else:
                paragraphs.append(text)
    return "\n\n".join(paragraphs)


def _block_paragraphs(block: list[_Line]) -> list[list[str]]:
    """Split a block into paragraphs after short lines that end a sentence."""
    right = max(ln.x1 for ln in block)
    paragraphs: list[list[str]] = [[block[0].text]]
    for previous, line in zip(block, block[1:]):
        short = previous.x1 < right - 2.5 * max(previous.size, 1.0)
        if short and previous.text[-1] in _TERMINAL:
            paragraphs.append([line.text])
        else:
            paragraphs[-1].append(line.text)
    return paragraphs


def _continues(previous: str, text: str) -> bool:
    """Whether ``text`` goes on with the paragraph before it (cut by a column, figure or hanging-indent break)."""
    if re.search(r"\s[A-Z]\.$", previous) and re.match(r"[A-Z][\w'’-]*[.,]", text):  # "and R." + "B. Colah"
        return True
    return previous[-1] not in _TERMINAL and (text[0].islower() or previous[-1] in ",-\u2013\u2014(/")
