"""The key sentence of a passage: the one closest to the query in the same embedding space the search uses.

Where the dense index holds sentence vectors made at index time (:mod:`indexer.index.sentence_vectors`), marking is
a lookup and a dot product with the query vector the search already computed (:func:`mark_indexed`); every prose
sentence of the passage competes. Otherwise (BM25 alone, an index built before them, Qdrant) sentences are embedded
at search time, bounded as follows.

Each passage is split with the chunker's own rules (:func:`indexer.text.sentences.split_sentences`). Embedding every
sentence of thirty shown passages cost about a second of CPU per search, so the work is bounded:

- only a passage's :data:`CANDIDATES` sentences sharing the most query words (stemmed, as the snippet bolds them)
  compete, so a passage of up to that many sentences is judged exactly as before;
- at most :data:`MAX_ENCODED` sentences not seen before are embedded per search, all in one batch, given to the
  passages in rank order (the top results are judged fully; past the budget a passage's sentence sharing the most
  query words is marked, if any shares one);
- sentence vectors are kept in a small LRU cache, because Streamlit runs the whole page again on every click
  (a filter, a button) and the same passages come back;
- sentences go through :meth:`indexer.encode.embedder.Embedder.encode_sentences`: the fast one-thread encoder that
  embeds queries (OpenVINO/ONNX where exported), cut to :data:`ENCODE_CHARS` characters.

"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace
from typing import TypeVar

import numpy as np

from indexer.encode.embedder import Embedder
from indexer.index.sentence_vectors import ENCODE_CHARS, MIN_CHARS, SentenceVectors
from indexer.text.sentences import prose_spans
from medcore.analysis import query_terms
from medcore.types import Hit, PaperHit

logger = logging.getLogger(__name__)
R = TypeVar("R", Hit, PaperHit)

MAX_SENTENCES = 40  # per passage; a passage is a few hundred tokens, so this only bounds pathological text
CANDIDATES = 4  # sentences of one passage that compete, those sharing the most query words
MAX_ENCODED = 48  # new sentences embedded per search; cached ones are free
CACHE_SIZE = 8192  # sentence vectors kept (384 floats each: 12 MB for MiniLM)


class _VectorCache:
    """``{(model, text): vector}`` with least-recently-used eviction; shared by the server's session threads."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> np.ndarray | None:
        with self._lock:
            vector = self._items.get(key)
            if vector is not None:
                self._items.move_to_end(key)
            return vector

    def put(self, key: tuple[str, str], vector: np.ndarray) -> None:
        with self._lock:
            self._items[key] = vector
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_CACHE = _VectorCache(CACHE_SIZE)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """The passage's sentences worth marking: ``[(start, end)]`` character spans, at most :data:`MAX_SENTENCES`."""
    spans = [(a, b) for a, b in prose_spans(text) if len(text[a:b].strip()) >= MIN_CHARS]
    return spans[:MAX_SENTENCES]


def best_sentence(query_vector: np.ndarray, sentence_vectors: np.ndarray) -> int:
    """Index of the sentence most similar to the query (vectors are L2-normalised, so the dot product is the
    cosine). ``query_vector`` ``(dim,)``, ``sentence_vectors`` ``(n_sentences, dim)``, n >= 1."""
    return int(np.argmax(sentence_vectors @ query_vector))


def candidates(text: str, spans: Sequence[tuple[int, int]], terms: set[str],
               limit: int = CANDIDATES) -> list[tuple[int, int]]:
    """``[(span index, shared query words)]`` of the ``limit`` sentences sharing the most query words, ties (and
    sentences sharing none) in reading order. Example: terms ``{"bite"}`` over "A. The bite. C." -> ``[(1, 1), (0, 0),
    (2, 0)]``."""
    overlap = [len(terms & query_terms(text[a:b])) for a, b in spans]
    order = sorted(range(len(spans)), key=lambda i: (-overlap[i], i))[:limit]
    return [(i, overlap[i]) for i in order]


