"""Write a new store migration from the difference between the tables in code and a store at the newest revision.

    python scripts/new_migration.py "add a column for X"

It builds a throwaway SQLite store at the newest revision, compares it with the tables the code defines
(``indexer.store``, ``access``, ``search_app.saved``) and writes ``indexer/migrations/versions/<rev>_<slug>.py``.
Read what it wrote: autogenerate misses renames and server defaults, and a change must also work on PostgreSQL.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alembic import command  # noqa: E402
from sqlalchemy import create_engine  # noqa: E402

import access.accounts  # noqa: E402,F401 - defines users, login_throttle, user_sessions
import access.audit  # noqa: E402,F401 - defines audit_log
import search_app.saved  # noqa: E402,F401 - defines reading_list, recent_searches
from indexer.migrate import alembic_config, upgrade  # noqa: E402
from indexer.tables import Base  # noqa: E402


def main(message: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{tmp}/store.db")
        upgrade(engine)
        with engine.begin() as conn:
            command.revision(alembic_config(conn, Base.metadata), message=message, autogenerate=True)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
