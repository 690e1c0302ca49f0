"""Bibliographic metadata of a PDF: title, authors, year, DOI and PMCID, from its /Info dictionary and first pages."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import Any, Protocol

from indexer.parse.hyphenation import join_hyphenated
from medcore.identifiers import find_pmcid

logger = logging.getLogger(__name__)

_DOI_RE = re.compile(r"\b10\.\d{4,9}/[^\s\"'<>]+")
_YEAR_NEAR_RE = re.compile(r"(?:Published|Copyright|©)[^\n]{0,40}?\b((?:19|20)\d{2})\b", re.IGNORECASE)
_ARTICLE_TYPE_RE = re.compile(
    r"(?:(?:research|review|original|clinical|case|short|brief|mini|systematic)\s+)?"
    r"(?:article|study|report|paper|communication|letter|editorial|commentary|review)s?",
    re.IGNORECASE,
)
#: A word of two letters or more, then a separator and a letter. Anchored at a word's start and possessive, so a
#: 40,000-letter field is scanned once (unanchored, each start position rescanned the rest: 25 s).
_NAMES_RE = re.compile(r"(?<![^\W\d_])[^\W\d_]{2,}+\W+[^\W\d_]")
#: Longer author fields are not a list of people (the longest real author lists run to a few thousand characters).
MAX_AUTHORS_CHARS = 10_000
_FILE_NAME_TITLE_RE = re.compile(r"(untitled|microsoft \w+ - .*|.*\.(dvi|docx?|pdf|tex|indd|qxd|rtf|ps))", re.I)


class TextLine(Protocol):
    """A positioned text line of a page (``indexer.parse.pdf`` hands its own line records)."""

    @property
    def text(self) -> str: ...

    @property
    def y0(self) -> float: ...

    @property
    def y1(self) -> float: ...

    @property
    def size(self) -> float: ...


Page = Sequence[Sequence[TextLine]]  # a page as text blocks of lines, in reading order


@dataclass(frozen=True)
class PDFMetadata:
    """What could be found of a PDF's bibliographic metadata; None where nothing credible was found."""

    title: str | None = None
    authors: str | None = None
    year: int | None = None
    doi: str | None = None
    pmcid: str | None = None


def read_info(doc: Any) -> dict[str, str]:
    """The document information dictionary of an open PyMuPDF document; a damaged one counts as empty."""
    try:
        return {key: value or "" for key, value in (doc.metadata or {}).items()}
    except Exception:  # MuPDF errors on a broken /Info object: metadata is optional
        logger.debug("Unreadable PDF metadata", exc_info=True)
        return {}


def extract_metadata(info: dict[str, str], path: Path, pages: Sequence[Page]) -> PDFMetadata:
    """Find a PDF's title, authors, year, DOI and PMCID.

    Args:
        info: The /Info dictionary (:func:`read_info`), e.g. ``{"title": ..., "author": ..., "creationDate": ...}``.
        path: The PDF file; its name may hold the PMCID.
        pages: The document's pages as blocks of lines; only the first two are read.

    Returns:
        The metadata found: the /Info title when it looks real, else the largest-font lines of page 1; the
        /Info author when it names people; the year near "Published"/"Copyright"/"©", else the creation date.
    """
    raw_texts = ["\n".join(ln.text for block in page for ln in block) for page in pages[:2]]
    meta_texts = [info.get(key) or "" for key in ("subject", "keywords", "title")]
    author = (info.get("author") or "").strip()
    return PDFMetadata(
        title=_title(info.get("title") or "", path, pages[0] if pages else []),
        authors=author if _looks_like_authors(author) else None,
        year=_find_year(raw_texts, info.get("creationDate") or ""),
        doi=_find_doi(meta_texts + raw_texts),
        pmcid=_find_pmcid([*meta_texts, *raw_texts, path.name]),
    )


def _title(meta_title: str, path: Path, first_page: Page) -> str | None:
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


def _title_at_size(lines: list[TextLine], size: float) -> str | None:
    """Join the first run of vertically adjacent lines set in ``size``, minus an article-type label."""
    run: list[TextLine] = []
    for line in lines:
        if abs(line.size - size) <= 0.5 and (not run or line.y0 - run[-1].y1 < size):
            run.append(line)
        elif run:
            break
    return reduce(join_hyphenated, [ln.text for ln in run if not _ARTICLE_TYPE_RE.fullmatch(ln.text)], "") or None


def _looks_like_authors(author: str) -> bool:
    """Whether a metadata author field names people rather than a tool or an account (and is of a sane length:
    a 40,000-character field is a planted one)."""
    if len(author) > MAX_AUTHORS_CHARS:
        return False
    is_tool = re.match(r"(microsoft|adobe|admin|user\b)", author, re.IGNORECASE)
    return bool(_NAMES_RE.search(author)) and not is_tool


def _find_doi(texts: Iterable[str]) -> str | None:
    """The first DOI in ``texts``, preferring one announced by 'doi' ('doi:', 'doi.org/')."""
    for text in texts:
        matches = list(_DOI_RE.finditer(text))
        announced = [m for m in matches if "doi" in text[max(0, m.start() - 12) : m.start()].casefold()]
        if matches:
            return _strip_doi((announced or matches)[0].group())
    return None


def _strip_doi(doi: str) -> str:
    """Strip trailing punctuation from a DOI, keeping a closing parenthesis that has its opening one."""
    doi = doi.rstrip(".,;:'\"]}>")
    while doi.endswith(")") and doi.count("(") < doi.count(")"):
        doi = doi[:-1].rstrip(".,;:'\"]}>")
    return doi


def _find_pmcid(texts: Iterable[str]) -> str | None:
    """The first PMCID in ``texts``."""
    return next((pmcid for text in texts if (pmcid := find_pmcid(text))), None)


def _find_year(texts: Iterable[str], creation_date: str) -> int | None:
    """Publication year from text near 'Published', 'Copyright' or '©', else from the PDF creation date."""
    for text in texts:
        if match := _YEAR_NEAR_RE.search(text):
            return int(match.group(1))
    match = re.match(r"(?:D:)?((?:19|20)\d{2})", creation_date)
    return int(match.group(1)) if match else None
