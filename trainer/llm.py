"""Asking an OpenAI-compatible chat API for queries about a passage, and judging what comes back.

The reply is asked to be strict JSON, but small (and sometimes large) models wrap it in code fences, add prose
around it, leave trailing commas, or copy the passage instead of writing a query. :func:`parse_reply` digs the
first JSON value out of such text; :func:`validate_item` keeps a query only if its supporting span occurs in the
passage, it does not copy the passage, its length is sensible and its self-rated relevance is high enough.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any, Literal

from medcore.analysis import tokenize

logger = logging.getLogger(__name__)

QueryKind = Literal["keyword", "question", "clinical"]
#: ``span``: each query comes with the passage's words that answer it and a self-rated relevance (a strong check,
#: but most of the reply's tokens); ``brief``: the queries alone (a fraction of the tokens, which is what a CPU
#: pays for), checked instead by round trip (the passage must rank in the top k for its own query) in
#: :mod:`trainer.generate`. ``benchmarks/generate_throughput.py`` measures both on the same passages.
PromptStyle = Literal["span", "brief"]
PROMPT_STYLES: tuple[PromptStyle, ...] = ("span", "brief")
KINDS: tuple[QueryKind, ...] = ("keyword", "question", "clinical")
KIND_HELP = {
    "keyword": "a short keyword query (2 to 6 words), as typed into a search box",
    "question": "a natural-language question that a clinician or a patient would ask",
    "clinical": "a query about a treatment, procedure, dosage or follow-up care that the passage supports",
}

SYSTEM_PROMPT = "You write search queries for a medical literature search engine. You answer with JSON only."


#: A worked example shown before the real passage (one-shot): small models otherwise copy "..." placeholders.
EXAMPLE_PASSAGE = (
    "Statin therapy lowered LDL cholesterol by 40% in adults with familial hypercholesterolaemia. Liver enzymes "
    "should be checked at baseline and twelve weeks after starting treatment."
)
EXAMPLE_QUERIES = {
    "keyword": {"query": "statins familial hypercholesterolemia LDL",
                "span": "Statin therapy lowered LDL cholesterol by 40%"},
    "question": {"query": "how much do statins reduce cholesterol in inherited high cholesterol?",
                 "span": "lowered LDL cholesterol by 40% in adults with familial hypercholesterolaemia"},
    "clinical": {"query": "liver function monitoring after starting statin treatment",
                 "span": "Liver enzymes should be checked at baseline and twelve weeks after starting treatment"},
}
EXAMPLE_NEGATIVE = ("Ezetimibe blocks intestinal cholesterol absorption and is often added when statins are not "
                    "tolerated; muscle pain is the most common reason patients stop taking statins.")


def _ask(passage_text: str, kinds: tuple[str, ...], negative: bool) -> str:
    wanted = "\n".join(f'- "{kind}": {KIND_HELP[kind]}.' for kind in kinds)
    neg_rule = ('\nAlso write "negative": two or three sentences on a closely related medical topic that look '
                "relevant to the queries but do not answer them.") if negative else ""
    return (
        f'Passage:\n"""\n{passage_text}\n"""\n\n'
        f"Write {len(kinds)} search queries that this passage answers, one of each kind:\n{wanted}\n"
        "Use your own words: do not copy sentences from the passage. For each query give \"span\": the exact words "
        "of the passage (copied verbatim, at most 30 words) that answer it, and \"relevance\": how well the passage "
        f"answers it, from 1 (barely) to 5 (fully).{neg_rule}\n"
        'Answer with JSON only: {"queries": [{"kind": ..., "query": ..., "span": ..., "relevance": ...}, ...]'
        + (', "negative": ...}' if negative else "}")
    )


def _ask_brief(passage_text: str, kinds: tuple[str, ...]) -> str:
    wanted = "\n".join(f'- "{kind}": {KIND_HELP[kind]}.' for kind in kinds)
    return (f'Passage:\n"""\n{passage_text}\n"""\n\nWrite one search query of each kind that this passage answers, '
            f"in your own words:\n{wanted}\nAnswer with JSON only: "
            + "{" + ", ".join(f'"{kind}": "..."' for kind in kinds) + "}")


def build_messages(passage_text: str, kinds: tuple[str, ...] = KINDS, negative: bool = False,
                   style: PromptStyle = "span") -> list[dict[str, str]]:
    """Chat messages asking for one query of each kind (and optionally a hard negative) about a passage: the
    instructions, a worked example (user and assistant turn), then the same instructions for the real passage.
    The system turn and the example are the same for every passage, so a server that caches prompt prefixes
    (llama.cpp does) reads them once."""
    if style == "brief":
        if negative:
            raise ValueError("The brief prompt asks for queries only; use style 'span' for LLM negatives.")
        ask, example = _ask_brief, {k: EXAMPLE_QUERIES[k]["query"] for k in kinds}
    else:
        ask = lambda text, kinds: _ask(text, kinds, negative)  # noqa: E731
        example = {"queries": [{"kind": k, **EXAMPLE_QUERIES[k], "relevance": 5} for k in kinds]}
        if negative:
            example["negative"] = EXAMPLE_NEGATIVE
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": ask(EXAMPLE_PASSAGE, kinds)},
        {"role": "assistant", "content": json.dumps(example)},
        {"role": "user", "content": ask(passage_text, kinds)},
    ]


class MalformedReply(ValueError):
    """The model's reply holds no usable JSON."""


