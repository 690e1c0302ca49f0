"""A user's reading list (papers with notes) and recent searches, kept per account in the SQL store.

:class:`SavedItems` holds the queries on the two tables (``reading_list``, ``recent_searches`` in
:mod:`store.tables`); the functions below are the actions the pages and the CLI call: each checks the user's role
and audits what it changes (``access.audit``, shown on the Audit page). Recording a search is not audited: it
changes nothing but the user's own history, and the audit log would otherwise hold every query typed. Both are per
account (the principal's name; open mode has one local list, "localhost").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update

from access import audit
from access.roles import Principal, require
from indexer.parse.textclean import clean_line, clean_text
from medcore.errors import MedEmbedError
from medcore.types import Document
from store import Store
from store.tables import DocumentRow, ReadingListRow, RecentSearchRow, StudyDesignRow

logger = logging.getLogger(__name__)

RECENT_KEPT = 50  # per user; older searches are dropped as new ones come in






@dataclass(frozen=True)
class ReadingItem:
    document: Document
    note: str
    added_at: datetime


@dataclass(frozen=True)
class RecentSearch:
    """A search as it was run: the query and its settings, e.g. ``{"mode": "hybrid", "view": "Papers", "k": 10}``."""

    id: int
    query: str
    options: dict[str, Any]
    at: datetime


def search_settings(options: dict[str, Any]) -> dict[str, Any]:
    """The settings that make a search distinct: unset values and empty filters dropped, the model left out of a
    BM25 search and the paper order out of a passage list (neither changes what is shown), lists sorted. Example:
    ``{"mode": "bm25", "model": "minilm", "view": "Passages", "sort": "Relevance", "journals": []}`` ->
    ``{"mode": "bm25", "view": "Passages"}``."""
    out = {k: (sorted(v) if isinstance(v, list | tuple) else v) for k, v in options.items()
           if v is not None and v != [] and v != ()}
    if out.get("mode") == "bm25":
        out.pop("model", None)
    if out.get("view") == "Passages":
        out.pop("sort", None)
    return out


class SavedItems:
    """One store's reading lists and recent searches."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- reading list --------------------------------------------------------------------------------------------
    def add(self, owner: str, doc_id: int, note: str = "") -> bool:
        """Add a paper to ``owner``'s list; False when it was there already (the note is then left alone)."""
        with self.store.session() as s, s.begin():
            if s.get(DocumentRow, doc_id) is None:
                raise KeyError(f"document {doc_id} is not in the library")
            exists = s.scalar(select(ReadingListRow.id).where(ReadingListRow.owner == owner,
                                                               ReadingListRow.document_id == doc_id))
            if exists is not None:
                return False
            s.add(ReadingListRow(owner=owner, document_id=doc_id, note=note))
            return True

    def remove(self, owner: str, doc_id: int) -> bool:
        with self.store.session() as s, s.begin():
            return s.execute(delete(ReadingListRow).where(ReadingListRow.owner == owner,
                                                          ReadingListRow.document_id == doc_id)).rowcount > 0

    def set_note(self, owner: str, doc_id: int, note: str) -> bool:
        with self.store.session() as s, s.begin():
            row = s.scalar(select(ReadingListRow).where(ReadingListRow.owner == owner,
                                                        ReadingListRow.document_id == doc_id))
            if row is None:
                return False
            row.note = note
            return True

    def doc_ids(self, owner: str) -> set[int]:
        with self.store.session() as s:
            return set(s.scalars(select(ReadingListRow.document_id).where(ReadingListRow.owner == owner)))

    def items(self, owner: str) -> list[ReadingItem]:
        """``owner``'s reading list, most recently added first."""
        with self.store.session() as s:
            rows = s.execute(
                select(ReadingListRow, DocumentRow, StudyDesignRow)
                .join(DocumentRow, DocumentRow.id == ReadingListRow.document_id)
                .outerjoin(StudyDesignRow, StudyDesignRow.document_id == DocumentRow.id)
                .where(ReadingListRow.owner == owner)
                .order_by(ReadingListRow.added_at.desc(), ReadingListRow.id.desc())
            ).all()
        return [ReadingItem(doc.to_document(design), item.note, item.added_at) for item, doc, design in rows]

    def move_owner(self, old: str, new: str) -> dict[str, int]:
        """Give ``old``'s reading list and recent searches to ``new`` (a paper on both lists keeps ``new``'s entry,
        with ``old``'s note added when ``new``'s has none); the counts moved."""
        with self.store.session() as s, s.begin():
            mine = {r.document_id: r for r in s.scalars(select(ReadingListRow).where(ReadingListRow.owner == new))}
            papers = 0
            for row in s.scalars(select(ReadingListRow).where(ReadingListRow.owner == old)).all():
                if (kept := mine.get(row.document_id)) is not None:
                    kept.note = kept.note or row.note
                    s.delete(row)
                else:
                    row.owner = new
                    papers += 1
            searches = s.execute(update(RecentSearchRow).where(RecentSearchRow.owner == old)
                                 .values(owner=new)).rowcount
        return {"reading_list": papers, "recent_searches": searches}

    # -- recent searches -----------------------------------------------------------------------------------------
    def record_search(self, owner: str, query: str, options: dict[str, Any]) -> None:
        """Remember a search once per distinct (query, settings): running the same search again only moves it to
        the top. Settings that change nothing are not part of it (:func:`search_settings`)."""
        query, options = " ".join(query.split()), search_settings(options)
        with self.store.session() as s, s.begin():
            same = s.scalars(select(RecentSearchRow).where(RecentSearchRow.owner == owner,
                                                           RecentSearchRow.query == query)).all()
            for row in same:
                if row.options == options:
                    s.delete(row)
            s.add(RecentSearchRow(owner=owner, query=query, options=options))
            s.flush()
            keep = select(RecentSearchRow.id).where(RecentSearchRow.owner == owner).order_by(
                RecentSearchRow.id.desc()).limit(RECENT_KEPT)
            s.execute(delete(RecentSearchRow).where(RecentSearchRow.owner == owner,
                                                    RecentSearchRow.id.not_in(keep.scalar_subquery())))

    def recent(self, owner: str, limit: int = 20) -> list[RecentSearch]:
        with self.store.session() as s:
            rows = s.scalars(select(RecentSearchRow).where(RecentSearchRow.owner == owner)
                             .order_by(RecentSearchRow.id.desc()).limit(limit)).all()
        return [RecentSearch(r.id, r.query, dict(r.options or {}), r.at) for r in rows]

    def clear_recent(self, owner: str) -> int:
        with self.store.session() as s, s.begin():
            return s.execute(delete(RecentSearchRow).where(RecentSearchRow.owner == owner)).rowcount


