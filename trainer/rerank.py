"""Training the reranker: a cross-encoder that reads a query and a passage together and scores their relevance.

The second stage of search (``search_app.rerank``) rescores the first stage's top candidates with it. It is trained
here on the CPU from a small offline encoder (``medembed-small``: MiniLM weights that already know medical text),
with a fresh one-logit head, on the same triplet files the embedding model trains on (``medembed generate
--from-qrels ... --negatives N`` writes one row per mined negative), grouped per query.

Sets are drawn with probability proportional to the square root of their size (temperature sampling, as in
multilingual training): a large set (MedQuAD) does not drown the small ones, which are not repeated to excess either.

The loss is localised contrastive estimation (Gao et al., 2021): for each query, one judged-relevant passage and
``group_size - 1`` negatives are scored together and a softmax over the group is pushed towards the positive. The
negatives are the query's mined BM25 negatives (hard: they share its words), topped up with random passages of the
same set (easy) where mining found fewer, so every group has the same size. Never a passage judged relevant to the
query.

Checkpoints (model, optimizer, scheduler, step) are written every ``save_steps`` and a rerun resumes from the last;
the model is saved in fp16 beside its tokenizer and a ``reranker.json`` of how it was trained.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from medcore.cpu import cpu_name, native_bf16
from medcore.errors import TrainingError
from medcore.progress import show_progress
from trainer.data import read_triplets

logger = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"
INFO_FILE = "reranker.json"


@dataclass(frozen=True)
class QueryGroup:
    """A query with its judged-relevant passages and mined negatives (texts), and the set it came from."""

    query: str
    positives: tuple[str, ...]
    negatives: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class RerankTrainConfig:
    """How the cross-encoder is trained.

    Attributes:
        group_size: passages per query per step (one positive, the rest negatives).
        batch_queries: queries per optimizer step (a step scores ``batch_queries * group_size`` pairs).
        max_steps: optimizer steps; the learning rate warms up over ``warmup_ratio`` of them, then decays to 0.
        max_length: tokens of query and passage together (the passage is cut, never the query).
        save_steps: checkpoint every this many steps (resumable).
    """

    group_size: int = 8
    batch_queries: int = 4
    max_steps: int = 1000
    learning_rate: float = 8e-5
    head_learning_rate: float = 1e-3
    warmup_ratio: float = 0.05
    max_length: int = 256
    save_steps: int = 100
    seed: int = 42
    extra: dict = field(default_factory=dict)  # recorded in reranker.json (e.g. the data files)


def read_groups(paths: Iterable[Path]) -> list[QueryGroup]:
    """Triplet files grouped per query (and set): ``[QueryGroup]`` in first-seen order."""
    groups: dict[tuple[str, str], tuple[str, dict[str, None], dict[str, None]]] = {}
    for path in paths:
        for t in read_triplets(path):
            query, positives, negatives = groups.setdefault((t.source, t.query_id or t.query), (t.query, {}, {}))
            positives[t.pos] = None
            if t.neg:
                negatives[t.neg] = None
    out = []
    for (source, _), (query, positives, negatives) in groups.items():
        clean = tuple(n for n in negatives if n not in positives)
        out.append(QueryGroup(query, tuple(positives), clean, source))
    if not out:
        raise TrainingError("No training triplets found; write some with `medembed generate --from-qrels ...`.")
    return out


def sample_group(group: QueryGroup, size: int, pool: Sequence[str], rng: random.Random) -> list[str]:
    """``[positive, negative, ...]`` of ``size`` passages: a random positive, the group's mined negatives (a random
    ``size - 1`` of them), topped up from ``pool`` (the set's passages) with texts that are not its positives."""
    passages = [rng.choice(group.positives)]
    negatives = list(group.negatives)
    rng.shuffle(negatives)
    passages += negatives[: size - 1]
    known = set(group.positives) | set(passages)
    for _ in range(50 * size):
        if len(passages) >= size or not pool:
            break
        text = rng.choice(pool)
        if text not in known:
            passages.append(text)
            known.add(text)
    return passages


def train_reranker(groups: Sequence[QueryGroup], base: Path, output: Path, config: RerankTrainConfig,
                   show_progress_bar: bool | None = None) -> dict:
    """Fine-tune ``base`` (a BERT-like model folder) as a one-logit cross-encoder on ``groups``; save it to
    ``output``. Returns what ``reranker.json`` records (steps, seconds, pairs per second, the CPU)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup

    if not groups:
        raise TrainingError("No query groups to train on.")
    output.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    # float32 whatever the folder says: a reranker saved here is fp16, and training in it on a CPU is slow and
    # overflows to NaN within two steps
    model = AutoModelForSequenceClassification.from_pretrained(str(base), num_labels=1, dtype=torch.float32)
    # the fresh head learns at head_learning_rate: at the encoder's rate its tiny initial weights pass almost no
    # gradient back, and the loss sat at log(group_size) for the first hundred steps of a run here
    head = [p for n, p in model.named_parameters() if n.startswith("classifier.")]
    body = [p for n, p in model.named_parameters() if not n.startswith("classifier.")]
    optimizer = torch.optim.AdamW([{"params": body, "lr": config.learning_rate},
                                   {"params": head, "lr": config.head_learning_rate}], weight_decay=0.01)
    scheduler = get_linear_schedule_with_warmup(optimizer, math.ceil(config.warmup_ratio * config.max_steps),
                                                config.max_steps)
    step, seconds, loss_value = 0, 0.0, float("nan")
    checkpoint = output / CHECKPOINT
    if checkpoint.is_file():
        state = torch.load(checkpoint, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step, seconds = int(state["step"]), float(state["seconds"])
        loss_value = float(state.get("loss", loss_value))
        logger.info("Resuming the reranker at step %d of %d", step, config.max_steps)
    pools: dict[str, list[str]] = {}
    by_source: dict[str, list[QueryGroup]] = {}
    for g in groups:
        pools.setdefault(g.source, []).extend(g.positives + g.negatives)
        by_source.setdefault(g.source, []).append(g)
    sources = sorted(by_source)
    weights = [math.sqrt(len(by_source[s])) for s in sources]
    bf16 = native_bf16()
    autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext
    model.train()
    show = show_progress(show_progress_bar, logger)
    with tqdm(total=config.max_steps, initial=step, desc="Training the reranker", disable=not show) as bar:
        while step < config.max_steps:
            rng = random.Random(config.seed * 1_000_003 + step)  # per step: a resumed run draws what it would have
            batch = [rng.choice(by_source[s]) for s in rng.choices(sources, weights, k=config.batch_queries)]
            queries, passages = [], []
            for g in batch:
                chosen = sample_group(g, config.group_size, pools[g.source], rng)
                chosen += [chosen[-1]] * (config.group_size - len(chosen))  # a tiny set: repeat, never mismatch
                queries += [g.query] * config.group_size
                passages += chosen
            start = time.perf_counter()
            features = tokenizer(queries, passages, padding=True, truncation="only_second",
                                 max_length=config.max_length, return_tensors="pt")
            with autocast():
                logits = model(**features).logits.view(len(batch), config.group_size).float()
            loss = torch.nn.functional.cross_entropy(logits, torch.zeros(len(batch), dtype=torch.long))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            seconds += time.perf_counter() - start
            loss_value = loss.item()
            bar.update(1)
            bar.set_postfix(loss=f"{loss_value:.3f}")
            if step % config.save_steps == 0 or step == config.max_steps:
                torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                            "scheduler": scheduler.state_dict(), "step": step, "seconds": seconds,
                            "loss": loss_value},
                           output / f".{CHECKPOINT}.tmp")
                (output / f".{CHECKPOINT}.tmp").replace(checkpoint)
                logger.info("Reranker step %d: loss %.3f, %.1f pairs/s", step, loss_value,
                            step * config.batch_queries * config.group_size / max(seconds, 1e-9))
    model.eval()
    model.half().save_pretrained(str(output), safe_serialization=True)
    tokenizer.save_pretrained(str(output))
    info = {"base": str(base), "queries": len(groups), "steps": step,
            "last_loss": round(loss_value, 4) if math.isfinite(loss_value) else None, "seconds": round(seconds, 1),
            "pairs_per_second": round(step * config.batch_queries * config.group_size / max(seconds, 1e-9), 2),
            "cpu": cpu_name(), "bf16_autocast": bf16,
            "sources": {s: sum(g.source == s for g in groups) for s in sorted({g.source for g in groups})},
            "config": asdict(config)}
    (output / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    checkpoint.unlink(missing_ok=True)
    return info
