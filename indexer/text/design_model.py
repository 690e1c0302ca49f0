"""The trained part of study-design detection: two logistic regressions over an abstract, averaged.

Where no phrase rule decides (:mod:`indexer.text.design_rules`), the whole abstract still shows the design: how
patients were found and followed, what was measured, whether animals or cells were used. Two multinomial logistic
regressions read it: one on the packaged MiniLM embedding of the title and abstract plus the rules' phrase features
(MiniLM reads only the first ~256 word pieces), one on TF-IDF counts of the whole title and abstract (what the
Methods sentences say, wherever they are): word n-grams, or character n-grams within words, which also match
inflections and compounds ("randomi", "cohort", "retrospectiv"). Their probabilities are averaged; where the score
chosen on the development set (the averaged top probability, or the lower of the two models' probabilities of the
best design) is below the threshold chosen there, or the best design leads the second by less than the margin, the
paper is "Not determined" (:func:`indexer.text.study_design.decide`). The same probabilities confirm or overrule the
weak phrase rules (those under 0.9 precise on dev): such a phrase decides only where the model gives its design at
least ``agree``.

The weights (``study_design_model.json``, JSON only: the TF-IDF vocabulary, idf and coefficients are plain lists;
the TF-IDF coefficients as integers of ``1 / coef_scale``, which keeps a 50,000-term model near 3 MB)
are made by ``benchmarks/study_design_train.py`` from the ``dev`` split of ``tests/data/study_designs/labels.jsonl``.
They belong to one embedding model: the file records a probe vector, and if the encoder no longer reproduces it
(another model under the same name) the model part is switched off with a warning rather than giving confident
nonsense.
"""

from __future__ import annotations

import functools
import json
import logging
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


def _char_wb_grams(text: str, low: int, high: int) -> list[str]:
    """scikit-learn's ``char_wb`` n-grams: each whitespace-separated word padded with a space on each side; a word
    shorter than n gives itself once (and no longer n-grams, which would repeat it)."""
    grams: list[str] = []
    for word in text.split():
        padded = f" {word} "
        for n in range(low, high + 1):
            grams.extend(padded[i: i + n] for i in range(max(1, len(padded) - n + 1)))
            if len(padded) <= n:
                break
    return grams


@dataclass(frozen=True)
class Tfidf:
    """A TF-IDF logistic regression, computed as scikit-learn's ``TfidfVectorizer(analyzer=analyzer,
    ngram_range=(min_n, max_n), sublinear_tf=True, strip_accents="unicode")`` + ``LogisticRegression`` would (the
    trainer checks that it does). ``analyzer`` is ``"word"`` (word n-grams of its default token pattern) or
    ``"char_wb"`` (character n-grams inside words)."""

    vocabulary: dict[str, int]
    idf: np.ndarray  # (n_terms,)
    coef: np.ndarray  # (n_classes, n_terms)
    intercept: np.ndarray  # (n_classes,)
    max_n: int = 2
    analyzer: str = "word"
    min_n: int = 1

    def _grams(self, text: str) -> Counter[str]:
        text = _strip_accents(text.lower())
        if self.analyzer == "char_wb":
            return Counter(_char_wb_grams(text, self.min_n, self.max_n))
        tokens = _TOKEN.findall(text)
        return Counter(" ".join(tokens[i: i + n]) for n in range(self.min_n, self.max_n + 1)
                       for i in range(len(tokens) - n + 1))

    def _sparse(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """The columns and L2-normalised weights of one text's TF-IDF vector (a 50,000-term row is mostly 0)."""
        found = [(col, count) for gram, count in self._grams(text).items()
                 if (col := self.vocabulary.get(gram)) is not None]
        cols = np.asarray(sorted(found), dtype=np.int64).reshape(-1, 2)
        values = (1.0 + np.log(cols[:, 1].astype(np.float64))) * self.idf[cols[:, 0]]
        norm = float(np.linalg.norm(values))
        return cols[:, 0], values / norm if norm else values

    def vectors(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(self.vocabulary)), dtype=np.float32)
        for row, text in enumerate(texts):
            cols, values = self._sparse(text)
            out[row, cols] = values
        return out

    def probabilities(self, texts: list[str]) -> np.ndarray:
        logits = np.zeros((len(texts), len(self.intercept)))
        for row, text in enumerate(texts):
            cols, values = self._sparse(text)
            logits[row] = self.coef[:, cols] @ values + self.intercept
        return _softmax(logits)


