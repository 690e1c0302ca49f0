"""Choose the reranker's weight and depth on dev: nDCG@10 of ``hybrid:MODEL+rerank`` for each weight in --weights and
each depth in --depths, on the dev split of every set, each set weighing the same in the mean (the breadth dev set).

Each query's candidates are scored by the reranker once (memoised per query and passage), so the whole grid costs one
scoring pass per set; weight 0 orders the top candidates as the first stage does, so it is the first stage's figure.
The runs go through ``Searcher.batch_search_documents`` exactly as ``medembed eval`` does; confirm the chosen values
with ``medembed eval`` (``MEDEMBED_SEARCH_RERANK_WEIGHT``, ``MEDEMBED_SEARCH_RERANK_DEPTH``).

``--variants`` (``ENCODER/MAX_LENGTH[/THREADS][@RERANKER]`` each, as in benchmarks/rerank_latency.py) scores the
same queries and first-stage candidates with each variant of the reranker in turn (int8 weights, shorter inputs,
another reranker folder), the first variant being the reference the others are compared with.

Usage::

    python benchmarks/rerank_weight.py --out /tmp/bench/rerank_weight.json
    python benchmarks/rerank_weight.py --max-queries 100 --weights 0.3 --depths 30 --out /tmp/bench/rerank_int8.json \
        --variants openvino-bf16/192 onnx-int8/192 openvino-bf16/128 onnx-int8/128
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.machine import machine_info, offline_defaults, save_results  # noqa: E402
from benchmarks.rerank_latency import variant_settings  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SETS = ("nfcorpus", "medquad", "train/bioasq-b7-11", "train/pubmedqa-pqal", "train/covid-qa", "train/medicationqa")
logger = logging.getLogger("rerank_weight")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--sets", nargs="+", default=list(SETS))
    parser.add_argument("--split", default="dev")
    parser.add_argument("--model", default=None, help="First-stage model (default index.model).")
    parser.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.3, 0.5, 0.7, 1.0])
    parser.add_argument("--depths", type=int, nargs="+", default=[20, 30])
    parser.add_argument("--max-queries", type=int, default=None, help="The first n judged queries of each set.")
    parser.add_argument("--variants", nargs="+", default=None,
                        help="Rerankers to compare, ENCODER/MAX_LENGTH[/THREADS][@RERANKER] each "
                             "(default: as configured).")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    offline_defaults()

    from dataclasses import replace

    from indexer.encode.cross_encoder import CrossEncoder
    from medcore.beir import load_qrels, load_queries
    from medcore.config import Settings
    from search_app.evaluation.metrics import drop_self_hits, evaluate_named
    from search_app.evaluation.runner import dataset_searcher, judged_queries, run_queries

    settings = Settings.load()
    model = args.model or settings.index.model
    table: dict[str, dict[str, float]] = {}
    for name in args.sets:
        folder = args.data / name
        qrels, queries = load_qrels(folder, args.split), load_queries(folder)
        qids = judged_queries(qrels, queries)[: args.max_queries]
        searcher = dataset_searcher(folder, settings, f"hybrid:{model}+rerank")
        reranker = searcher.reranker
        for spec in args.variants or [""]:
            if spec:
                cfg = replace(settings, search=variant_settings(settings.search, spec))
                reranker.model = CrossEncoder.load(cfg.search.reranker, cfg)
            # the class's method, not the attribute: the model is cached per process, so an earlier set's memoised
            # wrapper may sit on it
            score, memo = functools.partial(CrossEncoder.score, reranker.model), {}

            def memoised(query: str, passages: list[str], score=score, memo=memo):  # noqa: ANN202, ANN001
                missing = [p for p in dict.fromkeys(passages) if (query, p) not in memo]
                if missing:
                    memo.update({(query, p): float(s) for p, s in zip(missing, score(query, missing), strict=True)})
                return [memo[(query, p)] for p in passages]

            reranker.model.score = memoised  # an attribute of this instance only; the class stays clean
            prefix = f"{spec} " if spec else ""
            started = time.perf_counter()
            for depth in sorted(args.depths, reverse=True):  # the deepest first: the others reuse its scores
                for weight in args.weights:
                    reranker.depth, reranker.weight = depth, weight
                    run = drop_self_hits(run_queries(searcher, queries, qids))
                    ndcg = evaluate_named({q: qrels[q] for q in qids}, run)["ndcg@10"]
                    table.setdefault(f"{prefix}depth={depth} weight={weight}", {})[name] = round(ndcg, 5)
                    logger.info("%s %s %sdepth %d weight %.2f: nDCG@10 %.4f", name, args.split, prefix, depth, weight,
                                ndcg)
            logger.info("%s %s: %.0f s", name, spec or "reranker", time.perf_counter() - started)
    for row in table.values():
        row["mean"] = round(sum(row[s] for s in args.sets) / len(args.sets), 5)
    best = max(table, key=lambda key: table[key]["mean"])
    results = {"benchmark": "rerank_weight", "model": model, "reranker": settings.search.reranker,
               "split": args.split, "sets": args.sets, "ndcg@10": table, "best": best, "machine": machine_info()}
    save_results(args.out, results)
    print(json.dumps({"best": best, "ndcg@10": table}, indent=2))


if __name__ == "__main__":
    main()
