"""The store's schema through Alembic, on SQLite and the real PostgreSQL server.

A new store and a store made before migrations (its tables as the previous release's ``create_all`` made them,
committed as DDL under ``tests/data/``) both end at the newest revision, with exactly the tables the code defines
and with their rows intact.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

import access.accounts  # noqa: F401 - registers users, login_throttle, user_sessions on the metadata
import access.audit  # noqa: F401 - registers audit_log
import library.reading_list  # noqa: F401 - registers reading_list, recent_searches
from store import Store, migrate
from store.tables import Base

DATA = Path(__file__).parent / "data"
#: Tables the previous release made when a store was opened; the others appeared only once a module using them ran.
MADE_ON_OPEN = {"documents", "chunks", "study_designs", "abbreviations", "eval_runs"}


def _differences(url: str) -> list:
    engine = create_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    return diff


def _revision(url: str) -> str | None:
    engine = create_engine(url)
    with engine.connect() as conn:
        revision = migrate.current(conn)
    engine.dispose()
    return revision


def _previous_release_store(url: str, tables: set[str] | None = None) -> None:
    """Create the previous release's tables (all, or only ``tables``) and one document with a chunk."""
    dialect = "postgresql" if url.startswith("postgresql") else "sqlite"
    statements = _statements(dialect)
    engine = create_engine(url)
    with engine.begin() as conn:
        for statement in statements:
            table = statement.split("(")[0].split()[-1].strip('"')
            if tables is None or table in tables:
                conn.exec_driver_sql(statement)
        conn.execute(text("INSERT INTO documents (id, source, collection, title, sha256, added_at) "
                          "VALUES (1, 'pdf', 'library', 'Old paper', :sha, CURRENT_TIMESTAMP)"), {"sha": "0" * 64})
        conn.execute(text("INSERT INTO chunks (id, document_id, ordinal, text) VALUES (1, 1, 0, 'old text')"))
    engine.dispose()


def _statements(dialect: str) -> list[str]:
    """The DDL statements of the committed previous schema (comment lines left out)."""
    sql = (DATA / f"schema_before_migrations.{dialect}.sql").read_text(encoding="utf-8")
    sql = "\n".join(line for line in sql.splitlines() if not line.startswith("--"))
    return [s.strip() for s in sql.split(";\n") if s.strip()]


def test_the_previous_schema_files_hold_tables_the_code_still_has() -> None:
    for dialect in ("sqlite", "postgresql"):
        tables = {s.split("(")[0].split()[-1] for s in _statements(dialect) if s.startswith("CREATE TABLE")}
        assert tables and tables <= set(Base.metadata.tables)


def test_a_new_store_gets_every_table_at_the_newest_revision(store_url: str) -> None:
    Store(store_url).close()
    assert _revision(store_url) == migrate.head()
    assert _differences(store_url) == []


@pytest.mark.parametrize("made", ["on open", "every table"])
def test_a_store_made_before_migrations_is_upgraded_in_place(store_url: str, made: str) -> None:
    _previous_release_store(store_url, MADE_ON_OPEN if made == "on open" else None)
    assert _revision(store_url) is None
    store = Store(store_url)
    assert store.counts() == (1, 1)
    assert store.get_document(1).title == "Old paper"
    store.close()
    assert _revision(store_url) == migrate.head()
    assert _differences(store_url) == []


def test_a_store_at_the_newest_revision_opens_without_migrating(store_url: str,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    Store(store_url).close()

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("migrated a store that was at the newest revision")

    monkeypatch.setattr("alembic.command.upgrade", refuse)
    store = Store(store_url)
    assert store.counts() == (0, 0)
    store.close()


def test_the_baseline_downgrades_to_an_empty_database_and_upgrades_again(tmp_path: Path) -> None:
    from alembic import command

    url = f"sqlite:///{tmp_path / 'store.db'}"
    Store(url).close()
    engine = create_engine(url)
    with engine.begin() as conn:
        command.downgrade(migrate.alembic_config(conn), "base")
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    engine.dispose()
    Store(url).close()
    assert _differences(url) == []
