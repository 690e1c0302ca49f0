"""What the reranker adds to a search: p50/p95 of ``Searcher.search`` with the reranker reading the top N = 20, 30
and 50 candidates, against the first stage alone (hybrid, the default model), in one run on a library of real PDFs.

Variants are interleaved query by query (benchmarks/clinician_latency.py's harness), so load on the machine falls on
all of them alike; the first stage runs as the app runs it. The reranker runs as configured (``search.rerank_encoder``,
``search.rerank_max_length``, ``search.rerank_threads``), or as each ``--variants`` entry says
(``ENCODER/MAX_LENGTH[/THREADS]``, threads 0: every core), all of them in the same interleaved run, so that their
ratios hold on a busy machine too.

Usage::

    python benchmarks/rerank_latency.py --pdfs ../shared/data/pdfs --out /tmp/bench/rerank_latency.json
    python benchmarks/rerank_latency.py --out /tmp/bench/rerank_variants.json \
        --variants openvino-bf16/192 onnx-int8/192 openvino-bf16/128 onnx-int8/128
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


def variant_settings(search, spec: str):  # noqa: ANN001, ANN201 - a SearchSettings in, one out
    """``search`` with the reranker's encoder, max length and (optionally) threads and model of
    ``ENCODER/MAX_LENGTH[/THREADS][@RERANKER]`` (threads 0: every core; RERANKER: a name or folder)."""
    spec, _, reranker = spec.partition("@")
    parts = spec.split("/")
    if len(parts) not in (2, 3) or not all(p.isdigit() for p in parts[1:]):
        raise SystemExit("--variants takes ENCODER/MAX_LENGTH[/THREADS][@RERANKER] (e.g. onnx-int8/128/2 or "
                         f"openvino-bf16/128@/work/rerank/model), not {spec!r}")
    changes = {"rerank_encoder": parts[0], "rerank_max_length": int(parts[1])}
    if len(parts) == 3:
        changes["rerank_threads"] = int(parts[2])
    if reranker:
        changes["reranker"] = reranker
    return replace(search, **changes)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pdfs", type=Path, default=DEFAULT_PDFS)
    parser.add_argument("--model", default=None, help="Default: index.model.")
    parser.add_argument("-k", type=int, default=10, help="Passages per search.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--depths", type=int, nargs="+", default=list(DEPTHS))
    parser.add_argument("--variants", nargs="+", default=None,
                        help="Rerankers to compare, ENCODER/MAX_LENGTH[/THREADS][@RERANKER] each "
                             "(default: as configured).")
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
        variants = {spec: variant_settings(settings.search, spec) for spec in args.variants or []}
        for depth in args.depths:
            for spec, search in (variants or {"": settings.search}).items():
                cfg = replace(settings, search=replace(search, rerank_depth=depth))
                name = f"rerank_{depth}" if not spec else f"{spec}@{depth}"
                searchers[name] = Searcher(cfg, store, RetrieverSpec("hybrid", model, rerank=True))
        runtimes = {name: s.reranker.model.kind for name, s in searchers.items() if s.reranker}
        fns = {name: (lambda q, s=s: s.search(q, args.k)) for name, s in searchers.items()}
        times = run(fns, list(QUERIES), args.rounds)
    p50 = {name: float(np.percentile(t["wall"], 50)) for name, t in times.items()}
    added = {name: round(p50[name] - p50["first_stage"], 1) for name in times if name != "first_stage"}
    results = {
        "benchmark": "rerank_latency", "model": model, "reranker": settings.search.reranker,
        "reranker_runtime": runtimes, "reranker_max_length": settings.search.rerank_max_length,
        "variants": args.variants, "chunks": report.total, "k": args.k,
        "queries": len(QUERIES), "rounds": args.rounds,
        "search_ms": {name: summary(t["wall"]) for name, t in times.items()},
        # CPU time of the whole process per search: the work done, which a busy machine inflates far less than the
        # wall clock (with one reranker thread it is close to that variant's idle latency)
        "search_cpu_ms": {name: summary(t["proc"]) for name, t in times.items()},
        "added_ms_p50": added,
        "machine": machine_info(),
    }
    if args.variants:  # each variant's added p50 over the first variant's, depth by depth, from the same run
        base = args.variants[0]
        results["added_p50_vs_first_variant"] = {
            name: round(ms / added[f"{base}@{name.rsplit('@', 1)[1]}"], 3) for name, ms in added.items()}
    save_results(args.out, results)
    shown = ("reranker_runtime", "search_ms", "added_ms_p50", "added_p50_vs_first_variant")
    print(json.dumps({key: results[key] for key in shown if key in results}, indent=2))


if __name__ == "__main__":
    main()