_FENCE = re.compile(r"```[A-Za-z]*\s*(.*?)(?:```|$)", re.S)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


def parse_reply(text: str) -> Any:
    """The first JSON object or array in ``text``: inside code fences, before or after prose, trailing commas
    forgiven. Raises :class:`MalformedReply` when there is none."""
    if not text or not text.strip():
        raise MalformedReply("empty reply")
    decoder = json.JSONDecoder()
    for candidate in [*_FENCE.findall(text), text]:
        for attempt in (candidate, _TRAILING_COMMA.sub(r"\1", candidate)):
            starts = [i for i, ch in enumerate(attempt) if ch in "{["][:50]
            for start in starts:
                try:
                    value, _ = decoder.raw_decode(attempt, start)
                except json.JSONDecodeError:
                    continue
                if isinstance(value, dict | list) and value:
                    return value
    raise MalformedReply(f"no JSON object in reply: {text[:80]!r}")


def reply_items(value: Any) -> tuple[list[dict], str | None]:
    """``(query items, negative text or None)`` from the shapes models actually return.

    Accepts ``{"queries": [...], "negative": "..."}``, a bare list of items, a single item, or items keyed by kind
    (``{"keyword": {"query": ...}, ...}`` or, from the brief prompt, ``{"keyword": "...", ...}``). Raises
    :class:`MalformedReply` for anything else.
    """
    negative = None
    if isinstance(value, dict):
        raw_neg = value.get("negative")
        negative = raw_neg.strip() if isinstance(raw_neg, str) and raw_neg.strip() else None
        if isinstance(value.get("queries"), list):
            value = value["queries"]
        elif "query" in value:
            value = [value]
        elif any(isinstance(v, dict) for v in value.values()):
            value = [{"kind": k, **v} for k, v in value.items() if isinstance(v, dict)]
        elif any(k in KINDS and isinstance(v, str) for k, v in value.items()):
            value = [{"kind": k, "query": v} for k, v in value.items() if k in KINDS and isinstance(v, str)]
    if not isinstance(value, list):
        raise MalformedReply("JSON has no list of queries")
    items = [item for item in value if isinstance(item, dict)]
    if not items:
        raise MalformedReply("JSON list holds no query objects")
    return items, negative


