"""indexer.text.sentences: the sentence splitter and the span trimming the chunker uses."""

from __future__ import annotations

import pytest

from indexer.text.sentences import split_sentences, trim_span


def test_split_sentences_gives_sentence_spans() -> None:
    assert split_sentences("A b. C d.") == [(0, 4), (5, 9)]


@pytest.mark.parametrize(
    ("text", "start", "end", "expected"),
    [(" ab ", 0, 4, (1, 3)), ("ab", 0, 2, (0, 2)), ("a \n\n b", 1, 5, None), ("x  y", 1, 4, (3, 4)), ("", 0, 0, None)],
)
def test_trim_span(text: str, start: int, end: int, expected: tuple[int, int] | None) -> None:
    assert trim_span(text, start, end) == expected
