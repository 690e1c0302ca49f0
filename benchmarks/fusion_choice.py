"""Every hybrid fusion of one model, on every split: the evidence for the default fusion and its weight.

For each dataset and split it scores BM25, dense and hybrid under RRF (k=60, dense weight 1, 1.5, 2) and under the
convex mix of min-max-normalised scores (dense weight alpha 0.3 ... 0.8), all with `medembed eval`'s harness
(document-level nDCG@10 over the whole split; indexes cached under $MEDEMBED_HOME/eval). Choose on the dev splits;
the test split is reported, never used to choose.

Usage::

    python benchmarks/fusion_choice.py --model medembed-small --out /tmp/bench/fusion.json
    python benchmarks/fusion_choice.py --model minilm --data DIR --datasets tinymed:dev --out x.json  # smoke size
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.machine import machine_info, offline_defaults, save_results  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FUSIONS = ([("rrf", {"dense_weight": w}) for w in (1.0, 1.5, 2.0)]
           + [("convex", {"alpha": a}) for a in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)])


def label(fusion: str, params: dict[str, float]) -> str:
    return f"{fusion} " + " ".join(f"{k}={v:g}" for k, v in params.items())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="medembed-small")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--datasets", default="nfcorpus:dev,nfcorpus:test,medquad:dev",
                        help="Comma-separated dataset:split pairs.")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    offline_defaults()
    logging.basicConfig(level=logging.WARNING)
    from medcore.config import Settings
    from search_app.evaluation.runner import evaluate_dataset

    settings = Settings.load()
    rows = []
    for pair in args.datasets.split(","):
        name, split = pair.split(":")
        folder = args.data / name
        for retriever in ("bm25", f"dense:{args.model}"):
            result = evaluate_dataset(folder, split, retriever, settings, show_progress_bar=False)
            rows.append({**result.to_json(), "fusion": "", "ndcg@10": round(result.metrics["ndcg@10"], 5)})
        for fusion, params in FUSIONS:
            tuned = replace(settings, search=replace(settings.search, fusion=fusion, **params))
            result = evaluate_dataset(folder, split, f"hybrid:{args.model}", tuned, show_progress_bar=False)
            rows.append({**result.to_json(), "fusion": label(fusion, params),
                         "ndcg@10": round(result.metrics["ndcg@10"], 5)})
        for row in rows[-(2 + len(FUSIONS)):]:
            print(f"{row['dataset']:10} {row['split']:6} {row['retriever']:24} {row['fusion']:22} "
                  f"{row['ndcg@10']:.4f}")
    save_results(args.out, {"benchmark": "fusion_choice", "when": datetime.now(UTC).isoformat(),
                            "machine": machine_info(), "model": args.model, "rows": rows})


if __name__ == "__main__":
    main()
