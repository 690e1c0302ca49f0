"""The BM25 text analysis, defined once: lower-cased word tokens, English stopwords out, Snowball stemming.

The local BM25 index, Qdrant's sparse vectors, negative mining in the trainer and the query-term highlighting of
the app all analyse text here, so a word matches the same way everywhere.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from collections.abc import Callable, Sequence

#: BM25's parameters, tuned on NFCorpus dev (BENCHMARKS.md): the settings' defaults (``index.bm25_k1``,
#: ``index.bm25_b``), the index's and the trainer's negative miner's.
BM25_K1 = 1.5
BM25_B = 0.4


@functools.lru_cache(maxsize=1)
def _stem_word() -> Callable[[str], str]:
    import Stemmer

    return Stemmer.Stemmer("english").stemWord


@functools.lru_cache(maxsize=1)
def _stemmer():  # noqa: ANN202 - a Stemmer.Stemmer
    import Stemmer

    return Stemmer.Stemmer("english")


def bm25s_module():  # noqa: ANN201 - the bm25s module
    """``bm25s``, imported on first use with its logger quietened (bm25s sets it to DEBUG on import)."""
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Each text's terms, the same analysis for passages and queries: ``["Statins cause myopathy"]`` gives
    ``[["statin", "caus", "myopathi"]]``."""
    return bm25s_module().tokenize(
        list(texts), stopwords="en", stemmer=_stemmer(), return_ids=False, show_progress=False, allow_empty=True
    )


def stem(word: str) -> str:
    """One word's term (NFKC-normalised, lower-cased, stemmed): ``"Bites"`` gives ``"bite"``."""
    return _stem_word()(unicodedata.normalize("NFKC", word).lower())


#: A word as the app highlights and matches it in a passage (letters and digits, any script).
WORD = re.compile(r"\w+", re.UNICODE)
#: Query words not worth highlighting or matching a key sentence on (a short list: BM25 uses bm25s's own).
HIGHLIGHT_STOPWORDS = frozenset(
    "a an and are as at be by for from has have how in is it its of on or that the this to was were what when "
    "which who why with does do can should than into about after before over under".split()
)


def query_terms(query: str) -> set[str]:
    """Stems of the query's words that are worth highlighting (no stopwords, no single letters)."""
    words = (w.lower() for w in WORD.findall(query))
    return {stem(w) for w in words if len(w) > 1 and w not in HIGHLIGHT_STOPWORDS}
