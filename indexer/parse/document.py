"""What a parser hands to the chunker: a document's metadata and its text in page/section segments."""

from __future__ import annotations

from dataclasses import dataclass, field

from medcore.types import META_TEXT_FIELDS, DocumentMeta


@dataclass(frozen=True)
class Segment:
    """A run of text from one page (PDF) or one section (JATS, BEIR); ``page`` is 1-based or None."""

    text: str
    page: int | None = None
    heading: str | None = None


@dataclass(frozen=True, kw_only=True)
class ParsedDocument(DocumentMeta):
    """A parsed input, ready to be chunked and stored as one transaction: the metadata, the file's sha256 and its
    text. Frozen: each step (cleaning, design detection, enrichment) makes a changed copy with ``replace``."""

    sha256: str
    segments: list[Segment] = field(default_factory=list)
    #: From JATS: ``<article>``'s ``article-type`` and the ``<subject>`` headings (e.g. "Case Report").
    article_type: str | None = None
    subjects: tuple[str, ...] = ()
    #: Set at ingest by :func:`indexer.text.abbreviations.extract_pairs`: ``[(short form, long form)]``.
    abbreviations: list[tuple[str, str]] = field(default_factory=list)

    def n_chars(self) -> int:
        """Characters of text and metadata: what a parser hands over, and what the cap in ``ingest`` counts."""
        meta = (getattr(self, name) for name in META_TEXT_FIELDS)
        return sum(len(s.text) + len(s.heading or "") for s in self.segments) + sum(len(m or "") for m in meta)
