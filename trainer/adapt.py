"""``medembed adapt``: the MedEmbed recipe on one library, in one resumable work folder.

1. an LLM writes queries for a sample of the library's passages (the brief prompt), filtered (copies of the
   passage, non-queries, duplicates, round trip) with BM25-mined negatives: ``generated.jsonl.gz``;
2. the queries of a seeded share of the passages are held apart: they judge the result and are never trained on;
3. the base model is fine-tuned on the rest, within a time budget on a CPU (or for some epochs on a GPU): ``ft/``;
4. the fine-tune is merged with its base (LM-Cocktail), the weight chosen on the held-apart queries: ``model/``;
5. ``report.json``: nDCG@10 on the held-apart queries before (the base) and after (the merged model).

A rerun with the same folder resumes: passages already asked about are skipped, training continues from its last
checkpoint (a larger ``minutes`` buys more steps), and the merge is redone.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from medcore.config import Settings
from medcore.errors import TrainingError
from medcore.llm import LLMClient
from medcore.models import pick_device
from trainer.data import Passage, Triplet, read_triplets, sample_passages
from trainer.devset import DevSet
from trainer.generate import GenerateConfig, generate_triplets
from trainer.llm import ValidationConfig
from trainer.loop import latest_checkpoint
from trainer.merge import merge
from trainer.mining import MiningConfig, NegativeMiner
from trainer.train import TrainConfig, train

logger = logging.getLogger(__name__)

GENERATED = "generated.jsonl.gz"
REPORT = "report.json"


@dataclass(frozen=True)
class AdaptConfig:
    """``n_passages`` sampled from the library (``None``: all); ``held_out``: the share of passages whose queries
    judge the result; ``minutes``: the training budget on a CPU; ``epochs``: on a GPU (and the CPU's plan, cut by
    the budget); ``weights``: the fine-tune's merge weights tried."""

    work_dir: Path
    base_model: str = "minilm"
    n_passages: int | None = 200
    held_out: float = 0.2
    minutes: float = 20.0
    epochs: float = 1.0
    weights: tuple[str, ...] = ("0.3", "0.5", "0.7")
    min_chars: int = 200
    seed: int = 42
    generate: GenerateConfig = field(default_factory=lambda: GenerateConfig(
        style="brief", validation=ValidationConfig(require_span=False)))


@dataclass(frozen=True)
class AdaptResult:
    model_dir: Path
    before: float
    after: float
    chosen: tuple[float, ...]
    train_pairs: int
    eval_queries: int
    generate: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "model_dir": str(self.model_dir)}


def held_apart(passage_id: str, share: float, seed: int) -> bool:
    """Whether a passage's queries are held apart: a stable hash, the same on every machine and rerun."""
    digest = hashlib.sha1(f"{seed}:{passage_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def split(rows: Sequence[Triplet], share: float, seed: int) -> tuple[list[Triplet], list[Triplet]]:
    """``(train, held apart)``, by the positive passage, so no held-apart passage is ever trained on."""
    train_rows = [t for t in rows if not held_apart(t.pos_id, share, seed)]
    return train_rows, [t for t in rows if held_apart(t.pos_id, share, seed)]


def eval_set(held: Sequence[Triplet], passages: Sequence[Passage]) -> DevSet:
    """The held-apart queries over the whole library: each query's one relevant passage is the one it was written
    for."""
    queries = {t.query_id: t.query for t in held}
    relevant: dict[str, set[str]] = {}
    for t in held:
        relevant.setdefault(t.query_id, set()).add(t.pos_id)
    corpus = {p.id: p.indexed_text for p in passages}
    return DevSet(queries, corpus, relevant, {"held-apart generated": len(queries)})


def adapt(passages: Sequence[Passage], client: LLMClient, config: AdaptConfig,
          settings: Settings | None = None) -> AdaptResult:
    """Run (or resume) the recipe in ``config.work_dir``; see the module docstring.

    Raises:
        TrainingError: too few kept queries to train on or to judge the result (sample more passages).
        LLMError: the LLM server cannot be reached.
    """
    settings = settings or Settings()
    work = Path(config.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    sample = sample_passages(list(passages), config.n_passages, config.seed, config.min_chars)
    if not sample:
        raise TrainingError(f"No passage of at least {config.min_chars} characters to ask about: ingest papers first.")
    miner = NegativeMiner(passages, None, MiningConfig(method="bm25", seed=config.seed))
    summary = generate_triplets(sample, client, miner, work / GENERATED, config.generate)
    logger.info("Generate: %s", summary)
    rows = read_triplets(work / GENERATED)
    train_rows, held = split(rows, config.held_out, config.seed)
    if len(train_rows) < 2 or not held:
        raise TrainingError(f"{len(rows)} queries kept ({len(train_rows)} to train on, {len(held)} held apart): too "
                            "few. Sample more passages (-n) or check the LLM's replies (the generate summary says "
                            "why queries were dropped).")
    dev = eval_set(held, passages)
    on_gpu = pick_device(settings.index.device).startswith("cuda")
    hp = replace(settings.train, base_model=config.base_model, epochs=config.epochs, hard_negatives=False,
                 save_steps=min(settings.train.save_steps, 25))
    ft = work / "ft"
    run = TrainConfig(ft, hp, max_steps=-1, overwrite=True, device=settings.index.device,
                      resume=latest_checkpoint(ft.with_name("ft-checkpoints")) is not None,
                      allow_download=settings.models.allow_download,
                      max_seconds=None if on_gpu else config.minutes * 60)
    train(train_rows, run, None, settings)
    merged = merge([str(ft), config.base_model], work / "model", config.weights, dev, overwrite=True,
                   device=pick_device(settings.index.device), settings=settings)
    scores = {c["weights"]: c["scores"]["ndcg@10"] for c in merged.candidates}
    result = AdaptResult(work / "model", scores[f"{config.base_model} alone"],
                         scores[",".join(f"{w:g}" for w in merged.chosen)], merged.chosen, len(train_rows),
                         len(dev.queries), summary.to_json())
    (work / REPORT).write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")
    return result

