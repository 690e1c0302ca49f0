"""Plain data types passed between the packages."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Literal

Mode = Literal["bm25", "dense", "hybrid"]

@dataclass(frozen=True)
class Author:
    """One author, as citations need them apart (``family``, ``given``) and as a byline prints them."""

    family: str
    given: str = ""

    @property
    def byline(self) -> str:
        """Given names first ("A. Justine Landi"), or the whole name where its parts are not known."""
        return f"{self.given} {self.family}" if self.given else self.family


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

    @property
    def author_list(self) -> list[Author]:
        """The authors apart. The store keeps them as one comma-separated string; JATS metadata (any document with
        a PMCID or parsed from JATS) lists each as "Surname Given names", while a bare PDF's author field has no
        fixed order, so there each name is kept whole as the family part rather than guessed apart."""
        names = [n.strip() for n in (self.authors or "").split(",") if n.strip()]
        if self.source == "jats" or self.pmcid:
            return [Author(*n.split(" ", 1)) for n in names]
        return [Author(n) for n in names]

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

    @property
    def key(self) -> str:
        """How evaluation, exports and ``--json`` name the document: its external id (a BEIR ``_id``), else its id
        in the store. The store's :meth:`~store.Store.chunk_doc_keys` makes the same key in SQL."""
        return self.external_id if self.external_id is not None else str(self.id)


@dataclass(frozen=True)
class SearchFilters:
    """Metadata filters of a search; empty fields do not filter."""

    collections: tuple[str, ...] = ()
    journals: tuple[str, ...] = ()
    year_min: int | None = None
    year_max: int | None = None
    #: Study designs (``medcore.study_types.StudyType`` values); checked after retrieval, in every backend.
    study_types: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.collections or self.journals or self.year_min is not None or self.year_max is not None
                    or self.study_types)

    def matches(self, doc: Document) -> bool:
        if self.collections and doc.collection not in self.collections:
            return False
        if self.journals and doc.journal not in self.journals:
            return False
        if self.study_types and (doc.study_type or "other") not in self.study_types:
            return False
        if self.year_min is not None and (doc.year is None or doc.year < self.year_min):
            return False
        return not (self.year_max is not None and (doc.year is None or doc.year > self.year_max))


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

    @property
    def doc_key(self) -> str:
        """The document's key (:attr:`Document.key`: its external id, else its id in the store), which ``--json``
        prints as ``doc_id``; :attr:`doc_id` is the store's integer id."""
        return self.document.key if self.document else str(self.doc_id)

    def to_json(self) -> dict[str, object]:
        """The ``--json`` shape: one object per hit."""
        doc = self.document
        out: dict[str, object] = {
            "rank": self.rank,
            "relevance": self.relevance,
            "doc_id": self.doc_key,
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
