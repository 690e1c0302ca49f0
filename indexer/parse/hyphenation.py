"""Undo end-of-line hyphenation when joining the lines of extracted text, keeping real hyphenated compounds.

Used by :mod:`indexer.parse.pdf` for body text and by :mod:`indexer.parse.pdf_metadata` for multi-line titles;
``join_hyphenated`` is re-exported from :mod:`indexer.parse.pdf`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable

# Words that start or end hyphenated compounds far more often than they are halves of a broken word.
_COMPOUND_HEADS = frozenset("two three four five six well long short high low newly self".split())
_COMPOUND_TAILS = frozenset(
    "based related induced dependent associated mediated specific term limited free like positive negative resistant "
    "sensitive derived treated matched controlled adjusted blind group center centre thirds diagnosed power year "
    "old risk label dose onset guided linked containing".split()
)


def join_hyphenated(left: str, right: str, words: Collection[str] = frozenset()) -> str:
    """Join two consecutive lines of one paragraph, undoing end-of-line hyphenation.

    "treat-" + "ment" gives "treatment". The hyphen stays when the next line starts with an uppercase letter or
    a digit ("COVID-" + "19"), when it follows a digit, an uppercase or a single letter ("38-" + "week",
    "β-" + "catenin"), for common compound parts ("two-", "-related", "-term"), and when ``words`` lacks the
    joined form but holds the hyphenated one ({"high-risk"}) or both halves of four letters or more
    ({"parallel", "group"} -> "parallel-group").

    Args:
        left: The earlier line.
        right: The line after it.
        words: Casefolded words seen unbroken in the same document, hyphenated compounds included.

    Returns:
        The two lines as one string.
    """
    left, right = left.rstrip(), right.lstrip()
    if not left or not right:
        return left or right
    if left[-1] == "\u00ad":  # soft hyphen: always a word break
        return left[:-1] + right
    if left[-1] in "\u2013\u2014/" or (left[-1] in "-\u2010" and len(left) > 1 and not left[-2].isspace()):
        if left[-1] in "-\u2010" and _is_word_break(left[:-1], right, words):
            return left[:-1] + right
        return left + right
    return f"{left} {right}"


def vocabulary(lines: Iterable[str]) -> set[str]:
    """Casefolded words and hyphenated compounds of a document, leaving out the halves of words broken at line ends.

    Args:
        lines: The document's text lines in reading order.

    Returns:
        The ``words`` to hand to :func:`join_hyphenated`, e.g. ``{"high-risk", "treatment", ...}``.
    """
    words: set[str] = set()
    broken = False
    for line in lines:
        tokens = re.findall(r"[^\W\d_]+(?:-[^\W\d_]+)*-?", line.casefold())
        if broken and tokens:
            tokens = tokens[1:]
        broken = line.endswith("-")
        words.update(token for token in tokens if not token.endswith("-"))
    return words


def _is_word_break(head_line: str, right: str, words: Collection[str]) -> bool:
    """Whether a hyphen between ``head_line`` and ``right`` splits a single word."""
    if not (head_line[-1].isalpha() and head_line[-1].islower() and right[0].isalpha() and right[0].islower()):
        return False
    head = re.search(r"[^\W\d_]+$", head_line)
    tail = re.match(r"[^\W\d_]+", right)
    if head is None or tail is None:
        return True
    head_word, tail_word = head.group().casefold(), tail.group().casefold()
    if head_word + tail_word in words:
        return True
    return not (
        len(head_word) == 1  # "β-" + "catenin", "p-" + "value"
        or head_word in _COMPOUND_HEADS
        or tail_word in _COMPOUND_TAILS
        or f"{head_word}-{tail_word}" in words
        or (len(head_word) > 3 and len(tail_word) > 3 and {head_word, tail_word} <= words)
    )
