"""BM25 as sparse vectors for an engine that applies IDF itself (Qdrant's ``Modifier.IDF``).

The score of a document for a query is ``sum over query terms t: q_t * idf(t) * w(t, d)`` with

- ``w(t, d) = tf / (tf + k1 * (1 - b + b * dl / avgdl))``, computed here (Lucene's BM25 without the constant
  ``k1 + 1`` factor, exactly what bm25s' ``lucene`` method scores), from :func:`medcore.analysis.tokenize`, the same
  analyzer as the local BM25 index;
- ``idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5))``, computed by the engine over its live points (Lucene's and
  bm25s' formula);
- ``q_t`` the number of times ``t`` occurs in the query (bm25s counts repeated query terms too).

Terms become 32-bit ids by hashing (blake2b); two terms sharing an id would be scored as one (about one pair
per 100k distinct terms squared over 2^33: none expected for NFCorpus' ~30k terms, a few rare ones at PubMed scale).
"""

from __future__ import annotations

import functools
import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from medcore.analysis import tokenize


@functools.lru_cache(maxsize=1 << 20)
def term_id(term: str) -> int:
    """A stable unsigned 32-bit id for an analysed term."""
    return int.from_bytes(hashlib.blake2b(term.encode("utf-8"), digest_size=4).digest(), "little")


@dataclass(frozen=True)
class SparseDoc:
    """One document's analysed terms: ``counts`` ``{term_id: tf}`` and its length in terms."""

    counts: dict[int, int]
    length: int


def analyse(texts: Sequence[str]) -> list[SparseDoc]:
    """Term counts and lengths of ``texts`` under the BM25 analyzer."""
    out = []
    for tokens in tokenize(texts):
        counts = Counter(term_id(t) for t in tokens)
        out.append(SparseDoc(dict(counts), len(tokens)))
    return out


def doc_weights(doc: SparseDoc, k1: float, b: float, avgdl: float) -> tuple[list[int], list[float]]:
    """``(indices, values)``: the BM25 term weights ``w(t, d)`` of one document (IDF left to the engine)."""
    norm = k1 * (1 - b + b * doc.length / avgdl) if avgdl > 0 else k1
    indices = sorted(doc.counts)
    return indices, [doc.counts[t] / (doc.counts[t] + norm) for t in indices]


def query_weights(queries: Sequence[str]) -> list[tuple[list[int], list[float]]]:
    """Each query's ``(indices, values)``: term ids and how often each occurs in the query."""
    return [(sorted(d.counts), [float(d.counts[t]) for t in sorted(d.counts)]) for d in analyse(queries)]
