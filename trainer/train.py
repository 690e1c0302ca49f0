"""``medembed train``: contrastive fine-tuning with MultipleNegativesRankingLoss on triplets or on pairs.

Two backends: a plain torch loop (:mod:`trainer.loop`, the default: it needs only torch, sentence-transformers and
transformers, and it alone gives queries their own token cap, groups batches by length and trains on pairs) and the
SentenceTransformerTrainer (needs ``datasets`` and ``accelerate``). Both batch without duplicates, warm up
linearly, checkpoint and resume, and may freeze the lowest layers; on a CPU with native bf16 both train under bf16
autocast. The base model is scored on the dev set before training and the result after; the output folder gets
the model, ``README.md`` and ``medembed.json``.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from medcore.config import Settings, TrainSettings
from medcore.cpu import cpu_name, native_bf16
from medcore.errors import TrainingError
from medcore.models import ModelSpec, pick_device
from medcore.progress import show_progress
from trainer.card import data_counts, read_info, write_card
from trainer.data import Triplet
from trainer.devset import DevSet, evaluate
from trainer.distill import Teacher, check_teacher, distilled_ranking_loss, load_teacher
from trainer.loop import latest_checkpoint, no_duplicate_batches, train_loop
from trainer.models import load_model

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """One run: ``train`` holds the hyperparameters (the ``[train]`` settings section, overridable per run)."""

    output_dir: Path
    train: TrainSettings = field(default_factory=TrainSettings)
    checkpoint_dir: Path | None = None
    max_steps: int = -1
    resume: bool = False
    overwrite: bool = False
    device: str = "auto"
    allow_download: bool = False
    max_seconds: float | None = None  # a time budget for the torch loop (it stops, saved, when it is spent)

    @property
    def checkpoints(self) -> Path:
        return self.checkpoint_dir or self.output_dir.with_name(self.output_dir.name + "-checkpoints")


@dataclass(frozen=True)
class TrainResult:
    output_dir: Path
    backend: str
    steps: int
    examples: int
    seconds: float
    scores: dict[str, dict[str, float]]

    @property
    def triplets_per_second(self) -> float:
        return self.examples / self.seconds if self.seconds else 0.0

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(output_dir=str(self.output_dir), seconds=round(self.seconds, 2),
                   triplets_per_second=round(self.triplets_per_second, 3))
        return out


def base_name(spec: ModelSpec) -> str:
    """The base model's name for cards: a local copy's own recorded base (``medembed.json``), else its hub id."""
    if spec.local_path is not None and (recorded := read_info(spec.local_path).get("base_model")):
        return str(recorded)
    return spec.hub_id or spec.name


def check_output_dir(path: Path, overwrite: bool) -> None:
    """Refuse a non-empty output folder unless ``overwrite``."""
    if path.exists() and (not path.is_dir() or any(path.iterdir())) and not overwrite:
        raise TrainingError(f"Output folder {path} is not empty; choose another --output or pass --overwrite to "
                            "replace what is there.")


def training_available() -> bool:
    """Whether the SentenceTransformerTrainer can run (``datasets`` and ``accelerate`` installed)."""
    from sentence_transformers.util import is_training_available

    return is_training_available()


def resolve_precision(precision: str, device: str) -> str:
    """``fp32``, ``bf16`` or ``fp16`` for ``device``: ``auto`` is bf16 (fp16 without bf16) on a GPU, bf16 autocast on
    a CPU with native bf16, else fp32; a request the device cannot serve falls back to fp32 with a warning."""
    if not device.startswith("cuda"):
        native = native_bf16()
        if precision == "fp16" or (precision == "bf16" and not native):
            logger.warning("%s autocast is not worth it on this CPU (%s, no native bf16); training in fp32.",
                           precision, cpu_name())
            return "fp32"
        if precision == "auto":
            if not native:
                logger.info("%s has no native bf16 (AVX512-BF16 or AMX); training in fp32.", cpu_name())
            return "bf16" if native else "fp32"
        return precision
    if precision != "auto":
        return precision
    import torch

    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def make_loss(model: Any, settings: TrainSettings) -> Any:
    from sentence_transformers import losses

    if settings.distill_from:
        return distilled_ranking_loss(model, settings.distill_weight, settings.distill_rows)
    if settings.loss == "cached_mnrl":
        return losses.CachedMultipleNegativesRankingLoss(model, mini_batch_size=settings.mini_batch_size)
    return losses.MultipleNegativesRankingLoss(model)


def train(triplets: Sequence[Triplet], config: TrainConfig, dev: DevSet | None = None,
          settings: Settings | None = None, show_progress_bar: bool | None = None) -> TrainResult:
    """Fine-tune ``config.train.base_model`` on ``triplets`` and write the model with its card.

    Raises:
        TrainingError: no triplets, occupied output folder, or ``backend="trainer"`` without datasets/accelerate.
    """
    hp = config.train
    if len(triplets) < 2:
        raise TrainingError(f"Training needs at least 2 triplets, got {len(triplets)}; run `medembed generate` first.")
    check_output_dir(config.output_dir, config.overwrite)
    backend = hp.backend if hp.backend != "auto" else "torch"
    if hp.distill_from and (backend == "trainer" or hp.loss == "cached_mnrl" or hp.distill_weight == 0):
        raise TrainingError("Distillation (train.distill_from) runs in the plain torch loop with the mnrl loss and a "
                            "weight above 0: use --backend torch --loss mnrl and --distill-weight > 0, or train "
                            "without --distill-from.")
    if backend == "trainer" and not training_available():
        raise TrainingError("backend 'trainer' needs datasets and accelerate: pip install -e '.[train]', or use "
                            "--backend torch (plain loop, no extra packages).")
    device = pick_device(config.device)
    precision = resolve_precision(hp.precision, device)
    spec, model = load_model(hp.base_model, device, config.allow_download)
    indexing_length = model.max_seq_length
    model.max_seq_length = hp.max_seq_length
    frozen = freeze(model, hp.freeze_embeddings, hp.freeze_layers)
    if backend == "trainer" and (hp.query_max_length != hp.max_seq_length or not hp.hard_negatives):
        logger.warning("The trainer backend cuts queries at max_seq_length and always uses the negatives; "
                       "use --backend torch for query_max_length and hard_negatives=false.")
    logger.info("Training %s on %d triplets (%s backend, %s, %s); settings: %s", spec.name, len(triplets), backend,
                device, precision, asdict(hp))
    scores: dict[str, dict[str, float]] = {}
    if dev is not None:
        scores["base"] = evaluate(model, dev, spec.query_prefix, spec.passage_prefix)
    prefixed = [_with_prefixes(t, spec.query_prefix, spec.passage_prefix) for t in triplets]
    config.checkpoints.mkdir(parents=True, exist_ok=True)
    check_teacher(config.checkpoints, hp, config.resume)
    if backend == "trainer":
        stats = _run_trainer(model, prefixed, config, precision, show_progress_bar)
    else:
        teacher = load_teacher(hp, spec, device, precision, config.allow_download) if hp.distill_from else None
        stats = _run_loop(model, prefixed, config, precision, show_progress_bar, teacher)
    if dev is not None:
        scores["fine-tuned"] = evaluate(model, dev, spec.query_prefix, spec.passage_prefix)
    config.output_dir.mkdir(parents=True, exist_ok=True)
    # the training cut is a training setting: the saved model indexes passages as far as its base does
    model.max_seq_length = max(indexing_length, hp.max_seq_length)
    model.save(str(config.output_dir))
    result = TrainResult(config.output_dir, backend, int(stats["steps"]), int(stats["examples"]),
                         float(stats["seconds"]), scores)
    info = {
        "name": config.output_dir.name, "base_model": base_name(spec), "data": data_counts(triplets),
        "hyperparameters": {**asdict(hp), "max_steps": config.max_steps, "precision": precision,
                            "batch_sampler": "no_duplicates" + (", length-grouped" if hp.group_by_length else ""),
                            "frozen_parameters": frozen},
        "training": {"backend": backend, "device": device, "steps": int(stats["global_step"]),
                     "seconds_this_run": round(result.seconds, 1),
                     "triplets_per_second": round(result.triplets_per_second, 2)},
        "scores": scores, "dev_set": dev.describe() if dev else None,
    }
    earlier = read_info(config.output_dir).get("training", {})
    if result.steps == 0 and earlier.get("steps") == info["training"]["steps"]:
        info["training"] = earlier  # resumed a finished run: nothing trained now, so keep the run's own record
    write_card(config.output_dir, info)
    (config.output_dir / "settings.json").write_text(json.dumps((settings or Settings()).to_dict(), indent=2) + "\n",
                                                     encoding="utf-8")
    return result


def freeze(model: Any, embeddings: bool, layers: int) -> int:
    """Stop gradients to the word embeddings and/or the lowest ``layers`` transformer layers; returns how many
    parameters are frozen. Frozen layers still run forward but skip their backward pass and optimizer state."""
    if not embeddings and not layers:
        return 0
    backbone = getattr(model[0], "auto_model", None)
    blocks = getattr(getattr(backbone, "encoder", None), "layer", None)
    word = getattr(getattr(backbone, "embeddings", None), "word_embeddings", None)
    if blocks is None or word is None:
        raise TrainingError("Freezing needs a BERT-like model (embeddings.word_embeddings, encoder.layer); set "
                            "train.freeze_embeddings=false and train.freeze_layers=0 for this model.")
    if layers > len(blocks):
        raise TrainingError(f"train.freeze_layers={layers} but the model has {len(blocks)} layers.")
    parts = ([word] if embeddings else []) + list(blocks[:layers])
    frozen = 0
    for part in parts:
        for parameter in part.parameters():
            parameter.requires_grad = False
            frozen += parameter.numel()
    logger.info("Frozen: %s%d lowest layers (%d parameters)", "word embeddings, " if embeddings else "", layers,
                frozen)
    return frozen


def _with_prefixes(t: Triplet, query_prefix: str, passage_prefix: str) -> Triplet:
    if not (query_prefix or passage_prefix):
        return t
    return Triplet(query_prefix + t.query, passage_prefix + t.pos, passage_prefix + t.neg, t.query_id, t.pos_id,
                   t.neg_id, t.kind, t.source, t.neg_source)


def _run_loop(model: Any, triplets: Sequence[Triplet], config: TrainConfig, precision: str,
              show_progress_bar: bool | None, teacher: Teacher | None = None) -> dict[str, float]:
    hp = config.train
    return train_loop(model, make_loss(model, hp), triplets, batch_size=hp.batch_size, epochs=hp.epochs,
                      max_steps=config.max_steps, learning_rate=hp.learning_rate, warmup_ratio=hp.warmup_ratio,
                      precision=precision, save_steps=hp.save_steps, checkpoint_dir=config.checkpoints,
                      resume=config.resume, seed=hp.seed, query_max_length=hp.query_max_length,
                      group_by_length=hp.group_by_length, with_negatives=hp.hard_negatives,
                      show_progress_bar=show_progress_bar, max_seconds=config.max_seconds, teacher=teacher)


def _run_trainer(model: Any, triplets: Sequence[Triplet], config: TrainConfig, precision: str,
                 show_progress_bar: bool | None) -> dict[str, float]:
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    try:
        from sentence_transformers.sentence_transformer.training_args import BatchSamplers
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers.training_args import BatchSamplers

    hp = config.train
    show = show_progress(show_progress_bar, logger)
    per_epoch = len(no_duplicate_batches(triplets, hp.batch_size, hp.seed, 0))
    total = config.max_steps if config.max_steps > 0 else max(1, math.ceil(hp.epochs * per_epoch))
    dataset = Dataset.from_dict({"anchor": [t.query for t in triplets], "positive": [t.pos for t in triplets],
                                 "negative": [t.neg for t in triplets]})
    args = SentenceTransformerTrainingArguments(
        output_dir=str(config.checkpoints), num_train_epochs=hp.epochs, max_steps=config.max_steps,
        per_device_train_batch_size=hp.batch_size, learning_rate=hp.learning_rate,
        warmup_steps=math.ceil(hp.warmup_ratio * total), bf16=precision == "bf16", fp16=precision == "fp16",
        batch_sampler=BatchSamplers.NO_DUPLICATES, save_strategy="steps", save_steps=hp.save_steps,
        save_total_limit=2, logging_steps=max(1, min(50, total // 10)), seed=hp.seed, report_to="none",
        use_cpu=not str(model.device).startswith("cuda"), disable_tqdm=not show,
        max_grad_norm=1.0, weight_decay=0.01,
    )
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset, loss=make_loss(model, hp))
    if not show:  # without a progress bar, transformers prints every log dict to stdout instead
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)
    checkpoint = latest_checkpoint(config.checkpoints) if config.resume else None
    if config.resume and checkpoint is None:
        logger.warning("No checkpoint in %s to resume from; starting from the base model.", config.checkpoints)
    first = int(checkpoint.name.split("-")[-1]) if checkpoint else 0
    start = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    seconds = time.perf_counter() - start
    steps = int(output.global_step) - first
    examples = steps * hp.batch_size if config.max_steps > 0 else min(steps * hp.batch_size, len(triplets) * hp.epochs)
    return {"steps": steps, "examples": examples,
            "seconds": seconds, "global_step": int(output.global_step)}
