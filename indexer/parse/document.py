"""What a parser hands to the chunker: a document's metadata and its text in page/section segments."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from medcore.types import META_TEXT_FIELDS, NewDocument


@dataclass(frozen=True)
class Segment:
    """A run of text from one page (PDF) or one section (JATS, BEIR); ``page`` is 1-based or None."""

    text: str
    page: int | None = None
    heading: str | None = None


@dataclass(frozen=True, kw_only=True)
class ParsedDocument(NewDocument):
    """A parsed input, ready to be chunked and stored as one transaction: what the store takes (metadata, the
    file's sha256, abbreviations) and the text. Frozen: each step (cleaning, design detection, enrichment) makes a
    changed copy with ``replace``."""

    segments: list[Segment] = field(default_factory=list)
    #: From JATS: ``<article>``'s ``article-type`` and the ``<subject>`` headings (e.g. "Case Report").
    article_type: str | None = None
    subjects: tuple[str, ...] = ()

    def n_chars(self) -> int:
        """Characters of text and metadata: what a parser hands over, and what the cap in ``ingest`` counts."""
        meta = (getattr(self, name) for name in META_TEXT_FIELDS)
        return sum(len(s.text) + len(s.heading or "") for s in self.segments) + sum(len(m or "") for m in meta)


_INT_FIELDS = frozenset({"year", "n_pages"})


def document_to_wire(doc: ParsedDocument) -> dict[str, Any]:
    """``doc`` as plain JSON data (what the parser child sends: data only, never objects to rebuild)."""
    wire = {f.name: getattr(doc, f.name) for f in fields(ParsedDocument) if f.name not in ("segments", "subjects")}
    wire["segments"] = [[s.text, s.page, s.heading] for s in doc.segments]
    wire["subjects"] = list(doc.subjects)
    wire["abbreviations"] = [list(pair) for pair in doc.abbreviations]
    return wire


def document_from_wire(wire: object) -> ParsedDocument:
    """Rebuild a :class:`ParsedDocument` from :func:`document_to_wire`'s data, checking every field's type: the
    sender parsed an untrusted file and may be under its control. Raises ValueError on anything unexpected."""
    if not isinstance(wire, dict):
        raise ValueError("the reply is not an object")
    names = {f.name for f in fields(ParsedDocument)}
    if set(wire) != names:
        raise ValueError(f"unexpected fields {sorted(set(wire) ^ names)}")
    values: dict[str, Any] = {}
    for name, value in wire.items():
        if name == "segments":
            values[name] = [Segment(_str(t), _opt_int(p), _opt_str(h)) for t, p, h in _rows(value, 3)]
        elif name == "subjects":
            values[name] = tuple(_str(s) for s in _list(value))
        elif name == "abbreviations":
            values[name] = [(_str(a), _str(b)) for a, b in _rows(value, 2)]
        elif name == "sha256":
            values[name] = _str(value)
        elif name == "source":
            values[name] = _str(value)
        else:
            values[name] = _opt_int(value) if name in _INT_FIELDS else _opt_str(value)
    return ParsedDocument(**values)


def _list(value: object) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError("expected a list")
    return value


def _rows(value: object, width: int) -> list[list[Any]]:
    rows = _list(value)
    if not all(isinstance(row, list) and len(row) == width for row in rows):
        raise ValueError(f"expected rows of {width}")
    return rows


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a string")
    return value


def _opt_str(value: object) -> str | None:
    return None if value is None else _str(value)


def _opt_int(value: object) -> int | None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise ValueError("expected an integer")
    return value
