"""Alembic scripts of the store's schema (run by store.migrate)."""
