"""Sentence splitting, token counting and chunking: cases with the real MiniLM tokenizer, properties with a fake."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexer.parse.document import ParsedDocument, Segment
from indexer.text.chunking import chunk_document, chunk_segments
from indexer.text.sentences import split_sentences
from indexer.text.tokens import HFTokenCounter, TokenCounter, load_token_counter
from medcore.config import ChunkingSettings
from medcore.errors import ModelUnavailableError
from medcore.types import Chunk
from tests.fakes import WhitespaceTokenCounter


@pytest.fixture(scope="session")
def minilm_counter() -> TokenCounter:
    return load_token_counter("minilm")


def sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in split_sentences(text)]


def joined_text(segments: list[Segment]) -> str:
    return "\n\n".join(segment.text for segment in segments)


def segment_index_at(segments: list[Segment], offset: int) -> int:
    start = 0
    for i, segment in enumerate(segments):
        end = start + len(segment.text)
        if offset < end + 2:
            return i
        start = end + 2
    raise AssertionError(f"offset {offset} is past the joined text")


def assert_well_formed(chunks: list[Chunk], segments: list[Segment], counter: TokenCounter, max_tokens: int) -> None:
    joined = joined_text(segments)
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert chunk.id == 0 and chunk.doc_id == 0
        assert chunk.char_start is not None and chunk.char_end is not None
        assert chunk.text == joined[chunk.char_start : chunk.char_end]
        assert chunk.text.strip() == chunk.text and chunk.text
        assert counter.count(chunk.text) <= max_tokens
        assert chunk.page == segments[segment_index_at(segments, chunk.char_start)].page
    for before, after in zip(chunks, chunks[1:], strict=False):
        assert before.char_start < after.char_start  # type: ignore[operator]
        assert before.char_end < after.char_end  # type: ignore[operator]


def assert_covers(chunks: list[Chunk], text: str) -> None:
    covered = [False] * len(text)
    for chunk in chunks:
        covered[chunk.char_start : chunk.char_end] = [True] * (chunk.char_end - chunk.char_start)  # type: ignore[operator]
    lost = [i for i, ch in enumerate(text) if not ch.isspace() and not covered[i]]
    assert not lost, f"text lost at {lost[:5]}: {text[lost[0] : lost[0] + 20]!r}"


# ----------------------------------------------------------------------------------------- sentence splitting


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("We gave e.g. aspirin. Pain fell.", ["We gave e.g. aspirin.", "Pain fell."]),
        ("Use i.e. Drug A. It worked.", ["Use i.e. Drug A. It worked."]),
        (
            "As shown by Smith et al. (2020) the effect was large. Next one.",
            ["As shown by Smith et al. (2020) the effect was large.", "Next one."],
        ),
        ("Smith et al. Reported it first.", ["Smith et al. Reported it first."]),
        (
            "See Fig. 2 and Figs. 3-4. Then Eq. 5 vs. Eq. 6 gave approx. 5 units. Dr. House agreed.",
            ["See Fig. 2 and Figs. 3-4.", "Then Eq. 5 vs. Eq. 6 gave approx. 5 units.", "Dr. House agreed."],
        ),
        ("No. 7 and cf. Ref. 3, Tab. 2, Suppl. 1. Done.", ["No. 7 and cf. Ref. 3, Tab. 2, Suppl. 1.", "Done."]),
        ("The answer was no. The end.", ["The answer was no.", "The end."]),
        ("The p-value was 0.05. Then p = .03 held. Done!", ["The p-value was 0.05.", "Then p = .03 held.", "Done!"]),
        ("It rose 2.5-fold. 12 patients died.", ["It rose 2.5-fold.", "12 patients died."]),
        ("J. Smith and A. B. Jones wrote it. They agree.", ["J. Smith and A. B. Jones wrote it.", "They agree."]),
        ("We measured vitamin D. Levels were low.", ["We measured vitamin D.", "Levels were low."]),
        ("Is this true? Yes! Really.", ["Is this true?", "Yes!", "Really."]),
        ("Why? (Nobody knows.) Fine.", ["Why?", "(Nobody knows.)", "Fine."]),
        ('He said "It works." She agreed.', ['He said "It works."', "She agreed."]),
        (
            "Adults (n = 12. Range 3-4) improved. Others did not.",
            ["Adults (n = 12. Range 3-4) improved.", "Others did not."],
        ),
        ("Adults (n = 12.) Children were excluded.", ["Adults (n = 12.)", "Children were excluded."]),
        ("lower case after. a period does not split.", ["lower case after. a period does not split."]),
        ("1. Introduction\n\nText here", ["1. Introduction", "Text here"]),
        ("First para\n\nSecond para\n \n\nThird.", ["First para", "Second para", "Third."]),
        ("Line one\nline two. Next.", ["Line one\nline two.", "Next."]),
        ("  \n\n ", []),
        ("", []),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


def test_split_sentences_returns_stripped_spans_with_only_whitespace_between() -> None:
    text = "  Alpha beta. Gamma delta?\n\n Epsilon.  "
    spans = split_sentences(text)
    assert spans == [(2, 13), (14, 26), (29, 37)]
    assert all(text[b:c].isspace() for (_, b), (c, _) in zip(spans, spans[1:], strict=False))


@given(st.text(alphabet=st.sampled_from(list("aB1 .?!()\"'\n\t")), max_size=200))
def test_split_sentences_covers_all_text(text: str) -> None:
    spans = split_sentences(text)
    position = 0
    for start, end in spans:
        assert position <= start < end
        assert text[position:start].strip() == ""
        assert text[start:end] == text[start:end].strip()
        position = end
    assert text[position:].strip() == ""


# ------------------------------------------------------------------------------------------ token counting


def test_whitespace_counter() -> None:
    counter = WhitespaceTokenCounter()
    assert counter.count(" a bb\n c ") == 3
    assert counter.token_spans(" a bb\n c ") == [(1, 2), (3, 5), (7, 8)]
    assert isinstance(counter, TokenCounter)


def test_minilm_counter_offsets_and_no_truncation(minilm_counter: TokenCounter) -> None:
    text = "Hydroxychloroquine lowered IL-6."
    spans = minilm_counter.token_spans(text)
    assert minilm_counter.count(text) == len(spans) > 4  # no [CLS]/[SEP]
    assert text[spans[0][0] : spans[-1][1]] == text
    long_text = "word " * 600  # the packaged tokenizer.json truncates at 128; the counter must not
    assert minilm_counter.count(long_text) == 600
    assert isinstance(minilm_counter, HFTokenCounter) and minilm_counter.additive


def test_load_token_counter_is_cached(minilm_counter: TokenCounter) -> None:
    assert load_token_counter("minilm") is minilm_counter


def test_load_token_counter_unknown_model_is_actionable() -> None:
    with pytest.raises(ModelUnavailableError, match="not available offline"):
        load_token_counter("no-such-org/no-such-model")


def test_hf_counter_rejects_slow_tokenizers() -> None:
    with pytest.raises(TypeError, match="fast"):
        HFTokenCounter(object())


# ------------------------------------------------------------------------------- chunking, real tokenizer

SENTENCES = [
    "Hypertension affects more than one billion adults worldwide.",
    "Blood pressure control remains poor in many low-income settings (e.g., rural South Asia).",
    "We randomized 30 villages to a community health worker intervention or usual care.",
    "The primary outcome was the change in systolic pressure at 24 months.",
    "At 24 months, systolic pressure fell by 9.0 mm Hg versus 3.1 mm Hg (p < 0.001).",
    "Adverse events were rare and similar between groups, as in Smith et al. and Fig. 2.",
    "Community programs may be integrated into primary care.",
]


def paragraph(n: int, offset: int = 0) -> str:
    return " ".join(SENTENCES[(offset + i) % len(SENTENCES)] for i in range(n))


def test_chunks_are_exact_slices_within_limits_and_overlap(minilm_counter: TokenCounter) -> None:
    segments = [Segment(paragraph(9), page=1), Segment(paragraph(6, 2), page=2), Segment(paragraph(8, 4), page=3)]
    chunks = chunk_segments(segments, minilm_counter, max_tokens=80, overlap_tokens=24)
    assert len(chunks) >= 6
    assert_well_formed(chunks, segments, minilm_counter, 80)
    assert_covers(chunks, joined_text(segments))
    for before, after in zip(chunks, chunks[1:], strict=False):
        shared = before.text[after.char_start - before.char_start :]  # type: ignore[operator]
        assert after.char_start < before.char_end, "consecutive chunks share text"  # type: ignore[operator]
        assert shared and after.text.startswith(shared)
        assert minilm_counter.count(shared) <= 24 * 1.5  # whole sentences, about the overlap
    sentence_starts = {a for a, _ in split_sentences(joined_text(segments))}
    assert all(c.char_start in sentence_starts for c in chunks), "chunks start at sentence starts"


def test_page_is_where_the_chunk_starts_and_chunks_cross_pages(minilm_counter: TokenCounter) -> None:
    segments = [Segment(paragraph(3), page=4), Segment(paragraph(3, 3), page=5), Segment(paragraph(3, 6), page=6)]
    page_starts = [0, len(segments[0].text) + 2, len(segments[0].text) + len(segments[1].text) + 4]
    chunks = chunk_segments(segments, minilm_counter, max_tokens=50, overlap_tokens=15)
    assert_well_formed(chunks, segments, minilm_counter, 50)
    assert [c.page for c in chunks] == [4, 4, 5, 5, 6]
    for chunk in chunks:
        expected = 4 + sum(chunk.char_start >= start for start in page_starts[1:])  # type: ignore[operator]
        assert chunk.page == expected
    assert any(c.char_start < page_starts[1] < c.char_end for c in chunks), "a chunk runs on to the next page"  # type: ignore[operator]


def test_long_sentence_is_split_at_token_boundaries(minilm_counter: TokenCounter) -> None:
    long_sentence = " ".join(f"hydroxychloroquine{i} dose" for i in range(80)) + "."
    segments = [Segment(f"Short intro. {long_sentence} Short outro.", page=1)]
    chunks = chunk_segments(segments, minilm_counter, max_tokens=50, overlap_tokens=10)
    assert_well_formed(chunks, segments, minilm_counter, 50)
    assert_covers(chunks, segments[0].text)
    assert len(chunks) >= minilm_counter.count(long_sentence) // 50
    for before, after in zip(chunks, chunks[1:], strict=False):
        assert after.char_start < before.char_end  # type: ignore[operator]
        assert re.match(r"\w", after.text) is None or segments[0].text[after.char_start - 1] == " "  # type: ignore[operator]


def test_heading_change_starts_a_new_chunk(minilm_counter: TokenCounter) -> None:
    segments = [
        Segment("Methods were simple. We counted.", page=1, heading="Methods"),
        Segment("More methods here.", page=1, heading="Methods"),
        Segment("Results were clear. All improved.", page=2, heading="Results"),
    ]
    chunks = chunk_segments(segments, minilm_counter, max_tokens=200, overlap_tokens=40)
    assert [c.text for c in chunks] == [
        "Methods were simple. We counted.\n\nMore methods here.",
        "Results were clear. All improved.",
    ]
    assert [c.page for c in chunks] == [1, 2]


def test_blank_input_gives_no_chunks(minilm_counter: TokenCounter) -> None:
    assert chunk_segments([], minilm_counter, 200, 40) == []
    assert chunk_segments([Segment("  \n\n\t"), Segment("")], minilm_counter, 200, 40) == []


def test_empty_segments_keep_offsets(minilm_counter: TokenCounter) -> None:
    segments = [Segment("", page=1), Segment("   ", page=2), Segment("Only text here.", page=3)]
    chunks = chunk_segments(segments, minilm_counter, 200, 40)
    assert len(chunks) == 1 and chunks[0].page == 3
    assert_well_formed(chunks, segments, minilm_counter, 200)


@pytest.mark.parametrize(("max_tokens", "overlap"), [(0, 0), (10, 10), (10, -1)])
def test_invalid_sizes_are_rejected(max_tokens: int, overlap: int) -> None:
    with pytest.raises(ValueError, match="overlap_tokens"):
        chunk_segments([Segment("A b.")], WhitespaceTokenCounter(), max_tokens, overlap)


def test_chunk_document_uses_settings(minilm_counter: TokenCounter) -> None:
    parsed = ParsedDocument(source="x.pdf", sha256="0" * 64, segments=[Segment(paragraph(40), page=1)])
    chunks = chunk_document(parsed, ChunkingSettings(max_tokens=120, overlap_tokens=30))
    assert len(chunks) > 3
    assert all(minilm_counter.count(c.text) <= 120 for c in chunks)


# ---------------------------------------------------------------------------------- properties, fake tokenizer

WORDS = st.sampled_from(
    ["alpha", "Beta", "gamma", "e.g.", "et", "al.", "Fig.", "J.", "0.05", "p", "=", ".03", "(n", "12.)", "vs.", "(see"]
    + ["Table", "1).", "IL-6", "Dr.", "No.", "x" * 30, "Q?", "Yes!", '"Quoted."', "[ref]", "A.", "2."]
)
SEPARATORS = st.sampled_from([" ", " ", " ", " ", "\n", "\n\n", ". ", "? ", "! ", "  "])
TEXTS = st.lists(st.tuples(WORDS, SEPARATORS), max_size=80).map(lambda parts: "".join(w + s for w, s in parts))
SEGMENTS = st.lists(
    st.builds(Segment, TEXTS, st.one_of(st.none(), st.integers(1, 9)), st.sampled_from([None, "Intro", "Methods"])),
    max_size=4,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(segments=SEGMENTS, max_tokens=st.integers(1, 40), data=st.data())
def test_chunking_properties(segments: list[Segment], max_tokens: int, data: st.DataObject) -> None:
    overlap = data.draw(st.integers(0, max_tokens - 1), label="overlap")
    counter = WhitespaceTokenCounter()
    chunks = chunk_segments(segments, counter, max_tokens, overlap)
    joined = joined_text(segments)
    assert_well_formed(chunks, segments, counter, max_tokens)
    assert_covers(chunks, joined)
    for chunk in chunks:
        inside = {segments[segment_index_at(segments, i)].heading for i in range(chunk.char_start, chunk.char_end)}  # type: ignore[arg-type]
        assert len(inside) == 1, "a chunk never crosses a heading change"


class SpacesCountTooCounter(WhitespaceTokenCounter):
    """Counts whitespace runs as tokens too, so a chunk has more tokens than its sentences: exercises the recount."""

    _TOKEN = re.compile(r"\S+|\s+")
    additive = False


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(segments=SEGMENTS, max_tokens=st.integers(1, 30), data=st.data())
def test_chunking_properties_with_a_non_additive_counter(
    segments: list[Segment], max_tokens: int, data: st.DataObject
) -> None:
    overlap = data.draw(st.integers(0, max_tokens - 1), label="overlap")
    counter = SpacesCountTooCounter()
    chunks = chunk_segments(segments, counter, max_tokens, overlap)
    assert_well_formed(chunks, segments, counter, max_tokens)
    assert_covers(chunks, joined_text(segments))
