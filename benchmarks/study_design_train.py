"""Train the study-design model (``indexer/text/study_design_model.json``) on the dev split of the labelled abstracts.

    PYTHONPATH=. HF_HUB_OFFLINE=1 python -m benchmarks.study_design_train [--encoder minilm] [--precision 0.88]

Only ``split == "dev"`` items of ``tests/data/study_designs/labels.jsonl`` are read. Everything is chosen on 5-fold
out-of-fold predictions on dev:

1. each phrase rule's precision on dev: a rule under ``--rule-precision`` (0.9) is *weak* and decides only where the
   model gives its design at least ``agree``;
2. out-of-fold probabilities of the embedding logistic regression (MiniLM vector + phrase features; several C) and
   of the TF-IDF word/bigram one (whole title and abstract), averaged with a weight;
3. for each (C, weight, agree, margin), the abstention threshold at which the whole classifier (strong rules, weak
   rules the model confirms, the model where no phrase decides and its best design leads the second by ``margin``)
   is most accurate while at least ``--precision`` precise.

The most accurate setting (then the most precise) is refit on all of dev. Deterministic: same data, same encoder,
same file.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import logging
from collections import defaultdict
from pathlib import Path

import numpy as np

from indexer.text.design_model import PROBE_TEXT, WEIGHTS, Tfidf, embed, features_of, model_text
from indexer.text.design_rules import FEATURE_NAMES, Design
from indexer.text.study_design import ABSTRACT_CHARS, decide, rules_only

LABELS = Path(__file__).resolve().parents[1] / "tests" / "data" / "study_designs" / "labels.jsonl"
CACHE = Path(__file__).resolve().parents[1] / ".cache" / "study_designs"
logger = logging.getLogger(__name__)

EMBEDDING_C = (1.0, 2.0, 4.0)
TFIDF_C = 30.0  # dev out-of-fold: 10 and 100 no better alone, 30 best beside the embedding model
TFIDF_TERMS = 5000  # the most frequent terms (of 2+ documents) kept: the weights file stays small
WEIGHTS_GRID = (0.4, 0.5, 0.6)  # the embedding model's share of the averaged probability
AGREE_GRID = (0.2, 0.3, 0.4, 0.5)
MARGIN_GRID = (0.0, 0.05, 0.1, 0.15, 0.2)  # how far the model's best design must lead its second to be claimed


def load(split: str, path: Path = LABELS) -> list[dict]:
    return [row for line in path.read_text(encoding="utf-8").splitlines()
            if (row := json.loads(line))["split"] == split]


def embeddings(texts: list[str], encoder: str, cache: Path = CACHE) -> np.ndarray:
    """The encoder's vectors of ``texts``, kept in a git-ignored cache by text hash (re-embedding is slow here)."""
    path = cache / f"{encoder}.npz"
    known = dict(np.load(path)) if path.exists() else {}
    keys = [hashlib.sha1(t.encode("utf-8")).hexdigest() for t in texts]
    todo = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in known}.items())
    if todo:
        logger.info("Embedding %d texts with %s", len(todo), encoder)
        known.update(zip([k for k, _ in todo], embed([t for _, t in todo], encoder), strict=True))
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **known)
    return np.asarray([known[k] for k in keys], dtype=np.float32)


def _abstract(row: dict) -> str:
    return " ".join(row["text"].split())[:ABSTRACT_CHARS]  # what detect_many gives the model


def inputs(rows: list[dict], encoder: str) -> np.ndarray:
    # the raw text (tokens and vectors are the same as of the whitespace-cleaned one detect_many reads; the
    # embedding cache is keyed by it)
    titles, abstracts = [r["title"] for r in rows], [r["text"] for r in rows]
    vectors = embeddings([model_text(t, a) for t, a in zip(titles, abstracts, strict=True)], encoder)
    return np.hstack([vectors, features_of(titles, abstracts)])


def texts_of(rows: list[dict]) -> list[str]:
    return [model_text(r["title"], _abstract(r), None) for r in rows]


def _fit(x, y: np.ndarray, c: float):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=5000, class_weight="balanced").fit(x, y)


def _vectorizer():
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=TFIDF_TERMS, sublinear_tf=True,
                           strip_accents="unicode")


def _fit_tfidf(texts: list[str], y: np.ndarray, c: float = TFIDF_C):
    vectorizer = _vectorizer()
    return vectorizer, _fit(vectorizer.fit_transform(texts), y, c)


def _folds(y: np.ndarray, folds: int = 5):
    from sklearn.model_selection import StratifiedKFold

    return list(StratifiedKFold(folds, shuffle=True, random_state=0).split(np.zeros(len(y)), y))


