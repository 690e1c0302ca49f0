"""A plain torch training loop around the sentence-transformers losses, for machines without ``datasets``.

It does what the SentenceTransformerTrainer path does for our case, and more: batches without duplicate texts
(like ``BatchSamplers.NO_DUPLICATES``, so a shared positive never becomes an in-batch negative) and without a query's
other known positives, optionally grouped by length; queries and passages cut at their own token caps; pairs or
triplets; AdamW with linear warmup and decay, bf16/fp16 autocast on GPU and bf16 autocast on CPU, gradient clipping,
checkpoints every ``save_steps`` and resuming from the last one (model, optimizer, scheduler, step).
"""

from __future__ import annotations

import logging
import math
import random
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm.auto import tqdm

from medcore.errors import TrainingError
from medcore.progress import show_progress
from trainer.data import Triplet

if TYPE_CHECKING:
    import torch
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

STATE_FILE = "loop_state.pt"


def no_duplicate_batches(triplets: Sequence[Triplet], batch_size: int, seed: int, epoch: int,
                         group_by_length: bool = False, with_negatives: bool = True) -> list[list[int]]:
    """Shuffled batches of triplet indices in which no text (query, positive or negative) occurs twice, and in which
    no row's positive is a known positive of another row's query (it would be that query's in-batch negative: a
    false negative, common where queries have many judged documents, as in NFCorpus).

    With ``group_by_length``, each window of 64 batches is sorted by passage length before it is cut into batches
    (and the batches shuffled again), so a batch pads its passages to a similar length instead of to the longest
    passage of a random draw; the batches of a window are still a random sample of the data.
    """
    rng = random.Random(seed * 100_003 + epoch)
    order = list(range(len(triplets)))
    rng.shuffle(order)
    if group_by_length:
        window = batch_size * 64

        def length(i: int) -> int:
            return len(triplets[i].pos) + (len(triplets[i].neg) if with_negatives else 0)

        order = [i for start in range(0, len(order), window)
                 for i in sorted(order[start:start + window], key=length)]
    positives: dict[str, set[str]] = {}
    for t in triplets:
        positives.setdefault(t.query, set()).add(t.pos)
    remaining = dict.fromkeys(order)
    batches = []
    while remaining:
        batch: list[int] = []
        seen: set[str] = set()
        batch_positives: set[str] = set()
        forbidden: set[str] = set()  # known positives of the batch's queries
        for i in remaining:
            t = triplets[i]
            texts = {t.query, t.pos, *((t.neg,) if with_negatives else ())}
            if texts & seen or t.pos in forbidden or not positives[t.query].isdisjoint(batch_positives):
                continue
            batch.append(i)
            seen |= texts
            batch_positives.add(t.pos)
            forbidden |= positives[t.query]
            if len(batch) == batch_size:
                break
        for i in batch:
            del remaining[i]
        batches.append(batch)
    if group_by_length:
        rng.shuffle(batches)
    return batches


