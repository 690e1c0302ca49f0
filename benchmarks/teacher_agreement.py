"""How often a teacher ranks each query's own positive first among a batch's positives, per training file.

    PYTHONPATH=. HF_HUB_OFFLINE=1 python benchmarks/teacher_agreement.py TRIPLETS.jsonl... [--teacher mpnet]
        [--batches 20] [--batch-size 64] [--out results.json]

With ``train.distill_rows = agree`` (``trainer.distill``) the teacher's term is kept only for those queries, so this
share is how much of the teacher a run learns from, and where. Batches are drawn at random from all the files
together, as training mixes sources in one batch (without the trainer's length grouping or its guard against a
query meeting its own known positives in another row).
"""

from __future__ import annotations

import argparse
import logging
import random
from collections import Counter
from pathlib import Path

from benchmarks.machine import machine_info, save_results
from medcore.config import TrainSettings
from trainer.data import read_triplets
from trainer.distill import load_teacher, teacher_agrees
from trainer.train import resolve_precision

logger = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("triplets", nargs="+", type=Path)
    parser.add_argument("--teacher", default="mpnet", help="Registry name or folder (mpnet: scripts/fetch_mpnet.sh).")
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    rows = [(path.stem, t) for path in args.triplets for t in read_triplets(path)]
    if len(rows) < 2 or args.batch_size < 2:
        raise SystemExit("teacher_agreement needs at least 2 triplets and --batch-size 2 or more: a query alone in "
                         "its batch has no other positive to be ranked against.")
    sample = random.Random(args.seed).sample(rows, min(len(rows), args.batches * args.batch_size))
    # the teacher exactly as training loads it (its own prefixes, the token caps, bf16 where the CPU computes it)
    teacher = load_teacher(TrainSettings(distill_from=args.teacher), None, "cpu", resolve_precision("auto", "cpu"))
    seen, agreed = Counter(), Counter()
    for start in range(0, len(sample) - 1, args.batch_size):  # a last batch of one row would always agree
        batch = sample[start:start + args.batch_size]
        for (name, _), agrees in zip(batch, teacher_agrees(teacher([t for _, t in batch])).tolist(), strict=True):
            seen[name] += 1
            agreed[name] += agrees
        logger.info("%d of %d rows scored", sum(seen.values()), len(sample))
    shares = {name: {"rows": seen[name], "teacher_first": agreed[name] / seen[name]} for name in sorted(seen)}
    shares["all"] = {"rows": sum(seen.values()), "teacher_first": sum(agreed.values()) / sum(seen.values())}
    print("| file | rows sampled | teacher ranks the labelled positive first |\n|---|---:|---:|")
    for name, s in shares.items():
        print(f"| {name} | {s['rows']} | {s['teacher_first']:.3f} |")
    if args.out:
        save_results(args.out, {"teacher": args.teacher, "batch_size": args.batch_size, "shares": shares,
                                "machine": machine_info()})


if __name__ == "__main__":
    main()
