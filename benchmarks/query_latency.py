"""Per-query latency and index size of BM25, dense and hybrid retrieval over N chunks of real medical text.

The corpus is NFCorpus and MedQuAD split into ~150-word passages, repeated with small deterministic perturbations
(sentence order shuffled, one sentence or word dropped) until there are N chunks (:mod:`benchmarks.latency_corpus`).
Embedding N passages with MiniLM on a CPU takes too long, so a real subsample of ``--n-real`` passages is embedded
and every other chunk gets a *synthetic* vector: a real vector plus Gaussian noise, renormalised. Exact search costs
the same whatever the vectors hold; approximate search (IVF/HNSW past ``--ann-threshold``) depends on them, so its
recall is measured here against exact search on these vectors and, as a quality gate, on real vectors by
``benchmarks/ann_tuning.py``. Queries are real NFCorpus test queries, encoded by the real model one at a time.

Paths timed: query encoding (the configured encoder and torch), FAISS search (the index the library would use and
exact flat search), dense (encode + search), bm25 (numpy and numba scoring), fusion, hybrid (bm25 then dense, and
bm25 in a worker thread while dense runs in the caller).

Usage::

    python benchmarks/query_latency.py --n-chunks 100000 --out bench-query-latency.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.latency_corpus import SOURCES, VECTOR_METHOD, Corpus, build_corpus, load_queries, synth_vectors  # noqa: E402,I001
from benchmarks.latency_extras import end_to_end, reference_bm25  # noqa: E402
from benchmarks.latency_report import ratios, table  # noqa: E402
from benchmarks.machine import machine_info, offline_defaults, save_results  # noqa: E402
from benchmarks.timing import get_threads, rss_mb, set_threads, summary, time_each  # noqa: E402
from medcore.config import SearchSettings, Settings  # noqa: E402

logger = logging.getLogger(__name__)

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


class Pipelines:
    """The retrieval paths of ``Searcher`` over in-memory indexes: depth ``depth`` each, rrf, per-document cap."""

    def __init__(self, bm25, dense, embedder, corpus: Corpus, search: SearchSettings, k: int) -> None:  # noqa: ANN001
        from indexer.encode.embedder import Embedder

        self.bm25_index, self.dense_index, self.embedder, self.corpus, self.k = bm25, dense, embedder, corpus, k
        self.torch_embedder = Embedder(embedder.spec, embedder.model, embedder.batch_size)
        self.depth = max(search.candidates, k * search.per_doc_cap)
        self.cap, self.rrf_k = search.per_doc_cap, search.rrf_k
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bm25")

    def bm25(self, query: str) -> dict[int, float]:
        return self.bm25_index.search([query], self.depth)[0]

    def encode(self, query: str) -> np.ndarray:
        return self.embedder.encode_queries([query])  # (1, dim)

    def encode_torch(self, query: str) -> np.ndarray:
        return self.torch_embedder.encode_queries([query])  # (1, dim)

    def dense(self, query: str) -> dict[int, float]:
        return self.dense_index.search(self.encode(query), self.depth)[0]

    def exact(self, vector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.dense_index.index.search(vector, self.depth)

    def fuse(self, dense: dict[int, float], bm25: dict[int, float]) -> list[tuple[int, float, str]]:
        """rrf, then at most ``cap`` chunks per document, then the chunk texts of the best ``k``."""
        from medcore.fusion import rrf

        hits: list[tuple[int, float, str]] = []
        per_doc: dict[str, int] = {}
        for chunk, score in rrf([dense, bm25], k=self.rrf_k).items():
            doc = self.corpus.docs[chunk]
            if per_doc.get(doc, 0) >= self.cap:
                continue
            per_doc[doc] = per_doc.get(doc, 0) + 1
            hits.append((chunk, score, self.corpus.texts[chunk]))
            if len(hits) == self.k:
                break
        return hits

    def hybrid(self, query: str) -> list[tuple[int, float, str]]:
        return self.fuse(self.dense(query), self.bm25(query))

    def hybrid_concurrent(self, query: str) -> list[tuple[int, float, str]]:
        """bm25 in a worker thread while dense runs here (both release the GIL in their native parts)."""
        bm25 = self.pool.submit(self.bm25, query)
        return self.fuse(self.dense(query), bm25.result())


# -- stages ------------------------------------------------------------------------------------------------
def build_indexes(corpus: Corpus, embedder, args: argparse.Namespace) -> tuple[object, object, dict]:  # noqa: ANN001
    """The BM25 and dense indexes over the corpus, with build times and sizes."""
    import time

    import faiss

    from indexer.index.local.ann import AnnConfig
    from indexer.index.local.bm25 import BM25Index
    from indexer.index.local.dense import DenseIndex

    n, info = len(corpus.texts), {"rss_mb_start": rss_mb()}
    idx = args.settings.index
    start = time.perf_counter()
    bm25 = BM25Index.build(range(n), corpus.texts, k1=idx.bm25_k1, b=idx.bm25_b, backend="numpy")
    info["bm25_build_s"] = round(time.perf_counter() - start, 2)
    info["rss_mb_after_bm25"] = rss_mb()
    n_real = min(args.n_real, n)
    start = time.perf_counter()
    real = embedder.encode_passages(corpus.texts[:n_real], show_progress_bar=False)  # (n_real, dim)
    embed_s = time.perf_counter() - start
    start = time.perf_counter()
    vectors, cos = synth_vectors(real, n, args.noise, args.seed)
    synth_s = time.perf_counter() - start
    info["rss_mb_after_vectors"] = rss_mb()
    ann = AnnConfig(args.ann, args.ann_threshold, idx.ann_nlist, args.nprobe, idx.ann_hnsw_m, args.ef_search)
    start = time.perf_counter()
    dense = DenseIndex(embedder.dimension, ann=ann)
    dense.add(np.arange(n, dtype=np.int64), vectors)
    info["dense_add_s"] = round(time.perf_counter() - start, 3)
    del vectors
    start = time.perf_counter()
    dense.refresh_ann()
    info["ann_build_s"] = round(time.perf_counter() - start, 2)
    info["dense_search"] = dense.info()
    info["rss_mb_after_dense"] = rss_mb()
    info["vectors"] = {"method": VECTOR_METHOD, "n_real": n_real, "n_synthetic": n - n_real,
                       "noise_sigma": args.noise, "mean_cosine_synthetic_to_source": round(cos, 4),
                       "encoder": embedder.encoder_name, "embed_real_s": round(embed_s, 2),
                       "embed_passages_per_s": round(n_real / embed_s, 1),
                       "extrapolated_embed_all_s": round(n * embed_s / n_real, 0), "synthesise_s": round(synth_s, 2)}
    scores = bm25.retriever.scores
    info["bm25_matrix_bytes"] = int(sum(v.nbytes for v in scores.values() if isinstance(v, np.ndarray)))
    info["bm25_vocab_terms"] = len(bm25.retriever.vocab_dict)
    info["faiss_vector_bytes"] = int(dense.index.ntotal) * dense.dimension * 4
    info["faiss_serialised_bytes"] = int(faiss.serialize_index(dense.index).nbytes)
    info["ann_serialised_bytes"] = dense.ann.nbytes() if dense.ann is not None else 0
    return bm25, dense, info


def ann_recall(pipes: Pipelines, vectors: Sequence[np.ndarray]) -> dict:
    """Recall@10 and @100 of the search the library uses (approximate past the threshold) against exact search."""
    batch = np.concatenate(vectors)  # (n_queries, dim)
    _, exact = pipes.dense_index.index.search(batch, pipes.depth)
    got = pipes.dense_index.search(batch, pipes.depth)
    out = {}
    for k in (10, 100):
        out[f"recall@{k}"] = round(float(np.mean([len(set(e[:k].tolist()) & set(list(g)[:k])) / k
                                                  for e, g in zip(exact, got, strict=True)])), 4)
    out["approximate"] = pipes.dense_index.approximate
    return out


def measure(pipes: Pipelines, queries: Sequence[str], warmup: int, n_exact: int) -> dict[str, dict[str, float]]:
    """Per-query latency of each path; 'faiss_search', 'faiss_exact' and 'fusion' time one stage."""
    n = len(queries)
    vectors = [pipes.encode(q) for q in queries]
    runs = [(pipes.dense(q), pipes.bm25(q)) for q in queries]
    bm25_index = pipes.bm25_index
    logger.info("Timing %d queries per path (warm-up %d)", n, warmup)

    def bm25_with(backend: str):  # noqa: ANN202
        def run(i: int) -> object:
            bm25_index.retriever.backend = backend
            return pipes.bm25(queries[i])
        return run

    out = {
        "encode": time_each(lambda i: pipes.encode(queries[i]), n, warmup),
        "encode_torch": time_each(lambda i: pipes.encode_torch(queries[i]), n, warmup),
        "faiss_search": time_each(lambda i: pipes.dense_index.search(vectors[i], pipes.depth), n, warmup),
        "faiss_exact": time_each(lambda i: pipes.exact(vectors[i]), min(n, n_exact), min(warmup, 2)),
        "dense": time_each(lambda i: pipes.dense(queries[i]), n, warmup),
        "bm25_numpy": time_each(bm25_with("numpy"), n, warmup),
    }
    if _has_numba():
        out["bm25_numba"] = time_each(bm25_with("numba"), n, warmup)
    bm25_index.retriever.backend = bm25_index.backend = "numba" if "bm25_numba" in out else "numpy"
    out["fusion"] = time_each(lambda i: pipes.fuse(*runs[i]), n, warmup)
    out["hybrid"] = time_each(lambda i: pipes.hybrid(queries[i]), n, warmup)
    out["hybrid_concurrent"] = time_each(lambda i: pipes.hybrid_concurrent(queries[i]), n, warmup)
    result = {name: summary(ms) for name, ms in out.items()}
    result["bm25"] = result["bm25_numba" if "bm25_numba" in out else "bm25_numpy"]
    result["fusion"]["mean_union_size"] = round(float(np.mean([len(d.keys() | b.keys()) for d, b in runs])), 1)
    result["ann_recall"] = ann_recall(pipes, vectors)
    return result


def _has_numba() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


# -- entry point -------------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> dict:
    """Everything the benchmark measures, as one JSON-ready dict."""
    from indexer.encode.embedder import Embedder

    started = datetime.now(UTC)
    results: dict = {"benchmark": "query_latency", "date_utc": started.isoformat(timespec="seconds"),
                     "command": " ".join([Path(sys.executable).name, *sys.argv]) if args.from_cli else None,
                     "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()
                                if k not in ("settings", "out", "from_cli")},
                     "machine": machine_info()}
    logger.info("Machine: %s", results["machine"]["uptime_at_start"])
    logger.info("Building a corpus of %d chunks from %s", args.n_chunks, args.data_dir)
    corpus = build_corpus(args.data_dir, args.n_chunks, args.passage_words, args.seed)
    queries = load_queries(args.data_dir, args.n_queries)
    results["corpus"] = {"n_chunks": len(corpus.texts), "n_real_passages": corpus.n_base, "n_copies": corpus.n_copies,
                         "sources": list(SOURCES), "mean_words": round(float(np.mean(
                             [len(t.split()) for t in corpus.texts[:20000]])), 1),
                         "perturbation": "copy c>0: sentence order shuffled, one sentence (or word) dropped",
                         "queries": f"NFCorpus test, first {len(queries)} with qrels"}
    embedder = Embedder.load(args.model, args.settings)
    logger.info("Building indexes (BM25 over %d texts, %d real vectors)", len(corpus.texts), args.n_real)
    set_threads(os.cpu_count() or 1)  # build with every core; each timed setting below sets its own
    bm25, dense, results["build"] = build_indexes(corpus, embedder, args)
    pipes = Pipelines(bm25, dense, embedder, corpus, args.settings.search, args.k)
    results["latency"] = {}
    for threads in args.threads:
        logger.info("Torch and FAISS threads: %d", threads)
        set_threads(threads)
        results["latency"][str(threads)] = measure(pipes, queries, args.warmup, args.n_exact)
    results["rss_mb_after_queries"] = rss_mb()
    pipes.pool.shutdown()
    del pipes, bm25, dense
    logger.info("Reference: rank-bm25 vs bm25s at %d chunks", args.ref_chunks)
    results["reference_bm25"] = reference_bm25(corpus, queries, args) if args.ref_chunks else {"skipped": "disabled"}
    if args.e2e_docs:
        logger.info("End to end: Searcher on a store of %d NFCorpus documents", args.e2e_docs)
        results["end_to_end"] = end_to_end(args.data_dir, embedder, queries, args)
    results["ratios"] = ratios(results["latency"], results["reference_bm25"])
    results["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["seconds"] = round((datetime.now(UTC) - started).total_seconds(), 1)
    return results


def _int_list(text: str) -> list[int]:
    values = [int(part) for part in text.split(",") if part.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers such as 1,2, got {text!r}")
    return list(dict.fromkeys(values))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="Write the results here as JSON.")
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help="The shared data folder (nfcorpus, medquad).")
    p.add_argument("--n-chunks", type=int, default=100_000, help="Chunks in the corpus.")
    p.add_argument("--n-real", type=int, default=2_000, help="Chunks embedded with the real model.")
    p.add_argument("--n-queries", type=int, default=200, help="NFCorpus test queries timed (at most 323).")
    p.add_argument("--warmup", type=int, default=10, help="Untimed queries before each path.")
    p.add_argument("--passage-words", type=int, default=150, help="Words per passage when splitting documents.")
    p.add_argument("--noise", type=float, default=0.02, help="Per-dimension sigma of the synthetic vectors' noise.")
    p.add_argument("--k", type=int, default=10, help="Hits returned after fusion and the per-document cap.")
    p.add_argument("--ref-chunks", type=int, default=10_000, help="Chunks for rank-bm25 vs bm25s (0: skip).")
    p.add_argument("--e2e-docs", type=int, default=300, help="NFCorpus documents in the Searcher store (0: skip).")
    p.add_argument("--model", default="minilm", help="Embedding model (registry name or path).")
    p.add_argument("--threads", type=_int_list, default=sorted({1, os.cpu_count() or 1}),
                   help="Comma-separated torch/FAISS thread counts to time, e.g. 1,2 (default: 1 and all cores).")
    p.add_argument("--encoder", default=None, help="Query and passage encoder (default: index.query_encoder).")
    p.add_argument("--ann", default=None, help="ivf, hnsw or none (default: index.ann).")
    p.add_argument("--ann-threshold", type=int, default=None, help="Exact search up to this size.")
    p.add_argument("--nprobe", type=int, default=None, help="IVF lists searched (default: index.ann_nprobe).")
    p.add_argument("--ef-search", type=int, default=None, help="HNSW efSearch (default: index.ann_ef_search).")
    p.add_argument("--n-exact", type=int, default=50, help="Queries timed on exact flat search (slow at 1M).")
    p.add_argument("--seed", type=int, default=0)
    return p


def main(argv: Sequence[str] | None = None) -> dict:
    args = parser().parse_args(argv)
    args.from_cli = argv is None
    args.settings = Settings.load()
    if args.encoder:
        index = replace(args.settings.index, encoder=args.encoder, query_encoder=args.encoder)
        args.settings = replace(args.settings, index=index)
    idx = args.settings.index
    args.ann = args.ann or idx.ann
    args.ann_threshold = idx.ann_threshold if args.ann_threshold is None else args.ann_threshold
    args.nprobe = args.nprobe or idx.ann_nprobe
    args.ef_search = args.ef_search or idx.ann_ef_search
    args.encoder = idx.query_encoder
    if not (args.data_dir / "nfcorpus" / "corpus.jsonl").is_file():
        parser().error(f"{args.data_dir} has no nfcorpus/corpus.jsonl; pass --data-dir ../shared/data.")
    offline_defaults()
    default_threads = get_threads()
    try:
        results = run(args)
    finally:
        set_threads(default_threads)
    save_results(args.out, results)
    print(table(results))
    print("\nratios (p50):", json.dumps(results["ratios"]))
    logger.info("Wrote %s", args.out)
    return results


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    main()
