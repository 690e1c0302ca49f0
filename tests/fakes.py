"""Small stand-ins the tests use instead of models and scorers the product does not need."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence


class WhitespaceTokenCounter:
    """Tokens are runs of non-whitespace: the chunking logic tested without a model."""

    _TOKEN = re.compile(r"\S+")
    additive = True

    def count(self, text: str) -> int:
        return len(self._TOKEN.findall(text))

    def count_many(self, texts: Sequence[str]) -> list[int]:
        return [self.count(text) for text in texts]

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return [match.span() for match in self._TOKEN.finditer(text)]


def per_class(gold: Mapping[str, str], predicted: Mapping[str, str], abstain: str = "other") -> dict[str, dict]:
    """Precision and recall of a labelling, per class, plus overall accuracy.

    Args:
        gold: ``{item: true label}``, e.g. ``{"PMC1": "case_report"}``.
        predicted: ``{item: predicted label}`` over the same items.
        abstain: the "don't know" label; a prediction of it is counted as no claim, so it lowers recall but never
            precision of the other classes.

    Returns:
        ``{label: {"n": gold count, "predicted": count, "correct": count, "precision": p, "recall": r}}`` and
        ``{"_all": {"n": items, "correct": count, "accuracy": a}}``; precision is NaN for a class never predicted.
    """
    labels = sorted(set(gold.values()) | set(predicted.values()))
    out: dict[str, dict] = {}
    for label in labels:
        n = sum(1 for v in gold.values() if v == label)
        claimed = [k for k, v in predicted.items() if v == label]
        correct = sum(1 for k in claimed if gold.get(k) == label)
        out[label] = {"n": n, "predicted": len(claimed), "correct": correct,
                      "precision": correct / len(claimed) if claimed else math.nan,
                      "recall": correct / n if n else math.nan}
    right = sum(1 for k, v in gold.items() if predicted.get(k) == v)
    out["_all"] = {"n": len(gold), "correct": right, "accuracy": right / len(gold) if gold else math.nan,
                   "claimed": sum(1 for k in gold if predicted.get(k, abstain) != abstain),
                   "claimed_correct": sum(1 for k, v in gold.items() if predicted.get(k, abstain) not in (abstain,)
                                          and predicted.get(k) == v)}
    return out
