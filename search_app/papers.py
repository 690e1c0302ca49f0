"""Paper-level results: passages grouped by the paper they come from, and the order papers are shown in.

Pure functions over :class:`~medcore.types.Hit`; the searcher, the CLI and the UI pages all group the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from medcore.study_types import evidence_rank
from medcore.types import Hit, PaperHit
from search_app.relevance import renumber, split

PaperSort = Literal["relevance", "evidence"]


def group_papers(hits: Sequence[Hit], max_passages: int = 3, k: int | None = None) -> list[PaperHit]:
    """One :class:`PaperHit` per document, ranked by its best passage's fused score.

    Args:
        hits: passages in any order (usually the searcher's, best first).
        max_passages: passages kept per paper, best first.
        k: papers kept (all when None).

    Returns:
        Papers best first, ranks 1..n; ties on score keep the order of the best passages' ranks. Example: hits of
        docs 7 (0.9), 3 (0.8), 7 (0.5) give ``[PaperHit(7, passages=(0.9, 0.5)), PaperHit(3, passages=(0.8,))]``.
    """
    by_doc: dict[int, list[Hit]] = {}
    for hit in sorted(hits, key=lambda h: (-h.score, h.rank)):
        by_doc.setdefault(hit.doc_id, []).append(hit)
    papers = [PaperHit(doc_id, 0, passages[0].score, tuple(passages[:max_passages]))
              for doc_id, passages in by_doc.items()]
    papers = papers if k is None else papers[:k]
    return [PaperHit(p.doc_id, i, p.score, p.passages) for i, p in enumerate(papers, start=1)]


def sort_papers(papers: Sequence[PaperHit], by: PaperSort = "relevance",
                floor: float | None = None) -> list[PaperHit]:
    """The papers at or above the relevance ``floor`` first, ordered by relevance (as ranked) or by level of evidence
    (more relevant first within a level), then those below it in relevance order: a strong design never lifts an
    off-topic paper above an on-topic one. Cards are numbered in the order returned.

    Example: an on-topic case report (relevance 0.9) and an off-topic systematic review (0.1) with floor 0.5 stay
    case report #1, review #2; both above the floor, the review comes first."""
    shown, weak = split(sorted(papers, key=lambda p: p.rank), floor)
    if by == "evidence":
        shown.sort(key=lambda p: (evidence_rank(p.document.study_type if p.document else None),
                                  -(p.relevance if p.relevance is not None else 0.0), p.rank))
    return renumber(shown + weak)
