"""How relevant a hit is, in [0, 1] with one meaning across queries, and the floor below which nothing is shown.

Fused scores cannot say this: min-max normalisation gives every query's top hit the same score, and RRF scores depend
only on ranks, so "zzqx blorf" had a best hit as sure of itself as a real question's. The dense cosine between the
query and a passage does carry meaning across queries; a logistic calibration of it, fitted per model (and per
weights of that model) on dev data by ``benchmarks/relevance_calibration.py``, turns it into a probability that the
passage is on topic, and the floor chosen there separates answers from off-topic and nonsense queries.

A model without a calibration for its current weights (retrained, or never fitted) gets no relevance and no floor:
every hit is shown, as before, and the log says how to fit one.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

from medcore.models import ModelSpec, weights_digest
from medcore.types import Hit, PaperHit

logger = logging.getLogger(__name__)

CALIBRATION_FILE = Path(__file__).resolve().parent / "relevance_calibration.json"
R = TypeVar("R", Hit, PaperHit)


def calibration_key(model: str, weights: str | None) -> str:
    """``"medembed-small@3f2a..."`` for a local model's weights, the bare name for a hub model (weights unread)."""
    return f"{model}@{weights}" if weights else model


@dataclass(frozen=True)
class Calibration:
    """``relevance = sigmoid(intercept + slope * cosine)``; results under ``floor`` are not shown as results.
    ``auc``: how well the feature told on-topic from off-topic on the dev pairs it was fitted on (None: not recorded).
    """

    model: str
    intercept: float
    slope: float
    floor: float
    auc: float | None = None

    def relevance(self, cosine: float) -> float:
        z = self.intercept + self.slope * cosine
        return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0


@lru_cache(maxsize=16)
def _table(path: Path, mtime_ns: int) -> dict:
    return json.loads(path.read_text(encoding="utf-8")).get("models", {})


def calibration_for(spec: ModelSpec | None, path: Path = CALIBRATION_FILE) -> Calibration | None:
    """The calibration fitted for ``spec``'s current weights, or None (BM25 alone, or a model never fitted or
    retrained since: logged, with the command that fits it)."""
    if spec is None:
        return None
    key = calibration_key(spec.name, weights_digest(spec))
    try:
        table = _table(path, path.stat().st_mtime_ns)
    except (OSError, ValueError) as exc:
        logger.warning("Cannot read the relevance calibration %s (%s); showing every result, no floor.", path, exc)
        return None
    entry = table.get(key)
    if entry is None:
        fitted = sorted(k for k in table if k.split("@")[0] == spec.name)
        why = (f"it was fitted for other weights ({', '.join(fitted)}), and the model was replaced since" if fitted
               else "none was fitted for it")
        logger.warning("No relevance calibration for %s (%s): results carry no relevance and no floor hides any. "
                       "Fit one: python benchmarks/relevance_calibration.py --model %s", key, why, spec.name)
        return None
    auc = entry.get("dev", {}).get("auc")
    return Calibration(spec.name, float(entry["intercept"]), float(entry["slope"]), float(entry["floor"]),
                       float(auc) if auc is not None else None)


def hit_relevance(calibration: Calibration | None, chunk_id: int, cosines: Mapping[int, float] | None) -> float | None:
    """A hit's relevance from its dense cosine in ``cosines`` (a dense run over the same library); a hit that run did
    not reach gets the run's lowest cosine, which bounds its own from above (so it never looks more relevant than it
    is)."""
    if calibration is None or not cosines:
        return None
    cosine = cosines[chunk_id] if chunk_id in cosines else min(cosines.values())  # min only for the few missing
    return round(calibration.relevance(cosine), 4)


def passes(result: Hit | PaperHit, floor: float | None) -> bool:
    """Whether a result is shown as a result: at or above the floor, or anything where there is no floor."""
    return floor is None or result.relevance is None or result.relevance >= floor


def split(results: Sequence[R], floor: float | None) -> tuple[list[R], list[R]]:
    """``(shown, weak)``: results at or above the floor in their order, and those below it (also in order)."""
    return [r for r in results if passes(r, floor)], [r for r in results if not passes(r, floor)]


def renumber(results: Sequence[R]) -> list[R]:
    """The results with ranks 1..n in the given order (the number on each card is its place on the page)."""
    return [replace(r, rank=i) for i, r in enumerate(results, start=1)]
