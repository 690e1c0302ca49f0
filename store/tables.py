"""Every table of the project, in code: documents, their chunks, study designs and abbreviations, saved evaluation
runs, accounts and sign-in state, the audit log, reading lists and recent searches.

They are all here, below every package that reads or writes them, so that one ``Base.metadata`` is the whole schema
(what ``scripts/new_migration.py`` compares with the database). The database follows them through migrations
(:mod:`store.migrate`), never through ``create_all``.

Size: one declaration per table, eleven tables; each is short, and apart they would need one shared ``Base``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from medcore.types import STORED_META_FIELDS, Chunk, Document


class UTCDateTime(TypeDecorator[datetime]):
    """A time stored with its zone, read back as an aware UTC ``datetime`` on every database (SQLite returns naive
    ones): every time the project stores is UTC, so callers never patch the zone on."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


class DocumentRow(Base):
    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    collection: Mapped[str] = mapped_column(String(128), index=True, default="library")
    external_id: Mapped[str | None] = mapped_column(String(256), index=True)
    title: Mapped[str | None] = mapped_column(Text)
    authors: Mapped[str | None] = mapped_column(Text)
    journal: Mapped[str | None] = mapped_column(String(512))
    year: Mapped[int | None] = mapped_column(Integer)
    doi: Mapped[str | None] = mapped_column(String(256))
    pmcid: Mapped[str | None] = mapped_column(String(32))
    file_path: Mapped[str | None] = mapped_column(Text)
    n_pages: Mapped[int | None] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=lambda: datetime.now(UTC))
    #: Who added it (a user's key, ``inbox:uid<N>``, ``cli:<os user>``); NULL: before this was recorded.
    added_by: Mapped[str | None] = mapped_column(String(256))
    #: The document that claimed the same DOI or PMCID first, under another title: a curator decides which is real.
    clash_with: Mapped[int | None] = mapped_column(Integer)
    chunks: Mapped[list[ChunkRow]] = relationship(back_populates="document", cascade="all, delete-orphan")

    def to_document(self, design: StudyDesignRow | None = None) -> Document:
        study_type, evidence = design.shown() if design else (None, None)
        return Document(id=self.id, **{name: getattr(self, name) for name in STORED_META_FIELDS},
                        study_type=study_type, study_evidence=evidence)


class StudyDesignRow(Base):
    """A document's detected study design and a curator's correction of it; documents without a row are "not
    classified" until ``medembed classify``. Reclassifying rewrites only the detected design: a correction stays
    until a curator clears it (each change is in the audit log)."""

    __tablename__ = "study_designs"

    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True)
    study_type: Mapped[str] = mapped_column(String(32), index=True)
    evidence: Mapped[str] = mapped_column(Text, default="")
    curated_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    curated_by: Mapped[str | None] = mapped_column(String(256), nullable=True)
    curated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    curated_note: Mapped[str | None] = mapped_column(Text, nullable=True)

    def shown(self) -> tuple[str, str]:
        """``(design, evidence)`` a reader sees: the curator's when there is one, else the detected one."""
        if not self.curated_type:
            return self.study_type, self.evidence
        when = f" on {self.curated_at:%Y-%m-%d}" if self.curated_at else ""
        note = f": {self.curated_note}" if self.curated_note else ""
        return self.curated_type, f"set by curator {self.curated_by}{when}{note} (detected: {self.study_type})"


class AbbreviationRow(Base):
    """A "long form (SF)" pair a document defines; the library's table expands queries (search_app.searcher)."""

    __tablename__ = "abbreviations"

    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True)
    short: Mapped[str] = mapped_column(String(16), primary_key=True)
    long: Mapped[str] = mapped_column(String(256))


class ChunkRow(Base):
    __tablename__ = "chunks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    ordinal: Mapped[int] = mapped_column(Integer)
    page: Mapped[int | None] = mapped_column(Integer)
    char_start: Mapped[int | None] = mapped_column(Integer)
    char_end: Mapped[int | None] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    document: Mapped[DocumentRow] = relationship(back_populates="chunks")

    def to_chunk(self) -> Chunk:
        return Chunk(
            id=self.id,
            doc_id=self.document_id,
            ordinal=self.ordinal,
            text=self.text,
            page=self.page,
            char_start=self.char_start,
            char_end=self.char_end,
        )


class EvalRunRow(Base):
    """A saved evaluation run (``medembed eval`` and the UI's benchmark page)."""

    __tablename__ = "eval_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset: Mapped[str] = mapped_column(String(256))
    split: Mapped[str] = mapped_column(String(32))
    retriever: Mapped[str] = mapped_column(String(256))
    n_queries: Mapped[int] = mapped_column(Integer)
    metrics: Mapped[dict[str, float]] = mapped_column(JSON)
    seconds: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=lambda: datetime.now(UTC))


# -- accounts and the audit log (access) ----------------------------------------------------------------
class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(128), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=lambda: datetime.now(UTC))
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime(),
                                                          default=lambda: datetime.now(UTC))
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LoginThrottleRow(Base):
    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SessionRow(Base):
    """A signed-in browser: only the SHA-256 of its cookie's random token is stored."""

    __tablename__ = "user_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(128), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AuditRow(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True, default=lambda: datetime.now(UTC))
    actor: Mapped[str] = mapped_column(String(256), index=True)
    role: Mapped[str | None] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(Text, default="")
    ok: Mapped[bool] = mapped_column(Boolean, default=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


# -- what users keep (library.reading_list) --------------------------------------------------------------
class ReadingListRow(Base):
    __tablename__ = "reading_list"
    __table_args__ = (UniqueConstraint("owner", "document_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner: Mapped[str] = mapped_column(String(256), index=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    note: Mapped[str] = mapped_column(Text, default="")
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=lambda: datetime.now(UTC))


class RecentSearchRow(Base):
    __tablename__ = "recent_searches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner: Mapped[str] = mapped_column(String(256), index=True)
    query: Mapped[str] = mapped_column(Text)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=lambda: datetime.now(UTC))
