"""Embedding models on the breadth dev set, per set: the mean nDCG@10 that chooses medembed-small's data mix and merge
weights (``scripts/train_medembed_small.sh``, ``medembed merge --dev``), and each set's share of it.

The dev set is built as the training script builds it (``trainer.devset.build_dev_set``: DEV_QUERIES judged dev
queries of each folder over their judged documents and DEV_CORPUS distractors each, seeded with ``train.seed``).
Each model encodes the pooled corpus once, under the same autocast as ``trainer.devset.evaluate``; every query is
ranked against the whole pool, as the merge's evaluator ranks it, so the mean over all queries is the merge log's
figure and the per-set means show where a model gains or loses.

Usage::

    python benchmarks/breadth_dev.py --model minilm --model models/medembed-small \
        --extra-dev /work/run/generated-heldapart --out /tmp/bench/breadth_dev.json
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.machine import machine_info, offline_defaults, save_results  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SETS = ("nfcorpus", "medquad", "train/bioasq-b7-11", "train/pubmedqa-pqal", "train/covid-qa", "train/medicationqa")
logger = logging.getLogger("breadth_dev")


def per_set_ndcg(ranked: dict[str, list[str]], relevant: dict[str, set[str]], k: int = 10) -> dict[str, float]:
    """``{set: mean nDCG@k of its queries}`` plus ``"mean"`` over every query; a query id is ``set/qid``."""
    from search_app.evaluation.metrics import ndcg_at_k

    by_set: dict[str, list[float]] = {}
    for qid, ids in ranked.items():
        by_set.setdefault(qid.split("/", 1)[0], []).append(ndcg_at_k(ids, dict.fromkeys(relevant[qid], 1), k))
    out = {name: round(sum(v) / len(v), 5) for name, v in by_set.items()}
    every = [x for v in by_set.values() for x in v]
    out["mean"] = round(sum(every) / len(every), 5)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", required=True, help="Registry name or folder (repeat).")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--sets", nargs="+", default=list(SETS))
    parser.add_argument("--extra-dev", type=Path, action="append", default=[],
                        help="More BEIR folders (e.g. the held-apart generated queries trainer.heldapart writes).")
    parser.add_argument("--dev-queries", type=int, default=50)
    parser.add_argument("--dev-corpus", type=int, default=300)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    offline_defaults()

    import contextlib

    import torch

    from medcore.config import Settings
    from medcore.cpu import native_bf16
    from trainer.devset import build_dev_set
    from trainer.models import load_model

    settings = Settings.load()
    folders = [args.data / s for s in args.sets] + list(args.extra_dev)
    dev = build_dev_set(folders, "dev", args.dev_queries, args.dev_corpus, settings.train.seed)
    logger.info("Dev set: %s", dev.describe())
    doc_ids, qids = list(dev.corpus), list(dev.queries)
    results: dict[str, dict[str, float]] = {}
    for name in args.model:
        spec, model = load_model(name, "cpu")
        autocast = torch.autocast("cpu", dtype=torch.bfloat16) if native_bf16() else contextlib.nullcontext()
        with autocast:
            docs = model.encode([spec.passage_prefix + dev.corpus[d] for d in doc_ids], batch_size=64,
                                convert_to_tensor=True, normalize_embeddings=True)
            queries = model.encode([spec.query_prefix + dev.queries[q] for q in qids], batch_size=64,
                                   convert_to_tensor=True, normalize_embeddings=True)
        top = torch.topk(queries.float() @ docs.float().T, k=min(10, len(doc_ids)), dim=1).indices.tolist()
        ranked = {q: [doc_ids[i] for i in row] for q, row in zip(qids, top, strict=True)}
        results[name] = per_set_ndcg(ranked, dev.relevant)
        logger.info("%s: %s", name, results[name])
    save_results(args.out, {"machine": machine_info(), "dev_set": dev.describe(), "metric": "ndcg@10",
                            "models": results})


if __name__ == "__main__":
    main()
