"""PDF -> ParsedDocument with PyMuPDF: one cleaned text segment per page, plus title, DOI, PMCID and year.

Cleanup per page: running headers and footers are dropped, hyphenated line breaks are joined, lines are joined into
paragraphs (separated by a blank line), control characters go and whitespace is collapsed.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from indexer.parsed import ParsedDocument, Segment
from medcore.errors import PDFParseError

try:
    import pymupdf
except ImportError:  # pragma: no cover - only without the optional dependency
    pymupdf = None

logger = logging.getLogger(__name__)

_HEADER_BAND = 0.10  # running headers sit in the top 10% of the page height
_FOOTER_BAND = 0.08  # running footers in the bottom 8%
_DOI_RE = re.compile(r"\b10\.\d{4,9}/[^\s\"'<>]+")
_PMCID_RE = re.compile(r"\bPMC\d{4,9}\b")
_YEAR_NEAR_RE = re.compile(r"(?:Published|Copyright|©)[^\n]{0,40}?\b((?:19|20)\d{2})\b", re.IGNORECASE)
_ARTICLE_TYPE_RE = re.compile(
    r"(?:(?:research|review|original|clinical|case|short|brief|mini|systematic)\s+)?"
    r"(?:article|study|report|paper|communication|letter|editorial|commentary|review)s?",
    re.IGNORECASE,
)
_FILE_NAME_TITLE_RE = re.compile(r"(untitled|microsoft \w+ - .*|.*\.(dvi|docx?|pdf|tex|indd|qxd|rtf|ps))", re.I)
_TERMINAL = ".!?:;"
_DROP_CHARS = dict.fromkeys([c for c in range(32) if c not in (9, 10)] + list(range(127, 160)) + [0x200B, 0xFEFF])


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


def join_hyphenated(left: str, right: str, words: Collection[str] = frozenset()) -> str:
    """Join two consecutive lines of one paragraph, undoing end-of-line hyphenation.

    "treat-" + "ment" gives "treatment". The hyphen stays when the next line starts with an uppercase letter or
    a digit ("COVID-" + "19" -> "COVID-19"), when it follows a digit or an uppercase letter ("38-" + "week"),
    and when ``words`` (casefolded words seen unbroken in the same document) lacks the joined form but holds the
    hyphenated one ({"long-term"}: "long-" + "term" -> "long-term") or both halves as words of four letters or more
    ({"parallel", "group"}: "parallel-" + "group" -> "parallel-group").

    Args:
        left: The earlier line.
        right: The line after it.
        words: Casefolded vocabulary of the document, hyphenated compounds included.

    Returns:
        The two lines as one string.
    """
    left, right = left.rstrip(), right.lstrip()
    if not left or not right:
        return left or right
    if left[-1] == "\u00ad":  # soft hyphen: always a word break
        return left[:-1] + right
    if left[-1] in "\u2013\u2014/" or (left[-1] in "-\u2010" and len(left) > 1 and not left[-2].isspace()):
        if left[-1] in "-\u2010" and _is_word_break(left[:-1], right, words):
            return left[:-1] + right
        return left + right
    return f"{left} {right}"


def _is_word_break(head_line: str, right: str, words: Collection[str]) -> bool:
    """Whether a hyphen between ``head_line`` and ``right`` splits a single word."""
    if not (head_line[-1].isalpha() and head_line[-1].islower() and right[0].isalpha() and right[0].islower()):
        return False
    head = re.search(r"[^\W\d_]+$", head_line)
    tail = re.match(r"[^\W\d_]+", right)
    if head is None or tail is None:
        return True
    head_word, tail_word = head.group().casefold(), tail.group().casefold()
    if head_word + tail_word in words:
        return True
    compound = f"{head_word}-{tail_word}" in words or (len(head_word) > 3 and len(tail_word) > 3 and {head_word, tail_word} <= words)
    return not compound


def parse_pdf(path: Path, collection: str = "library") -> ParsedDocument:
    """Parse a PDF into one cleaned segment per page with text, plus the metadata that can be found.

    Args:
        path: The PDF file.
        collection: The collection the document belongs to.

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
        metadata = dict(doc.metadata or {})
        pages = _read_pages(path, doc)
        n_pages = doc.page_count
    finally:
        doc.close()
    segments = _clean_pages(pages)
    if not segments:
        raise PDFParseError(
            f"{path.name}: no extractable text on any of its {n_pages} page(s) (scanned images only?); "
            "OCR it first (e.g. `ocrmypdf in.pdf out.pdf`) and ingest again."
        )
    raw_texts = ["\n".join(ln.text for block in page for ln in block) for page in pages[:2]]
    meta_texts = [metadata.get(key) or "" for key in ("subject", "keywords", "title")]
    author = (metadata.get("author") or "").strip()
    logger.debug("Parsed %s: %d pages, %d segments", path.name, n_pages, len(segments))
    return ParsedDocument(
        source="pdf",
        sha256=file_sha256(path),
        segments=segments,
        collection=collection,
        title=_title(metadata.get("title") or "", path, pages[0] if pages else []),
        authors=author if _looks_like_authors(author) else None,
        year=_find_year(raw_texts, metadata.get("creationDate") or ""),
        doi=_find_doi(meta_texts + raw_texts),
        pmcid=_find_pmcid([*meta_texts, *raw_texts, path.name]),
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
    if doc.needs_pass:
        problem = "encrypted PDF (needs a password); decrypt it (e.g. `qpdf --decrypt`) and ingest again."
    elif doc.page_count == 0:
        problem = "truncated or corrupt PDF (no readable pages); re-download the file and ingest again."
    elif doc.is_repaired and not _has_eof_marker(path):
        problem = "truncated PDF (no %%EOF end marker, MuPDF had to repair it); re-download the file and ingest again."
    if problem:
        doc.close()
        raise PDFParseError(f"{path.name}: {problem}")
    return doc


def _has_eof_marker(path: Path) -> bool:
    """Whether the last 2 KiB of the file hold the %%EOF marker that a complete PDF ends with."""
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - 2048))
        return b"%%EOF" in handle.read()


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
    """Drop NUL and control characters, fold math-alphabet letters (U+1D400..) and collapse whitespace."""
    text = text.translate(_DROP_CHARS)
    text = "".join(unicodedata.normalize("NFKC", c) if "\U0001d400" <= c <= "\U0001d7ff" else c for c in text)
    return re.sub(r"\s+", " ", text).strip()