def out_of_fold(x: np.ndarray, y: np.ndarray, c: float, folds: int = 5) -> tuple[np.ndarray, list[str]]:
    classes = sorted(set(y))
    probs = np.zeros((len(y), len(classes)))
    for train, held in _folds(y, folds):
        model = _fit(x[train], y[train], c)
        probs[np.ix_(held, [classes.index(k) for k in model.classes_])] = model.predict_proba(x[held])
    return probs, classes


def cached_out_of_fold(name: str, inputs: np.ndarray | list[str], y: np.ndarray, compute, cache: Path = CACHE
                       ) -> np.ndarray:
    """``compute()`` (out-of-fold probabilities), kept in the git-ignored cache by a hash of what they are fitted on:
    the folds are seeded, so the same inputs give the same probabilities, and refitting them is slow here."""
    digest = hashlib.sha1(name.encode("utf-8"))
    digest.update(np.ascontiguousarray(inputs).tobytes() if isinstance(inputs, np.ndarray)
                  else "\x00".join(inputs).encode("utf-8"))
    digest.update("\x00".join(y.tolist()).encode("utf-8"))
    path = cache / f"oof-{digest.hexdigest()[:16]}.npy"
    if path.exists():
        return np.load(path)
    probs = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, probs)
    return probs


def tfidf_out_of_fold(texts: list[str], y: np.ndarray, folds: int = 5) -> np.ndarray:
    classes = sorted(set(y))
    probs = np.zeros((len(y), len(classes)))
    for train, held in _folds(y, folds):
        vectorizer, model = _fit_tfidf([texts[i] for i in train], y[train])
        probs[np.ix_(held, [classes.index(k) for k in model.classes_])] = model.predict_proba(
            vectorizer.transform([texts[i] for i in held]))
    return probs


def rule_precision(designs: list[Design | None], gold: list[str]) -> dict[str, tuple[int, int]]:
    """``rule -> (times it decided, times right)`` on these papers."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for design, label in zip(designs, gold, strict=True):
        if design is not None and design.rule:
            counts[design.rule][0] += 1
            counts[design.rule][1] += design.study_type == label
    return {rule: (n, right) for rule, (n, right) in counts.items()}


def _decisions(designs: list[Design | None], weak: set[str], probs: np.ndarray, classes: list[str], threshold: float,
               agree: float = 0.0, margin: float = 0.0) -> np.ndarray:
    """Class indices (-1: not determined) that the product's decision rule (:func:`decide`) gives these papers."""
    rule = np.asarray([classes.index(d.study_type) if d is not None else -1 for d in designs], dtype=int)
    weak_rule = np.asarray([d is not None and d.rule in weak for d in designs])
    return decide(rule, weak_rule, probs, threshold, agree, margin)[0]


def combined(designs: list[Design | None], weak: set[str], probs: np.ndarray, classes: list[str], threshold: float,
             agree: float = 0.0, margin: float = 0.0) -> list[str]:
    """What :func:`indexer.text.study_design.detect_many` decides, given the model's probabilities."""
    return [classes[i] if i >= 0 else "undetermined"
            for i in _decisions(designs, weak, probs, classes, threshold, agree, margin)]


def choose_threshold(designs: list[Design | None], weak: set[str], probs: np.ndarray, classes: list[str],
                     gold: list[str], precision: float, agree: float = 0.0,
                     margin: float = 0.0) -> tuple[float, dict] | None:
    """The threshold at which the classifier is most accurate while at least ``precision`` precise, or None."""
    truth = np.asarray([classes.index(g) for g in gold])
    best: tuple[float, dict] | None = None
    for threshold in np.round(np.arange(0.20, 0.96, 0.01), 2):
        pred = _decisions(designs, weak, probs, classes, float(threshold), agree, margin)
        claimed, right = int((pred >= 0).sum()), int((pred == truth).sum())
        prec, acc = right / max(claimed, 1), right / len(gold)
        stats = {"threshold": float(threshold), "precision": round(prec, 4), "accuracy": round(acc, 4),
                 "claimed": claimed}
        if prec >= precision and (best is None or acc > best[1]["accuracy"]):
            best = (float(threshold), stats)
    return best