def average(parts: tuple[np.ndarray, ...], weight: float) -> np.ndarray:
    """The embedding model's probabilities (``parts[0]``) averaged with the TF-IDF model's, ``weight`` to the first;
    the first alone where there is no second."""
    return parts[0] if len(parts) == 1 else weight * parts[0] + (1.0 - weight) * parts[1]


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
    abstain: str = "top"  # the score held to the threshold: averaged top probability or "min" (study_design.decide)

    @classmethod
    def load(cls, path: Path = WEIGHTS) -> DesignModel:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            tfidf = None
            if words := raw.get("tfidf"):
                tfidf = Tfidf({term: i for i, term in enumerate(words["vocabulary"])},
                              np.asarray(words["idf"], dtype=np.float32),
                              np.asarray(words["coef"], dtype=np.float32) / float(words.get("coef_scale", 1)),
                              np.asarray(words["intercept"], dtype=np.float32), int(words["max_n"]),
                              str(words.get("analyzer", "word")), int(words.get("min_n", 1)))
            model = cls(raw["encoder"], tuple(raw["classes"]), np.asarray(raw["coef"], dtype=np.float32),
                        np.asarray(raw["intercept"], dtype=np.float32), float(raw["threshold"]),
                        np.asarray(raw["probe"], dtype=np.float32), tfidf, float(raw.get("weight", 1.0)),
                        frozenset(raw.get("weak_rules", ())), float(raw.get("agree", 0.0)),
                        float(raw.get("margin", 0.0)), str(raw.get("abstain", "top")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise MedEmbedError(f"Cannot read the study-design model {path}: {exc}. Rebuild it with "
                                "`python -m benchmarks.study_design_train`.") from exc
        if raw.get("features") != list(FEATURE_NAMES):
            raise MedEmbedError(f"The study-design model {path} was trained on other phrase features; rebuild it "
                                "with `python -m benchmarks.study_design_train`.")
        return model

    def parts(self, vectors: np.ndarray, features: np.ndarray, texts: list[str] | None = None
              ) -> tuple[np.ndarray, ...]:
        """Each model's ``(n, n_classes)`` probabilities: the embedding one's, then the TF-IDF one's if averaged in.
        Input as :meth:`probabilities`."""
        probs = _softmax(np.hstack([vectors, features]) @ self.coef.T + self.intercept)
        if self.tfidf is None or self.weight >= 1.0:
            return (probs,)
        if texts is None:
            raise ValueError("this design model also reads the texts: pass them")
        return probs, self.tfidf.probabilities(texts)

    def average(self, parts: tuple[np.ndarray, ...]) -> np.ndarray:
        return average(parts, self.weight)

    def probabilities(self, vectors: np.ndarray, features: np.ndarray, texts: list[str] | None = None) -> np.ndarray:
        """``(n, n_classes)`` probabilities from embeddings, phrase features and (for the TF-IDF part) the texts
        :func:`model_text` gives with ``limit=None`` (one row per paper)."""
        return self.average(self.parts(vectors, features, texts))


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


def probabilities(titles: list[str], abstracts: list[str]
                  ) -> tuple[tuple[str, ...], np.ndarray, DesignModel, tuple[np.ndarray, ...]] | None:
    """``(classes, (n, n_classes) averaged probabilities, model, each model's probabilities)``, or None when the
    model cannot be used."""
    model = _ready()
    if model is None:
        return None
    vectors = embed([model_text(t, a) for t, a in zip(titles, abstracts, strict=True)], model.encoder)
    texts = [model_text(t, a, None) for t, a in zip(titles, abstracts, strict=True)]
    parts = model.parts(vectors, features_of(titles, abstracts), texts)
    return model.classes, model.average(parts), model, parts


def predict(titles: list[str], abstracts: list[str]) -> list[tuple[str, float, float]] | None:
    """``(best design, its probability, threshold)`` per paper, or None when the model cannot be used."""
    found = probabilities(titles, abstracts)
    if found is None:
        return None
    classes, probs, model, _ = found
    best = probs.argmax(axis=1)
    return [(classes[i], float(probs[row, i]), model.threshold) for row, i in enumerate(best)]
