"""The store's schema, changed only through migrations (Alembic scripts in ``store/migrations/versions``).

Opening a :class:`store.store.Store` brings its database to the newest revision: a new database gets every table,
a store made before migrations gets the tables it lacks, and a store at an older revision gets the changes since.
One process migrates at a time (a PostgreSQL advisory lock, or a lock file beside a SQLite database); the others
wait, then find the store already at the newest revision. A new migration is written with
``python scripts/new_migration.py "what changes"``.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Connection, Engine

from store.tables import Base

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_PG_LOCK_KEY = 0x6D656465  # "mede": the advisory lock every MedEmbed process takes to migrate a PostgreSQL store


def alembic_config(connection: Connection | None = None, target_metadata: Any = None):  # noqa: ANN201 - Config
    """An Alembic ``Config`` for the store's migrations, bound to ``connection`` (and, to autogenerate, the tables in
    code)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    config.attributes["target_metadata"] = target_metadata
    return config


@functools.lru_cache(maxsize=1)
def head() -> str:
    """The newest revision."""
    from alembic.script import ScriptDirectory

    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert revision is not None  # noqa: S101 - the versions folder ships with the package
    return revision


def current(connection: Connection) -> str | None:
    """The revision the database is at; None for a new store or one made before migrations."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine) -> None:
    """Bring the database of ``engine`` to :func:`head`; a no-op (one query) when it is there already."""
    with engine.connect() as conn:
        if current(conn) == head():
            return
    with _migration_lock(engine), engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        before = current(conn)
        if before == head():
            return
        from alembic import command

        existing = before is not None or inspect(conn).has_table("documents")
        logger.log(logging.INFO if existing else logging.DEBUG, "Migrating the store from revision %s to %s",
                   before or "(none)", head())
        command.upgrade(alembic_config(conn), "head")


def write_revision(message: str) -> None:
    """Write a new migration script from the difference between the tables in code (every one is in
    :mod:`store.tables`) and a throwaway SQLite store at the newest revision."""
    from alembic import command

    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{tmp}/store.db")
        upgrade(engine)
        with engine.begin() as conn:
            command.revision(alembic_config(conn, Base.metadata), message=message, autogenerate=True)
        engine.dispose()


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """For a SQLite file, an exclusive lock on ``<database>.migrate.lock`` (blocking); nothing for other databases
    (PostgreSQL takes its advisory lock in the migration's transaction) or an in-memory SQLite database."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:"):
        yield
        return
    with open(f"{database}.migrate.lock", "a", encoding="utf-8") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
