"""Per-query latency and index size of BM25, dense and hybrid retrieval over N chunks of real medical text.

The corpus is NFCorpus and MedQuAD split into ~150-word passages, repeated with small deterministic perturbations
(sentence order shuffled, one sentence or word dropped) until there are N chunks. Embedding N passages with MiniLM
on a CPU takes too long, so a real subsample of ``--n-real`` passages is embedded and every other chunk gets a
*synthetic* vector: a real vector plus Gaussian noise, renormalised. Exact inner-product search (``IndexFlatIP``)
costs the same whatever the vectors hold, so this changes which chunks are found, not how long finding them takes.
Queries are real NFCorpus test queries, encoded by the real model one at a time.

Usage::

    python benchmarks/query_latency.py --n-chunks 100000 --out bench-query-latency.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from medcore.config import SearchSettings, Settings

logger = logging.getLogger(__name__)

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SOURCES = ("nfcorpus", "medquad")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_VECTOR_METHOD = (
    "first n_real chunks embedded with the real model; every other chunk's vector is "
    "normalise(real[i % n_real] + N(0, noise_sigma^2) per dimension), not an embedding of its own text"
)


@dataclass(frozen=True)
class Corpus:
    """``texts[i]`` is chunk ``i`` (title, newline, passage, as the indexer builds it); ``docs[i]`` its document."""

    texts: list[str]
    docs: list[str]
    n_base: int
    n_copies: int


# -- corpus ------------------------------------------------------------------------------------------------
def _sentences(text: str, max_words: int) -> list[str]:
    """Sentences of ``text``; one longer than ``max_words`` (e.g. a bullet list) is cut into word windows."""
    out = []
    for sentence in _SENTENCE_END.split(" ".join(text.split())):
        words = sentence.split()
        out.extend(" ".join(words[i : i + max_words]) for i in range(0, len(words), max_words))
    return out


def _group(sentences: Sequence[str], words: int) -> list[list[str]]:
    """Consecutive sentences packed into passages of at most ``words`` words; a short tail joins the last one."""
    groups: list[list[str]] = []
    current: list[str] = []
    count = 0
    for sentence in sentences:
        n = len(sentence.split())
        if current and count + n > words:
            groups.append(current)
            current, count = [], 0
        current.append(sentence)
        count += n
    if current:
        if groups and count < words // 3:
            groups[-1].extend(current)
        else:
            groups.append(current)
    return groups


def read_passages(data_dir: Path, words: int) -> list[tuple[str, str, list[str]]]:
    """``[(doc key, title, sentences)]`` for every ~``words``-word passage of the NFCorpus and MedQuAD corpora."""
    out = []
    for source in SOURCES:
        with open(data_dir / source / "corpus.jsonl", encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                title = (row.get("title") or "").strip()
                for sentences in _group(_sentences(row.get("text") or "", words), words):
                    out.append((f"{source}:{row['_id']}", title, sentences))
    return out


def _perturb(sentences: Sequence[str], rng: random.Random) -> list[str]:
    """A near-copy: sentence order shuffled and one sentence dropped, or one word dropped from a lone sentence."""
    out = list(sentences)
    if len(out) >= 2:
        rng.shuffle(out)
    if len(out) >= 3:
        del out[rng.randrange(len(out))]
    elif len(out) == 1 and len(words := out[0].split()) > 5:
        del words[rng.randrange(len(words))]
        out = [" ".join(words)]
    return out


def build_corpus(data_dir: Path, n_chunks: int, words: int, seed: int) -> Corpus:
    """``n_chunks`` chunks: the real passages in a seeded random order, then perturbed copies of them."""
    from indexer.build import index_text

    base = read_passages(data_dir, words)
    random.Random(seed).shuffle(base)
    texts: list[str] = []
    docs: list[str] = []
    copy = 0
    while len(texts) < n_chunks:
        for b, (doc, title, sentences) in enumerate(base[: n_chunks - len(texts)]):
            body = sentences if copy == 0 else _perturb(sentences, random.Random(f"{seed}:{copy}:{b}"))
            texts.append(index_text(" ".join(body), title or None, with_title=True))
            docs.append(f"{doc}#{copy}")
        copy += 1
    return Corpus(texts, docs, len(base), copy)


def load_queries(data_dir: Path, n: int) -> list[str]:
    """The first ``n`` NFCorpus test queries (in qrels order) that have a relevant document."""
    nf = data_dir / "nfcorpus"
    with open(nf / "queries.jsonl", encoding="utf-8") as fh:
        text = {(row := json.loads(line))["_id"]: row["text"] for line in fh if line.strip()}
    qids: dict[str, None] = {}
    with open(nf / "qrels" / "test.tsv", encoding="utf-8") as fh:
        next(fh)
        for line in fh:
            qid, _, score = line.rstrip("\n").split("\t")
            if int(score) > 0 and qid in text:
                qids[qid] = None
    if n > len(qids):
        logger.warning("Only %d NFCorpus test queries; using all of them, not %d.", len(qids), n)
    return [text[q] for q in list(qids)[:n]]


def synth_vectors(real: np.ndarray, n: int, noise: float, seed: int) -> tuple[np.ndarray, float]:
    """``(n, dim)`` float32: ``real`` first, then noisy renormalised copies; also their mean cosine to the source."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, real.shape[1]), dtype=np.float32)
    out[: len(real)] = real
    cos_sum = 0.0
    for start in range(len(real), n, 16384):
        src = real[np.arange(start, min(start + 16384, n)) % len(real)]  # (block, dim)
        vec = src + rng.normal(0.0, noise, size=src.shape).astype(np.float32)
        vec /= np.linalg.norm(vec, axis=1, keepdims=True)
        out[start : start + len(vec)] = vec
        cos_sum += float((vec * src).sum())
    return out, cos_sum / max(n - len(real), 1)


