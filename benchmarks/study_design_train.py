"""Train the study-design model (``indexer/text/study_design_model.json``) on the dev split of the labelled abstracts.

    PYTHONPATH=. HF_HUB_OFFLINE=1 python -m benchmarks.study_design_train [--encoder minilm]

Only ``split == "dev"`` items of ``tests/data/study_designs/labels.jsonl`` are read. For each regularisation strength,
5-fold cross-validation on dev gives out-of-fold probabilities, and on them the abstention threshold at which the
whole classifier (phrase rules first, the model where none decides) is most accurate while staying at least
``--precision`` precise (0.85 by default); the strength whose best is most
accurate (then most precise) is kept and refit on all of dev. Deterministic: same data, same encoder, same file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
from pathlib import Path

import numpy as np

from indexer.text.design_model import PROBE_TEXT, WEIGHTS, embed, features_of, model_text
from indexer.text.design_rules import FEATURE_NAMES
from indexer.text.study_design import rules_only

LABELS = Path(__file__).resolve().parents[1] / "tests" / "data" / "study_designs" / "labels.jsonl"
CACHE = Path(__file__).resolve().parents[1] / ".cache" / "study_designs"
logger = logging.getLogger(__name__)


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


def inputs(rows: list[dict], encoder: str) -> np.ndarray:
    titles, abstracts = [r["title"] for r in rows], [r["text"] for r in rows]
    vectors = embeddings([model_text(t, a) for t, a in zip(titles, abstracts, strict=True)], encoder)
    return np.hstack([vectors, features_of(titles, abstracts)])


def _fit(x: np.ndarray, y: np.ndarray, c: float):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=5000, class_weight="balanced").fit(x, y)


def out_of_fold(x: np.ndarray, y: np.ndarray, c: float, folds: int = 5) -> tuple[np.ndarray, list[str]]:
    from sklearn.model_selection import StratifiedKFold

    classes = sorted(set(y))
    probs = np.zeros((len(y), len(classes)))
    for train, held in StratifiedKFold(folds, shuffle=True, random_state=0).split(x, y):
        model = _fit(x[train], y[train], c)
        cols = [classes.index(k) for k in model.classes_]
        probs[np.ix_(held, cols)] = model.predict_proba(x[held])
    return probs, classes


def combined(rule_types: list[str | None], probs: np.ndarray, classes: list[str], threshold: float) -> list[str]:
    out = []
    for rule, row in zip(rule_types, probs, strict=True):
        best = int(row.argmax())
        out.append(rule or (classes[best] if row[best] >= threshold else "undetermined"))
    return out


def choose_threshold(rule_types: list[str | None], probs: np.ndarray, classes: list[str], gold: list[str],
                     precision: float) -> tuple[float, dict] | None:
    """The threshold at which rules + model are most accurate while at least ``precision`` precise, or None."""
    best: tuple[float, dict] | None = None
    for threshold in np.round(np.arange(0.20, 0.96, 0.01), 2):
        pred = combined(rule_types, probs, classes, float(threshold))
        claimed = [(p, g) for p, g in zip(pred, gold, strict=True) if p != "undetermined"]
        prec = sum(p == g for p, g in claimed) / max(len(claimed), 1)
        acc = sum(p == g for p, g in zip(pred, gold, strict=True)) / len(gold)
        stats = {"threshold": float(threshold), "precision": prec, "accuracy": acc, "claimed": len(claimed)}
        logger.debug("threshold %.2f: dev precision %.3f, accuracy %.3f, %d claimed", threshold, prec, acc,
                     len(claimed))
        if prec >= precision and (best is None or acc > best[1]["accuracy"]):
            best = (float(threshold), stats)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", default="minilm", help="Registry name of the embedding model.")
    parser.add_argument("--precision", type=float, default=0.85,
                        help="Out-of-fold dev precision the threshold must keep (0.85: the precision asked of badges "
                             "on unseen abstracts; the phrase rules alone are about 0.82-0.84 precise on abstracts "
                             "they were not written on, so 0.90 is out of reach with them deciding first).")
    parser.add_argument("--out", type=Path, default=WEIGHTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rows = load("dev")
    x, y = inputs(rows, args.encoder), np.asarray([r["label"] for r in rows])
    rules = [d.study_type if d else None for d in (rules_only(r["title"], r["text"], r.get("methods"),
                                                                  r.get("article_type")) for r in rows)]
    chosen: dict[float, tuple[float, dict]] = {}
    oof: dict[float, np.ndarray] = {}
    for c in (0.5, 1.0, 2.0, 4.0, 8.0):
        probs, classes = out_of_fold(x, y, c)
        oof[c] = probs
        if (found := choose_threshold(rules, probs, classes, list(y), args.precision)) is None:
            logger.info("C=%s: no threshold reaches precision %s", c, args.precision)
            continue
        chosen[c] = found
        logger.info("C=%s: %s", c, chosen[c][1])
    if not chosen:
        raise SystemExit(f"No threshold reaches precision {args.precision} on dev; lower --precision.")
    # most accurate at the precision kept; at equal accuracy the more precise
    c = max(chosen, key=lambda k: (round(chosen[k][1]["accuracy"], 6), chosen[k][1]["precision"], -k))
    threshold, stats = chosen[c]
    logger.info("C=%s, threshold %.2f: dev (out-of-fold) %s", c, threshold, stats)
    from benchmarks.study_design_eval import markdown, score  # that module imports this one

    logger.info("Dev out-of-fold, rules then model:\n%s", markdown(score(list(y), combined(rules, oof[c], classes,
                                                                                          threshold))))
    model = _fit(x, y, c)
    probe = embed([PROBE_TEXT], args.encoder)[0]
    args.out.write_text(json.dumps({
        "encoder": args.encoder, "classes": list(model.classes_), "features": list(FEATURE_NAMES),
        "coef": np.round(model.coef_, 5).tolist(), "intercept": np.round(model.intercept_, 5).tolist(),
        "threshold": threshold, "probe": np.round(probe, 6).tolist(),
        "trained_on": f"{LABELS.relative_to(LABELS.parents[3])} split=dev ({len(rows)} abstracts)",
        "c": c, "dev_out_of_fold": stats,
    }) + "\n", encoding="utf-8")
    logger.info("Wrote %s", args.out)


if __name__ == "__main__":
    main()
