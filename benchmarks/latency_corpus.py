"""The benchmark corpus: real NFCorpus and MedQuAD passages, repeated with small perturbations up to N chunks,
and synthetic vectors (a real vector plus noise) for chunks that were not embedded."""

from __future__ import annotations

import json
import logging
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

SOURCES = ("nfcorpus", "medquad")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
VECTOR_METHOD = (
    "first n_real chunks embedded with the real model; every other chunk's vector is "
    "normalise(real[i % n_real] + N(0, noise_sigma^2) per dimension), not an embedding of its own text"
)


@dataclass(frozen=True)
class Corpus:
    """``texts[i]`` is chunk ``i`` (title, newline, passage, as the indexer builds it); ``docs[i]`` its document."""

    texts: list[str]
    docs: list[str]
    n_base: int
    n_copies: int


def _sentences(text: str, max_words: int) -> list[str]:
    """Sentences of ``text``; one longer than ``max_words`` (e.g. a bullet list) is cut into word windows."""
    out = []
    for sentence in _SENTENCE_END.split(" ".join(text.split())):
        words = sentence.split()
        out.extend(" ".join(words[i : i + max_words]) for i in range(0, len(words), max_words))
    return out


def _group(sentences: Sequence[str], words: int) -> list[list[str]]:
    """Consecutive sentences packed into passages of at most ``words`` words; a short tail joins the last one."""
    groups: list[list[str]] = []
    current: list[str] = []
    count = 0
    for sentence in sentences:
        n = len(sentence.split())
        if current and count + n > words:
            groups.append(current)
            current, count = [], 0
        current.append(sentence)
        count += n
    if current:
        if groups and count < words // 3:
            groups[-1].extend(current)
        else:
            groups.append(current)
    return groups


def read_passages(data_dir: Path, words: int) -> list[tuple[str, str, list[str]]]:
    """``[(doc key, title, sentences)]`` for every ~``words``-word passage of the NFCorpus and MedQuAD corpora."""
    out = []
    for source in SOURCES:
        with open(data_dir / source / "corpus.jsonl", encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                title = (row.get("title") or "").strip()
                for sentences in _group(_sentences(row.get("text") or "", words), words):
                    out.append((f"{source}:{row['_id']}", title, sentences))
    return out


def _perturb(sentences: Sequence[str], rng: random.Random) -> list[str]:
    """A near-copy: sentence order shuffled and one sentence dropped, or one word dropped from a lone sentence."""
    out = list(sentences)
    if len(out) >= 2:
        rng.shuffle(out)
    if len(out) >= 3:
        del out[rng.randrange(len(out))]
    elif len(out) == 1 and len(words := out[0].split()) > 5:
        del words[rng.randrange(len(words))]
        out = [" ".join(words)]
    return out


def build_corpus(data_dir: Path, n_chunks: int, words: int, seed: int) -> Corpus:
    """``n_chunks`` chunks: the real passages in a seeded random order, then perturbed copies of them."""
    from indexer.index.layout import index_text

    base = read_passages(data_dir, words)
    random.Random(seed).shuffle(base)
    texts: list[str] = []
    docs: list[str] = []
    copy = 0
    while len(texts) < n_chunks:
        for b, (doc, title, sentences) in enumerate(base[: n_chunks - len(texts)]):
            body = sentences if copy == 0 else _perturb(sentences, random.Random(f"{seed}:{copy}:{b}"))
            texts.append(index_text(" ".join(body), title or None, with_title=True))
            docs.append(f"{doc}#{copy}")
        copy += 1
    return Corpus(texts, docs, len(base), copy)


def load_queries(data_dir: Path, n: int) -> list[str]:
    """The first ``n`` NFCorpus test queries (in qrels order) that have a relevant document."""
    nf = data_dir / "nfcorpus"
    with open(nf / "queries.jsonl", encoding="utf-8") as fh:
        text = {(row := json.loads(line))["_id"]: row["text"] for line in fh if line.strip()}
    qids: dict[str, None] = {}
    with open(nf / "qrels" / "test.tsv", encoding="utf-8") as fh:
        next(fh)
        for line in fh:
            qid, _, score = line.rstrip("\n").split("\t")
            if int(score) > 0 and qid in text:
                qids[qid] = None
    if n > len(qids):
        logger.warning("Only %d NFCorpus test queries; using all of them, not %d.", len(qids), n)
    return [text[q] for q in list(qids)[:n]]


def synth_vectors(real: np.ndarray, n: int, noise: float, seed: int) -> tuple[np.ndarray, float]:
    """``(n, dim)`` float32: ``real`` first, then noisy renormalised copies; also their mean cosine to the source."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, real.shape[1]), dtype=np.float32)
    out[: len(real)] = real
    cos_sum = 0.0
    for start in range(len(real), n, 16384):
        src = real[np.arange(start, min(start + 16384, n)) % len(real)]  # (block, dim)
        vec = src + rng.normal(0.0, noise, size=src.shape).astype(np.float32)
        vec /= np.linalg.norm(vec, axis=1, keepdims=True)
        out[start : start + len(vec)] = vec
        cos_sum += float((vec * src).sum())
    return out, cos_sum / max(n - len(real), 1)
