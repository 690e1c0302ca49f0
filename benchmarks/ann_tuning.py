"""Choose and tune approximate dense search: recall@10/@100 against exact search, and per-query latency, for IVF
(``nprobe`` sweep) and HNSW (``efSearch`` sweep).

Two vector sets:

- **real**: ``--n-real`` passages of NFCorpus + MedQuAD embedded with the real model (the configured encoder);
  the queries are the NFCorpus test queries, embedded the same way. This is the quality gate (recall@10 >= 0.95).
- **scale**: the real vectors plus synthetic ones (a real vector plus noise, renormalised) up to ``--n-scale``,
  the same as ``benchmarks/query_latency.py``: latency at 1M, and recall on vectors whose neighbourhoods are
  artificial (many noisy copies of each real vector), so only indicative.

Usage::

    python benchmarks/ann_tuning.py --out /tmp/bench/ann.json --n-real 10000 --n-scale 1000000
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.latency_corpus import build_corpus, load_queries, synth_vectors  # noqa: E402
from benchmarks.machine import machine_info, offline_defaults, save_results  # noqa: E402
from benchmarks.timing import summary, time_each  # noqa: E402

logger = logging.getLogger(__name__)

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def real_vectors(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, str]:
    """``(passages (n_real, dim), queries (n_q, dim), encoder)``, cached in ``--cache`` between runs."""
    from indexer.encode.embedder import Embedder
    from medcore.config import Settings

    cache = args.cache / f"ann-real-{args.n_real}-{args.n_queries}.npz" if args.cache else None
    if cache is not None and cache.is_file():
        data = np.load(cache)
        return data["passages"], data["queries"], str(data["encoder"])
    embedder = Embedder.load("minilm", Settings.load())
    corpus = build_corpus(args.data_dir, args.n_real, 150, args.seed)
    start = time.perf_counter()
    passages = embedder.encode_passages(corpus.texts, show_progress_bar=True)
    logger.info("Embedded %d passages in %.0f s (%s)", len(passages), time.perf_counter() - start,
                embedder.encoder_name)
    queries = embedder.encode_queries(load_queries(args.data_dir, args.n_queries))
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, passages=passages, queries=queries, encoder=embedder.encoder_name)
    return passages, queries, embedder.encoder_name


def sweep(vectors: np.ndarray, queries: np.ndarray, kinds: Sequence[str], args: argparse.Namespace) -> dict:
    """Recall and latency of exact search and each ANN setting over ``vectors``."""
    import faiss

    from indexer.index.local.ann import AnnConfig, AnnIndex

    ids = np.arange(len(vectors), dtype=np.int64)
    flat = faiss.IndexIDMap2(faiss.IndexFlatIP(vectors.shape[1]))
    flat.add_with_ids(vectors, ids)
    _, exact = flat.search(queries, 100)  # (n_q, 100)
    n_timed = min(len(queries), args.n_timed)
    out: dict = {"n_vectors": len(vectors), "n_queries": len(queries), "exact": summary(time_each(
        lambda i: flat.search(queries[i : i + 1], 100), min(n_timed, args.n_exact_timed), 2))}
    out["exact"]["bytes"] = len(vectors) * vectors.shape[1] * 4
    for kind in kinds:
        config = AnnConfig(kind=kind, threshold=0, hnsw_m=args.hnsw_m)
        faiss.omp_set_num_threads(os.cpu_count() or 1)  # build with every core, search with --threads
        ann = AnnIndex.build(ids, vectors, config, seed=args.seed)
        faiss.omp_set_num_threads(args.threads)
        rows = []
        for value in (args.nprobes if kind == "ivf" else args.efs):
            cfg = AnnConfig(kind=kind, threshold=0, nprobe=value, ef_search=value, hnsw_m=args.hnsw_m)
            _, got = ann.search(queries, 100, cfg)
            row = {"nprobe" if kind == "ivf" else "efSearch": value,
                   "recall@10": _recall(got, exact, 10), "recall@100": _recall(got, exact, 100),
                   **summary(time_each(lambda i, c=cfg, a=ann: a.search(queries[i : i + 1], 100, c), n_timed, 5))}
            rows.append(row)
            logger.info("%s %s", kind, row)
        out[kind] = {"meta": ann.meta, "bytes": ann.nbytes(), "sweep": rows}
    return out


def _recall(got: np.ndarray, exact: np.ndarray, k: int) -> float:
    return round(float(np.mean([len(set(g[:k].tolist()) & set(e[:k].tolist())) / k
                                for g, e in zip(got, exact, strict=True)])), 4)


def run(args: argparse.Namespace) -> dict:
    import faiss

    faiss.omp_set_num_threads(args.threads)
    results: dict = {"benchmark": "ann_tuning", "date_utc": datetime.now(UTC).isoformat(timespec="seconds"),
                     "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()
                                if k != "out"}, "machine": machine_info()}
    passages, queries, encoder = real_vectors(args)
    results["encoder"] = encoder
    logger.info("Sweep on %d real vectors", len(passages))
    results["real"] = sweep(passages, queries, args.kinds, args)
    if args.n_scale > len(passages):
        vectors, cos = synth_vectors(passages, args.n_scale, args.noise, args.seed)
        logger.info("Sweep on %d vectors (%d real, the rest synthetic)", len(vectors), len(passages))
        results["scale"] = sweep(vectors, queries, args.scale_kinds, args)
        results["scale"]["mean_cosine_synthetic_to_source"] = round(cos, 4)
    results["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return results


def table(results: dict) -> str:
    lines = ["| set | vectors | index | setting | recall@10 | recall@100 | p50 ms | p95 ms | MB |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    for name in ("real", "scale"):
        part = results.get(name)
        if not part:
            continue
        ex = part["exact"]
        lines.append(f"| {name} | {part['n_vectors']:,} | exact flat | - | 1 | 1 | {ex['p50_ms']:.2f} | "
                     f"{ex['p95_ms']:.2f} | {ex['bytes'] / 2**20:.0f} |")
        for kind in ("ivf", "hnsw"):
            if kind not in part:
                continue
            meta = part[kind]["meta"]
            label = f"ivf nlist={meta['nlist']}" if kind == "ivf" else f"hnsw M={meta['M']}"
            for row in part[kind]["sweep"]:
                setting = row.get("nprobe", row.get("efSearch"))
                lines.append(f"| {name} | {part['n_vectors']:,} | {label} | {setting} | {row['recall@10']:.3f} | "
                             f"{row['recall@100']:.3f} | {row['p50_ms']:.2f} | {row['p95_ms']:.2f} | "
                             f"{part[kind]['bytes'] / 2**20:.0f} |")
    return "\n".join(lines)


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    p.add_argument("--cache", type=Path, default=None, help="Folder to keep the real vectors in between runs.")
    p.add_argument("--n-real", type=int, default=10_000, help="Real passages embedded.")
    p.add_argument("--n-queries", type=int, default=323, help="NFCorpus test queries.")
    p.add_argument("--n-scale", type=int, default=1_000_000, help="Vectors in the scale set (0: skip).")
    p.add_argument("--noise", type=float, default=0.02)
    p.add_argument("--kinds", type=lambda s: s.split(","), default=["ivf", "hnsw"])
    p.add_argument("--scale-kinds", type=lambda s: s.split(","), default=["ivf"],
                   help="Kinds built at scale (HNSW at 1M takes many minutes to build on 2 cores).")
    p.add_argument("--nprobes", type=_ints, default=[4, 8, 16, 32, 64])
    p.add_argument("--efs", type=_ints, default=[16, 32, 64, 128, 256])
    p.add_argument("--hnsw-m", type=int, default=32)
    p.add_argument("--n-timed", type=int, default=200, help="Queries timed one at a time per setting.")
    p.add_argument("--n-exact-timed", type=int, default=50, help="Queries timed on exact search.")
    p.add_argument("--threads", type=int, default=1, help="FAISS OpenMP threads.")
    p.add_argument("--seed", type=int, default=0)
    return p


def main(argv: Sequence[str] | None = None) -> dict:
    args = parser().parse_args(argv)
    offline_defaults()
    results = run(args)
    save_results(args.out, results)
    print(table(results))
    return results


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    main()