# -- timing ------------------------------------------------------------------------------------------------
def time_each(fn: Callable[[int], object], n: int, warmup: int) -> np.ndarray:
    """Milliseconds of ``fn(i)`` for ``i`` in ``range(n)``, one call at a time, after ``warmup`` untimed calls."""
    for i in range(min(warmup, n)):
        fn(i)
    out = np.empty(n)
    for i in range(n):
        start = time.perf_counter_ns()
        fn(i)
        out[i] = (time.perf_counter_ns() - start) / 1e6
    return out


def summary(ms: np.ndarray) -> dict[str, float]:
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p95_ms": round(float(np.percentile(ms, 95)), 3),
            "mean_ms": round(float(ms.mean()), 3), "n": len(ms)}


def _rss_mb() -> float:
    import psutil

    return round(psutil.Process().memory_info().rss / 2**20, 1)


def _get_threads() -> int:
    import torch

    return torch.get_num_threads()


def set_threads(n: int) -> None:
    """Intra-op threads of torch (query encoding) and OpenMP threads of FAISS."""
    import faiss
    import torch

    torch.set_num_threads(n)
    faiss.omp_set_num_threads(n)


class Pipelines:
    """The retrieval paths of ``Searcher`` over in-memory indexes: depth ``depth`` each, rrf, per-document cap."""

    def __init__(self, bm25, dense, embedder, corpus: Corpus, search: SearchSettings, k: int) -> None:  # noqa: ANN001
        self.bm25_index, self.dense_index, self.embedder, self.corpus, self.k = bm25, dense, embedder, corpus, k
        self.depth = max(search.candidates, k * search.per_doc_cap)
        self.cap, self.rrf_k = search.per_doc_cap, search.rrf_k

    def bm25(self, query: str) -> dict[int, float]:
        return self.bm25_index.search([query], self.depth)[0]

    def encode(self, query: str) -> np.ndarray:
        return self.embedder.encode_queries([query])  # (1, dim)

    def dense(self, query: str) -> dict[int, float]:
        return self.dense_index.search(self.encode(query), self.depth)[0]

    def fuse(self, dense: dict[int, float], bm25: dict[int, float]) -> list[tuple[int, float, str]]:
        """rrf, then at most ``cap`` chunks per document, then the chunk texts of the best ``k``."""
        from search_app.fusion import rrf

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


