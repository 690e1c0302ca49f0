"""The SQL store at the bottom of the project: every table (:mod:`store.tables`), their migrations
(:mod:`store.migrate`) and :class:`Store`, the documents' and chunks' query surface. It takes and returns
:mod:`medcore.types`; the packages above it (``indexer``, ``access``, ``library``) read and write through it."""

from store.store import Store

__all__ = ["Store"]