@dataclass(frozen=True)
class ValidationConfig:
    """Bounds a generated query must meet.

    Attributes:
        min_tokens/max_tokens: query length in words; max_chars: in characters.
        min_content_terms: words other than stopwords a query needs ("how does it work?" names no topic, and a
            round trip over a small pool can still pass it by chance).
        min_relevance: the lowest self-rating (1-5) kept.
        require_span: the item must quote the passage words that answer it, and rate itself (the ``span`` prompt).
        copy_ngram/max_copy_overlap/copy_min_tokens: a query of ``copy_min_tokens`` or more words whose word
            ``copy_ngram``-grams occur in the passage at a fraction of ``max_copy_overlap`` or more copies it.
    """

    min_tokens: int = 2
    min_content_terms: int = 2
    max_tokens: int = 40
    max_chars: int = 300
    min_relevance: int = 4
    require_span: bool = True
    copy_ngram: int = 3
    max_copy_overlap: float = 0.6
    copy_min_tokens: int = 6


@dataclass(frozen=True)
class GeneratedQuery:
    kind: str
    query: str
    span: str
    relevance: int


_WORD = re.compile(r"\w+")
#: Words by which a small model writes about the passage instead of asking about its topic ("what does this study
#: report?"): such a query matches any passage, so it teaches nothing.
_REFERS_TO_TEXT = re.compile(r"\b(?:this|the|above|given) (?:passage|text|paragraph|article|abstract|excerpt)\b"
                             r"|\b(?:this|the above) (?:study|paper|review)\b", re.I)


# what the search analyzer keeps of question words and auxiliaries (its stopword list has none of them), stemmed
_QUESTION_TERMS = frozenset(tokenize([
    "how what which who whom whose when where why do does did doing done can could should would may might must "
    "shall will"])[0])


def words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def normalise(text: str) -> str:
    """Case-folded words joined by single spaces: punctuation, quotes and line breaks do not matter."""
    return " ".join(words(text))


def copy_overlap(query: str, passage: str, n: int = 3) -> float:
    """Fraction of the query's word ``n``-grams that occur in the passage (0.0 for queries shorter than ``n``)."""
    q, p = words(query), words(passage)
    q_grams = [tuple(q[i : i + n]) for i in range(len(q) - n + 1)]
    if not q_grams:
        return 0.0
    p_grams = {tuple(p[i : i + n]) for i in range(len(p) - n + 1)}
    return sum(g in p_grams for g in q_grams) / len(q_grams)


def validate_item(item: dict, passage_text: str, config: ValidationConfig,
                  kinds: tuple[str, ...] = KINDS) -> tuple[GeneratedQuery | None, str | None]:
    """``(query, None)`` when the item passes every check, else ``(None, drop reason)``."""
    kind = str(item.get("kind", "")).strip().lower()
    if kind not in kinds:
        return None, "unknown_kind"
    query = item.get("query")
    if not isinstance(query, str) or not query.strip():
        return None, "empty_query"
    query = " ".join(query.split())
    n_words = len(words(query))
    if n_words < config.min_tokens:
        return None, "too_short"
    if n_words > config.max_tokens or len(query) > config.max_chars:
        return None, "too_long"
    if _REFERS_TO_TEXT.search(query):
        return None, "refers_to_passage"
    if len([t for t in tokenize([query])[0] if t not in _QUESTION_TERMS]) < config.min_content_terms:
        return None, "vague"
    if n_words >= config.copy_min_tokens and (
        copy_overlap(query, passage_text, config.copy_ngram) >= config.max_copy_overlap
    ):
        return None, "copies_passage"
    if not config.require_span:
        return GeneratedQuery(kind, query, "", 0), None
    span = item.get("span")
    if not isinstance(span, str) or not normalise(span) or normalise(span) not in normalise(passage_text):
        return None, "span_not_in_passage"
    try:
        relevance = int(float(item.get("relevance")))
    except (TypeError, ValueError):
        return None, "no_relevance"
    if relevance < config.min_relevance:
        return None, "low_relevance"
    return GeneratedQuery(kind, query, " ".join(span.split()), relevance), None
