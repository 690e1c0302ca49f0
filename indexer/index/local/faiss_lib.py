"""Importing faiss, an optional dependency, with a message that says how to install it."""

from __future__ import annotations

from medcore.errors import MedEmbedError


def load_faiss():  # noqa: ANN201 - the faiss module
    """The ``faiss`` module; raises :class:`MedEmbedError` naming the package to install when it is missing."""
    try:
        import faiss
    except ImportError:
        raise MedEmbedError("faiss is not installed; run `pip install faiss-cpu` (or `.[gpu]`).") from None
    return faiss
