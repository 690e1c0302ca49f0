"""PMC JATS XML -> ParsedDocument with lxml: metadata from <front>, the abstract, then one segment per section.

Sections are flattened in document order (a section's own text, without its subsections, is one segment); figure and
table captions and table cells stay with the section that holds them; references are left out.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

from lxml import etree

from indexer.parse.document import ParsedDocument, Segment
from medcore.errors import IngestError
from medcore.identifiers import as_pmcid, find_pmcid

logger = logging.getLogger(__name__)

_SKIP = frozenset({"ref-list", "tex-math", "object-id", "alt-text", "graphic", "media", "fn-group", "glossary"})
_SECTIONS = frozenset({"sec", "ack", "app"})  # each becomes its own segment
_FLOATS = frozenset({"fig", "table-wrap", "fig-group", "table-wrap-group"})
_CONTAINERS = frozenset(
    {"list", "list-item", "def-list", "def-item", "boxed-text", "disp-quote", "app-group", "notes"}
)
_SPACED = frozenset({"p", "list-item", "td", "th", "break", "title", "label", "caption", "term", "def", "tr"})
_PUB_TYPES = ("ppub", "collection", "epub-ppub", "pub", "epub")  # the citation (issue) year first


def parse_jats(path: Path, collection: str = "library") -> ParsedDocument:
    """Parse a PMC JATS XML article into its metadata and text segments.

    Args:
        path: The .xml (.nxml) file.
        collection: The collection the document belongs to.

    Returns:
        A ParsedDocument with source "jats": the abstract (heading "Abstract"), then one segment per section with
        the section title as heading; ``page`` is None.

    Raises:
        IngestError: The file cannot be read, is not well-formed XML, is not a JATS <article>, or holds no text.
    """
    path = Path(path)
    data = _read(path)
    article = _article(path, data)
    meta = article.find("front/article-meta")
    if meta is None:
        meta = etree.Element("article-meta")
    segments = _abstract(meta) + _body(article)
    if not segments:
        raise IngestError(f"{path.name}: JATS article without an abstract or body text; ingest the PDF instead.")
    logger.debug("Parsed %s: %d segments", path.name, len(segments))
    return ParsedDocument(
        source="jats",
        sha256=hashlib.sha256(data).hexdigest(),
        segments=segments,
        collection=collection,
        title=_text(meta.find("title-group/article-title")) or None,
        authors=_authors(meta),
        journal=_text(article.find("front/journal-meta//journal-title")) or None,
        year=_year(meta),
        doi=_text(meta.find("article-id[@pub-id-type='doi']")) or None,
        pmcid=_pmcid(meta, path),
        file_path=str(path),
        article_type=article.get("article-type") or None,
        subjects=tuple(filter(None, (_text(s) for s in meta.iterfind("article-categories//subject")))),
    )


def _read(path: Path) -> bytes:
    """Read the file, turning OS errors into IngestError."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise IngestError(f"{path.name}: cannot read the file ({exc.strerror or exc}); check the path.") from exc


def _article(path: Path, data: bytes) -> etree._Element:
    """Parse XML safely (no DTD, no network, no entity expansion) and return its <article>, namespaces stripped."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_comments=True)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise IngestError(
            f"{path.name}: malformed XML ({exc}); re-download the file, it may be truncated or not XML at all."
        ) from exc
    if root is None:
        raise IngestError(f"{path.name}: empty XML document; re-download the file.")
    for element in root.iter():
        if isinstance(element.tag, str) and "}" in element.tag:
            element.tag = etree.QName(element).localname
    article = root if root.tag == "article" else root.find(".//article")
    if article is None:
        raise IngestError(
            f"{path.name}: not a JATS article (root element <{root.tag}>, no <article>); "
            "ingest PMC JATS XML (e.g. from the PMC Open Access service) or the PDF instead."
        )
    return article


def _text(element: etree._Element | None) -> str:
    """The element's text with skipped parts left out, block parts spaced and whitespace collapsed."""
    if element is None:
        return ""
    parts: list[str] = []
    _collect(element, parts)
    return " ".join("".join(parts).split())


def _collect(node: etree._Element, parts: list[str]) -> None:
    """Append the text of ``node`` and its descendants to ``parts``; tails are always kept."""
    if not isinstance(node.tag, str) or node.tag in _SKIP:
        return
    spaced = node.tag in _SPACED
    parts.append(" " if spaced else "")
    parts.append(node.text or "")
    for child in node:
        _collect(child, parts)
        parts.append(child.tail or "")
    parts.append(" " if spaced else "")


