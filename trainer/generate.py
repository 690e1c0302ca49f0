"""``medembed generate``: triplets from LLM-written queries about passages, or from a labelled BEIR split.

Both paths append to a triplets JSONL file (``.gz`` allowed) and record each finished unit (a passage, or a BEIR
query) in a sidecar ``<output>.done``, so a rerun skips what is done. Requests run in a thread pool; replies are
parsed, validated and mined for negatives in the calling thread, which is the only writer.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from medcore.beir import open_text, read_jsonl
from medcore.errors import LLMError
from medcore.llm import LLMClient
from medcore.progress import show_progress
from trainer.data import BeirData, Passage, Triplet
from trainer.llm import (
    KINDS,
    GeneratedQuery,
    MalformedReply,
    PromptStyle,
    ValidationConfig,
    build_messages,
    normalise,
    parse_reply,
    reply_items,
    validate_item,
)
from trainer.mining import Negative, NegativeMiner

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GenerateConfig:
    """``kinds``: query kinds asked for; ``concurrency``: requests in flight; ``llm_negatives``: also ask the LLM
    for a negative passage; ``abort_after``: consecutive failed requests that stop the run (server gone);
    ``style``: the prompt (:data:`trainer.llm.PromptStyle`); ``max_passage_chars``: the passage is cut (at a word)
    to this many characters in the prompt, as prompt tokens cost most of a CPU's time; ``round_trip_k``: keep a
    query only if BM25 or the dense model ranks its own passage in the top k of the pool (``None``: no check)."""

    kinds: tuple[str, ...] = KINDS
    concurrency: int = 4
    llm_negatives: bool = False
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    abort_after: int = 8
    style: PromptStyle = "span"
    max_passage_chars: int = 2000
    round_trip_k: int | None = 20

    def messages(self, passage: Passage) -> list[dict[str, str]]:
        text = passage.indexed_text
        if len(text) > self.max_passage_chars:
            text = text[: self.max_passage_chars].rsplit(" ", 1)[0]
        return build_messages(text, self.kinds, self.llm_negatives, self.style)


@dataclass
class GenerateSummary:
    """Counts of one run. ``dropped`` counts query items (and whole replies under ``malformed_reply``) by reason."""

    units: int = 0
    skipped_done: int = 0
    requests: int = 0
    retries: int = 0
    failed_requests: int = 0
    replies: int = 0
    generated: int = 0
    kept_queries: int = 0
    triplets: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    dropped: Counter = field(default_factory=Counter)
    by_kind: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def kept_fraction(self) -> float:
        return self.kept_queries / self.generated if self.generated else 0.0

    def to_json(self) -> dict[str, object]:
        out = {k: v for k, v in self.__dict__.items() if not isinstance(v, Counter)}
        out.update(dropped=dict(self.dropped.most_common()), by_kind=dict(self.by_kind),
                   kept_fraction=round(self.kept_fraction, 4), seconds=round(self.seconds, 2))
        return out

    def __str__(self) -> str:
        dropped = ", ".join(f"{k} {v}" for k, v in self.dropped.most_common()) or "none"
        return (f"{self.units} done ({self.skipped_done} skipped as already done), {self.requests} requests "
                f"({self.retries} retries, {self.failed_requests} failed); {self.generated} queries generated, "
                f"{self.kept_queries} kept ({self.kept_fraction:.0%}), {self.triplets} triplets written; "
                f"dropped: {dropped}; {self.seconds:.1f}s")


def done_path(output: Path) -> Path:
    return output.with_name(output.name + ".done")


class TripletSink:
    """Appends triplets and done-markers; knows what earlier runs wrote (for resuming and deduplication)."""

    def __init__(self, output: Path) -> None:
        self.output, self.done_file = Path(output), done_path(Path(output))
        self.output.parent.mkdir(parents=True, exist_ok=True)
        self.done: set[str] = set()
        self.seen_queries: set[str] = set()
        if self.done_file.is_file():
            self.done = {str(row["unit"]) for row in read_jsonl(self.done_file)}
        if self.output.is_file():
            self.seen_queries = {normalise(row["query"]) for row in read_jsonl(self.output)}

    def write(self, unit: str, triplets: Sequence[Triplet], status: str = "ok") -> None:
        if triplets:
            with open_text(self.output, "at") as fh:
                fh.writelines(json.dumps(t.to_json(), ensure_ascii=False) + "\n" for t in triplets)
        with open(self.done_file, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"unit": unit, "status": status, "triplets": len(triplets)}) + "\n")
        self.done.add(unit)
        self.seen_queries.update(normalise(t.query) for t in triplets)


def query_id(text: str) -> str:
    return "gen-" + hashlib.sha1(normalise(text).encode()).hexdigest()[:12]


def _progress(show: bool | None, total: int, desc: str) -> tqdm:
    show = show_progress(show, logger)
    return tqdm(total=total, desc=desc, disable=not show, unit="passage" if "LLM" in desc else "query")


def generate_triplets(passages: Sequence[Passage], client: LLMClient, miner: NegativeMiner, output: Path,
                      config: GenerateConfig | None = None, show_progress_bar: bool | None = None) -> GenerateSummary:
    """Ask the LLM about each passage not yet done, keep valid queries, mine negatives, append triplets.

    Raises:
        LLMError: the server cannot be reached at the start, or ``abort_after`` requests in a row failed.
    """
    config = config or GenerateConfig()
    start, summary, sink = time.perf_counter(), GenerateSummary(), TripletSink(output)
    served = client.check()
    if served and client.model not in served:
        raise LLMError(f"The server at {client.base_url} serves {served}, not '{client.model}'; pass --llm-model "
                       "with one of those names (or set MEDEMBED_LLM_MODEL).")
    todo = [p for p in passages if p.id not in sink.done]
    summary.skipped_done = len(passages) - len(todo)
    failures_in_a_row = 0
    with ThreadPoolExecutor(max_workers=max(1, config.concurrency)) as pool, \
            _progress(show_progress_bar, len(todo), "Asking the LLM") as bar:
        futures: dict[Future, Passage] = {
            pool.submit(client.chat, config.messages(p)): p for p in todo
        }
        for future in as_completed(futures):
            passage = futures[future]
            bar.update(1)
            try:
                reply = future.result()
            except Exception as exc:  # noqa: BLE001 - one failed request must not end the run
                summary.failed_requests += 1
                failures_in_a_row += 1
                logger.warning("Request for passage %s failed: %s: %s", passage.id, type(exc).__name__, exc)
                if failures_in_a_row >= config.abort_after:
                    pool.shutdown(cancel_futures=True)
                    raise LLMError(f"{failures_in_a_row} requests in a row failed (last: {type(exc).__name__}: "
                                   f"{exc}); is the server at {client.base_url} still up? Finished passages are "
                                   "saved: rerun the same command to resume.") from None
                continue
            failures_in_a_row = 0
            triplets, status = _triplets_for_reply(reply, passage, client.model, miner, sink, config, summary)
            sink.write(passage.id, triplets, status)
            summary.units += 1
    summary.requests, summary.retries = client.requests, client.retries
    summary.prompt_tokens, summary.completion_tokens = client.prompt_tokens, client.completion_tokens
    summary.seconds = time.perf_counter() - start
    return summary


def _triplets_for_reply(reply: str, passage: Passage, model: str, miner: NegativeMiner, sink: TripletSink,
                        config: GenerateConfig, summary: GenerateSummary) -> tuple[list[Triplet], str]:
    summary.replies += 1
    try:
        items, llm_negative = reply_items(parse_reply(reply))
    except MalformedReply as exc:
        summary.dropped["malformed_reply"] += 1
        logger.debug("Malformed reply for passage %s: %s", passage.id, exc)
        return [], "malformed"
    kept: list[GeneratedQuery] = []
    for item in items:
        summary.generated += 1
        query, reason = validate_item(item, passage.indexed_text, config.validation, config.kinds)
        if query is not None and (normalise(query.query) in sink.seen_queries
                                  or normalise(query.query) in {normalise(q.query) for q in kept}):
            query, reason = None, "duplicate"
        if query is None:
            summary.dropped[reason or "invalid"] += 1
            continue
        kept.append(query)
    if kept and config.round_trip_k is not None:
        ranks = miner.positive_ranks([q.query for q in kept], [passage] * len(kept))
        _drop(summary, "round_trip", sum(r > config.round_trip_k for r in ranks))
        kept = [q for q, r in zip(kept, ranks, strict=True) if r <= config.round_trip_k]
    source = f"llm:{model}"
    triplets = []
    negatives = miner.mine([q.query for q in kept], [passage] * len(kept))
    for query, negs in zip(kept, negatives, strict=True):
        pairs = [(n.passage.id, n.passage.indexed_text, n.method) for n in negs]
        if llm_negative and config.llm_negatives:
            pairs.append((f"llm-neg:{passage.id}", llm_negative, "llm"))
        if not pairs:
            summary.dropped["no_negative"] += 1
            continue
        summary.kept_queries += 1
        summary.by_kind[query.kind] += 1
        for neg_id, neg_text, method in pairs:
            triplets.append(Triplet(query.query, passage.indexed_text, neg_text, query_id(query.query), passage.id,
                                    neg_id, query.kind, source, method))
    summary.triplets += len(triplets)
    return triplets, "ok"


def _random_negative(data: BeirData, doc_ids: list[str], excluded: set[str], rng: random.Random) -> list[Negative]:
    for _ in range(20):
        doc = rng.choice(doc_ids)
        if doc not in excluded:
            return [Negative(data.corpus[doc], "random", 0.0)]
    return []


def _drop(summary: GenerateSummary, reason: str, n: int = 1) -> None:
    if n > 0:
        summary.dropped[reason] += n


def _batches(items: Sequence, size: int) -> Iterator[Sequence]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def triplets_from_qrels(data: BeirData, miner: NegativeMiner | None, output: Path, max_per_query: int | None = 3,
                        min_relevance: int = 1, max_queries: int | None = None, seed: int = 42,
                        batch_size: int = 256, show_progress_bar: bool | None = None,
                        random_negatives: bool = False) -> GenerateSummary:
    """Triplets ``(query, judged-relevant document, negative)`` from a BEIR split; every judged-relevant
    document of a query is excluded from its negatives. Up to ``max_per_query`` positives per query (most relevant
    first); up to ``max_queries`` queries (a seeded sample, stable across reruns). With ``random_negatives`` a pair
    for which no negative passes the miner's guards gets a random unjudged document instead of being dropped: on
    small corpora (MedicationQA: a fifth of its pairs) the guards leave nothing, and training on pairs with in-batch
    negatives never reads the negative anyway. Without a ``miner`` every pair gets one (where mined ones hurt)."""
    start, summary, sink = time.perf_counter(), GenerateSummary(), TripletSink(output)
    rng, doc_ids = random.Random(seed), sorted(data.corpus)
    source = f"qrels:{data.name}/{data.split}"
    wanted = sorted(data.qrels)
    if max_queries is not None and max_queries < len(wanted):
        wanted = sorted(random.Random(seed).sample(wanted, max_queries))
    qids = [q for q in wanted if q not in sink.done]
    summary.skipped_done = len(wanted) - len(qids)
    with _progress(show_progress_bar, len(qids), f"Mining negatives ({data.name})") as bar:
        for part in _batches(qids, batch_size):
            pairs, excluded = [], []
            for qid in part:
                relevant = {d for d, r in data.qrels[qid].items() if r >= min_relevance}
                if qid not in data.queries:
                    summary.dropped["unknown_query"] += 1
                    continue
                ranked = sorted((d for d in relevant if d in data.corpus), key=lambda d: (-data.qrels[qid][d], d))
                _drop(summary, "unknown_document", len(relevant) - len(ranked))
                _drop(summary, "over_max_per_query", len(ranked) - (max_per_query or len(ranked)))
                pairs.extend((qid, data.corpus[d]) for d in ranked[:max_per_query])
                excluded.extend(relevant for _ in ranked[:max_per_query])
            negatives = (miner.mine([data.queries[q] for q, _ in pairs], [p for _, p in pairs], excluded)
                         if miner is not None else [[] for _ in pairs])
            by_query: dict[str, list[Triplet]] = {q: [] for q in part}
            for (qid, pos), negs, known in zip(pairs, negatives, excluded, strict=True):
                summary.generated += 1
                if not negs and (random_negatives or miner is None):
                    negs = _random_negative(data, doc_ids, known | {pos.id}, rng)
                if not negs:
                    summary.dropped["no_negative"] += 1
                    continue
                summary.kept_queries += 1
                by_query[qid].extend(Triplet(data.queries[qid], pos.indexed_text, n.passage.indexed_text, qid,
                                             pos.id, n.passage.id, "qrels", source, n.method) for n in negs)
            for qid in part:
                sink.write(qid, by_query[qid])
                summary.triplets += len(by_query[qid])
                summary.units += 1
            bar.update(len(part))
    summary.by_kind["qrels"] = summary.kept_queries
    summary.seconds = time.perf_counter() - start
    return summary
