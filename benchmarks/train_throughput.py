"""Training throughput (triplets/s) of `medembed train`'s torch loop for each CPU setting, on the same triplets.

Each variant loads the base model afresh, trains ``--steps`` steps (after ``--warmup`` untimed ones) on the same
seeded sample and reports examples per second; the variants are interleaved over ``--rounds`` rounds because these
machines are noisy. Variants (passage length / query length, precision, negatives, grouping, freezing):

- ``p256-fp32``: passages and queries cut at 256, fp32, triplets, random batches: the loop as it was.
- ``p256-q64-fp32``, ``p256-q64-bf16``: queries get their own cap of 64 tokens; bf16 autocast.
- ``p256-q64-bf16-grouped``: batches grouped by passage length.
- ``p256-q64-bf16-grouped-pairs``: (query, positive) pairs, in-batch negatives only.
- ``p256-q64-bf16-grouped-frozen3``: word embeddings and the lowest 3 layers frozen.
- ``p128-q64-bf16-grouped``: passages cut at 128.
- ``p256-q64-bf16-grouped-kdloss`` and ``...-kdloss-mpnet``: runs 8-11's setting (a mined negative per query) in
  ``trainer.distill``'s loss, without a teacher and with all-mpnet-base-v2 as the teacher: the teacher's cost.
- ``p256-q64-bf16-grouped-pairs-recipe``: the CPU recipe's setting, and variants of it that change one choice each:
  fp32, no query cap, random batches, frozen embeddings and lowest 3 layers, passages cut at 192 or 128
  (``--variants ablation`` runs these and the triplets row).

With ``--dev`` each variant's trained model is also scored (nDCG@10) on the recipe's dev set (``trainer.devset``:
seeded dev queries of each folder over their judged documents and distractors), beside the untrained base: every
variant then sees the same number of examples, so the score says what a setting costs or buys per example and the
speed says how many examples a session buys.

Usage::

    python benchmarks/train_throughput.py TRIPLETS.jsonl [...] --out /tmp/bench/train.json
    python benchmarks/train_throughput.py TRIPLETS.jsonl [...] --variants ablation --steps 30 --warmup 0 \\
        --batch-size 32 --dev ../shared/data/nfcorpus --dev ../shared/data/medquad --out /tmp/bench/train-dev.json
    python benchmarks/train_throughput.py TRIPLETS.jsonl --steps 1 --warmup 0 --batch-size 4 --variants p256-fp32 \\
        --out x.json  # smoke size
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.machine import machine_info, offline_defaults, save_results  # noqa: E402
from trainer.devset import DevSet  # noqa: E402

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Variant:
    passage_len: int
    query_len: int
    precision: str
    group: bool = False
    negatives: bool = True
    freeze: int = 0
    teacher: str | None = None  # None: sentence-transformers' MNRL; "": trainer.distill's loss alone; a model: with it


VARIANTS = {
    "p256-fp32": Variant(256, 256, "fp32"),
    "p256-q64-fp32": Variant(256, 64, "fp32"),
    "p256-q64-bf16": Variant(256, 64, "bf16"),
    "p256-q64-bf16-grouped": Variant(256, 64, "bf16", group=True),
    "p256-q64-bf16-grouped-pairs": Variant(256, 64, "bf16", group=True, negatives=False),
    "p256-q64-bf16-grouped-frozen3": Variant(256, 64, "bf16", group=True, freeze=3),
    "p128-q64-bf16-grouped": Variant(128, 64, "bf16", group=True),
    # the CPU recipe's setting, then one choice changed at a time
    "p256-q64-bf16-grouped-pairs-recipe": Variant(256, 64, "bf16", group=True, negatives=False),
    "p256-q64-fp32-grouped-pairs": Variant(256, 64, "fp32", group=True, negatives=False),
    "p256-q256-bf16-grouped-pairs": Variant(256, 256, "bf16", group=True, negatives=False),
    "p256-q64-bf16-pairs": Variant(256, 64, "bf16", negatives=False),
    "p256-q64-bf16-grouped-pairs-frozen3": Variant(256, 64, "bf16", group=True, negatives=False, freeze=3),
    "p192-q64-bf16-grouped-pairs": Variant(192, 64, "bf16", group=True, negatives=False),
    "p128-q64-bf16-grouped-pairs": Variant(128, 64, "bf16", group=True, negatives=False),
    # runs 8-11's setting (a negative per query) in trainer.distill's loss, without and with mpnet as the teacher
    # (scripts/fetch_mpnet.sh first): the two rows differ only by the teacher's forward passes
    "p256-q64-bf16-grouped-kdloss": Variant(256, 64, "bf16", group=True, teacher=""),
    "p256-q64-bf16-grouped-kdloss-mpnet": Variant(256, 64, "bf16", group=True, teacher="mpnet"),
}
#: The variants of the per-choice table (speed and dev score): the recipe, then one choice changed at a time.
ABLATION = ["p256-q64-bf16-grouped-pairs-recipe", "p256-q64-fp32-grouped-pairs", "p256-q256-bf16-grouped-pairs",
            "p256-q64-bf16-pairs", "p256-q64-bf16-grouped-pairs-frozen3", "p256-q64-bf16-grouped",
            "p192-q64-bf16-grouped-pairs", "p128-q64-bf16-grouped-pairs"]


def run_variant(variant: Variant, triplets: list, steps: int, warmup: int, batch_size: int, learning_rate: float,
                dev: DevSet | None = None) -> dict:
    """Train ``warmup + steps`` steps of a fresh base model; time the last ``steps``; score it on ``dev`` if given."""
    from sentence_transformers import losses

    from medcore.config import TrainSettings
    from trainer.distill import distilled_ranking_loss, load_teacher
    from trainer.loop import train_loop
    from trainer.models import load_model
    from trainer.train import freeze

    spec, model = load_model("minilm", "cpu")
    model.max_seq_length = variant.passage_len
    freeze(model, variant.freeze > 0, variant.freeze)
    loss, teacher = losses.MultipleNegativesRankingLoss(model), None
    if variant.teacher is not None:
        loss = distilled_ranking_loss(model, 1.0)
    if variant.teacher:
        hp = TrainSettings(distill_from=variant.teacher, max_seq_length=variant.passage_len,
                           query_max_length=variant.query_len)
        teacher = load_teacher(hp, spec, "cpu", variant.precision)
    common = dict(batch_size=batch_size, epochs=1, learning_rate=learning_rate, warmup_ratio=0.1,
                  precision=variant.precision, save_steps=10**9, resume=False, seed=42,
                  query_max_length=variant.query_len, group_by_length=variant.group,
                  with_negatives=variant.negatives, show_progress_bar=False, teacher=teacher)
    with tempfile.TemporaryDirectory() as tmp:
        if warmup:
            train_loop(model, loss, triplets, max_steps=warmup, checkpoint_dir=Path(tmp), **common)
        start = time.perf_counter()
        stats = train_loop(model, loss, triplets, max_steps=steps, checkpoint_dir=Path(tmp), **common)
        seconds = time.perf_counter() - start
    result = {"examples": stats["examples"], "seconds": round(seconds, 2),
              "triplets_per_second": round(stats["examples"] / seconds, 3)}
    if dev is not None:
        result["dev_ndcg@10"] = dev_score(model, dev)
    return result


def dev_score(model, dev: DevSet) -> float:
    from trainer.devset import evaluate

    model.eval()
    return evaluate(model, dev)["ndcg@10"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("triplets", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help="Comma-separated names (default: all), or 'ablation' for the recipe's per-choice table.")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-5, help="Peak learning rate (10%% warmup, linear decay).")
    parser.add_argument("--sample", type=int, default=4000, help="Triplets drawn (seeded) from the files.")
    parser.add_argument("--dev", type=Path, action="append", default=[],
                        help="BEIR folder whose dev split scores each trained variant (repeatable).")
    parser.add_argument("--dev-queries", type=int, default=200, help="Dev queries per folder.")
    parser.add_argument("--dev-corpus", type=int, default=2000, help="Distractor documents per folder.")
    args = parser.parse_args(argv)
    offline_defaults()
    logging.basicConfig(level=logging.WARNING)
    from trainer.data import read_triplets
    from trainer.devset import build_dev_set

    rows = [t for path in args.triplets for t in read_triplets(path)]
    rows = random.Random(42).sample(rows, min(args.sample, len(rows)))
    names = ABLATION if args.variants == "ablation" else [n.strip() for n in args.variants.split(",") if n.strip()]
    unknown = set(names) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variant(s) {sorted(unknown)}; choose from {', '.join(VARIANTS)}")
    dev = build_dev_set(args.dev, "dev", args.dev_queries, args.dev_corpus) if args.dev else None
    base_score = None
    if dev is not None:
        from trainer.models import load_model

        base_score = dev_score(load_model("minilm", "cpu")[1], dev)
        logger.warning("dev set: %s; base model nDCG@10 %.4f", dev.describe(), base_score)
    results: dict[str, list[dict]] = {n: [] for n in names}
    for round_ in range(args.rounds):
        for name in names:
            results[name].append(run_variant(VARIANTS[name], rows, args.steps, args.warmup, args.batch_size,
                                             args.lr, dev))
            logger.warning("round %d %s: %s", round_ + 1, name, results[name][-1])
    base = names[0]

    def median(name: str, key: str = "triplets_per_second") -> float:
        values = sorted(r[key] for r in results[name])
        return values[len(values) // 2]

    summary = {n: {"triplets_per_second": median(n), "vs_" + base: round(median(n) / median(base), 2)}
               for n in names}
    if dev is not None:
        for n in names:
            summary[n]["dev_ndcg@10"] = median(n, "dev_ndcg@10")
    save_results(args.out, {"benchmark": "train_throughput", "when": datetime.now(UTC).isoformat(),
                            "machine": machine_info(),
                            "settings": {k: [str(p) for p in v] if k in ("triplets", "dev")
                                         else str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                            "variants": {n: VARIANTS[n].__dict__ for n in names}, "runs": results,
                            "dev": dev.describe() if dev else None, "base_dev_ndcg@10": base_score,
                            "summary": summary})
    if base_score is not None:
        print(f"{'base model (untrained)':32} {'':>18}  dev nDCG@10 {base_score:.4f}")
    for name, row in summary.items():
        score = f"  dev nDCG@10 {row['dev_ndcg@10']:.4f}" if "dev_ndcg@10" in row else ""
        print(f"{name:32} {row['triplets_per_second']:7.2f} triplets/s  x{row['vs_' + base]:.2f}{score}")


if __name__ == "__main__":
    main()
