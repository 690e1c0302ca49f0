"""Alembic's entry point for the store's migrations. :func:`store.migrate.upgrade` runs it on the connection it
passes in ``config.attributes["connection"]``; ``scripts/new_migration.py`` also passes the tables in code
(``target_metadata``) so that ``--autogenerate`` can compare them with a database at the newest revision."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=context.config.attributes.get("target_metadata"),
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters a table by copying it
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
