"""Hard negatives: passages that BM25 and the dense model rank high for a query but that do not answer it.

Mining lives here (``bm25s`` and a sentence-transformers model used directly; dense search is an exact matrix
product in torch) rather than in ``indexer``, so the trainer keeps its one import direction (``trainer -> medcore``)
and runs on a GPU machine without faiss. Candidates are never the positive, a passage of the positive's document,
another known positive, or a near-duplicate of the positive; and, as ``mine_hard_negatives`` in
sentence-transformers does with ``relative_margin``, a candidate whose score comes within a margin of the best
known positive's is skipped as a likely false negative (an unlabelled relevant passage). A query whose positive
ranks below every candidate thus gets no negative: a useful check on LLM queries that miss their passage.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from medcore.analysis import BM25_B, BM25_K1, bm25s_module, tokenize
from medcore.fusion import rrf
from medcore.progress import show_progress
from medcore.types import Mode
from trainer.data import Passage
from trainer.llm import normalise, words

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

MiningMethod = Mode  # the retriever modes of medcore.retrievers


@dataclass(frozen=True)
class MiningConfig:
    """How negatives are mined.

    Attributes:
        method: ``bm25``, ``dense`` (needs a model) or ``hybrid`` (both, candidates fused by reciprocal rank).
        range_max: candidates taken from the top of each retriever's ranking.
        relative_margin: keep a candidate only if its score <= (1 - margin) x the best score among the query's
            known positives (the positive and ``exclude``; dense cosine when a model is used, else BM25).
        near_duplicate: word-trigram overlap (and dense cosine) with the positive at or above which a candidate is
            the same text and skipped. Overlap is over the smaller of the two texts, so a passage that contains the
            positive (BioASQ keeps a snippet and its longer version as two passages) is skipped too.
        num_negatives: negatives per (query, positive); sampling: the best-ranked ones or a random pick of the
            candidates that pass.
    """

    method: MiningMethod = "hybrid"
    range_max: int = 50
    relative_margin: float = 0.05
    near_duplicate: float = 0.9
    num_negatives: int = 1
    sampling: Literal["top", "random"] = "top"
    batch_size: int = 64
    seed: int = 42


@dataclass(frozen=True)
class Negative:
    passage: Passage
    method: str
    score: float


def _shingles(text: str) -> set[tuple[str, ...]]:
    w = words(text)
    return {tuple(w[i : i + 3]) for i in range(max(1, len(w) - 2))}


def overlap(a: set, b: set) -> float:
    """The share of the smaller set found in the larger (1.0 when one text contains the other)."""
    return len(a & b) / min(len(a), len(b)) if a and b else 0.0


class NegativeMiner:
    """Mines negatives from a fixed pool of passages.

    Args:
        passages: the pool (the whole corpus or store); model: a SentenceTransformer for ``dense``/``hybrid``.
        query_prefix/passage_prefix: the model's instructions (bge), from the registry.
    """

    def __init__(self, passages: Sequence[Passage], model: SentenceTransformer | None = None,
                 config: MiningConfig | None = None, query_prefix: str = "", passage_prefix: str = "",
                 show_progress_bar: bool | None = None) -> None:
        self.config = config or MiningConfig()
        if self.config.method != "bm25" and model is None:
            raise ValueError(f"Mining method '{self.config.method}' needs a model; pass one or use method='bm25'.")
        self.passages = list(passages)
        self.position = {p.id: i for i, p in enumerate(self.passages)}
        self.model, self.query_prefix, self.passage_prefix = model, query_prefix, passage_prefix
        self._rng = random.Random(self.config.seed)
        texts = [p.indexed_text for p in self.passages]
        self._bm25 = None
        if self.config.method != "dense" and texts:
            self._bm25 = bm25s_module().BM25(k1=BM25_K1, b=BM25_B)  # as the search index scores
            self._bm25.index(tokenize(texts), show_progress=False)
        self._vectors = None
        if model is not None and self.config.method != "bm25" and texts:
            show = show_progress(show_progress_bar, logger, len(texts), more_than=256)
            self._vectors = self._encode([passage_prefix + t for t in texts], show)  # (n_passages, dim)

    def _encode(self, texts: list[str], show_progress_bar: bool = False):  # noqa: ANN202 - torch tensor
        assert self.model is not None
        return self.model.encode(texts, batch_size=self.config.batch_size, normalize_embeddings=True,
                                 convert_to_tensor=True, show_progress_bar=show_progress_bar)

    def mine(self, queries: Sequence[str], positives: Sequence[Passage],
             exclude: Sequence[set[str]] | None = None) -> list[list[Negative]]:
        """Negatives for each ``(queries[i], positives[i])``; ``exclude[i]`` are more passage ids known relevant
        (their documents are excluded too). Returns fewer than ``num_negatives`` (maybe none) when too few pass."""
        if not queries:
            return []
        exclude = exclude or [set() for _ in queries]
        dense_q = dense_p = None
        if self._vectors is not None:
            dense_q = self._encode([self.query_prefix + q for q in queries])  # (n_queries, dim)
            dense_p = self._positive_vectors(positives)  # (n_queries, dim)
        bm25_tokens = tokenize(queries) if self._bm25 is not None else None
        out = []
        for i, (query, pos) in enumerate(zip(queries, positives, strict=True)):
            bm25 = self._bm25_scores(bm25_tokens[i], pos) if bm25_tokens is not None else None
            dense = self._dense_scores(dense_q[i], dense_p[i]) if dense_q is not None else None
            out.append(self._pick(query, pos, exclude[i], bm25, dense))
        return out

    def positive_ranks(self, queries: Sequence[str], positives: Sequence[Passage]) -> list[int]:
        """The best rank (1 = first) that BM25 or the dense model gives ``positives[i]`` in the pool for
        ``queries[i]``: the round-trip check of generated queries (a query whose own passage neither retriever
        ranks near the top is vague, or about something else)."""
        if not queries:
            return []
        ranks = [len(self.passages) + 1] * len(queries)
        if self._bm25 is not None:
            for i, tokens in enumerate(tokenize(list(queries))):
                scores, pos_score = self._bm25_scores(tokens, positives[i])
                if pos_score > 0:
                    ranks[i] = min(ranks[i], 1 + int((scores > pos_score).sum()))
        if self._vectors is not None:
            dense_q = self._encode([self.query_prefix + q for q in queries])
            dense_p = self._positive_vectors(positives)
            for i in range(len(queries)):
                scores, pos_score, _ = self._dense_scores(dense_q[i], dense_p[i])
                ranks[i] = min(ranks[i], 1 + int((scores > pos_score + 1e-6).sum()))
        return ranks

    def _positive_vectors(self, positives: Sequence[Passage]):  # noqa: ANN202 - torch tensor
        """Pool vectors of positives in the pool; the others are encoded."""
        import torch

        rows = [self.position.get(p.id) for p in positives]
        missing = [i for i, r in enumerate(rows) if r is None]
        if not missing:
            return self._vectors[rows]
        out = torch.empty((len(positives), self._vectors.shape[1]), dtype=self._vectors.dtype,
                          device=self._vectors.device)
        known = [i for i, r in enumerate(rows) if r is not None]
        if known:
            out[known] = self._vectors[[rows[i] for i in known]]
        out[missing] = self._encode([self.passage_prefix + positives[i].indexed_text for i in missing]).to(out.dtype)
        return out

    def _bm25_scores(self, tokens: list[str], pos: Passage) -> tuple[np.ndarray, float]:
        """``(scores over the pool, positive's score)``."""
        assert self._bm25 is not None
        known = [t for t in tokens if t in self._bm25.vocab_dict]
        if not known:
            return np.zeros(len(self.passages), dtype=np.float32), 0.0
        scores = np.asarray(self._bm25.get_scores(known), dtype=np.float32)
        where = self.position.get(pos.id)
        pos_score = float(scores[where]) if where is not None else float(scores.max())
        return scores, pos_score

    def _dense_scores(self, q_vec, p_vec) -> tuple[np.ndarray, float, np.ndarray]:  # noqa: ANN001 - tensors
        """``(cosine of each pool passage to the query, positive's cosine, cosine of each to the positive)``."""
        scores = (self._vectors @ q_vec).float().cpu().numpy()  # (n_passages,)
        to_pos = (self._vectors @ p_vec).float().cpu().numpy()  # (n_passages,)
        return scores, float(q_vec @ p_vec), to_pos

    def _ranking(self, bm25, dense) -> list[tuple[int, str]]:  # noqa: ANN001
        """Candidate rows with the method that found them, fused by reciprocal rank as hybrid search fuses them
        (:func:`medcore.fusion.rrf`); BM25 offers only rows that share a term with the query."""
        runs: dict[str, dict[int, float]] = {}
        for name, scores in (("bm25", bm25[0] if bm25 else None), ("dense", dense[0] if dense else None)):
            if scores is not None:
                top = np.argsort(-scores, kind="stable")[: self.config.range_max]
                runs[name] = {int(row): float(scores[row]) for row in top if name != "bm25" or scores[row] > 0}
        return [(row, "+".join(name for name, run in runs.items() if row in run))
                for row in rrf(list(runs.values()))]

    def _pick(self, query: str, pos: Passage, exclude: set[str], bm25, dense) -> list[Negative]:  # noqa: ANN001
        excluded_ids = {pos.id, *exclude}
        excluded_docs = {pos.doc_id} | {self.passages[self.position[e]].doc_id for e in exclude if e in self.position}
        pos_norm, pos_shingles = normalise(pos.indexed_text), _shingles(pos.indexed_text)
        margin = 1.0 - self.config.relative_margin
        known = [self.position[e] for e in exclude if e in self.position]
        reference = dense[1] if dense is not None else bm25[1]
        if known:
            reference = max(reference, float((dense[0] if dense is not None else bm25[0])[known].max()))
        passing = []
        for row, method in self._ranking(bm25, dense):
            cand = self.passages[row]
            if cand.id in excluded_ids or cand.doc_id in excluded_docs:
                continue
            if dense is not None:
                score = float(dense[0][row])
                if score > margin * reference or float(dense[2][row]) >= self.config.near_duplicate:
                    continue
            else:
                score = float(bm25[0][row])
                if score > margin * reference:
                    continue
            if normalise(cand.indexed_text) == pos_norm or (
                overlap(_shingles(cand.indexed_text), pos_shingles) >= self.config.near_duplicate
            ):
                continue
            passing.append(Negative(cand, method, score))
        n = self.config.num_negatives
        if self.config.sampling == "random" and len(passing) > n:
            return self._rng.sample(passing, n)
        return passing[:n]
