"""What key sentences from index-time sentence vectors cost: at index time (a build without them, then the time the
next build takes to add them to every chunk) and at search time (p50/p95 added to a paper search by marking from the
index, against marking by embedding sentences at search time, the bounded fallback), in one run, on a library of real
PDFs with the default model and fusion.

Search variants are interleaved query by query (benchmarks/clinician_latency.py's harness) on one thread, as the app
searches: ``papers`` (search only), ``indexed`` (search, then marking from the index's sentence vectors) and
``embedded`` (search, then the bounded marking that embeds up to 48 sentences, its cache emptied first).

Usage::

    nice -n 19 python benchmarks/key_sentence_cost.py --pdfs ../shared/data/pdfs --out /tmp/bench/key_sentences.json
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.clinician_latency import DEFAULT_PDFS, QUERIES, run  # noqa: E402
from benchmarks.machine import machine_info, offline_defaults, save_results  # noqa: E402
from benchmarks.timing import set_threads, summary  # noqa: E402

logger = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pdfs", type=Path, default=DEFAULT_PDFS)
    parser.add_argument("--model", default=None, help="Default: index.model.")
    parser.add_argument("-k", type=int, default=10, help="Papers per search.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--home", type=Path, default=None, help="Data home to build the library in (kept); default: "
                                                                 "a temporary folder.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    offline_defaults()

    from indexer.encode.embedder import Embedder
    from indexer.index.build import build_indexes
    from indexer.ingest import Ingestor
    from medcore.config import Settings
    from search_app import key_sentence
    from search_app.searcher import Searcher
    from store import Store

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.load().with_home(args.home or Path(tmp) / "home")
        model = args.model or settings.index.model
        store = Store.from_settings(settings)
        Ingestor(store, settings).ingest([args.pdfs], show_progress_bar=False)
        embedder = Embedder.load(model, settings)
        embedder.encode_passages(["warm up the encoder"])
        # a build without sentence vectors, then the next `medembed index` with them on: it keeps the chunk vectors
        # and adds the sentences of every chunk, so its time is what sentence vectors add to indexing
        build = {}
        for with_sentences in (False, True):
            cfg = replace(settings, index=replace(settings.index, sentence_vectors=with_sentences))
            start = time.perf_counter()
            report = build_indexes(store, cfg, model=model, rebuild=not with_sentences, show_progress_bar=False,
                                   embedder=embedder)
            build["sentences_added" if with_sentences else "without_sentences"] = time.perf_counter() - start
        chunks = report.total
        searcher = Searcher.from_settings(settings, f"hybrid:{model}", store=store)
        sentences = searcher.sentence_vectors()
        set_threads(1)
        k = args.k
        fns = {
            "papers": lambda q: searcher.search_papers(q, k),
            "indexed": lambda q: searcher.mark_key_sentences(q, searcher.search_papers(q, k)),
            "embedded": lambda q: (key_sentence.clear_cache(),
                                   key_sentence.mark_papers(searcher.sentence_embedder(), q,
                                                            searcher.search_papers(q, k))),
        }
        times = run(fns, list(QUERIES), args.rounds)
    without, added = build["without_sentences"], build["sentences_added"]
    results = {
        "benchmark": "key_sentence_cost", "model": model, "fusion": settings.search.fusion, "pdfs": str(args.pdfs),
        "chunks": chunks, "sentences": len(sentences) if sentences is not None else 0, "k": k,
        "queries": len(QUERIES), "rounds": args.rounds,
        "index_seconds": {"without_sentences": round(without, 2), "added_by_sentences": round(added, 2),
                          "added_fraction": round(added / without, 2)},
        "search_ms": {name: {kind: summary(ms) for kind, ms in t.items()} for name, t in times.items()},
        "machine": machine_info(),
    }
    base = times["papers"]["wall"]
    results["added_ms_p50"] = {name: round(float(_p50(times[name]["wall"]) - _p50(base)), 2)
                               for name in ("indexed", "embedded")}
    save_results(args.out, results)
    print(json.dumps({key: results[key] for key in ("model", "chunks", "sentences", "index_seconds", "added_ms_p50")},
                     indent=2))


def _p50(ms) -> float:  # noqa: ANN001 - an array of milliseconds
    import numpy as np

    return float(np.percentile(ms, 50))


if __name__ == "__main__":
    main()
