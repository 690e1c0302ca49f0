"""How far two careful readers agree on a study design, and how the classifier scores against each and both.

    PYTHONPATH=. HF_HUB_OFFLINE=1 python -m benchmarks.study_design_agreement [--second FILE] [--out results.json]

The test split's labels are one reading. ``second_reading.jsonl`` holds a second, made apart from the first by other
readers with the same rules and dev examples and without seeing the first labels or any classifier output. Their
agreement (raw and Cohen's kappa) says how much of the classifier's distance from the targets is the labels' own
noise: a paper two readers label differently has no single right answer. The classifier (what ingest runs,
:func:`indexer.text.study_design.detect_many`) is scored against each reading, on the papers both readings agree on,
and counting a design as right when either reader gave it.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import Counter
from pathlib import Path

from benchmarks.machine import machine_info, save_results
from benchmarks.study_design_eval import classify, score
from benchmarks.study_design_train import LABELS, load
from medcore.study_types import DESIGNS

SECOND = LABELS.parent / "second_reading.jsonl"


def cohen_kappa(first: list[str], second: list[str]) -> float:
    """Agreement beyond what the two readers' label frequencies give by chance (1: always agree, 0: chance)."""
    n = len(first)
    observed = sum(a == b for a, b in zip(first, second, strict=True)) / n
    a, b = Counter(first), Counter(second)
    expected = sum(a[label] * b[label] for label in set(a) | set(b)) / (n * n)
    return (observed - expected) / (1 - expected) if expected < 1 else 1.0


def agreement(first: list[str], second: list[str]) -> dict:
    """Raw agreement, kappa, per-design agreement (of the papers either reader put in it) and the disagreements."""
    pairs = list(zip(first, second, strict=True))
    per_design = {}
    for label in DESIGNS:
        either = [(a, b) for a, b in pairs if label in (a, b)]
        if either:
            per_design[label] = {"either": len(either), "both": sum(a == b for a, b in either)}
    return {"n": len(pairs), "agreement": sum(a == b for a, b in pairs) / len(pairs),
            "kappa": cohen_kappa(first, second), "per_design": per_design,
            "disagreements": Counter(f"{a}|{b}" for a, b in pairs if a != b).most_common()}


def either_score(first: list[str], second: list[str], predicted: list[str]) -> dict:
    """:func:`score` where a design is right if either reader gave it."""
    gold = [p if p in (a, b) else a for a, b, p in zip(first, second, predicted, strict=True)]
    return score(gold, predicted)


def report(results: dict) -> str:
    """The readers' agreement and the classifier's scores as Markdown."""
    readers = results["readers"]
    lines = [f"Readers: {readers['n']} papers, agreement {readers['agreement']:.3f}, Cohen's kappa "
             f"{readers['kappa']:.3f}.", "", "| design | either reader | both | share |", "|---|---:|---:|---:|"]
    lines += [f"| {label} | {c['either']} | {c['both']} | {c['both'] / c['either']:.2f} |"
              for label, c in readers["per_design"].items()]
    lines += ["", "Most frequent disagreements (first|second): "
              + ", ".join(f"{pair} {count}" for pair, count in readers["disagreements"][:10]), "",
              "| scored | papers | accuracy | precision over claims | abstention |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {name} | {r['n']} | {r['accuracy']:.3f} | {r['precision']:.3f} | {r['abstention']:.3f} |"
              for name, r in results.items() if name != "readers"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--second", type=Path, default=SECOND, help="The second reading (id, label, reason).")
    parser.add_argument("--out", type=Path, help="Also write the numbers and the machine as JSON here.")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    second = {row["id"]: row["label"] for text in args.second.read_text(encoding="utf-8").splitlines()
              if (row := json.loads(text))}
    rows = [r for r in load("test") if r["id"] in second]
    if not rows:
        raise SystemExit(f"No test-split id of {LABELS} is in {args.second}: nothing to compare.")
    first, other = [r["label"] for r in rows], [second[r["id"]] for r in rows]
    predicted = [d.study_type for d in classify(rows)]
    both = [i for i, (a, b) in enumerate(zip(first, other, strict=True)) if a == b]
    results = {
        "readers": agreement(first, other),
        "classifier vs first reading": score(first, predicted),
        "classifier vs second reading": score(other, predicted),
        "classifier where the readers agree": score([first[i] for i in both], [predicted[i] for i in both]),
        "classifier, right if either reader": either_score(first, other, predicted),
        "second reading vs first, as a classifier": score(first, other),
    }
    print(report(results))
    if args.out:
        for result in results.values():
            result.pop("confusion", None)
        save_results(args.out, {"results": results, "machine": machine_info()})


if __name__ == "__main__":
    main()
