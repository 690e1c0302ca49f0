"""The SQL document store (SQLAlchemy 2): documents and their chunks, SQLite by default, PostgreSQL in deployments.

The tables are in :mod:`store.tables`; opening a store migrates its schema (:mod:`store.migrate`).

Size: one class is the store's whole query surface (documents, chunks, designs, abbreviations, identifier clashes,
evaluation runs); the other packages' queries on their own tables live with them (``access``, ``library``)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import case, create_engine, delete, event, func, or_, select
from sqlalchemy.engine import Engine, ExceptionContext
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from medcore.config import Settings
from medcore.errors import MedEmbedError, StoreUnavailableError
from medcore.types import STORED_META_FIELDS, Chunk, Document, NewDocument
from store.migrate import upgrade
from store.tables import AbbreviationRow, ChunkRow, DocumentRow, EvalRunRow, StudyDesignRow

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Facets:
    """The values the library's documents take, for filter lists: ``years`` and ``journals`` sorted, ``study_types``
    the designs a reader sees (a curator's where there is one)."""

    n_documents: int
    years: list[int]
    journals: list[str]
    collections: list[str]
    study_types: set[str]


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001 - DBAPI hook
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class Store:
    """Documents and chunks in one SQL database. Each document goes in as one transaction."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = create_engine(url, pool_pre_ping=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        event.listen(self.engine, "handle_error", self._unavailable)
        try:
            upgrade(self.engine)
        except OperationalError as exc:
            raise MedEmbedError(
                f"Cannot open the store at {self.engine.url.render_as_string(hide_password=True)}: {exc.orig}. "
                "Check MEDEMBED_DATABASE_URL (or that the data directory is writable)."
            ) from None
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def _unavailable(self, ctx: ExceptionContext) -> None:
        """Turn "the database is not there" (refused, closed, restarting) into a clear StoreUnavailableError; the
        pool's pre-ping replaces dead connections, so the next request works once the server is back."""
        if ctx.is_pre_ping or not (ctx.is_disconnect or isinstance(ctx.sqlalchemy_exception,
                                                                    OperationalError | InterfaceError)):
            return
        where = self.engine.url.render_as_string(hide_password=True)
        cause = str(ctx.original_exception).strip().splitlines()[0][:200]
        raise StoreUnavailableError(
            f"The database at {where} is unavailable ({type(ctx.original_exception).__name__}: {cause}); this request "
            "failed and wrote nothing. Check that the server is running (MEDEMBED_DATABASE_URL), then retry."
        ) from ctx.original_exception

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        if settings.paths.database_url is None:
            settings.paths.home.mkdir(parents=True, exist_ok=True)
        return cls(settings.paths.store_url)

    def session(self) -> Session:
        return self._sessions()

    # -- writing -------------------------------------------------------------------------------------------
    def has_sha256(self, sha256: str) -> bool:
        with self.session() as s:
            return s.scalar(select(DocumentRow.id).where(DocumentRow.sha256 == sha256)) is not None

    def known_sha256(self, candidates: Iterable[str]) -> set[str]:
        wanted = list(candidates)
        found: set[str] = set()
        with self.session() as s:
            for i in range(0, len(wanted), 500):
                part = wanted[i : i + 500]
                found.update(s.scalars(select(DocumentRow.sha256).where(DocumentRow.sha256.in_(part))))
        return found

    def add_documents(self, docs: Sequence[tuple[NewDocument, Sequence[Chunk]]], added_by: str | None = None,
                      clash_with: int | None = None) -> list[int]:
        """Store documents with their chunks in one transaction; returns the new document ids.

        ``Chunk.id`` and ``Chunk.doc_id`` of the inputs are ignored (the database assigns them). ``added_by``: the
        source they came from (see ``DocumentRow.added_by``); ``clash_with``: the document that claimed their DOI or
        PMCID first.
        """
        with self.session() as s, s.begin():
            rows = []
            for parsed, chunks in docs:
                row = DocumentRow(**{name: getattr(parsed, name) for name in STORED_META_FIELDS},
                                  sha256=parsed.sha256, added_by=added_by and added_by[:256], clash_with=clash_with)
                row.chunks = [
                    ChunkRow(
                        ordinal=c.ordinal, page=c.page, char_start=c.char_start, char_end=c.char_end, text=c.text
                    )
                    for c in chunks
                ]
                s.add(row)
                rows.append(row)
            s.flush()
            for row, (parsed, _) in zip(rows, docs, strict=True):
                if parsed.study_type:
                    s.add(StudyDesignRow(document_id=row.id, study_type=parsed.study_type,
                                         evidence=parsed.study_evidence or ""))
                s.add_all(AbbreviationRow(document_id=row.id, short=short[:16], long=long[:256])
                          for short, long in dict(parsed.abbreviations).items())
            return [row.id for row in rows]

    def set_abbreviations(self, doc_id: int, pairs: Sequence[tuple[str, str]]) -> None:
        with self.session() as s, s.begin():
            s.execute(delete(AbbreviationRow).where(AbbreviationRow.document_id == doc_id))
            s.add_all(AbbreviationRow(document_id=doc_id, short=short[:16], long=long[:256])
                      for short, long in dict(pairs).items())

    def abbreviation_pairs(self) -> list[tuple[str, str, str]]:
        """Every ``(short, long, source)`` of every document (one per document and short form); ``source`` is who
        added the document, or ``doc:<id>`` where that is not known (each such document a source of its own)."""
        stmt = (select(AbbreviationRow.short, AbbreviationRow.long, DocumentRow.added_by, DocumentRow.id)
                .join(DocumentRow, DocumentRow.id == AbbreviationRow.document_id))
        with self.session() as s:
            return [(short, long, by or f"doc:{doc_id}") for short, long, by, doc_id in s.execute(stmt)]

    def documents_with_abbreviations(self) -> set[int]:
        with self.session() as s:
            return set(s.scalars(select(AbbreviationRow.document_id).distinct()))

    def set_study_design(self, doc_id: int, study_type: str, evidence: str) -> None:
        """Store the detected design; a curator's correction of it is kept."""
        with self.session() as s, s.begin():
            row = s.get(StudyDesignRow, doc_id)
            if row is None:
                s.add(StudyDesignRow(document_id=doc_id, study_type=study_type, evidence=evidence))
            else:
                row.study_type, row.evidence = study_type, evidence

    def set_curated_design(self, doc_id: int, study_type: str | None, by: str, note: str = "") -> None:
        """A curator's design for a document (``None`` clears it, so the detected one shows again).

        Raises:
            MedEmbedError: no such document.
        """
        with self.session() as s, s.begin():
            if s.get(DocumentRow, doc_id) is None:
                raise MedEmbedError(f"No document {doc_id} in the library; pick one from the Library page.")
            row = s.get(StudyDesignRow, doc_id)
            if row is None:
                row = StudyDesignRow(document_id=doc_id, study_type="undetermined", evidence="not classified yet")
                s.add(row)
            row.curated_type, row.curated_by = study_type, (by[:256] if study_type else None)
            row.curated_at = datetime.now(UTC) if study_type else None
            row.curated_note = (note.strip()[:1000] or None) if study_type else None

    def study_design_rows(self) -> dict[int, StudyDesignRow]:
        """Every document's design row (detected and curated), by document id."""
        with self.session() as s:
            return {row.document_id: row for row in s.scalars(select(StudyDesignRow))}

    def duplicate_claims(self, doi: str | None, pmcid: str | None) -> list[tuple[int, str | None]]:
        """``(id, title)`` of each stored document with the same DOI or PMCID, oldest first."""
        conditions = []
        if doi:
            conditions.append(func.lower(DocumentRow.doi) == doi.lower())
        if pmcid:
            conditions.append(DocumentRow.pmcid == pmcid)
        if not conditions:
            return []
        with self.session() as s:
            return [(i, t) for i, t in s.execute(select(DocumentRow.id, DocumentRow.title).where(or_(*conditions))
                                                 .order_by(DocumentRow.id).limit(100))]

    def clashes(self) -> list[tuple[int, int]]:
        """``(document, earlier document)`` pairs that claim the same DOI or PMCID under different titles."""
        with self.session() as s:
            return [(a, b) for a, b in s.execute(select(DocumentRow.id, DocumentRow.clash_with)
                                                 .where(DocumentRow.clash_with.is_not(None)).order_by(DocumentRow.id))]

    def delete_document(self, doc_id: int) -> bool:
        """Delete a document and its chunks; indexes drop them at their next sync."""
        with self.session() as s, s.begin():
            s.execute(delete(StudyDesignRow).where(StudyDesignRow.document_id == doc_id))
            s.execute(delete(AbbreviationRow).where(AbbreviationRow.document_id == doc_id))
            s.execute(delete(ChunkRow).where(ChunkRow.document_id == doc_id))
            return s.execute(delete(DocumentRow).where(DocumentRow.id == doc_id)).rowcount > 0

    # -- reading -------------------------------------------------------------------------------------------
    def chunk_ids(self) -> list[int]:
        with self.session() as s:
            return list(s.scalars(select(ChunkRow.id).order_by(ChunkRow.id)))

    def iter_index_texts(self, ids: Sequence[int], batch: int = 2000) -> Iterator[list[tuple[int, str, str | None]]]:
        """Yield ``[(chunk_id, chunk_text, document_title)]`` batches for the given chunk ids, in that order."""
        for i in range(0, len(ids), batch):
            part = list(ids[i : i + batch])
            with self.session() as s:
                rows = s.execute(
                    select(ChunkRow.id, ChunkRow.text, DocumentRow.title)
                    .join(DocumentRow, DocumentRow.id == ChunkRow.document_id)
                    .where(ChunkRow.id.in_(part))
                ).all()
            by_id = {r[0]: (r[0], r[1], r[2]) for r in rows}
            yield [by_id[c] for c in part if c in by_id]

    def get_chunks(self, ids: Iterable[int]) -> dict[int, tuple[Chunk, Document]]:
        wanted = list(set(ids))
        out: dict[int, tuple[Chunk, Document]] = {}
        with self.session() as s:
            for i in range(0, len(wanted), 500):
                rows = s.execute(
                    select(ChunkRow, DocumentRow, StudyDesignRow)
                    .join(DocumentRow, DocumentRow.id == ChunkRow.document_id)
                    .outerjoin(StudyDesignRow, StudyDesignRow.document_id == DocumentRow.id)
                    .where(ChunkRow.id.in_(wanted[i : i + 500]))
                ).all()
                for chunk, doc, design in rows:
                    out[chunk.id] = (chunk.to_chunk(), doc.to_document(design))
        return out

    def chunk_doc_keys(self) -> dict[int, str]:
        """``{chunk_id: document key}`` where the key is the external id (BEIR ``_id``) or the document id."""
        with self.session() as s:
            rows = s.execute(
                select(ChunkRow.id, DocumentRow.id, DocumentRow.external_id).join(
                    DocumentRow, DocumentRow.id == ChunkRow.document_id
                )
            ).all()
        return {cid: ext if ext is not None else str(did) for cid, did, ext in rows}

    def documents(self, collection: str | None = None) -> list[tuple[Document, int]]:
        """All documents with their chunk counts, newest first."""
        with self.session() as s:
            query = (
                select(DocumentRow, func.count(ChunkRow.id))
                .outerjoin(ChunkRow, ChunkRow.document_id == DocumentRow.id)
                .group_by(DocumentRow.id)
                .order_by(DocumentRow.id.desc())
            )
            if collection is not None:
                query = query.where(DocumentRow.collection == collection)
            rows = s.execute(query).all()
            designs = {d.document_id: d for d in s.scalars(select(StudyDesignRow))}
            return [(row.to_document(designs.get(row.id)), n) for row, n in rows]

    def facets(self) -> Facets:
        """What the search filters can offer, from a few aggregate queries (never loading every document)."""
        shown = case((or_(StudyDesignRow.curated_type.is_(None), StudyDesignRow.curated_type == ""),
                      StudyDesignRow.study_type), else_=StudyDesignRow.curated_type)
        with self.session() as s:
            def distinct(column):  # noqa: ANN001, ANN202 - a column; its sorted non-empty values
                return sorted(v for v in s.scalars(select(column).distinct()) if v not in (None, ""))

            return Facets(n_documents=s.scalar(select(func.count(DocumentRow.id))) or 0,
                          years=distinct(DocumentRow.year), journals=distinct(DocumentRow.journal),
                          collections=distinct(DocumentRow.collection), study_types=set(distinct(shown)))

    def get_document(self, doc_id: int) -> Document | None:
        with self.session() as s:
            row = s.get(DocumentRow, doc_id)
            return row.to_document(s.get(StudyDesignRow, doc_id)) if row else None

    def first_texts(self, doc_id: int, n: int) -> list[str]:
        """The texts of a document's first ``n`` chunks."""
        with self.session() as s:
            return list(s.scalars(select(ChunkRow.text).where(ChunkRow.document_id == doc_id)
                                  .order_by(ChunkRow.ordinal).limit(n)))

    def documents_by_keys(self, keys: Iterable[str]) -> dict[str, tuple[Document, str]]:
        """``{key: (document, text of its first chunk)}`` for document keys as :meth:`chunk_doc_keys` makes them
        (the external id, else the document id); unknown keys are left out."""
        wanted = list(dict.fromkeys(keys))
        numeric = [int(k) for k in wanted if k.isdigit()]
        out: dict[str, tuple[Document, str]] = {}
        with self.session() as s:
            for i in range(0, max(len(wanted), len(numeric)), 500):
                by_ext = DocumentRow.external_id.in_(wanted[i : i + 500])
                by_id = DocumentRow.external_id.is_(None) & DocumentRow.id.in_(numeric[i : i + 500])
                for row in s.scalars(select(DocumentRow).where(or_(by_ext, by_id))):
                    first = s.scalar(select(ChunkRow.text).where(ChunkRow.document_id == row.id)
                                     .order_by(ChunkRow.ordinal).limit(1))
                    doc = row.to_document()
                    out[doc.key] = (doc, first or "")
        return out

    def counts(self) -> tuple[int, int]:
        """``(documents, chunks)``."""
        with self.session() as s:
            return (s.scalar(select(func.count(DocumentRow.id))) or 0, s.scalar(select(func.count(ChunkRow.id))) or 0)

    # -- evaluation runs -----------------------------------------------------------------------------------
    def save_eval_run(self, dataset: str, split: str, retriever: str, n_queries: int, metrics: dict[str, float],
                      seconds: float | None = None) -> int:
        with self.session() as s, s.begin():
            row = EvalRunRow(dataset=dataset, split=split, retriever=retriever, n_queries=n_queries,
                             metrics=metrics, seconds=seconds)
            s.add(row)
            s.flush()
            return row.id

    def eval_runs(self) -> list[EvalRunRow]:
        with self.session() as s:
            return list(s.scalars(select(EvalRunRow).order_by(EvalRunRow.id.desc())))

    def close(self) -> None:
        self.engine.dispose()
