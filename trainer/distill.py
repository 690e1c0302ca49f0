"""Distillation from a stronger embedding model (the teacher) beside the contrastive loss.

A small model fine-tuned on a handful of medical sets learns their labels and forgets part of what its base knew: it
loses to its own base on held-out sets. A larger general model (all-mpnet-base-v2 runs offline here, and ranks
better than MiniLM on the dev sets measured) ranks each batch's positives for each query; the student learns that
ranking beside the labels: the KL divergence between the teacher's and the student's softmax over the batch's
positives, added to the multiple-negatives ranking loss (in-batch distillation, as in RocketQAv2 and TAS-B). Only
queries and positives are encoded by the teacher, which keeps its cost to at most about a fifth of a step on 2 CPU
cores (BENCHMARKS.md, "Run 11": there it lifted consumer-health sets and cost biomedical-literature ones).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from medcore.errors import TrainingError
from trainer.data import Triplet
from trainer.loop import autocast, latest_checkpoint, tokenize
from trainer.models import load_model

if TYPE_CHECKING:
    import torch
    from sentence_transformers import SentenceTransformer

    from medcore.config import DistillRows, TrainSettings
    from medcore.models import ModelSpec

logger = logging.getLogger(__name__)

SCALE = 20.0  # the multiple-negatives ranking loss's cosine scale (temperature 0.05), for both models' softmax


class Teacher:
    """Cosine similarities of a frozen model between a batch's queries and its positives.

    The student's prefixes are taken off each text and the teacher's own put on, so a teacher reads text as it was
    trained to whatever the student's conventions are.
    """

    def __init__(self, model: SentenceTransformer, *, query_prefix: str = "", passage_prefix: str = "",
                 student_prefixes: tuple[str, str] = ("", ""), query_max_length: int = 64,
                 passage_max_length: int = 256, precision: str = "fp32") -> None:
        self.model = model.eval()  # no dropout: the same text always gets the same vector
        self.prefixes = (query_prefix, passage_prefix)
        self.student_prefixes = student_prefixes
        self.lengths = (query_max_length, passage_max_length)
        self.precision = precision

    def _embed(self, texts: list[str], column: int) -> torch.Tensor:
        import torch

        texts = [self.prefixes[column] + t.removeprefix(self.student_prefixes[column]) for t in texts]
        feats = tokenize(self.model, texts, self.lengths[column])
        with torch.no_grad(), autocast(str(self.model.device), self.precision):
            out = self.model(feats)
        return torch.nn.functional.normalize(out["sentence_embedding"].float(), dim=-1)

    def __call__(self, rows: Sequence[Triplet]) -> torch.Tensor:
        """A (queries x positives) matrix of cosine similarities, float32, on the teacher's device."""
        queries = self._embed([t.query for t in rows], 0)
        positives = self._embed([t.pos for t in rows], 1)
        return queries @ positives.T


def load_teacher(hp: TrainSettings, student: ModelSpec | None, device: str, precision: str,
                 allow_download: bool = False) -> Teacher:
    """The teacher ``hp.distill_from`` names, reading queries and passages at the student's token caps (texts
    without the student's prefixes; ``student=None``: texts that carry none, as in triplet files)."""
    spec, model = load_model(hp.distill_from, device, allow_download)
    logger.info("Distilling from %s (weight %s, rows: %s)", spec.name, hp.distill_weight, hp.distill_rows)
    return Teacher(model, query_prefix=spec.query_prefix, passage_prefix=spec.passage_prefix,
                   student_prefixes=(student.query_prefix, student.passage_prefix) if student else ("", ""),
                   query_max_length=hp.query_max_length, passage_max_length=hp.max_seq_length, precision=precision)


def teacher_agrees(teacher_scores):  # noqa: ANN001, ANN201 - torch tensors
    """Which queries' own positive (the diagonal of ``teacher_scores``, queries x the batch's positives) the teacher
    ranks first: the rows ``distill_rows="agree"`` keeps the teacher's term for."""
    import torch

    return teacher_scores.argmax(dim=-1) == torch.arange(len(teacher_scores), device=teacher_scores.device)


def distilled_ranking_loss(model: SentenceTransformer, weight: float,  # noqa: ANN201 - a torch module
                           rows: DistillRows = "all"):
    """The multiple-negatives ranking loss plus ``weight`` times the in-batch KL to the teacher's scores.

    Called as ``loss(features, teacher_scores)`` with features for (queries, positives[, negatives]); without teacher
    scores it is the plain ranking loss. ``rows="agree"`` keeps the KL only for the queries whose own positive the
    teacher ranks first (averaged over the whole batch, so the term shrinks where the teacher is often wrong).
    """
    import torch
    from torch.nn import functional

    class DistilledRankingLoss(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, features: list[dict], teacher_scores: torch.Tensor | None) -> torch.Tensor:
            embeddings = [functional.normalize(self.model(f)["sentence_embedding"], dim=-1) for f in features]
            # in float32: under bf16 autocast the matmul would round logits of 8-32 to steps of 0.06-0.125
            queries, candidates = embeddings[0].float(), torch.cat(embeddings[1:]).float()
            scores = SCALE * queries @ candidates.T
            labels = torch.arange(len(queries), device=scores.device)
            ranking = functional.cross_entropy(scores, labels)
            if teacher_scores is None or weight == 0:
                return ranking
            # over the positives only: the columns the teacher scored
            student = functional.log_softmax(scores[:, : len(queries)], dim=-1)
            teacher_scores = teacher_scores.to(scores.device)
            target = functional.softmax(SCALE * teacher_scores, dim=-1)
            per_row = functional.kl_div(student, target, reduction="none").sum(dim=-1)
            if rows == "agree":
                # where the teacher ranks another query's passage first, the label knows better than the teacher
                per_row = per_row * teacher_agrees(teacher_scores)
            return ranking + weight * per_row.mean()

    return DistilledRankingLoss()


TEACHER_FILE = "teacher.json"


def check_teacher(checkpoints: Path, hp: TrainSettings, resume: bool) -> None:
    """Refuse to resume checkpoints made with another teacher (or none), and record this run's teacher.

    A resumed run would otherwise mix two losses in one model without a word. Checkpoints without the file were
    made without a teacher.
    """
    none = {"distill_from": "", "distill_weight": 0.0, "distill_rows": "all"}
    teacher = {key: getattr(hp, key) for key in none} if hp.distill_from else none
    path = checkpoints / TEACHER_FILE
    if resume and latest_checkpoint(checkpoints) is not None:
        before = {**none, **json.loads(path.read_text(encoding="utf-8"))} if path.is_file() else none
        if before != teacher:
            raise TrainingError(f"The checkpoints in {checkpoints} were trained with teacher {before}; this run asks "
                                f"for {teacher}. Resume with the same --distill-from, --distill-weight and "
                                "--distill-rows, or delete that folder (or train without --resume) to start again.")
    if hp.distill_from:
        path.write_text(json.dumps(teacher) + "\n", encoding="utf-8")
    else:
        path.unlink(missing_ok=True)
