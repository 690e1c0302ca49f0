"""The audit log in the SQL store: who uploaded, deleted, reindexed, trained, generated, signed in or failed to,
when, and what. Written by the server-side actions themselves (``library.manage``, ``access.login``, the
CLI); read on the admin's Audit page and by ``medembed users audit``.

Entries never hold passwords or tokens: ``detail`` is built by the callers from names, ids and counts only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from access.roles import Principal
from store import Store
from store.tables import AuditRow

logger = logging.getLogger(__name__)




@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    role: str | None
    action: str
    target: str
    ok: bool
    detail: dict[str, Any]


def record(store: Store, actor: Principal | str, action: str, target: str = "", *, ok: bool = True,
           **detail: Any) -> None:
    """Append one entry. ``actor`` is a Principal or a plain name (e.g. an unknown user name's placeholder)."""
    name, role = (actor.name, actor.role) if isinstance(actor, Principal) else (str(actor), None)
    with store.session() as s, s.begin():
        s.add(AuditRow(actor=name[:256], role=role, action=action, target=target, ok=ok, detail=detail))
    logger.info("audit: %s %s %s%s", name, action, target, "" if ok else " (failed)")


def record_merged(store: Store, actor: str, action: str, target: str, window_s: float, *, ok: bool = False,
                  **detail: Any) -> None:
    """Like :func:`record`, but a repeat of the same (actor, action, target) within ``window_s`` seconds of the
    last such entry only counts up that entry's ``repeats``: a flood of refused requests makes one row a window,
    not one row apiece."""
    now = datetime.now(UTC)
    with store.session() as s, s.begin():
        last = s.scalar(select(AuditRow).where(AuditRow.action == action, AuditRow.actor == actor[:256],
                                               AuditRow.target == target,
                                               AuditRow.at >= now - timedelta(seconds=window_s))
                        .order_by(AuditRow.id.desc()).limit(1))
        if last is not None:
            last.detail = {**(last.detail or {}), **detail, "repeats": int((last.detail or {}).get("repeats", 0)) + 1}
            return
        s.add(AuditRow(actor=actor[:256], role=None, action=action, target=target, ok=ok, detail=detail))
    logger.info("audit: %s %s %s%s", actor, action, target, "" if ok else " (failed)")


def query(store: Store, *, actor: str | None = None, actions: list[str] | None = None, since: datetime | None = None,
          until: datetime | None = None, text: str | None = None, limit: int = 500) -> list[AuditEntry]:
    """Entries newest first, filtered by actor, action(s), time range and a substring of target."""
    stmt = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
    if actor:
        stmt = stmt.where(AuditRow.actor == actor)
    if actions:
        stmt = stmt.where(AuditRow.action.in_(actions))
    if since is not None:
        stmt = stmt.where(AuditRow.at >= since)
    if until is not None:
        stmt = stmt.where(AuditRow.at <= until)
    if text:
        stmt = stmt.where(AuditRow.target.ilike(f"%{text}%"))
    with store.session() as s:
        return [AuditEntry(r.id, r.at, r.actor, r.role, r.action, r.target, r.ok, r.detail or {})
                for r in s.scalars(stmt)]


def distinct_values(store: Store) -> tuple[list[str], list[str]]:
    """``(actors, actions)`` seen in the log, sorted: the choices of the Audit page's filters."""
    with store.session() as s:
        actors = sorted(s.scalars(select(AuditRow.actor).distinct()))
        actions = sorted(s.scalars(select(AuditRow.action).distinct()))
    return actors, actions

