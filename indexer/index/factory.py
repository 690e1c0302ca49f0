"""Choosing the index backend: the one place that names each engine (the interface, :mod:`indexer.index.backend`,
names none)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from medcore.errors import ConfigError

if TYPE_CHECKING:
    from indexer.index.backend import IndexBackend
    from medcore.config import Settings


def open_backend(settings: Settings) -> IndexBackend:
    """The backend named by ``settings.index.backend``; each is imported only when chosen (qdrant-client is an
    optional dependency)."""
    name = settings.index.backend
    if name == "faiss":
        from indexer.index.local.backend import LocalBackend

        return LocalBackend(settings)
    if name == "qdrant":
        from indexer.index.qdrant.backend import QdrantBackend

        return QdrantBackend(settings)
    raise ConfigError(f"index.backend={name!r} is not known; use 'faiss' or 'qdrant'.")
