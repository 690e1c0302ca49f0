"""Parts of the query-latency benchmark beside the main paths: rank-bm25 vs bm25s at a reference size, and
``Searcher.search`` end to end on a real SQLite store."""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchmarks.latency_corpus import Corpus
from benchmarks.timing import set_threads, summary, time_each


def reference_bm25(corpus: Corpus, queries: Sequence[str], args: argparse.Namespace) -> dict:
    """rank-bm25 (``BM25Okapi.get_scores`` + top-``depth``) against bm25s on the first ``--ref-chunks`` chunks."""
    try:
        from rank_bm25 import BM25Okapi
    except ImportError:
        return {"skipped": "rank-bm25 is not installed (pip install -e '.[dev]')"}
    from indexer.index.local.bm25 import BM25Index, tokenize

    texts = corpus.texts[: args.ref_chunks]
    depth = min(max(args.settings.search.candidates, args.k * args.settings.search.per_doc_cap), len(texts))
    start = time.perf_counter()
    okapi = BM25Okapi(tokenize(texts))
    okapi_build = time.perf_counter() - start
    start = time.perf_counter()
    small = BM25Index.build(range(len(texts)), texts)
    bm25s_build = time.perf_counter() - start

    def okapi_top(i: int) -> np.ndarray:
        scores = okapi.get_scores(tokenize([queries[i]])[0])  # (n_docs,)
        top = np.argpartition(-scores, depth - 1)[:depth]
        return top[np.argsort(-scores[top])]

    n = len(queries)
    return {"n_chunks": len(texts), "rank_bm25_build_s": round(okapi_build, 2), "bm25s_build_s": round(bm25s_build, 2),
            "rank_bm25": summary(time_each(okapi_top, n, args.warmup)),
            "bm25s": summary(time_each(lambda i: small.search([queries[i]], depth), n, args.warmup))}


def end_to_end(data_dir: Path, embedder, queries: Sequence[str], args: argparse.Namespace) -> dict:  # noqa: ANN001
    """``Searcher.search(q, k)`` per mode on a real SQLite store of the first ``--e2e-docs`` NFCorpus documents."""
    from indexer.index.build import build_indexes as build_store_indexes
    from indexer.ingest import Ingestor
    from medcore.retrievers import RETRIEVER_MODES, RetrieverSpec
    from search_app.searcher import Searcher, with_retriever
    from store import Store

    with tempfile.TemporaryDirectory(prefix="medembed-bench-") as tmp:
        subset = Path(tmp) / "nfcorpus"
        subset.mkdir()
        with open(data_dir / "nfcorpus" / "corpus.jsonl", encoding="utf-8") as fh:
            (subset / "corpus.jsonl").write_text("".join(line for _, line in zip(range(args.e2e_docs), fh)))
        settings = args.settings.with_home(Path(tmp) / "home")
        store = Store.from_settings(settings)
        try:
            Ingestor(store, settings).ingest_beir(subset, collection="nfcorpus", show_progress_bar=False)
            start = time.perf_counter()
            build_store_indexes(store, settings, model=args.model, embedder=embedder, show_progress_bar=False)
            out: dict = {"n_docs": store.counts()[0], "n_chunks": store.counts()[1], "k": args.k,
                         "index_s": round(time.perf_counter() - start, 2), "store": "sqlite"}
            hybrid = Searcher.from_settings(settings, f"hybrid:{args.model}", store)
            searchers = {mode: hybrid if mode == "hybrid" else with_retriever(
                hybrid, str(RetrieverSpec.of(mode, args.model))) for mode in sorted(RETRIEVER_MODES)}
            out["latency"] = {}
            for threads in args.threads:
                set_threads(threads)
                out["latency"][str(threads)] = {
                    mode: summary(time_each(lambda i, s=s: s.search(queries[i], args.k), len(queries), args.warmup))
                    for mode, s in searchers.items()
                }
        finally:
            store.close()
    return out
