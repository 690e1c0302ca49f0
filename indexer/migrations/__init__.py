"""Alembic scripts of the store's schema (run by indexer.migrate)."""
