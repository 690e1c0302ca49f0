"""The trained part of study-design detection: a logistic regression over an abstract's embedding and its phrases.

Where no phrase rule decides (:mod:`indexer.text.design_rules`), the whole abstract still shows the design: how
patients were found and followed, what was measured, whether animals or cells were used. A multinomial logistic
regression reads the packaged MiniLM embedding of the title and abstract plus the rules' phrase features and gives
a probability per design; below the threshold chosen on the development set the paper is "Not determined".

The weights (``study_design_model.json``, about 100 kB) are made by ``benchmarks/study_design_train.py`` from the
``dev`` split of ``tests/data/study_designs/labels.jsonl``. They belong to one embedding model: the file records a
probe vector, and if the encoder no longer reproduces it (another model under the same name) the model part is
switched off with a warning rather than giving confident nonsense.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from indexer.text.design_rules import FEATURE_NAMES, phrase_features
from medcore.config import Settings
from medcore.errors import MedEmbedError

logger = logging.getLogger(__name__)

WEIGHTS = Path(__file__).resolve().parent / "study_design_model.json"
PROBE_TEXT = "Patients were followed for five years after surgery."
MAX_CHARS = 2000  # MiniLM reads 256 word pieces: the title and the first part of the abstract, where design is told


@dataclass(frozen=True)
class DesignModel:
    encoder: str  # registry name of the embedding model, e.g. "minilm"
    classes: tuple[str, ...]
    coef: np.ndarray  # (n_classes, dim + n_features)
    intercept: np.ndarray  # (n_classes,)
    threshold: float  # below this top probability: not determined
    probe: np.ndarray  # the encoder's vector of PROBE_TEXT when the weights were made

    @classmethod
    def load(cls, path: Path = WEIGHTS) -> DesignModel:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            model = cls(raw["encoder"], tuple(raw["classes"]), np.asarray(raw["coef"], dtype=np.float32),
                        np.asarray(raw["intercept"], dtype=np.float32), float(raw["threshold"]),
                        np.asarray(raw["probe"], dtype=np.float32))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise MedEmbedError(f"Cannot read the study-design model {path}: {exc}. Rebuild it with "
                                "`python -m benchmarks.study_design_train`.") from exc
        if raw.get("features") != list(FEATURE_NAMES):
            raise MedEmbedError(f"The study-design model {path} was trained on other phrase features; rebuild it "
                                "with `python -m benchmarks.study_design_train`.")
        return model

    def probabilities(self, vectors: np.ndarray, features: np.ndarray) -> np.ndarray:
        """``(n, n_classes)`` probabilities from embeddings and phrase features (one row per paper)."""
        logits = np.hstack([vectors, features]) @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)


def model_text(title: str, abstract: str) -> str:
    return f"{title}. {abstract}"[:MAX_CHARS] if title else abstract[:MAX_CHARS]


def features_of(titles: list[str], abstracts: list[str]) -> np.ndarray:
    return np.asarray([phrase_features(t, a) for t, a in zip(titles, abstracts, strict=True)], dtype=np.float32)


def embed(texts: list[str], encoder: str, settings: Settings | None = None) -> np.ndarray:
    from indexer.encode.embedder import Embedder

    return Embedder.load(encoder, settings).encode_passages(texts, show_progress_bar=False)


@functools.lru_cache(maxsize=1)
def _ready(path: Path = WEIGHTS) -> DesignModel | None:
    """The model when its encoder still gives the recorded probe vector, else None (and a warning once)."""
    try:
        model = DesignModel.load(path)
        probe = embed([PROBE_TEXT], model.encoder)[0]
    except MedEmbedError as exc:
        logger.warning("Study designs from phrases only: %s", exc)
        return None
    if float(probe @ model.probe) < 0.99:
        logger.warning("Study designs from phrases only: the %s encoder is not the one the design model was trained "
                       "on (rebuild it with `python -m benchmarks.study_design_train`).", model.encoder)
        return None
    return model


def predict(titles: list[str], abstracts: list[str]) -> list[tuple[str, float, float]] | None:
    """``(best design, its probability, threshold)`` per paper, or None when the model cannot be used."""
    model = _ready()
    if model is None:
        return None
    vectors = embed([model_text(t, a) for t, a in zip(titles, abstracts, strict=True)], model.encoder)
    probs = model.probabilities(vectors, features_of(titles, abstracts))
    best = probs.argmax(axis=1)
    return [(model.classes[i], float(probs[row, i]), model.threshold) for row, i in enumerate(best)]
