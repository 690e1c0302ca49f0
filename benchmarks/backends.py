"""Compare the index backends (faiss, qdrant) on N chunks: index time, query latency p50/p95, memory, disk.

    python benchmarks/backends.py --chunks 100000 --queries 30 --out /tmp/backends.json

A BEIR corpus of N documents is made from NFCorpus texts (repeated, each copy tagged) and ingested once; each
backend then indexes the same store in its own subprocess (so peak memory is its own). Vectors come from a
deterministic text-hash embedder (384-d, normalised): this measures the engines, not the encoder, which costs the
same for both. Latency is the backend's ``runs()`` for a query (BM25, dense, and hybrid with its fusion: RRF in
the engine for qdrant, ``medcore.fusion.rrf`` after two FAISS/bm25s runs for faiss). Ratios between backends
measured in one run are what count on a shared machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import platform
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
logger = logging.getLogger("benchmarks.backends")


class HashEmbedder:
    """Deterministic unit vectors from a hash of the text; the ``Embedder`` surface that indexing uses."""

    def __init__(self, dimension: int = 384) -> None:
        from medcore.models import resolve

        self.spec, self.dimension = resolve("minilm"), dimension

    def _one(self, text: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
        v = np.random.default_rng(seed).standard_normal(self.dimension).astype(np.float32)
        return v / np.linalg.norm(v)

    def encode_passages(self, texts: list[str], show_progress_bar: bool | None = None) -> np.ndarray:
        return np.vstack([self._one(t) for t in texts]) if texts else np.zeros((0, self.dimension), np.float32)

    encode_queries = encode_passages


def make_corpus(src: Path, out: Path, n_docs: int) -> Path:
    docs = [json.loads(line) for line in open(src / "corpus.jsonl", encoding="utf-8")]
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "corpus.jsonl", "w", encoding="utf-8") as fh:
        for i in range(n_docs):
            d = docs[i % len(docs)]
            fh.write(json.dumps({"_id": f"D{i}", "title": d["title"], "text": f"{d['text']} copy{i // len(docs)}"})
                     + "\n")
    shutil.copy(src / "queries.jsonl", out / "queries.jsonl")
    return out


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_backend(home: Path, backend: str, n_queries: int, queries_file: Path) -> dict:
    """Index the store at ``home`` with ``backend`` and time its searches (runs in a subprocess)."""
    from indexer.index.build import build_indexes
    from indexer.index.factory import open_backend
    from medcore.config import Settings
    from medcore.fusion import rrf
    from medcore.models import resolve
    from store import Store

    settings = Settings().with_home(home)
    settings = replace(settings, index=replace(settings.index, backend=backend),
                       qdrant=replace(settings.qdrant, reuse_local_vectors=False))
    store = Store.from_settings(settings)
    embedder = HashEmbedder()
    base = rss_mb()
    start = time.perf_counter()
    report = build_indexes(store, settings, model="minilm", embedder=embedder, show_progress_bar=False)
    index_s = time.perf_counter() - start
    after_build = rss_mb()
    queries = [json.loads(line)["text"] for line in open(queries_file, encoding="utf-8")][:n_queries]
    vectors = embedder.encode_queries(queries)
    spec, out = resolve("minilm"), {}
    for mode in ("bm25", "dense", "hybrid"):
        reader = open_backend(settings).reader(mode, None if mode == "bm25" else spec)
        reader.refresh()
        times = []
        for q, v in zip(queries, vectors, strict=True):
            t = time.perf_counter()
            runs = reader.runs([q], v[None, :] if mode != "bm25" else None, 100)[0]
            if mode == "hybrid" and "fused" not in runs:
                rrf([runs.get("dense", {}), runs.get("bm25", {})], k=60)
            times.append((time.perf_counter() - t) * 1000)
        ms = np.asarray(times[2:] if len(times) > 4 else times)
        out[mode] = {f"p{p}_ms": round(float(np.percentile(ms, p)), 2) for p in (50, 95)}
    disk = sum(f.stat().st_size for f in (home / ("qdrant" if backend == "qdrant" else "indexes")).rglob("*")
               if f.is_file())
    return {"backend": backend, "chunks": report.total, "index_s": round(index_s, 1), "latency": out,
            "rss_base_mb": round(base), "rss_peak_after_build_mb": round(after_build),
            "rss_peak_mb": round(rss_mb()), "disk_mb": round(disk / 2**20, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "nfcorpus")
    parser.add_argument("--work", type=Path, default=Path("/tmp/medembed-backends-bench"))
    parser.add_argument("--backends", nargs="+", default=["faiss", "qdrant"])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--child", nargs=2, metavar=("HOME", "BACKEND"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.child:
        print(json.dumps(run_backend(Path(args.child[0]), args.child[1], args.queries, args.data / "queries.jsonl")))
        return
    from indexer.ingest import Ingestor
    from medcore.config import Settings
    from store import Store

    home = args.work / f"home-{args.chunks}"
    if not (home / "medembed.db").exists():
        corpus = make_corpus(args.data, args.work / f"corpus-{args.chunks}", args.chunks)
        settings = Settings().with_home(home)
        t = time.perf_counter()
        Ingestor(Store.from_settings(settings), settings).ingest([corpus])
        logger.warning("Ingested %d documents in %.0f s", args.chunks, time.perf_counter() - t)
    results = []
    for backend in args.backends:
        for old in ("indexes", "qdrant"):
            shutil.rmtree(home / old, ignore_errors=True)
        cmd = [sys.executable, __file__, "--child", str(home), backend, "--queries", str(args.queries),
               "--data", str(args.data)]
        line = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        results.append(json.loads(line))
        logger.warning("%s", results[-1])
    summary = {"command": " ".join(sys.argv), "machine": f"{platform.node()} {platform.machine()}",
               "date": time.strftime("%Y-%m-%d"), "results": results}
    if len(results) == 2:
        a, b = results
        summary["ratios"] = {f"{b['backend']}/{a['backend']}": {
            "index_s": round(b["index_s"] / a["index_s"], 2),
            **{f"{m}_p50": round(b["latency"][m]["p50_ms"] / a["latency"][m]["p50_ms"], 1) for m in a["latency"]},
            "rss_peak": round(b["rss_peak_mb"] / a["rss_peak_mb"], 2)}}
    text = json.dumps(summary, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
