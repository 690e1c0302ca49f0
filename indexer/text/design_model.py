"""The trained part of study-design detection: two logistic regressions over an abstract, averaged.

Where no phrase rule decides (:mod:`indexer.text.design_rules`), the whole abstract still shows the design: how
patients were found and followed, what was measured, whether animals or cells were used. Two multinomial logistic
regressions read it: one on the packaged MiniLM embedding of the title and abstract plus the rules' phrase features
(MiniLM reads only the first ~256 word pieces), one on TF-IDF word and bigram counts of the whole title and abstract
(what the Methods sentences say, wherever they are). Their probabilities are averaged; below the threshold chosen on
the development set, or where the best design leads the second by less than the margin chosen there, the paper is
"Not determined". The same probabilities confirm or overrule the weak phrase rules
(those under 0.9 precise on dev): such a phrase decides only where the model gives its design at least ``agree``.

The weights (``study_design_model.json``, JSON only: the TF-IDF vocabulary, idf and coefficients are plain lists)
are made by ``benchmarks/study_design_train.py`` from the ``dev`` split of ``tests/data/study_designs/labels.jsonl``.
They belong to one embedding model: the file records a probe vector, and if the encoder no longer reproduces it
(another model under the same name) the model part is switched off with a warning rather than giving confident
nonsense.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from indexer.text.design_rules import FEATURE_NAMES, phrase_features
from medcore.config import Settings
from medcore.errors import MedEmbedError

logger = logging.getLogger(__name__)

WEIGHTS = Path(__file__).resolve().parent / "study_design_model.json"
PROBE_TEXT = "Patients were followed for five years after surgery."
MAX_CHARS = 2000  # MiniLM reads 256 word pieces: the title and the first part of the abstract, where design is told


_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token pattern, which the weights were fit with


def _strip_accents(text: str) -> str:
    normal = unicodedata.normalize("NFKD", text)
    return normal if normal.isascii() else "".join(c for c in normal if not unicodedata.combining(c))


@dataclass(frozen=True)
class Tfidf:
    """A TF-IDF logistic regression, computed as scikit-learn's ``TfidfVectorizer(ngram_range=(1, n),
    sublinear_tf=True, strip_accents="unicode")`` + ``LogisticRegression`` would (the trainer checks that it does)."""

    vocabulary: dict[str, int]
    idf: np.ndarray  # (n_terms,)
    coef: np.ndarray  # (n_classes, n_terms)
    intercept: np.ndarray  # (n_classes,)
    max_n: int = 2

    def vectors(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(self.vocabulary)), dtype=np.float32)
        for row, text in enumerate(texts):
            tokens = _TOKEN.findall(_strip_accents(text.lower()))
            grams = Counter(" ".join(tokens[i: i + n]) for n in range(1, self.max_n + 1)
                            for i in range(len(tokens) - n + 1))
            for gram, count in grams.items():
                if (col := self.vocabulary.get(gram)) is not None:
                    out[row, col] = (1.0 + math.log(count)) * self.idf[col]
            norm = float(np.linalg.norm(out[row]))
            if norm:
                out[row] /= norm
        return out

    def probabilities(self, texts: list[str]) -> np.ndarray:
        return _softmax(self.vectors(texts) @ self.coef.T + self.intercept)


def _softmax(logits: np.ndarray) -> np.ndarray:
    logits = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class DesignModel:
    encoder: str  # registry name of the embedding model, e.g. "minilm"
    classes: tuple[str, ...]
    coef: np.ndarray  # (n_classes, dim + n_features)
    intercept: np.ndarray  # (n_classes,)
    threshold: float  # below this top probability: not determined
    probe: np.ndarray  # the encoder's vector of PROBE_TEXT when the weights were made
    tfidf: Tfidf | None = None  # the word-count model averaged with the embedding one
    weight: float = 1.0  # the embedding model's share of the averaged probability
    weak_rules: frozenset[str] = field(default_factory=frozenset)  # phrase rules the model must confirm
    agree: float = 0.0  # the probability the model must give a weak rule's design to confirm it
    margin: float = 0.0  # how far the best design's probability must lead the second's for the model to claim it

    @classmethod
    def load(cls, path: Path = WEIGHTS) -> DesignModel:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            tfidf = None
            if words := raw.get("tfidf"):
                tfidf = Tfidf({term: i for i, term in enumerate(words["vocabulary"])},
                              np.asarray(words["idf"], dtype=np.float32), np.asarray(words["coef"], dtype=np.float32),
                              np.asarray(words["intercept"], dtype=np.float32), int(words["max_n"]))
            model = cls(raw["encoder"], tuple(raw["classes"]), np.asarray(raw["coef"], dtype=np.float32),
                        np.asarray(raw["intercept"], dtype=np.float32), float(raw["threshold"]),
                        np.asarray(raw["probe"], dtype=np.float32), tfidf, float(raw.get("weight", 1.0)),
                        frozenset(raw.get("weak_rules", ())), float(raw.get("agree", 0.0)),
                        float(raw.get("margin", 0.0)))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise MedEmbedError(f"Cannot read the study-design model {path}: {exc}. Rebuild it with "
                                "`python -m benchmarks.study_design_train`.") from exc
        if raw.get("features") != list(FEATURE_NAMES):
            raise MedEmbedError(f"The study-design model {path} was trained on other phrase features; rebuild it "
                                "with `python -m benchmarks.study_design_train`.")
        return model

    def probabilities(self, vectors: np.ndarray, features: np.ndarray, texts: list[str] | None = None) -> np.ndarray:
        """``(n, n_classes)`` probabilities from embeddings, phrase features and (for the TF-IDF part) the texts
        :func:`model_text` gives with ``limit=None`` (one row per paper)."""
        probs = _softmax(np.hstack([vectors, features]) @ self.coef.T + self.intercept)
        if self.tfidf is None or self.weight >= 1.0:
            return probs
        if texts is None:
            raise ValueError("this design model also reads the texts: pass them")
        return self.weight * probs + (1.0 - self.weight) * self.tfidf.probabilities(texts)


@functools.lru_cache(maxsize=1)
def weak_rules(path: Path = WEIGHTS) -> frozenset[str]:
    """The phrase rules that decide only with the model's agreement (read from the weights; no encoder loaded)."""
    try:
        return DesignModel.load(path).weak_rules
    except MedEmbedError:
        return frozenset()


def model_text(title: str, abstract: str, limit: int | None = MAX_CHARS) -> str:
    """What the models read: the title and abstract (cut at ``limit`` for the embedding; whole for TF-IDF)."""
    text = f"{title}. {abstract}" if title else abstract
    return text[:limit] if limit else text


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


def probabilities(titles: list[str], abstracts: list[str]) -> tuple[tuple[str, ...], np.ndarray, DesignModel] | None:
    """``(classes, (n, n_classes) probabilities, model)``, or None when the model cannot be used."""
    model = _ready()
    if model is None:
        return None
    vectors = embed([model_text(t, a) for t, a in zip(titles, abstracts, strict=True)], model.encoder)
    texts = [model_text(t, a, None) for t, a in zip(titles, abstracts, strict=True)]
    return model.classes, model.probabilities(vectors, features_of(titles, abstracts), texts), model


def predict(titles: list[str], abstracts: list[str]) -> list[tuple[str, float, float]] | None:
    """``(best design, its probability, threshold)`` per paper, or None when the model cannot be used."""
    found = probabilities(titles, abstracts)
    if found is None:
        return None
    classes, probs, model = found
    best = probs.argmax(axis=1)
    return [(classes[i], float(probs[row, i]), model.threshold) for row, i in enumerate(best)]
