"""The key sentence of a passage: the one closest to the query in the same embedding space the search uses.

Each passage is split with the chunker's own rules (:func:`indexer.text.sentences.split_sentences`); all sentences of
all shown passages are encoded in one batch, so marking ten passages costs one model call, not ten.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from indexer.encode.embedder import Embedder
from indexer.text.sentences import split_sentences
from medcore.types import Hit, PaperHit

logger = logging.getLogger(__name__)

MIN_CHARS = 25  # shorter pieces (headings, "Table 2.", numbers) are never the sentence that answers a query
MAX_SENTENCES = 40  # per passage; a passage is a few hundred tokens, so this only bounds pathological text


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """The passage's sentences worth marking: ``[(start, end)]`` character spans, at most :data:`MAX_SENTENCES`."""
    spans = [(a, b) for a, b in split_sentences(text) if len(text[a:b].strip()) >= MIN_CHARS]
    return spans[:MAX_SENTENCES]


def best_sentence(query_vector: np.ndarray, sentence_vectors: np.ndarray) -> int:
    """Index of the sentence most similar to the query (vectors are L2-normalised, so the dot product is the
    cosine). ``query_vector`` ``(dim,)``, ``sentence_vectors`` ``(n_sentences, dim)``, n >= 1."""
    return int(np.argmax(sentence_vectors @ query_vector))


def mark_hits(embedder: Embedder, query: str, hits: Sequence[Hit]) -> list[Hit]:
    """``hits`` with ``key_sentence`` set (left None for a passage of one sentence or none worth marking)."""
    spans = [sentence_spans(h.text) for h in hits]
    texts = [h.text[a:b] for h, s in zip(hits, spans, strict=True) if len(s) > 1 for a, b in s]
    if not texts:
        return list(hits)
    query_vector = embedder.encode_queries([query])[0]  # (dim,)
    vectors = embedder.encode_passages(texts, show_progress_bar=False)  # (n_sentences, dim)
    out, at = [], 0
    for hit, hit_spans in zip(hits, spans, strict=True):
        if len(hit_spans) <= 1:
            out.append(hit)
            continue
        best = best_sentence(query_vector, vectors[at : at + len(hit_spans)])
        out.append(replace(hit, key_sentence=hit_spans[best]))
        at += len(hit_spans)
    return out


def mark_papers(embedder: Embedder, query: str, papers: Sequence[PaperHit]) -> list[PaperHit]:
    """Every passage of every paper marked, in one batch."""
    flat = mark_hits(embedder, query, [h for p in papers for h in p.passages])
    out, at = [], 0
    for paper in papers:
        n = len(paper.passages)
        out.append(replace(paper, passages=tuple(flat[at : at + n])))
        at += n
    return out