def mark_hits(embedder: Embedder, query: str, hits: Sequence[Hit], max_encoded: int = MAX_ENCODED) -> list[Hit]:
    """``hits`` with ``key_sentence`` set (left None for a passage of one sentence or none worth marking).

    Args:
        embedder: the model that judges sentences (the search's own).
        query: the user's query.
        hits: the shown passages, best first (earlier ones get the encoding budget first).
        max_encoded: sentences not in the cache embedded at most, for all ``hits`` together.
    """
    terms = query_terms(query)
    spans = [sentence_spans(h.text) for h in hits]
    pools = [candidates(h.text, s, terms) if len(s) > 1 else [] for h, s in zip(hits, spans, strict=True)]
    model = embedder.spec.name
    texts = {(p, i): _encode_text(hits[p].text, spans[p][i]) for p, pool in enumerate(pools) for i, _ in pool}
    vectors = {text: v for text in set(texts.values()) if (v := _CACHE.get((model, text))) is not None}
    chosen: list[list[int]] = [[] for _ in hits]
    new: dict[str, None] = {}  # texts to embed, in order, each once (passages of one paper repeat its title)
    for p, pool in enumerate(pools):  # best passage first: the top results are judged fully while budget lasts
        for i, _ in pool:
            text = texts[(p, i)]
            if text not in vectors and text not in new:
                if len(new) >= max_encoded:
                    continue
                new[text] = None
            chosen[p].append(i)
        if not chosen[p] and pool:
            chosen[p].append(pool[0][0])  # budget spent: the sentence sharing most query words, if any, unembedded
    if new:
        encoded = embedder.encode_sentences(list(new))  # (n_new, dim)
        for text, vector in zip(new, encoded, strict=True):
            vectors[text] = vector
            _CACHE.put((model, text), vector)
    logger.debug("Key sentences: %d candidates, %d embedded", sum(map(len, chosen)), len(new))
    query_vector = embedder.encode_queries([query])[0] if any(len(c) > 1 for c in chosen) else None  # (dim,)
    out = []
    for p, hit in enumerate(hits):
        key = _pick(chosen[p], dict(pools[p]), [vectors.get(texts[(p, i)]) for i in chosen[p]], query_vector)
        out.append(hit if key is None else replace(hit, key_sentence=spans[p][key]))
    return out


def _encode_text(text: str, span: tuple[int, int]) -> str:
    return text[span[0] : min(span[1], span[0] + ENCODE_CHARS)]


def _pick(chosen: list[int], overlap: dict[int, int], vectors: list[np.ndarray | None],
          query_vector: np.ndarray | None) -> int | None:
    """The span index to mark among ``chosen``: the closest to the query, or a lone candidate sharing a word."""
    if len(chosen) == 1:
        return chosen[0] if overlap[chosen[0]] > 0 else None
    if not chosen or query_vector is None:
        return None
    return chosen[best_sentence(query_vector, np.stack(vectors))]  # type: ignore[arg-type]


def mark_papers(embedder: Embedder, query: str, papers: Sequence[PaperHit],
                max_encoded: int = MAX_ENCODED) -> list[PaperHit]:
    """Every passage of every paper marked, in one batch: the papers' first passages get the encoding budget
    first, then their second ones, and so on (see :func:`mark_hits`)."""
    order = sorted(((j, i) for i, p in enumerate(papers) for j in range(len(p.passages))))
    flat = mark_hits(embedder, query, [papers[i].passages[j] for j, i in order], max_encoded)
    passages: list[list[Hit]] = [list(p.passages) for p in papers]
    for (j, i), hit in zip(order, flat, strict=True):
        passages[i][j] = hit
    return [replace(paper, passages=tuple(passages[i])) for i, paper in enumerate(papers)]


def clear_cache() -> None:
    """Forget cached sentence vectors (tests; a model replaced under the same name)."""
    _CACHE.clear()


def mark_indexed(sentences: SentenceVectors, query_vector: np.ndarray, hits: Sequence[Hit]) -> list[Hit]:
    """``hits`` with ``key_sentence`` set from the index's sentence vectors: of the passage's prose sentences
    (:func:`sentence_spans`) that have a vector, the one closest to the query; None for a passage with fewer than
    two (nothing to single out)."""
    out = []
    for hit in hits:
        spans, vectors = sentences.lookup(hit.chunk_id)
        wanted = set(sentence_spans(hit.text))
        rows = [i for i, span in enumerate(spans) if span in wanted]
        key = spans[rows[best_sentence(query_vector, vectors[rows])]] if len(rows) > 1 else None
        out.append(hit if key is None else replace(hit, key_sentence=key))
    return out