def _check_tfidf(vectorizer, model, texts: list[str]) -> dict:
    """The weights as the product reads them (:class:`Tfidf`), checked against scikit-learn on ``texts``."""
    terms = vectorizer.get_feature_names_out()
    mine = Tfidf({t: i for i, t in enumerate(terms)}, vectorizer.idf_.astype(np.float32),
                 np.round(model.coef_, 4).astype(np.float32), np.round(model.intercept_, 4).astype(np.float32))
    gap = float(np.abs(mine.probabilities(texts) - model.predict_proba(vectorizer.transform(texts))).max())
    if gap > 1e-3:
        raise SystemExit(f"The product's TF-IDF reading differs from scikit-learn's by {gap:.4f}: fix Tfidf.vectors.")
    return {"vocabulary": list(terms), "idf": np.round(vectorizer.idf_, 4).tolist(),
            "coef": np.round(model.coef_, 4).tolist(), "intercept": np.round(model.intercept_, 4).tolist(), "max_n": 2}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", default="minilm", help="Registry name of the embedding model.")
    parser.add_argument("--precision", type=float, default=0.88,
                        help="Out-of-fold dev precision the operating point must keep (0.88: the 0.85 asked of "
                             "badges on unseen abstracts plus a margin; an earlier model lost 0.05 from dev to test).")
    parser.add_argument("--rule-precision", type=float, default=0.9,
                        help="Phrase rules under this dev precision decide only with the model's agreement.")
    parser.add_argument("--out", type=Path, default=WEIGHTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rows = load("dev")
    gold = [r["label"] for r in rows]
    x, y, texts = inputs(rows, args.encoder), np.asarray(gold), texts_of(rows)
    designs = [rules_only(r["title"], r["text"], r.get("methods"), r.get("article_type")) for r in rows]
    rules = rule_precision(designs, gold)
    weak = {rule for rule, (n, right) in rules.items() if right / n < args.rule_precision}
    for rule, (n, right) in sorted(rules.items(), key=lambda kv: -kv[1][0]):
        logger.info("rule %-50s decided %3d, right %3d (%.2f)%s", rule, n, right, right / n,
                    "  weak" if rule in weak else "")
    tfidf_probs = cached_out_of_fold(f"tfidf C={TFIDF_C} terms={TFIDF_TERMS}", texts, y,
                                     lambda: tfidf_out_of_fold(texts, y))
    settings: dict[tuple[float, float, float, float], tuple[float, dict]] = {}
    oof: dict[tuple[float, float], np.ndarray] = {}
    classes = sorted(set(gold))
    for c in EMBEDDING_C:
        probs = cached_out_of_fold(f"embedding C={c}", x, y, lambda c=c: out_of_fold(x, y, c)[0])
        for weight in WEIGHTS_GRID:
            oof[c, weight] = weight * probs + (1 - weight) * tfidf_probs
        for weight, agree, margin in itertools.product(WEIGHTS_GRID, AGREE_GRID, MARGIN_GRID):
            if found := choose_threshold(designs, weak, oof[c, weight], classes, gold, args.precision, agree,
                                         margin):
                settings[c, weight, agree, margin] = found
                logger.info("C=%s weight %.1f agree %.1f margin %.2f: %s", c, weight, agree, margin, found[1])
    if not settings:
        raise SystemExit(f"No threshold reaches precision {args.precision} on dev; lower --precision.")
    # most accurate at the precision kept; at equal accuracy the more precise, then the simpler (smaller C, margin)
    c, weight, agree, margin = max(settings, key=lambda k: (settings[k][1]["accuracy"], settings[k][1]["precision"],
                                                            -k[0], -k[3]))
    threshold, stats = settings[c, weight, agree, margin]
    logger.info("Chosen: C=%s, weight %.1f, agree %.1f, margin %.2f, threshold %.2f: dev (out-of-fold) %s", c,
                weight, agree, margin, threshold, stats)
    from benchmarks.study_design_eval import markdown, score  # that module imports this one

    logger.info("Dev out-of-fold, the shipped decision rule:\n%s", markdown(score(gold, combined(
        designs, weak, oof[c, weight], classes, threshold, agree, margin))))
    model = _fit(x, y, c)
    vectorizer, words = _fit_tfidf(texts, y)
    probe = embed([PROBE_TEXT], args.encoder)[0]
    args.out.write_text(json.dumps({
        "encoder": args.encoder, "classes": list(model.classes_), "features": list(FEATURE_NAMES),
        "coef": np.round(model.coef_, 5).tolist(), "intercept": np.round(model.intercept_, 5).tolist(),
        "threshold": threshold, "probe": np.round(probe, 6).tolist(), "weight": weight, "agree": agree,
        "margin": margin,
        "weak_rules": sorted(weak), "tfidf": _check_tfidf(vectorizer, words, texts),
        "trained_on": f"{LABELS.relative_to(LABELS.parents[3])} split=dev ({len(rows)} abstracts)",
        "c": c, "tfidf_c": TFIDF_C, "dev_out_of_fold": stats,
    }) + "\n", encoding="utf-8")
    logger.info("Wrote %s (%d bytes)", args.out, args.out.stat().st_size)


if __name__ == "__main__":
    main()
