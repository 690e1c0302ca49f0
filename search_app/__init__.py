"""Retrieval and evaluation: the searcher (BM25, dense, hybrid; papers; key sentences; relevance), answers written
from the retrieved passages, citations and export formats, and :mod:`search_app.evaluation` (metrics, the runner,
benchmark discovery).

The whole API a user needs::

    from search_app import Searcher, SearchFilters, Hit

    searcher = Searcher.from_settings(Settings.load(), "hybrid:minilm")
    hits: list[Hit] = searcher.search("statin myopathy", k=5, filters=SearchFilters(year_min=2015))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from medcore.types import Hit, PaperHit, SearchFilters
    from search_app.searcher import Searcher

__all__ = ["Hit", "PaperHit", "SearchFilters", "Searcher"]


def __getattr__(name: str) -> Any:
    # Resolved on first use, so that `import search_app.citations` (the CLI's start-up) does not load the searcher
    # and its numeric stack.
    if name == "Searcher":
        from search_app.searcher import Searcher

        return Searcher
    if name in ("Hit", "PaperHit", "SearchFilters"):
        from medcore import types

        return getattr(types, name)
    raise AttributeError(f"module 'search_app' has no attribute {name!r}")
