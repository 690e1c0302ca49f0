"""Plain data types passed between the packages."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Literal

Mode = Literal["bm25", "dense", "hybrid"]

@dataclass(frozen=True, kw_only=True)
class DocumentMeta:
    """What is known about a document besides its text: the one list of metadata fields. A parsed file
    (``indexer.parse.document.ParsedDocument``), a stored document (:class:`Document`) and the store's ``documents``
    table all take their fields from here."""

    source: str
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
    #: The detected study design (a :data:`StudyType` value) and the phrase that decided it; None when undetected.
    study_type: str | None = None
    study_evidence: str | None = None

    def meta(self) -> dict[str, object]:
        """The metadata fields alone, ``{name: value}`` (what a :class:`Document` is made of)."""
        return {f.name: getattr(self, f.name) for f in fields(DocumentMeta)}


#: The metadata that is free text from the file (cleaned to one line, counted against the ingest text cap).
META_TEXT_FIELDS = ("title", "authors", "journal", "doi", "pmcid", "external_id")
#: The metadata kept in the ``documents`` table (the study design has a table of its own).
STORED_META_FIELDS = tuple(f.name for f in fields(DocumentMeta) if f.name not in ("study_type", "study_evidence"))


@dataclass(frozen=True, kw_only=True)
class NewDocument(DocumentMeta):
    """A document on its way into the store: its metadata, the sha256 of the file it came from (one document per
    file) and the "long form (SF)" pairs it defines. A parser's ``ParsedDocument`` is one, with its text."""

    sha256: str
    #: Set at ingest by ``indexer.text.abbreviations.extract_pairs``: ``[(short form, long form)]``.
    abbreviations: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class Document(DocumentMeta):
    """Metadata of one stored document (a paper, or one entry of a BEIR corpus), with its id in the store."""

    id: int


@dataclass(frozen=True)
class Chunk:
    """A piece of a document's text, sized for the embedding model."""

    id: int
    doc_id: int
    ordinal: int
    text: str
    page: int | None = None
    char_start: int | None = None
    char_end: int | None = None


@dataclass(frozen=True)
class Hit:
    """One search result: a chunk, its document's metadata, and why it ranked where it did.

    ``ranks`` and ``scores`` are keyed by retriever name (``"bm25"``, ``"dense"``); a retriever that
    did not return the chunk among its candidates has no entry.
    """

    chunk_id: int
    doc_id: int
    score: float
    text: str
    title: str | None = None
    page: int | None = None
    rank: int = 0
    document: Document | None = None
    ranks: dict[str, int] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    #: ``(start, end)`` in ``text`` of the sentence that best matches the query, when marked.
    key_sentence: tuple[int, int] | None = None
    #: How likely the passage is on topic, in [0, 1] with one meaning across queries (see
    #: :mod:`search_app.relevance`); None where the model has no calibration.
    relevance: float | None = None

    def to_json(self) -> dict[str, object]:
        """The ``--json`` shape: one object per hit."""
        doc = self.document
        out: dict[str, object] = {
            "rank": self.rank,
            "relevance": self.relevance,
            "doc_id": doc.external_id if doc and doc.external_id else str(self.doc_id),
            "chunk_id": self.chunk_id,
            "title": self.title,
            "page": self.page,
            "score": round(self.score, 6),
            "text": self.text,
            "ranks": self.ranks,
            "scores": {k: round(v, 6) for k, v in self.scores.items()},
        }
        if self.key_sentence is not None:
            out["key_sentence"] = self.text[self.key_sentence[0] : self.key_sentence[1]]
        if doc is not None:
            for key in ("pmcid", "doi", "source", "collection", "year", "journal"):
                value = getattr(doc, key)
                if value is not None:
                    out[key] = value
        return out


@dataclass(frozen=True)
class PaperHit:
    """One paper in a paper-level result list: its best passages (best first) and the rank of the paper.

    ``score`` is the best fused score among its passages, which is what ranks the paper.
    """

    doc_id: int
    rank: int
    score: float
    passages: tuple[Hit, ...]

    @property
    def document(self) -> Document | None:
        return self.passages[0].document if self.passages else None

    @property
    def relevance(self) -> float | None:
        """The relevance of the paper's most relevant passage (None where the model has no calibration)."""
        values = [h.relevance for h in self.passages if h.relevance is not None]
        return max(values) if values else None

    @property
    def title(self) -> str | None:
        return self.passages[0].title if self.passages else None

    def to_json(self) -> dict[str, object]:
        """The ``--papers --json`` shape: the best passage's document fields, then the passages."""
        best = self.passages[0].to_json()
        out: dict[str, object] = {key: value for key, value in best.items()
                                  if key not in ("rank", "chunk_id", "page", "score", "text", "ranks", "scores")}
        doc = self.document
        if doc is not None and doc.study_type:
            out["study_type"] = doc.study_type
        out |= {"rank": self.rank, "relevance": self.relevance, "score": round(self.score, 6),
                "passages": [{key: value for key, value in h.to_json().items() if key in (
                    "chunk_id", "page", "relevance", "score", "text", "key_sentence")} for h in self.passages]}
        return out
