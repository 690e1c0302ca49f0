"""Split parsed documents into overlapping, sentence-aligned chunks sized in an embedding model's tokens.

The document text is the segments' texts joined by ``"\\n\\n"``; every chunk is an exact slice of it
(``chunk.text == joined[chunk.char_start:chunk.char_end]``). Sentences are packed greedily up to
``max_tokens``; consecutive chunks share whole trailing sentences worth about ``overlap_tokens``. A sentence
longer than ``max_tokens`` is cut at token boundaries (word starts where possible) into overlapping pieces.
Chunks may run across pages, but never across a change of section heading.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from indexer.parse.document import ParsedDocument, Segment
from indexer.text.sentences import split_sentences, trim_span
from indexer.text.tokens import TokenCounter, count_many, load_token_counter
from medcore.config import ChunkingSettings
from medcore.types import Chunk

logger = logging.getLogger(__name__)

SEGMENT_JOINER = "\n\n"

# ------------------------------------------------------------------------------------------------ chunks

#: The last sentence of a chunk may be carried into the next one when it has up to this many times the overlap.
_OVERLAP_SLACK = 1.5
#: A chunk that retokenizes over the limit is recut with windows this much smaller each try (see _fit).
_RECUT_SHRINK = 0.9


@dataclass(frozen=True, slots=True)
class _Unit:
    """A sentence, or a piece of a long one, as offsets into the joined text."""

    start: int
    end: int
    tokens: int
    section: int  # which run of same-heading segments the unit is in
    exact: bool = True  # False for a piece cut inside a word: its count may change when retokenized in context


def chunk_document(parsed: ParsedDocument, settings: ChunkingSettings) -> list[Chunk]:
    """Chunk a parsed document with the tokenizer and sizes of ``settings`` (see :func:`chunk_segments`)."""
    counter = load_token_counter(settings.tokenizer)
    return chunk_segments(parsed.segments, counter, settings.max_tokens, settings.overlap_tokens)


def chunk_segments(
    segments: Sequence[Segment], counter: TokenCounter, max_tokens: int, overlap_tokens: int
) -> list[Chunk]:
    """Cut a document's segments into sentence-aligned chunks of at most ``max_tokens`` tokens.

    Args:
        segments: the document's text in reading order; their texts joined by ``"\\n\\n"`` are the text
            that ``char_start``/``char_end`` index.
        counter: sizes sentences and chunks (``load_token_counter("minilm")`` for the default model).
        max_tokens: most tokens in a chunk, by ``counter.count``.
        overlap_tokens: about this many tokens of whole sentences are repeated at the start of the next chunk.

    Returns:
        Chunks with ``ordinal`` 0..n-1, ``id`` and ``doc_id`` 0 (the store assigns them), ``page`` the page
        where the chunk starts, and ``text == joined[char_start:char_end]``. Whitespace-only input gives ``[]``.

    Raises:
        ValueError: ``max_tokens`` < 1, or ``overlap_tokens`` not in ``[0, max_tokens)``.
    """
    if max_tokens < 1 or not 0 <= overlap_tokens < max_tokens:
        raise ValueError(
            f"Chunk sizes max_tokens={max_tokens}, overlap_tokens={overlap_tokens} are invalid; "
            "max_tokens must be >= 1 and overlap_tokens between 0 and max_tokens - 1."
        )
    joined, units = _sentence_units(segments, counter)
    groups = [
        group for section in _sections(units) for group in _pack(section, joined, counter, max_tokens, overlap_tokens)
    ]
    spans = _increasing(_enforce_limit(joined, groups, counter, max_tokens, overlap_tokens), joined)
    starts = _segment_starts(segments)
    return [
        Chunk(
            id=0,
            doc_id=0,
            ordinal=i,
            text=joined[a:b],
            page=segments[_segment_at(starts, a)].page,
            char_start=a,
            char_end=b,
        )
        for i, (a, b) in enumerate(spans)
    ]


def _increasing(spans: list[tuple[int, int]], joined: str) -> list[tuple[int, int]]:
    """Trimmed spans with strictly increasing starts and ends; one that adds nothing at the end is dropped."""
    out: list[tuple[int, int]] = []
    for span in spans:
        trimmed = trim_span(joined, *span)  # a token counter may count spaces as tokens
        if trimmed is None or (out and trimmed[1] <= out[-1][1]):
            continue
        if out and trimmed[0] <= out[-1][0]:
            out[-1] = trimmed
        else:
            out.append(trimmed)
    return out


def _segment_starts(segments: Sequence[Segment]) -> list[int]:
    starts, offset = [], 0
    for segment in segments:
        starts.append(offset)
        offset += len(segment.text) + len(SEGMENT_JOINER)
    return starts


def _segment_at(starts: list[int], offset: int) -> int:
    return bisect.bisect_right(starts, offset) - 1


def _sentence_units(segments: Sequence[Segment], counter: TokenCounter) -> tuple[str, list[_Unit]]:
    """The joined text and its sentences, each tokenized once."""
    joined = SEGMENT_JOINER.join(segment.text for segment in segments)
    located = [
        (base + a, base + b, section)
        for segment, base, section in zip(segments, _segment_starts(segments), _section_ids(segments), strict=True)
        for a, b in split_sentences(segment.text)
    ]
    counts = count_many(counter, [joined[a:b] for a, b, _ in located])
    return joined, [_Unit(a, b, n, section) for (a, b, section), n in zip(located, counts, strict=True)]


def _section_ids(segments: Sequence[Segment]) -> list[int]:
    """Per segment, a number that changes exactly where the heading changes (empty segments count too)."""
    ids: list[int] = []
    for i, segment in enumerate(segments):
        ids.append(0 if i == 0 else ids[-1] + (segment.heading != segments[i - 1].heading))
    return ids


def _sections(units: list[_Unit]) -> Iterator[list[_Unit]]:
    """Runs of consecutive units under the same heading; no chunk crosses from one run to the next."""
    run: list[_Unit] = []
    for unit in units:
        if run and unit.section != run[-1].section:
            yield run
            run = []
        run.append(unit)
    if run:
        yield run


def _pack(units: list[_Unit], joined: str, counter: TokenCounter, max_tokens: int, overlap: int) -> list[list[_Unit]]:
    """Greedy packing: each returned group is one chunk; groups overlap by trailing units of the previous one."""
    groups: list[list[_Unit]] = []
    current: list[_Unit] = []
    fresh = False  # whether ``current`` holds a unit that no group has yet
    for unit in units:
        if unit.tokens > max_tokens:
            if fresh:
                groups.append(current)
            pieces, tail = _split_long(unit, joined, counter, max_tokens, overlap)
            groups.extend([piece] for piece in pieces)
            current, fresh = ([tail] if tail else []), False
            continue
        if current and sum(u.tokens for u in current) + unit.tokens > max_tokens:
            if fresh:
                groups.append(current)
            current, fresh = _overlap(current, overlap), False
            while current and sum(u.tokens for u in current) + unit.tokens > max_tokens:
                current = current[1:]
        current.append(unit)
        fresh = True
    if fresh:
        groups.append(current)
    return groups


def _overlap(units: list[_Unit], budget: int) -> list[_Unit]:
    """Trailing whole units worth up to ``budget`` tokens (the last one may have a little more); never all."""
    kept, total = 0, 0
    for unit in reversed(units[1:]):
        limit = budget if kept else budget * _OVERLAP_SLACK
        if budget <= 0 or total + unit.tokens > limit:
            break
        kept += 1
        total += unit.tokens
    return units[len(units) - kept :] if kept else []


def _split_long(
    unit: _Unit, joined: str, counter: TokenCounter, max_tokens: int, overlap: int
) -> tuple[list[_Unit], _Unit | None]:
    """Overlapping pieces of a sentence longer than ``max_tokens``, and its last ``overlap`` tokens (or None)."""
    text = joined[unit.start : unit.end]
    spans = counter.token_spans(text)
    if not spans:
        return [unit], None
    windows = _token_windows(text, spans, max_tokens, overlap)
    pieces = [
        _Unit(
            *_window_chars(spans, i, j, unit.start, unit.end),
            j - i,
            unit.section,
            _is_word_start(text, spans, i) and _is_word_start(text, spans, j),
        )
        for i, j in windows
    ]
    n = len(spans)
    k = _word_start_after(text, spans, n - overlap, n) if overlap else n
    if k >= n or k <= windows[-1][0]:
        return pieces, None
    return pieces, _Unit(unit.start + spans[k][0], unit.end, n - k, unit.section, _is_word_start(text, spans, k))


def _window_chars(spans: list[tuple[int, int]], i: int, j: int, start: int, end: int) -> tuple[int, int]:
    """Offsets in the joined text of tokens ``[i, j)`` of ``joined[start:end]``.

    The first window starts at ``start`` and each other runs on to the next token, so characters that the
    tokenizer drops (control characters) are kept in some chunk too.
    """
    first = start + spans[i][0] if i > 0 else start
    last = start + max(spans[j - 1][1], spans[j][0]) if j < len(spans) else end
    return first, last


def _token_windows(text: str, spans: list[tuple[int, int]], max_tokens: int, overlap: int) -> list[tuple[int, int]]:
    """Token index ranges ``[(i, j), ...]`` of at most ``max_tokens``, cut at word starts where possible."""
    n, i = len(spans), 0
    windows: list[tuple[int, int]] = []
    while True:
        j = min(i + max_tokens, n)
        if j < n:
            j = _word_start_before(text, spans, j, i + max(1, max_tokens // 2))
        windows.append((i, j))
        if j >= n:
            return windows
        i = max(i + 1, _word_start_after(text, spans, j - overlap, j)) if overlap else j


def _is_word_start(text: str, spans: list[tuple[int, int]], k: int) -> bool:
    """Whether cutting before token ``k`` keeps words whole (so the pieces retokenize the same)."""
    if k <= 0 or k >= len(spans):
        return True
    start, end = spans[k]
    prev_end = spans[k - 1][1]
    if start >= end or prev_end <= 0:
        return False
    return start > prev_end or not (text[start].isalnum() and text[prev_end - 1].isalnum())


def _word_start_before(text: str, spans: list[tuple[int, int]], j: int, floor: int) -> int:
    return next((k for k in range(j, floor - 1, -1) if _is_word_start(text, spans, k)), j)


def _word_start_after(text: str, spans: list[tuple[int, int]], k: int, limit: int) -> int:
    return next((m for m in range(max(k, 0), limit + 1) if _is_word_start(text, spans, m)), limit)


def _enforce_limit(
    joined: str, groups: list[list[_Unit]], counter: TokenCounter, max_tokens: int, overlap: int
) -> list[tuple[int, int]]:
    """Chunk spans, each within ``max_tokens`` when tokenized as a whole.

    Summed sentence counts are exact for an ``additive`` counter and whole-word pieces; any other chunk is
    recounted, and the rare one that tokenizes longer than its parts did is recut.
    """
    additive = getattr(counter, "additive", False)
    spans = [(group[0].start, group[-1].end) for group in groups]
    doubtful = [i for i, group in enumerate(groups) if not (additive and all(unit.exact for unit in group))]
    counts = count_many(counter, [joined[spans[i][0] : spans[i][1]] for i in doubtful])
    too_long = {i for i, n in zip(doubtful, counts, strict=True) if n > max_tokens}
    out: list[tuple[int, int]] = []
    for i, (a, b) in enumerate(spans):
        out.extend(_fit(joined, a, b, counter, max_tokens, overlap) if i in too_long else [(a, b)])
    return out


def _fit(joined: str, a: int, b: int, counter: TokenCounter, max_tokens: int, overlap: int) -> list[tuple[int, int]]:
    text = joined[a:b]
    spans = counter.token_spans(text)
    if not spans:
        return [(a, b)]
    limit = max_tokens
    while True:
        windows = _token_windows(text, spans, limit, overlap if overlap < limit else 0)
        pieces = [_window_chars(spans, i, j, a, b) for i, j in windows]
        if limit == 1 or all(n <= max_tokens for n in count_many(counter, [joined[s:e] for s, e in pieces])):
            logger.debug("Recut a chunk of %d characters into %d pieces of <= %d tokens", b - a, len(pieces), limit)
            return pieces
        limit = max(1, int(limit * _RECUT_SHRINK))
