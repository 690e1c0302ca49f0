"""Write a new store migration from the difference between the tables in code and a store at the newest revision.

    python scripts/new_migration.py "add a column for X"

It builds a throwaway SQLite store at the newest revision, compares it with the tables the code defines (all of
them are in ``store.tables``) and writes ``store/migrations/versions/<rev>_<slug>.py``. Read what it wrote:
autogenerate misses renames and server defaults, and a change must also work on PostgreSQL.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from store.migrate import write_revision  # noqa: E402

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    write_revision(sys.argv[1])
