"""What a parser hands to the chunker: a document's metadata and its text in page/section segments."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Segment:
    """A run of text from one page (PDF) or one section (JATS, BEIR); ``page`` is 1-based or None."""

    text: str
    page: int | None = None
    heading: str | None = None


@dataclass
class ParsedDocument:
    """A parsed input, ready to be chunked and stored as one transaction."""

    source: str
    sha256: str
    segments: list[Segment] = field(default_factory=list)
    collection: str = "library"
    title: str | None = None
    authors: str | None = None
    journal: str | None = None
    year: int | None = None
    doi: str | None = None
    pmcid: str | None = None
    external_id: str | None = None
    file_path: str | None = None
    n_pages: int | None = None
    #: From JATS: ``<article>``'s ``article-type`` and the ``<subject>`` headings (e.g. "Case Report").
    article_type: str | None = None
    subjects: tuple[str, ...] = ()
    #: Set at ingest by :func:`indexer.study_design.detect`: a ``StudyType`` value and the phrase that decided it.
    study_type: str | None = None
    study_evidence: str | None = None
    #: Set at ingest by :func:`indexer.abbreviations.extract_pairs`: ``[(short form, long form)]``.
    abbreviations: list[tuple[str, str]] = field(default_factory=list)

    def n_chars(self) -> int:
        """Characters of text and metadata: what a parser hands over, and what the cap in ``ingest`` counts."""
        meta = (self.title, self.authors, self.journal, self.doi, self.pmcid, self.external_id)
        return sum(len(s.text) + len(s.heading or "") for s in self.segments) + sum(len(m or "") for m in meta)
