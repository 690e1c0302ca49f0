"""What the reranker adds to a search: p50/p95 of ``Searcher.search`` with the reranker reading the top N = 20, 30
and 50 candidates, against the first stage alone (hybrid, the default model), in one run on a library of real PDFs.

Variants are interleaved query by query (benchmarks/clinician_latency.py's harness), so load on the machine falls on
all of them alike; the reranker runs as configured (``search.rerank_encoder``, ``search.rerank_threads``: every core
by default), the first stage as the app runs it.

Usage::

    python benchmarks/rerank_latency.py --pdfs ../shared/data/pdfs --out /tmp/bench/rerank_latency.json
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.clinician_latency import DEFAULT_PDFS, QUERIES, run  # noqa: E402
from benchmarks.machine import machine_info, offline_defaults, save_results  # noqa: E402
from benchmarks.timing import summary  # noqa: E402

logger = logging.getLogger(__name__)
DEPTHS = (20, 30, 50)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pdfs", type=Path, default=DEFAULT_PDFS)
    parser.add_argument("--model", default=None, help="Default: index.model.")
    parser.add_argument("-k", type=int, default=10, help="Passages per search.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    offline_defaults()

    from indexer.index.build import build_indexes
    from indexer.ingest import Ingestor
    from medcore.config import Settings
    from medcore.retrievers import RetrieverSpec
    from search_app.searcher import Searcher
    from store import Store

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.load().with_home(Path(tmp) / "home")
        model = args.model or settings.index.model
        store = Store.from_settings(settings)
        Ingestor(store, settings).ingest([args.pdfs], show_progress_bar=False)
        report = build_indexes(store, settings, model=model, show_progress_bar=False)
        first = Searcher.from_settings(settings, RetrieverSpec("hybrid", model), store=store)
        searchers = {"first_stage": first}
        for depth in DEPTHS:
            cfg = replace(settings, search=replace(settings.search, rerank_depth=depth))
            searchers[f"rerank_{depth}"] = Searcher(cfg, store, RetrieverSpec("hybrid", model, rerank=True))
        reranker = searchers[f"rerank_{DEPTHS[0]}"].reranker
        fns = {name: (lambda q, s=s: s.search(q, args.k)) for name, s in searchers.items()}
        times = run(fns, list(QUERIES), args.rounds)
    base = float(np.percentile(times["first_stage"]["wall"], 50))
    results = {
        "benchmark": "rerank_latency", "model": model, "reranker": settings.search.reranker,
        "reranker_runtime": reranker.model.kind if reranker else None,
        "reranker_max_length": settings.search.rerank_max_length, "chunks": report.total, "k": args.k,
        "queries": len(QUERIES), "rounds": args.rounds,
        "search_ms": {name: summary(t["wall"]) for name, t in times.items()},
        "added_ms_p50": {name: round(float(np.percentile(t["wall"], 50)) - base, 1)
                         for name, t in times.items() if name != "first_stage"},
        "machine": machine_info(),
    }
    save_results(args.out, results)
    print(json.dumps({key: results[key] for key in ("reranker_runtime", "search_ms", "added_ms_p50")}, indent=2))


if __name__ == "__main__":
    main()
