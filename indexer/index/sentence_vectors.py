"""Sentence vectors of every indexed chunk, made at index time so that marking a passage's key sentence at search
time costs a lookup and a dot product instead of embedding sentences while the user waits.

Stored as ``sentences.npz`` in the dense index's version folder (so a rebuild, a model change and the ``CURRENT``
switch carry them along with the chunk vectors): per sentence its chunk id, its ``(start, end)`` in the chunk's text
and its vector (float16: a key sentence is an argmax, which half precision does not change in practice, and the file
is half the size). Sentences are the chunker's own (:func:`indexer.text.sentences.split_sentences`), those of at
least :data:`MIN_CHARS` characters, embedded by their first :data:`ENCODE_CHARS` characters as passages.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from indexer.text.sentences import split_sentences

if TYPE_CHECKING:
    from indexer.encode.embedder import Embedder
    from store import Store

logger = logging.getLogger(__name__)

SENTENCES_FILE = "sentences.npz"
MIN_CHARS = 25  # shorter pieces (headings, "Table 2.", numbers) are never the sentence that answers a query
MAX_PER_CHUNK = 60  # a chunk is a few hundred tokens; this only bounds pathological text
ENCODE_CHARS = 300  # a longer "sentence" (a table row run, no full stops) is embedded by its start only


def chunk_sentences(text: str) -> list[tuple[int, int]]:
    """The ``(start, end)`` spans of ``text``'s sentences that get a vector."""
    return [(a, b) for a, b in split_sentences(text) if len(text[a:b].strip()) >= MIN_CHARS][:MAX_PER_CHUNK]


def encode_text(text: str, span: tuple[int, int]) -> str:
    """What is embedded for the sentence at ``span``: its first :data:`ENCODE_CHARS` characters."""
    return text[span[0] : min(span[1], span[0] + ENCODE_CHARS)]


class SentenceVectors:
    """``chunk_ids`` ``(n,)`` int64 sorted, ``spans`` ``(n, 2)`` int32, ``vectors`` ``(n, dim)`` float16."""

    def __init__(self, chunk_ids: np.ndarray, spans: np.ndarray, vectors: np.ndarray) -> None:
        order = np.argsort(chunk_ids, kind="stable")
        self.chunk_ids = np.asarray(chunk_ids, dtype=np.int64)[order]
        self.spans = np.asarray(spans, dtype=np.int32).reshape(-1, 2)[order]
        self.vectors = np.asarray(vectors, dtype=np.float16)[order]

    def __len__(self) -> int:
        return len(self.chunk_ids)

    @classmethod
    def empty(cls, dimension: int) -> SentenceVectors:
        return cls(np.zeros(0, np.int64), np.zeros((0, 2), np.int32), np.zeros((0, dimension), np.float16))

    @classmethod
    def encode(cls, store: Store, embedder: Embedder, ids: Iterable[int]) -> SentenceVectors:
        """Split and embed the sentences of the chunks ``ids`` (their text as stored, without the title)."""
        owners, spans, texts = [], [], []
        for batch in store.iter_index_texts([int(i) for i in ids]):
            for chunk_id, text, _ in batch:
                for span in chunk_sentences(text):
                    owners.append(chunk_id)
                    spans.append(span)
                    texts.append(encode_text(text, span))
        vectors = embedder.encode_passages(texts, show_progress_bar=False) if texts else np.zeros(
            (0, embedder.dimension), np.float32)
        logger.info("Embedded %d sentences for key-sentence marking", len(texts))
        return cls(np.asarray(owners, np.int64), np.asarray(spans, np.int32).reshape(-1, 2), vectors)

    def without(self, ids: np.ndarray) -> SentenceVectors:
        keep = ~np.isin(self.chunk_ids, ids)
        return SentenceVectors(self.chunk_ids[keep], self.spans[keep], self.vectors[keep])

    def merged(self, other: SentenceVectors) -> SentenceVectors:
        return SentenceVectors(np.concatenate([self.chunk_ids, other.chunk_ids]),
                               np.concatenate([self.spans, other.spans]),
                               np.concatenate([self.vectors, other.vectors.astype(np.float16)]))

    def lookup(self, chunk_id: int) -> tuple[list[tuple[int, int]], np.ndarray]:
        """The chunk's sentence spans and their vectors ``(n, dim)`` float32 (empty when it has none)."""
        lo, hi = np.searchsorted(self.chunk_ids, [chunk_id, chunk_id + 1])
        return [tuple(map(int, s)) for s in self.spans[lo:hi]], self.vectors[lo:hi].astype(np.float32)

    def save(self, directory: Path) -> None:
        np.savez(directory / SENTENCES_FILE, chunk_ids=self.chunk_ids, spans=self.spans, vectors=self.vectors)

    @classmethod
    def load(cls, directory: Path) -> SentenceVectors | None:
        """The version folder's sentence vectors, or None for an index built without them."""
        path = directory / SENTENCES_FILE
        if not path.is_file():
            return None
        with np.load(path) as data:
            return cls(data["chunk_ids"], data["spans"], data["vectors"])
