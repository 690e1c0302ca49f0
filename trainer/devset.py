"""A small held-out retrieval set (BEIR dev splits, subsampled) and its InformationRetrievalEvaluator.

Scoring the full NFCorpus test with ``medembed eval`` takes minutes for a dense model on CPU; for choosing
checkpoints and merge weights a few hundred dev queries over their judged documents plus a few thousand
distractors are enough, and a DevSet is built the same way (seeded) on every machine.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from medcore.cpu import native_bf16
from medcore.errors import DatasetError
from trainer.data import read_beir

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

#: What the dev scores report, in this order; ``ndcg@10`` chooses merge weights.
DEV_METRICS = ("ndcg@10", "mrr@10", "recall@10", "map@100")


@dataclass(frozen=True)
class DevSet:
    """``queries {qid: text}``, ``corpus {doc_id: text}``, ``relevant {qid: {doc_id}}``; ids are prefixed with the
    dataset name (``nfcorpus/PLAIN-3``). ``sources`` counts queries per dataset."""

    queries: dict[str, str]
    corpus: dict[str, str]
    relevant: dict[str, set[str]]
    sources: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        per = ", ".join(f"{name} {n}" for name, n in self.sources.items())
        return f"{len(self.queries)} queries ({per}) over {len(self.corpus)} documents"


def build_dev_set(folders: Sequence[Path], split: str = "dev", max_queries: int = 200, distractors: int = 2000,
                  seed: int = 42) -> DevSet:
    """Up to ``max_queries`` judged queries of ``split`` from each BEIR folder, their relevant documents, and up to
    ``distractors`` other documents of the same corpus, all drawn with ``seed``."""
    if not folders:
        raise DatasetError("A dev set needs at least one BEIR folder (e.g. --dev ../shared/data/nfcorpus).")
    queries: dict[str, str] = {}
    corpus: dict[str, str] = {}
    relevant: dict[str, set[str]] = {}
    sources: dict[str, int] = {}
    rng = random.Random(seed)
    for folder in folders:
        data = read_beir(Path(folder), split)
        judged = sorted(q for q, docs in data.qrels.items()
                        if q in data.queries and any(r > 0 and d in data.corpus for d, r in docs.items()))
        picked = rng.sample(judged, min(max_queries, len(judged)))
        needed: set[str] = set()
        for qid in picked:
            docs = {d for d, r in data.qrels[qid].items() if r > 0 and d in data.corpus}
            relevant[f"{data.name}/{qid}"] = {f"{data.name}/{d}" for d in docs}
            queries[f"{data.name}/{qid}"] = data.queries[qid]
            needed |= docs
        others = sorted(set(data.corpus) - needed)
        needed |= set(rng.sample(others, min(distractors, len(others))))
        corpus.update({f"{data.name}/{d}": data.corpus[d].indexed_text for d in sorted(needed)})
        sources[data.name] = len(picked)
    return DevSet(queries, corpus, relevant, sources)


def evaluate(model: SentenceTransformer, dev: DevSet, query_prefix: str = "", passage_prefix: str = "",
             batch_size: int = 64) -> dict[str, float]:
    """``{"ndcg@10": ..., "mrr@10": ..., "recall@10": ..., "map@100": ...}`` of ``model`` on ``dev`` (cosine).

    On a CPU with native bf16 the encoding runs under bf16 autocast: about twice as fast, and the scores move by
    noise only (they serve to compare models and merge weights on the same dev set, all encoded the same way).
    """
    import contextlib

    import torch
    from sentence_transformers.evaluation import InformationRetrievalEvaluator

    evaluator = InformationRetrievalEvaluator(
        dev.queries, dev.corpus, dev.relevant, name="dev", batch_size=batch_size, write_csv=False,
        query_prompt=query_prefix or None, corpus_prompt=passage_prefix or None,
        mrr_at_k=[10], ndcg_at_k=[10], accuracy_at_k=[1], precision_recall_at_k=[10], map_at_k=[100],
    )
    on_cpu = str(model.device) == "cpu"
    with torch.autocast("cpu", dtype=torch.bfloat16) if on_cpu and native_bf16() else contextlib.nullcontext():
        raw = evaluator(model)
    scores = {}
    for metric in DEV_METRICS:
        key = next((k for k in raw if k.endswith(f"cosine_{metric}")), None)
        if key is not None:
            scores[metric] = round(float(raw[key]), 5)
    logger.info("Dev scores: %s", scores)
    return scores