# -- stages ------------------------------------------------------------------------------------------------
def build_indexes(corpus: Corpus, embedder, args: argparse.Namespace) -> tuple[object, object, dict]:  # noqa: ANN001
    """The BM25 and dense indexes over the corpus, with build times and sizes."""
    import faiss

    from indexer.bm25 import BM25Index
    from indexer.dense import DenseIndex

    n, info = len(corpus.texts), {"rss_mb_start": _rss_mb()}
    start = time.perf_counter()
    bm25 = BM25Index.build(range(n), corpus.texts, k1=args.settings.index.bm25_k1, b=args.settings.index.bm25_b)
    info["bm25_build_s"] = round(time.perf_counter() - start, 2)
    info["rss_mb_after_bm25"] = _rss_mb()
    n_real = min(args.n_real, n)
    start = time.perf_counter()
    real = embedder.encode_passages(corpus.texts[:n_real], show_progress_bar=False)  # (n_real, dim)
    embed_s = time.perf_counter() - start
    start = time.perf_counter()
    vectors, cos = synth_vectors(real, n, args.noise, args.seed)
    synth_s = time.perf_counter() - start
    info["rss_mb_after_vectors"] = _rss_mb()
    start = time.perf_counter()
    dense = DenseIndex(embedder.dimension)
    dense.add(np.arange(n, dtype=np.int64), vectors)
    info["dense_add_s"] = round(time.perf_counter() - start, 3)
    del vectors
    info["rss_mb_after_dense"] = _rss_mb()
    info["vectors"] = {"method": _VECTOR_METHOD, "n_real": n_real, "n_synthetic": n - n_real,
                       "noise_sigma": args.noise, "mean_cosine_synthetic_to_source": round(cos, 4),
                       "embed_real_s": round(embed_s, 2), "embed_passages_per_s": round(n_real / embed_s, 1),
                       "extrapolated_embed_all_s": round(n * embed_s / n_real, 0), "synthesise_s": round(synth_s, 2)}
    scores = bm25.retriever.scores
    info["bm25_matrix_bytes"] = int(sum(v.nbytes for v in scores.values() if isinstance(v, np.ndarray)))
    info["bm25_vocab_terms"] = len(bm25.retriever.vocab_dict)
    info["faiss_vector_bytes"] = int(dense.index.ntotal) * dense.dimension * 4
    info["faiss_serialised_bytes"] = int(faiss.serialize_index(dense.index).nbytes)
    return bm25, dense, info


def measure(pipes: Pipelines, queries: Sequence[str], warmup: int) -> dict[str, dict[str, float]]:
    """Per-query latency of each path; 'faiss_search' and 'fusion' time one stage on precomputed inputs."""
    n = len(queries)
    vectors = [pipes.encode(q) for q in queries]
    runs = [(pipes.dense(q), pipes.bm25(q)) for q in queries]
    logger.info("Timing %d queries per path (warm-up %d)", n, warmup)
    out = {
        "encode": time_each(lambda i: pipes.encode(queries[i]), n, warmup),
        "faiss_search": time_each(lambda i: pipes.dense_index.search(vectors[i], pipes.depth), n, warmup),
        "dense": time_each(lambda i: pipes.dense(queries[i]), n, warmup),
        "bm25": time_each(lambda i: pipes.bm25(queries[i]), n, warmup),
        "fusion": time_each(lambda i: pipes.fuse(*runs[i]), n, warmup),
        "hybrid": time_each(lambda i: pipes.hybrid(queries[i]), n, warmup),
    }
    result = {name: summary(ms) for name, ms in out.items()}
    result["fusion"]["mean_union_size"] = round(float(np.mean([len(d.keys() | b.keys()) for d, b in runs])), 1)
    return result


def reference_bm25(corpus: Corpus, queries: Sequence[str], args: argparse.Namespace) -> dict:
    """rank-bm25 (``BM25Okapi.get_scores`` + top-``depth``) against bm25s on the first ``--ref-chunks`` chunks."""
    try:
        from rank_bm25 import BM25Okapi
    except ImportError:
        return {"skipped": "rank-bm25 is not installed (pip install -e '.[dev]')"}
    from indexer.bm25 import BM25Index, tokenize

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
    from indexer.build import build_indexes as build_store_indexes
    from indexer.ingest import Ingestor
    from indexer.store import Store
    from search_app.searcher import MODES, Searcher, with_retriever

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
                hybrid, mode if mode == "bm25" else f"{mode}:{args.model}") for mode in MODES}
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