def _clean_pages(pages: list[list[list[_Line]]]) -> list[Segment]:
    """Build one Segment per page that has text, without running headers and footers."""
    running = _running_keys(pages)
    words = _vocabulary([ln.text for page in pages for block in page for ln in block])
    segments = []
    for number, page in enumerate(pages, start=1):
        edges = set(_edge_lines(page))
        blocks = [[ln for ln in block if not (ln in edges and _key(ln.text) in running)] for block in page]
        text = _page_text([block for block in blocks if block], words)
        if text:
            segments.append(Segment(text=text, page=number))
    return segments


def _vocabulary(lines: list[str]) -> set[str]:
    """Casefolded words and hyphenated compounds of a document, leaving out the halves of words broken at line ends."""
    words: set[str] = set()
    broken = False
    for line in lines:
        tokens = re.findall(r"[^\W\d_]+(?:-[^\W\d_]+)*-?", line.casefold())
        if broken and tokens:
            tokens = tokens[1:]
        broken = line.endswith("-")
        words.update(token for token in tokens if not token.endswith("-"))
    return words


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


def _title(meta_title: str, path: Path, first_page: list[list[_Line]]) -> str | None:
    """The metadata title when it looks real, else the largest-font lines of page 1."""
    meta_title = " ".join(meta_title.split())
    if len(meta_title) >= 10 and " " in meta_title and meta_title.casefold() != path.stem.casefold():
        if not _FILE_NAME_TITLE_RE.fullmatch(meta_title):
            return meta_title
    lines = sorted((ln for block in first_page for ln in block), key=lambda ln: ln.y0)
    for size in sorted({round(ln.size, 1) for ln in lines}, reverse=True)[:3]:
        title = _title_at_size(lines, size)
        if title and len(title) >= 10 and " " in title:
            return title
    return None


def _title_at_size(lines: list[_Line], size: float) -> str | None:
    """Join the first run of vertically adjacent lines set in ``size``, minus an article-type label."""
    run: list[_Line] = []
    for line in lines:
        if abs(line.size - size) <= 0.5 and (not run or line.y0 - run[-1].y1 < size):
            run.append(line)
        elif run:
            break
    texts = [ln.text for ln in run if not _ARTICLE_TYPE_RE.fullmatch(ln.text)]
    title = ""
    for text in texts:
        title = join_hyphenated(title, text)
    return title or None


def _looks_like_authors(author: str) -> bool:
    """Whether a metadata author field names people rather than a tool or an account."""
    return bool(re.search(r"[^\W\d_]{2,}\W+[^\W\d_]", author)) and not re.match(r"(microsoft|adobe|admin)", author, re.I)


def _find_doi(texts: Iterable[str]) -> str | None:
    """The first DOI in ``texts``, preferring one announced by 'doi' ('doi:', 'doi.org/')."""
    for text in texts:
        matches = list(_DOI_RE.finditer(text))
        announced = [m for m in matches if "doi" in text[max(0, m.start() - 12) : m.start()].casefold()]
        if matches:
            return _strip_doi((announced or matches)[0].group())
    return None


def _strip_doi(doi: str) -> str:
    """Strip trailing punctuation from a DOI, keeping a closing bracket that has its opening one."""
    while doi and doi[-1] in ".,;:'\"])}>":
        if doi[-1] in ")]}" and doi.count({")": "(", "]": "[", "}": "{"}[doi[-1]]) >= doi.count(doi[-1]):
            break
        doi = doi[:-1]
    return doi


def _find_pmcid(texts: Iterable[str]) -> str | None:
    """The first PMCID (PMC followed by digits) in ``texts``."""
    for text in texts:
        if match := _PMCID_RE.search(text):
            return match.group()
    return None


def _find_year(texts: Iterable[str], creation_date: str) -> int | None:
    """Publication year from text near 'Published', 'Copyright' or '©', else from the PDF creation date."""
    for text in texts:
        if match := _YEAR_NEAR_RE.search(text):
            return int(match.group(1))
    match = re.match(r"(?:D:)?((?:19|20)\d{2})", creation_date)
    return int(match.group(1)) if match else None