NOTE_CHARS = 4000


def _owner(user: Principal | None, owner: str | None, action: str) -> tuple[Principal, str]:
    """``(acting user, whose list)``: one's own list needs the reader role, another user's list an admin (the CLI
    acts for the open-mode list, "localhost", by default)."""
    who = require(user, "reader", action)
    if owner is None or owner == who.name:
        return who, who.name
    return require(user, "admin", f"{action} of another user"), owner


def add(store: Store, user: Principal | None, doc_id: int, owner: str | None = None) -> bool:
    """Add a paper to the user's reading list; False when it was already there."""
    who, owner = _owner(user, owner, "keep a reading list")
    try:
        added = SavedItems(store).add(owner, doc_id)
    except KeyError:
        raise MedEmbedError(f"Document {doc_id} is not in the library (deleted?); search again.") from None
    if added:
        audit.record(store, who, "reading-list add", _target(store, doc_id), doc_id=doc_id, owner=owner)
    return added


def remove(store: Store, user: Principal | None, doc_id: int, owner: str | None = None) -> bool:
    who, owner = _owner(user, owner, "keep a reading list")
    removed = SavedItems(store).remove(owner, doc_id)
    if removed:
        audit.record(store, who, "reading-list remove", _target(store, doc_id), doc_id=doc_id, owner=owner)
    return removed


def note(store: Store, user: Principal | None, doc_id: int, text: str, owner: str | None = None) -> bool:
    """Set the note of a paper on the user's list (the note's length is audited, not its words)."""
    who, owner = _owner(user, owner, "keep a reading list")
    text = clean_text(text).strip()[:NOTE_CHARS]  # no ESC or other controls: notes are printed to terminals
    changed = SavedItems(store).set_note(owner, doc_id, text)
    if changed:
        audit.record(store, who, "reading-list note", _target(store, doc_id), doc_id=doc_id, chars=len(text),
                     owner=owner)
    return changed


def items(store: Store, user: Principal | None, owner: str | None = None) -> list[ReadingItem]:
    """The list, notes cleaned again on the way out (a note stored before notes were cleaned may hold controls)."""
    return [replace(item, note=clean_text(item.note))
            for item in SavedItems(store).items(_owner(user, owner, "see a reading list")[1])]


def saved_ids(store: Store, user: Principal | None) -> set[int]:
    return SavedItems(store).doc_ids(require(user, "reader", "see a reading list").name)


def record_search(store: Store, user: Principal | None, query: str, options: dict[str, Any]) -> None:
    SavedItems(store).record_search(require(user, "reader", "search").name, clean_line(query) or "", options)


def recent(store: Store, user: Principal | None, limit: int = 20, owner: str | None = None) -> list[RecentSearch]:
    return [replace(search, query=clean_line(search.query) or "")
            for search in SavedItems(store).recent(_owner(user, owner, "see recent searches")[1], limit)]


def clear_recent(store: Store, user: Principal | None) -> int:
    who = require(user, "reader", "clear recent searches")
    n = SavedItems(store).clear_recent(who.name)
    audit.record(store, who, "recent-searches clear", "", removed=n)
    return n


def _target(store: Store, doc_id: int) -> str:
    doc = store.get_document(doc_id)
    return f"{doc_id}: {(doc.title or doc.external_id or '') if doc else ''}"[:300]
