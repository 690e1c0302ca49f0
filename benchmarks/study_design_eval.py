"""Score the study-design classifier on the held-apart test split of the hand-labelled abstracts.

    PYTHONPATH=. HF_HUB_OFFLINE=1 python -m benchmarks.study_design_eval [--split test] [--out results.json]

Runs exactly what ingest runs (:func:`indexer.text.study_design.detect_many`: phrase rules, then the trained model,
else "Not determined") on ``tests/data/study_designs/labels.jsonl`` and prints a Markdown report: per-class
precision and recall, accuracy (an abstention counts as wrong), precision over the papers given a design, the
abstention rate, the mean recall of the nine designs, and the confusion matrix.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from collections import Counter
from pathlib import Path

from benchmarks.machine import machine_info
from benchmarks.study_design_train import load
from indexer.text.study_design import detect_many
from medcore.study_types import DESIGNS, LABELS

ABSTAIN = "undetermined"


def score(gold: list[str], predicted: list[str]) -> dict:
    """Per-class precision/recall, accuracy, precision over claims, abstention and the confusion counts."""
    pairs = list(zip(gold, predicted, strict=True))
    claimed = [(g, p) for g, p in pairs if p != ABSTAIN]
    per_class = {}
    for label in DESIGNS:
        n, said = sum(g == label for g in gold), sum(p == label for p in predicted)
        right = sum(g == p == label for g, p in pairs)
        per_class[label] = {"n": n, "predicted": said, "correct": right,
                            "precision": right / said if said else math.nan, "recall": right / n if n else math.nan}
    recalls = [c["recall"] for c in per_class.values() if not math.isnan(c["recall"])]
    return {
        "n": len(pairs), "accuracy": sum(g == p for g, p in pairs) / len(pairs),
        "claimed": len(claimed), "precision": sum(g == p for g, p in claimed) / max(len(claimed), 1),
        "abstention": 1 - len(claimed) / len(pairs), "mean_recall": sum(recalls) / len(recalls),
        "per_class": per_class, "confusion": Counter(f"{g}|{p}" for g, p in pairs),
    }


def classify(rows: list[dict], use_model: bool = True) -> list:
    """What ingest decides for each labelled abstract (a list of ``StudyDesign``)."""
    return detect_many([{"title": r["title"], "abstract": r["text"], "methods": r.get("methods"),
                         "article_type": r.get("article_type")} for r in rows], use_model=use_model)


def markdown(result: dict) -> str:
    short = {k: k.split("_")[0][:6] for k in LABELS}
    short.update({"cohort_case_control": "cohort", "cross_sectional": "cross", "narrative_review": "narr",
                  "animal_in_vitro": "animal", "undetermined": "n.d.", "systematic_review": "SR"})
    lines = [f"Items: {result['n']}; accuracy {result['accuracy']:.3f} (abstentions count as wrong); precision over "
             f"the {result['claimed']} papers given a design {result['precision']:.3f}; abstention rate "
             f"{result['abstention']:.3f}; mean recall of the nine designs {result['mean_recall']:.3f}.", "",
             "| design | n | predicted | correct | precision | recall |", "|---|---:|---:|---:|---:|---:|"]
    for label, c in result["per_class"].items():
        lines.append(f"| {LABELS[label]} | {c['n']} | {c['predicted']} | {c['correct']} | "
                     f"{c['precision']:.2f} | {c['recall']:.2f} |".replace("nan", "–"))
    columns = [*DESIGNS, ABSTAIN]
    lines += ["", "Confusion matrix (rows: hand label, columns: classifier):", "",
              "| | " + " | ".join(short[c] for c in columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for g in DESIGNS:
        lines.append(f"| **{short[g]}** | " + " | ".join(str(result["confusion"].get(f"{g}|{p}", 0) or "")
                                                        for p in columns) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="test", choices=["test", "dev"])
    parser.add_argument("--rules-only", action="store_true", help="Phrase rules only (no trained model).")
    parser.add_argument("--out", type=Path, help="Also write the numbers and the machine as JSON here.")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rows = load(args.split)
    designs = classify(rows, use_model=not args.rules_only)
    result = score([r["label"] for r in rows], [d.study_type for d in designs])
    print(markdown(result))
    sources = Counter("abstained" if d.study_type == ABSTAIN else "model" if d.confidence is not None else
                      "weak phrase the model confirmed" if "model agrees" in d.evidence else "phrase rule"
                      for d in designs)
    print(f"\nDecided by: {dict(sources)}.")
    if args.out:
        result["confusion"] = dict(result["confusion"])
        args.out.write_text(json.dumps({"split": args.split, "result": result, "machine": machine_info()}, indent=1,
                                       default=str) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