def _blocks(element: etree._Element) -> list[str]:
    """Paragraph texts directly under ``element``: subsections, the title and skipped parts excluded."""
    blocks: list[str] = []
    for child in element:
        tag = child.tag
        if not isinstance(tag, str) or tag in _SKIP or tag in _SECTIONS or tag in ("title", "label", "sec-meta"):
            continue
        if tag in _FLOATS:
            blocks.extend(_float_blocks(child))
        elif tag in _CONTAINERS:
            blocks.extend(_blocks(child))
        elif text := _text(child):
            blocks.append(text)
    return blocks


def _float_blocks(element: etree._Element) -> list[str]:
    """A figure or table as text: 'Label: caption', the table rows (non-empty cells joined by ' | '), its footnotes."""
    if element.tag in ("fig-group", "table-wrap-group"):
        return [block for child in element if child.tag in _FLOATS for block in _float_blocks(child)]
    label, caption = _text(element.find("label")), _text(element.find("caption"))
    blocks = [": ".join(part for part in (label, caption) if part)]
    rows = [" | ".join(filter(None, (_text(cell) for cell in row.iter("td", "th")))) for row in element.iter("tr")]
    blocks.append("\n".join(filter(None, rows)))
    blocks.append(_text(element.find("table-wrap-foot")))
    return [block for block in blocks if block]


def _heading(section: etree._Element) -> str | None:
    """A section's heading: its label and title ('2.1 Study Area'), or 'Acknowledgments' for an untitled <ack>."""
    heading = " ".join(part for part in (_text(section.find("label")), _text(section.find("title"))) if part)
    return heading or ("Acknowledgments" if section.tag == "ack" else None)


def _abstract(meta: etree._Element) -> list[Segment]:
    """The main abstract (the first without an abstract-type, else the first) as one segment."""
    abstracts = meta.findall("abstract")
    main = next((a for a in abstracts if a.get("abstract-type") is None), abstracts[0] if abstracts else None)
    if main is None:
        return []
    blocks = _blocks(main)
    for section in main.iter("sec"):
        blocks.extend(part for part in [_heading(section) or "", *_blocks(section)] if part)
    return [Segment(text="\n\n".join(blocks), heading="Abstract")] if blocks else []


def _body(article: etree._Element) -> list[Segment]:
    """One segment per section of <body> and <back> (references excluded), then one per floating figure/table."""
    segments: list[Segment] = []
    for region in (article.find("body"), article.find("back")):
        if region is None:
            continue
        if loose := _blocks(region):
            segments.append(Segment(text="\n\n".join(loose)))
        for section in region.iter(*_SECTIONS):
            if blocks := _blocks(section):
                segments.append(Segment(text="\n\n".join(blocks), heading=_heading(section)))
    for element in article.iterfind("floats-group/*"):
        if element.tag in _FLOATS and (blocks := _float_blocks(element)):
            heading = _text(element.find("label")) or ("Table" if element.tag.startswith("table") else "Figure")
            segments.append(Segment(text="\n\n".join(blocks), heading=heading))
    return segments


def _authors(meta: etree._Element) -> str | None:
    """Authors as 'Surname GivenNames' (or the group name), joined by ', '."""
    names = []
    for contrib in meta.iterfind(".//contrib-group/contrib[@contrib-type='author']"):
        name = contrib.find("name")
        if name is not None:
            names.append(" ".join(p for p in (_text(name.find("surname")), _text(name.find("given-names"))) if p))
        else:
            names.append(_text(contrib.find("string-name")) or _text(contrib.find("collab")))
    return ", ".join(name for name in names if name) or None


def _year(meta: etree._Element) -> int | None:
    """The publication year: the print or issue year when given (as citations use it), else the online year."""
    dates = meta.findall("pub-date")
    rank = {kind: index for index, kind in enumerate(_PUB_TYPES)}
    dates.sort(key=lambda d: rank.get(d.get("pub-type") or d.get("date-type") or "", len(rank)))
    for date in dates:
        year = _text(date.find("year"))
        if re.fullmatch(r"\d{4}", year):
            return int(year)
    return None


def _pmcid(meta: etree._Element, path: Path) -> str | None:
    """The PMC id as 'PMC1234', from <article-id pub-id-type='pmc'> (or 'pmcid'), else from the file name."""
    for article_id in meta.iterfind("article-id"):
        if article_id.get("pub-id-type") in ("pmc", "pmcid"):
            if pmcid := as_pmcid(_text(article_id)):
                return pmcid
    return find_pmcid(path.name)
