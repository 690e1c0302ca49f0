"""Retrieval and evaluation: the searcher (BM25, dense, hybrid; papers; key sentences; relevance), answers written
from the retrieved passages, citations and exports, and :mod:`search_app.evaluation` (metrics, the runner,
benchmark discovery).

The whole API a user needs::

    from search_app import Searcher, SearchFilters, Hit
"""

from medcore.types import Hit, PaperHit, SearchFilters
from search_app.searcher import Searcher

__all__ = ["Hit", "PaperHit", "SearchFilters", "Searcher"]