def contrastive_batches(batches: list[list[int]], batch_size: int) -> list[list[int]]:
    """Drop the batches too small to teach anything with in-batch negatives (a row alone has a loss of 0, yet its
    optimizer step still moves the weights by momentum and weight decay).

    The no-duplicate sampler leaves such scraps at the end of each pass: the remaining rows of queries with many
    positives, which may not meet in one batch (NFCorpus at 20 positives per query: 204 single-row batches of 826).
    A batch is kept from a quarter of ``batch_size`` rows up (never more than the largest batch holds).
    """
    floor = min(max(2, batch_size // 4), max((len(b) for b in batches), default=0))
    kept = [b for b in batches if len(b) >= floor]
    if len(kept) < len(batches):
        logger.debug("Skipping %d batches under %d rows (%d rows)", len(batches) - len(kept), floor,
                     sum(len(b) for b in batches if len(b) < floor))
    return kept


def latest_checkpoint(folder: Path) -> Path | None:
    """The ``checkpoint-<step>`` subfolder with the highest step, or None."""
    found = [p for p in Path(folder).glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()]
    return max(found, key=lambda p: int(p.name.split("-")[-1]), default=None)


def autocast(device: str, precision: str):  # noqa: ANN202 - context manager
    import contextlib

    import torch

    if precision in ("bf16", "fp16") and device.startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.bfloat16 if precision == "bf16" else torch.float16)
    if precision == "bf16" and device == "cpu":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def tokenize(model: SentenceTransformer, texts: list[str], max_length: int) -> dict:
    """Tokenise ``texts`` cut at ``max_length`` tokens (queries and passages get their own caps), on the model's
    device."""
    preprocess = getattr(model, "preprocess", None) or model.tokenize
    kept = model.max_seq_length
    model.max_seq_length = max_length
    try:
        feats = preprocess(texts)
    finally:
        model.max_seq_length = kept
    return {k: v.to(model.device) if hasattr(v, "to") else v for k, v in feats.items()}


def _save(model: SentenceTransformer, folder: Path, step: int, state: dict, keep: int = 2) -> None:
    import torch

    path = folder / f"checkpoint-{step}"
    model.save(str(path))
    torch.save(state, path / STATE_FILE)
    old = sorted((p for p in folder.glob("checkpoint-*") if p != path and p.name.split("-")[-1].isdigit()),
                 key=lambda p: int(p.name.split("-")[-1]))
    for stale in old[: max(0, len(old) - (keep - 1))]:
        shutil.rmtree(stale, ignore_errors=True)


def _load_state(path: Path, device: str) -> dict:
    """A checkpoint's training state: tensors, numbers and dicts only (``weights_only``). A checkpoint folder may
    be shared or copied from elsewhere; a full unpickle would run whatever code a planted file holds."""
    import torch

    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch's refusal (an UnpicklingError) or a damaged file alike
        raise TrainingError(f"{path} holds more than a training state (objects that would run code when loaded) or "
                            f"is damaged ({type(exc).__name__}), so it was not loaded. Delete that checkpoint folder, "
                            "or train without --resume.") from exc


def train_loop(model: SentenceTransformer, loss: torch.nn.Module, triplets: Sequence[Triplet], *, batch_size: int,
               epochs: float, max_steps: int, learning_rate: float, warmup_ratio: float, precision: str,
               save_steps: int, checkpoint_dir: Path, resume: bool, seed: int, query_max_length: int | None = None,
               group_by_length: bool = False, with_negatives: bool = True,
               show_progress_bar: bool | None = None, max_seconds: float | None = None,
               teacher: Callable[[list[Triplet]], torch.Tensor] | None = None) -> dict[str, float]:
    """Train in place; returns ``{"steps", "examples", "seconds"}`` for this run (resumed steps excluded).

    Passages are cut at ``model.max_seq_length`` tokens and queries at ``query_max_length`` (default: the same);
    without ``with_negatives`` the negative column is ignored and the loss sees (query, positive) pairs. A
    ``teacher`` scores each batch's rows and the loss gets its scores as labels (see :mod:`trainer.distill`).
    """
    import torch
    from transformers import get_linear_schedule_with_warmup

    torch.manual_seed(seed)
    device = str(model.device)
    def batches(epoch: int) -> list[list[int]]:
        return contrastive_batches(
            no_duplicate_batches(triplets, batch_size, seed, epoch, group_by_length, with_negatives), batch_size)

    per_epoch = len(batches(0))
    logger.info("%d batches of up to %d rows per epoch", per_epoch, batch_size)
    total = max_steps if max_steps > 0 else max(1, math.ceil(epochs * per_epoch))
    trainable = [p for p in loss.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=learning_rate, weight_decay=0.01)
    scheduler = get_linear_schedule_with_warmup(optimizer, math.ceil(warmup_ratio * total), total)
    scaler = torch.amp.GradScaler("cuda", enabled=precision == "fp16" and device.startswith("cuda"))
    step = 0
    if resume and (last := latest_checkpoint(checkpoint_dir)) is not None:
        state = _load_state(last / STATE_FILE, device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step = int(state["step"])
        logger.info("Resuming from %s (step %d of %d)", last, step, total)
    passage_max_length = model.max_seq_length
    query_max_length = query_max_length or passage_max_length
    show = show_progress(show_progress_bar, logger)

    def checkpoint() -> None:
        _save(model, checkpoint_dir, step, {"model": model.state_dict(), "step": step,
                                            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()})

    model.train()
    start, examples, first = time.perf_counter(), 0, step
    with tqdm(total=total, initial=step, desc="Training", disable=not show, unit="step") as bar:
        while step < total:
            epoch, offset = divmod(step, per_epoch)
            for batch in batches(epoch)[offset:]:
                if step >= total:
                    break
                if max_seconds is not None and step > first and time.perf_counter() - start > max_seconds:
                    # out of time: saved, so a rerun with more time resumes here (the learning rate had not yet
                    # decayed to 0: the schedule was planned for every step)
                    logger.info("Time budget of %.0f s spent after %d of %d steps.", max_seconds, step, total)
                    if step % save_steps:
                        checkpoint()
                    total = step
                    break
                rows = [triplets[i] for i in batch]
                columns = [([t.query for t in rows], query_max_length), ([t.pos for t in rows], passage_max_length)]
                if with_negatives:
                    columns.append(([t.neg for t in rows], passage_max_length))
                features = [tokenize(model, texts, max_length) for texts, max_length in columns]
                labels = teacher(rows) if teacher is not None else None
                with autocast(device, precision):
                    value = loss(features, labels)
                scaler.scale(value).backward()
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(trainable, 1.0)
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                examples += len(rows)
                bar.update(1)
                bar.set_postfix(loss=f"{value.item():.4f}")
                if step % save_steps == 0 or step == total:
                    checkpoint()
    model.eval()
    return {"steps": step - first, "examples": examples, "seconds": time.perf_counter() - start,
            "global_step": step}
