"""The BM25 text analysis, defined once: lower-cased word tokens, English stopwords out, Snowball stemming.

The local BM25 index, Qdrant's sparse vectors, negative mining in the trainer and the query-term highlighting of
the app all analyse text here, so a word matches the same way everywhere.
"""

from __future__ import annotations

import functools
import logging
import unicodedata
from collections.abc import Callable, Sequence


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
