"""Local accounts in the SQL store: user names, roles and argon2id password hashes, plus the sign-in throttle.

Passwords are hashed with argon2id (``argon2-cffi``'s defaults: RFC 9106's low-memory profile, a random salt per
hash) and never stored, logged or returned. A sign-in for an unknown user name is checked against a dummy hash, so
it takes about as long as a wrong password and gets the same answer.

The throttle keeps, per key (``user:<name>`` and ``client:<address>``), the failures in a row and until when the
next try must wait; it lives in the store, so it holds across sessions, browser tabs and server restarts.

Size: users, the sign-in throttle and browser sessions share the password hasher, the transaction rules and
the timing-safe checks; apart, each would need the others' private helpers.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from access.roles import Principal, Role, parse_role
from medcore.errors import MedEmbedError
from store import Store
from store.tables import LoginThrottleRow, ReadingListRow, RecentSearchRow, SessionRow, UserRow

logger = logging.getLogger(__name__)

MIN_PASSWORD = 10
MAX_PASSWORD = 1024
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,127}$")


@dataclass(frozen=True)
class Account:
    username: str
    role: Role
    created_at: datetime
    password_changed_at: datetime
    last_login_at: datetime | None

    def principal(self) -> Principal:
        return Principal(self.username, self.role, "local")


def normalise_username(name: str) -> str:
    """Lower-case and check a user name (letters, digits, ``. _ @ -``; up to 128), or raise saying what is allowed."""
    clean = name.strip().lower()
    if not _USERNAME.match(clean):
        raise MedEmbedError(f"User name {name!r} is not allowed: use 1-128 letters, digits, '.', '_', '@' or '-', "
                            "starting with a letter or digit.")
    return clean


def check_password_policy(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise MedEmbedError(f"The password is too short: use at least {MIN_PASSWORD} characters (a passphrase of "
                            "several words is easiest to remember).")
    if len(password) > MAX_PASSWORD:
        raise MedEmbedError(f"The password is longer than {MAX_PASSWORD} characters.")


def backoff_seconds(failures: int, after: int, base_s: float, max_s: float) -> float:
    """How long the next try must wait after ``failures`` failures in a row: none below ``after``, then ``base_s``
    doubling with each further failure, at most ``max_s``. Example (after=3, base 2 s): 0, 0, 2, 4, 8, ... s."""
    if failures < after:
        return 0.0
    return float(min(max_s, base_s * 2 ** (failures - after)))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _insert_missing(s, rows: list[dict[str, object]]):  # noqa: ANN001, ANN202 - an open Session; an Insert
    """An INSERT of the throttle rows that skips keys already there (SQLite and PostgreSQL both say ON CONFLICT)."""
    insert = postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert
    return insert(LoginThrottleRow).values(rows).on_conflict_do_nothing(index_elements=["key"])


_DUMMY_HASHES: dict[tuple[object, ...], str] = {}
_DUMMY_LOCK = threading.Lock()


def _dummy_hash(hasher: PasswordHasher) -> str:
    """A hash of no account's password with ``hasher``'s parameters, made once per process: were it made per request,
    an unknown user name would cost a hash more than a known one, and the time would tell which names exist."""
    key = (hasher.time_cost, hasher.memory_cost, hasher.parallelism, hasher.hash_len, hasher.salt_len, hasher.type)
    with _DUMMY_LOCK:
        if key not in _DUMMY_HASHES:
            _DUMMY_HASHES[key] = hasher.hash(secrets.token_urlsafe(24))
        return _DUMMY_HASHES[key]


class Accounts:
    """Users and the sign-in throttle in ``store``. ``hasher`` defaults to argon2id with argon2-cffi's defaults."""

    def __init__(self, store: Store, hasher: PasswordHasher | None = None) -> None:
        self.store = store
        self.hasher = hasher or PasswordHasher()

    # -- users ---------------------------------------------------------------------------------------------------
    def count(self) -> int:
        with self.store.session() as s:
            return s.scalar(select(func.count(UserRow.id))) or 0

    def admin_count(self) -> int:
        with self.store.session() as s:
            return s.scalar(select(func.count(UserRow.id)).where(UserRow.role == "admin")) or 0

    def users(self) -> list[Account]:
        with self.store.session() as s:
            return [self._account(r) for r in s.scalars(select(UserRow).order_by(UserRow.username))]

    def get(self, username: str) -> Account | None:
        with self.store.session() as s:
            row = s.scalar(select(UserRow).where(UserRow.username == username.strip().lower()))
            return self._account(row) if row else None

    def add(self, username: str, role: str, password: str) -> Account:
        name, checked_role = normalise_username(username), parse_role(role)
        check_password_policy(password)
        try:
            with self.store.session() as s, s.begin():
                s.add(UserRow(username=name, role=checked_role, password_hash=self.hasher.hash(password)))
        except IntegrityError:
            raise MedEmbedError(f"User {name} exists already; use `medembed users passwd {name}` or "
                                f"`medembed users set-role {name} ROLE`.") from None
        logger.info("Added user %s (%s)", name, checked_role)
        return self._require(name)

    def set_role(self, username: str, role: str) -> Account:
        checked = parse_role(role)
        with self.store.session() as s, s.begin():
            row = self._row(s, username)
            if checked != "admin":
                self._keep_an_admin(s, row, "demote")
            row.role = checked
        return self._require(username)

    def set_password(self, username: str, password: str) -> Account:
        check_password_policy(password)
        with self.store.session() as s, s.begin():
            row = self._row(s, username)
            row.password_hash = self.hasher.hash(password)
            row.password_changed_at = datetime.now(UTC)
        return self._require(username)

    def remove(self, username: str) -> None:
        with self.store.session() as s, s.begin():
            row = self._row(s, username)
            self._keep_an_admin(s, row, "remove")
            s.delete(row)
            name = username.strip().lower()
            s.execute(delete(SessionRow).where(SessionRow.username == name))
            # A later account of the same name must not inherit this one's reading list and searches.
            for table in (ReadingListRow, RecentSearchRow):
                s.execute(delete(table).where(table.owner == name))

    # -- sessions (the sign-in cookie) ---------------------------------------------------------------------------
    def start_session(self, username: str) -> str:
        """A new random session token for ``username`` (only its hash is stored); the cookie carries the token."""
        token, now = secrets.token_urlsafe(32), datetime.now(UTC)
        with self.store.session() as s, s.begin():
            s.add(SessionRow(token_hash=_token_hash(token), username=username, created_at=now, last_seen_at=now))
        return token

    def session_account(self, token: str, max_age: timedelta, max_idle: timedelta,
                        now: datetime | None = None) -> tuple[Account | None, str]:
        """``(account, "")`` for a live session (its last use is updated), else ``(None, why)``; an expired or
        orphaned session is deleted."""
        now = now or datetime.now(UTC)
        with self.store.session() as s, s.begin():
            row = s.get(SessionRow, _token_hash(token))
            if row is None:
                return None, ""
            created, seen = row.created_at, row.last_seen_at
            user = s.scalar(select(UserRow).where(UserRow.username == row.username))
            why = ("Your sign-in expired; sign in again." if now - created > max_age
                   else "Signed out after a while without activity; sign in again." if now - seen > max_idle
                   else "Your account was changed or removed; sign in again." if user is None
                   or user.password_changed_at > created else "")
            if why:
                s.delete(row)
                return None, why
            if now - seen > timedelta(seconds=30):  # fewer writes: idle time is counted in minutes
                row.last_seen_at = now
            return self._account(user), ""

    def end_session(self, token: str) -> str | None:
        """Delete a session; returns its user name (None if there was none)."""
        with self.store.session() as s, s.begin():
            row = s.get(SessionRow, _token_hash(token))
            if row is None:
                return None
            s.delete(row)
            return row.username

    # -- sign-in -------------------------------------------------------------------------------------------------
    def verify(self, username: str, password: str) -> Account | None:
        """The account when ``password`` is right; None for a wrong password or an unknown user (timed alike)."""
        name = username.strip().lower()
        with self.store.session() as s:
            row = s.scalar(select(UserRow).where(UserRow.username == name)) if _USERNAME.match(name) else None
            stored = row.password_hash if row else _dummy_hash(self.hasher)
        try:
            self.hasher.verify(stored, password[:MAX_PASSWORD])
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if row is None:  # the dummy hash matched: impossible in practice, still no account
            return None
        with self.store.session() as s, s.begin():
            fresh = self._row(s, name)
            fresh.last_login_at = datetime.now(UTC)
            if self.hasher.check_needs_rehash(fresh.password_hash):
                fresh.password_hash = self.hasher.hash(password)
        return self._require(name)

    def begin_attempt(self, keys: list[str], after: int, base_s: float, max_s: float,
                      now: datetime | None = None, soft: dict[str, float] | None = None) -> tuple[float, float]:
        """Count a sign-in try as a failure before its password is checked; the caller clears the count when the
        password was right. Returns ``(blocked, wait)``: ``blocked`` > 0 means a key must still wait that many seconds
        (the try is refused and not counted); else ``wait`` is the wait this try imposes should it fail.

        Counting first, in one transaction that holds the keys' rows, is what stops parallel guesses: were the
        failure recorded after the (slow) password check, every guess sent at once would pass the check of the
        count before any of them was recorded. ``soft`` gives keys a lower longest wait than ``max_s``.
        """
        soft = soft or {}
        now = now or datetime.now(UTC)
        with self.store.session() as s, s.begin():
            # the write comes first: SQLite takes its write lock here, PostgreSQL creates the rows to lock
            s.execute(_insert_missing(s, [{"key": k, "failures": 0} for k in sorted(set(keys))]))
            rows = s.scalars(select(LoginThrottleRow).where(LoginThrottleRow.key.in_(keys))
                             .order_by(LoginThrottleRow.key).with_for_update()).all()
            until = [u for u in (r.blocked_until for r in rows) if u is not None and u > now]
            if until:
                return max((u - now).total_seconds() for u in until), 0.0
            wait = 0.0
            for row in rows:
                row.failures = (row.failures or 0) + 1
                row.last_failure_at = now
                seconds = backoff_seconds(row.failures, after, min(base_s, soft.get(row.key, base_s)),
                                          soft.get(row.key, max_s))
                row.blocked_until = now + timedelta(seconds=seconds) if seconds else None
                wait = max(wait, seconds)
        return 0.0, wait

    def clear_failures(self, keys: list[str]) -> None:
        with self.store.session() as s, s.begin():
            s.execute(delete(LoginThrottleRow).where(LoginThrottleRow.key.in_(keys)))

    # -- helpers -------------------------------------------------------------------------------------------------
    @staticmethod
    def _keep_an_admin(s, row: UserRow, verb: str) -> None:  # noqa: ANN001 - an open Session
        """Refuse to remove or demote the only admin: with no admin nobody could manage accounts, and with no account
        at all the app would fall back to the open mode.

        Two admins demoting each other at once must not both succeed. PostgreSQL: the admin rows are locked
        (``FOR UPDATE``). SQLite takes no lock on a SELECT (pysqlite begins the transaction at the first write), so a
        no-op write comes first: it takes the database's write lock, a second demotion waits for this one to commit,
        and the count below is the committed one.
        """
        if s.get_bind().dialect.name == "sqlite":
            s.execute(update(UserRow).where(UserRow.id == row.id).values(role=UserRow.role))
            s.refresh(row)
        if row.role != "admin":
            return
        admins = s.scalars(select(UserRow.id).where(UserRow.role == "admin").with_for_update()).all()
        if not set(admins) - {row.id}:
            raise MedEmbedError(f"{row.username} is the only admin and cannot be {verb}d: add another admin first "
                                f"(`medembed users add NAME --role admin`), then {verb} {row.username}.")

    def _row(self, s, username: str) -> UserRow:  # noqa: ANN001 - an open Session
        row = s.scalar(select(UserRow).where(UserRow.username == username.strip().lower()))
        if row is None:
            raise MedEmbedError(f"No user {username!r}; `medembed users list` shows who exists.")
        return row

    def _require(self, username: str) -> Account:
        account = self.get(username)
        assert account is not None  # noqa: S101 - just written in this process
        return account

    @staticmethod
    def _account(row: UserRow) -> Account:
        # an unknown role (edited in the database by hand) has no rights: has_role() refuses it
        return Account(row.username, row.role, row.created_at, row.password_changed_at, row.last_login_at)
