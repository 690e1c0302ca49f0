"""Rule-based sentence splitting for chunking: character spans of sentences, no models and no downloads."""

from __future__ import annotations

import re
from collections.abc import Iterator

_PARAGRAPH_BREAK = re.compile(r"\n[^\S\n]*\n\s*")
# Anchored at the start of a punctuation run and possessive: a run of 30,000 periods is tried once, not once per
# period (which made splitting quadratic, seconds per page).
_TERMINATOR = re.compile(r"(?<![.?!])[.?!]++[\"'\u201d\u2019\u00bb)\]}]*+(?=\s)")
_SPACE = re.compile(r"\s*")
_OPENERS = frozenset("([{\"'\u201c\u2018\u00ab")
_DOTTED = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]")  # e.g, i.e, U.S, a.m (the final period is the terminator)
_ENUM_LABEL = re.compile(r"[(\[]?(?:\d{1,3}|[ivxIVX]{1,4}|[A-Za-z])[)\]]?")  # "1." / "(a)." / "IV." list labels
_BRACKET_LOOKAHEAD = 200

#: Words that end with a period but rarely end a sentence; matched as written or lower-cased.
_ABBREVIATIONS = frozenset(
    "al fig figs eq eqs vs approx cf resp incl ref refs tab tabs suppl vol vols pp ca sp spp var viz "
    "ed eds dept univ inst".split()
)
#: Abbreviations matched only capitalised ("no." and "st." can end a sentence in lower case).
_CAPITALISED_ABBREVIATIONS = frozenset("No Nos St Dr Drs Mr Mrs Ms Prof Jr Sr".split())
#: Words after which a single capital letter is a label that may end a sentence ("vitamin D. Patients ...").
_LETTER_LABEL_WORDS = frozenset(
    "vitamin type group phase hepatitis class grade stage arm cohort figure table appendix section "
    "protein complex factor site region domain panel influenza".split()
)


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of ``text``, found by rules (no models, no downloads).

    A sentence ends after ``.``, ``?`` or ``!`` (with any closing quotes or brackets) when whitespace and an
    upper-case letter, a digit or an opening bracket follow, and always at a paragraph break (a blank line).
    Periods after common abbreviations (``e.g.``, ``et al.``, ``Fig.``, ``vs.``, ...), after initials
    (``J. Smith``), after list labels (``1.``) and inside an open bracket that closes soon after do not end one.

    Args:
        text: any text.

    Returns:
        ``[(start, end), ...]`` in order, each ``text[start:end]`` stripped and non-empty; only whitespace
        lies between consecutive spans, e.g. ``split_sentences("A b. C d.") == [(0, 4), (5, 9)]``.
    """
    spans: list[tuple[int, int]] = []
    for start, end in _paragraphs(text):
        spans.extend(_split_paragraph(text, start, end))
    return spans


def trim_span(text: str, start: int, end: int) -> tuple[int, int] | None:
    """``(start, end)`` narrowed to exclude surrounding whitespace, or None when only whitespace is left.

    Args:
        text: The text the span indexes.
        start: Start offset of the span in ``text``.
        end: End offset (exclusive).

    Returns:
        The trimmed span, e.g. ``trim_span(" ab ", 0, 4) == (1, 3)``; ``None`` for an all-whitespace span.
    """
    return next(_stripped(text, start, end), None)


def _paragraphs(text: str) -> Iterator[tuple[int, int]]:
    """Stripped spans of the paragraphs of ``text`` (runs of text between blank lines)."""
    start = 0
    for match in _PARAGRAPH_BREAK.finditer(text):
        yield from _stripped(text, start, match.start())
        start = match.end()
    yield from _stripped(text, start, len(text))


def _stripped(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """``(start, end)`` without surrounding whitespace, yielded once; nothing for an all-whitespace span."""
    start = _SPACE.match(text, start, end).end()  # type: ignore[union-attr]
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        yield start, end


def _split_paragraph(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Sentence spans of the paragraph ``text[start:end]``.

    The bracket depth of the sentence so far is kept as it grows, so each character is counted once (a paragraph
    of 30,000 unsplit initials stays linear).
    """
    depth, counted = 0, start
    for match in _TERMINATOR.finditer(text, start, end):
        following = _SPACE.match(text, match.end(), end).end()  # type: ignore[union-attr]
        if following >= end:
            break
        depth += _bracket_depth(text, counted, match.end())
        counted = match.end()
        if _ends_sentence(text, start, match, following, end, depth):
            yield start, match.end()
            start, depth, counted = following, 0, following
    yield from _stripped(text, start, end)


