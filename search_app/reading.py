"""A user's reading list and recent searches as actions: each checks the user's role and audits what it changes.

The pages and the CLI call these, never :mod:`search_app.saved` directly, so a change is always checked and recorded
the same way (``access.audit``, shown on the Audit page). Recording a search is not audited: it changes nothing but the
user's own history, and the audit log would otherwise hold every query typed.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from access import audit
from access.roles import Principal, require
from indexer.parse.textclean import clean_line, clean_text
from medcore.errors import MedEmbedError
from search_app.saved import ReadingItem, RecentSearch, SavedItems
from store import Store

logger = logging.getLogger(__name__)

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