# -- report ------------------------------------------------------------------------------------------------
def machine_info() -> dict:
    """CPU, cores, memory, load and the other busy processes: latency on a shared 2-core box depends on them."""
    import faiss
    import psutil
    import torch

    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    procs = list(psutil.process_iter(["pid", "name", "cmdline"]))
    for proc in procs:
        try:
            proc.cpu_percent(None)
        except psutil.Error:
            pass
    time.sleep(1.0)
    busy = []
    for proc in procs:
        try:
            cpu = proc.cpu_percent(None)
        except psutil.Error:
            continue
        if cpu >= 20 and proc.pid != os.getpid():
            busy.append({"pid": proc.pid, "cpu_percent": cpu, "cmd": " ".join(proc.info["cmdline"] or [])[:160]})
    uptime = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    return {"cpu_model": model, "nproc": os.cpu_count(), "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "uptime_at_start": uptime, "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
            "busy_processes_at_start": sorted(busy, key=lambda b: -b["cpu_percent"]),
            "torch_threads": torch.get_num_threads(), "faiss_omp_threads": faiss.omp_get_max_threads(),
            "python": platform.python_version(), "versions": _versions()}


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("torch", "sentence-transformers", "faiss-cpu", "bm25s", "numpy", "rank-bm25"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def _ratio(a: dict, b: dict) -> float | None:
    return round(a["p50_ms"] / b["p50_ms"], 2) if b["p50_ms"] > 0 else None


def ratios(latency: dict, ref: dict) -> dict[str, dict[str, float | None]]:
    """Ratios of p50 latencies measured in this run, per thread setting (``{"1": {...}, "2": {...}}``)."""
    out: dict[str, dict[str, float | None]] = {}
    for threads, lat in latency.items():
        out[threads] = {
            "hybrid_over_dense": _ratio(lat["hybrid"], lat["dense"]),
            "hybrid_over_bm25": _ratio(lat["hybrid"], lat["bm25"]),
            "dense_over_bm25": _ratio(lat["dense"], lat["bm25"]),
            "encode_share_of_dense": _ratio(lat["encode"], lat["dense"]),
        }
        if "rank_bm25" in ref:
            out[threads]["bm25s_full_over_bm25s_at_ref"] = _ratio(lat["bm25"], ref["bm25s"])
    if "rank_bm25" in ref:
        out["reference"] = {"rank_bm25_over_bm25s": _ratio(ref["rank_bm25"], ref["bm25s"])}
    return out


_PATHS = (
    ("encode", "query encoding only (MiniLM, 1 query)"),
    ("faiss_search", "dense: FAISS IndexFlatIP search only, k=100"),
    ("dense", "dense: encode + search, k=100"),
    ("bm25", "bm25: BM25Index.search (bm25s), k=100"),
    ("fusion", "fusion only: rrf + per-doc cap + texts"),
    ("hybrid", "hybrid: bm25 + dense + rrf + cap"),
)


def table(results: dict) -> str:
    """The latency rows as a markdown table, grouped by thread setting."""
    n, ref, e2e = results["corpus"]["n_chunks"], results["reference_bm25"], results.get("end_to_end") or {}
    rows: list[tuple[str, object, str, dict]] = []
    for threads, lat in results["latency"].items():
        rows += [(label, "-" if key == "encode" else n, threads, lat[key]) for key, label in _PATHS]
        for mode, stats in e2e.get("latency", {}).get(threads, {}).items():
            rows.append((f"Searcher.search({mode}, k={e2e['k']}), SQLite store", e2e["n_chunks"], threads, stats))
    if "rank_bm25" in ref:
        rows += [("bm25s BM25Index.search (reference size)", ref["n_chunks"], "-", ref["bm25s"]),
                 ("rank-bm25 BM25Okapi.get_scores + top-100", ref["n_chunks"], "-", ref["rank_bm25"])]
    lines = ["| path | chunks | threads | p50 ms | p95 ms | mean ms | queries |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, size, threads, st in rows:
        size_text = f"{size:,}" if isinstance(size, int) else size
        lines.append(f"| {name} | {size_text} | {threads} | {st['p50_ms']:.2f} | {st['p95_ms']:.2f} "
                     f"| {st['mean_ms']:.2f} | {st['n']} |")
    return "\n".join(lines)


# -- entry point -------------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> dict:
    """Everything the benchmark measures, as one JSON-ready dict."""
    from indexer.embedder import Embedder

    started = datetime.now(UTC)
    results: dict = {"benchmark": "query_latency", "date_utc": started.isoformat(timespec="seconds"),
                     "command": " ".join([Path(sys.executable).name, *sys.argv]) if args.from_cli else None,
                     "config": {k: v for k, v in vars(args).items() if k not in ("settings", "out", "from_cli")},
                     "machine": machine_info()}
    results["config"]["data_dir"] = str(args.data_dir)
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
    set_threads(max(args.threads))
    bm25, dense, results["build"] = build_indexes(corpus, embedder, args)
    pipes = Pipelines(bm25, dense, embedder, corpus, args.settings.search, args.k)
    results["latency"] = {}
    for threads in args.threads:
        logger.info("Torch and FAISS threads: %d", threads)
        set_threads(threads)
        results["latency"][str(threads)] = measure(pipes, queries, args.warmup)
    results["rss_mb_after_queries"] = _rss_mb()
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
    p.add_argument("--seed", type=int, default=0)
    return p


def main(argv: Sequence[str] | None = None) -> dict:
    args = parser().parse_args(argv)
    args.from_cli = argv is None
    args.settings = Settings()
    if not (args.data_dir / "nfcorpus" / "corpus.jsonl").is_file():
        parser().error(f"{args.data_dir} has no nfcorpus/corpus.jsonl; pass --data-dir ../shared/data.")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    default_threads = _get_threads()
    try:
        results = run(args)
    finally:
        set_threads(default_threads)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(table(results))
    print("\nratios (p50):", json.dumps(results["ratios"]))
    logger.info("Wrote %s", args.out)
    return results


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    main()