def _bracket_depth(text: str, start: int, end: int) -> int:
    """Opening minus closing round and square brackets in ``text[start:end]``."""
    piece = text[start:end]
    return piece.count("(") - piece.count(")") + piece.count("[") - piece.count("]")


def _ends_sentence(text: str, start: int, match: re.Match[str], following: int, para_end: int, depth: int) -> bool:
    """Whether the terminator ``match`` ends the sentence that began at ``start`` (``depth``: its open brackets)."""
    nxt = text[following]
    if not (nxt.isupper() or nxt.isdigit() or nxt in _OPENERS):
        return False
    if depth > 0 and _closes_soon(text, match.end(), para_end):
        return False
    if match.group().rstrip("\"'\u201d\u2019\u00bb)]}") != ".":
        return True
    word_start = match.start()
    while word_start > start and not text[word_start - 1].isspace():
        word_start -= 1
    word = text[word_start : match.start()].lstrip("([{\"'\u201c\u2018\u00ab")
    if word.lower() in _ABBREVIATIONS or word in _CAPITALISED_ABBREVIATIONS or _DOTTED.fullmatch(word):
        return False
    if word_start == start and _ENUM_LABEL.fullmatch(text[start : match.start()]):
        return False
    if len(word) == 1 and word.isupper():
        return _previous_word(text, start, word_start).lower() in _LETTER_LABEL_WORDS
    return True


def _closes_soon(text: str, end: int, para_end: int) -> bool:
    """Whether a bracket closes within the next few characters after ``end``."""
    ahead = text[end : min(end + _BRACKET_LOOKAHEAD, para_end)]
    return ")" in ahead or "]" in ahead


def _previous_word(text: str, start: int, word_start: int) -> str:
    """The word before ``word_start`` (not before the sentence ``start``), without brackets and punctuation."""
    words = text[max(start, word_start - 40) : word_start].split()
    return words[-1].strip("([{\"'\u201c\u2018,;:") if words else ""


#: Licence, copyright and submission lines PDFs repeat on their first page: never the passage a reader wants.
_BOILERPLATE = re.compile(
    r"(?i)creative commons|open[- ]access article|distributed under the terms|permits unrestricted use|"
    r"\bcopyright\b|©|all rights reserved|\blicen[cs]ed? under\b|original work is properly cited|"
    r"\b(received|accepted|published)\s+\d{1,2}\s+[a-z]+\s+\d{4}|academic editor:|correspondence should be addressed|"
    r"conflicts? of interests?|competing interests?|authors'? contributions|declare that there (is|are) no")
_CAPTION = re.compile(r"(?i)^\W*(table|figure|fig\.)\s*[0-9ivx]+\b")
_NUMBER = re.compile(r"^[(\[]?[-+<>=±~]?\d[\d.,:/%–-]*[)\]%,;]*$")


def is_prose(sentence: str) -> bool:
    """False for table debris ("Farmer 39 (21.7) 18 (46.2) ...": mostly numbers, or numbers with few words) and
    licence or copyright boilerplate; a snippet and a key sentence are chosen from prose only."""
    if _BOILERPLATE.search(sentence) or _CAPTION.match(sentence):
        return False
    tokens = sentence.split()
    if not tokens:
        return False
    numbers = sum(1 for t in tokens if _NUMBER.match(t))
    return numbers < 4 or numbers / len(tokens) < 0.4


def prose_spans(text: str) -> list[tuple[int, int]]:
    """The spans of ``text``'s sentences that are prose (:func:`is_prose`), in order."""
    return [(a, b) for a, b in split_sentences(text) if is_prose(text[a:b])]
