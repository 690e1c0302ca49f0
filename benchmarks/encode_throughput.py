"""Indexing throughput (chunks/s) of each CPU encoder over the same NFCorpus chunks, with the retrieval quality of
the vectors each one makes (dense nDCG@10 on NFCorpus test, exact search, one chunk per document).

Variants, all on the packaged MiniLM:

- ``plain-loop``: the baseline, a plain ``SentenceTransformer.encode`` call per batch of ``--batch-size`` chunks in
  corpus order (no sorting across batches).
- ``st-sorted``: one ``SentenceTransformer.encode`` call over all chunks (sentence-transformers sorts by length).
- ``st-sorted-bs16/64/128``: the same at other batch sizes.
- ``onnx``, ``onnx-int8``, ``openvino``, ``openvino-bf16``: :class:`indexer.encode.onnx_encoder.OnnxEncoder`
  (length-sorted batches, exported locally from the same model).

Usage::

    python benchmarks/encode_throughput.py --out /tmp/bench/encode.json            # all 3,633 NFCorpus chunks
    python benchmarks/encode_throughput.py --out x.json --n-chunks 64 --no-quality  # smoke size
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.machine import machine_info, offline_defaults, save_results  # noqa: E402

logger = logging.getLogger(__name__)

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FAST = ("onnx", "onnx-int8", "openvino", "openvino-bf16")
ALL_VARIANTS = ("plain-loop", "st-sorted", "st-sorted-bs16", "st-sorted-bs64", "st-sorted-bs128", *FAST)


def load_nfcorpus(data_dir: Path, n: int | None) -> tuple[list[str], list[str], dict, dict]:
    """``(doc ids, texts "title\\ntext", test queries {qid: text}, test qrels {qid: {doc: grade}})``."""
    ids, texts = [], []
    with open(data_dir / "nfcorpus" / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            title = (row.get("title") or "").strip()
            ids.append(row["_id"])
            texts.append(f"{title}\n{row.get('text') or ''}" if title else row.get("text") or "")
    if n:
        ids, texts = ids[:n], texts[:n]
    with open(data_dir / "nfcorpus" / "queries.jsonl", encoding="utf-8") as fh:
        queries = {(r := json.loads(line))["_id"]: r["text"] for line in fh if line.strip()}
    qrels: dict[str, dict[str, int]] = {}
    with open(data_dir / "nfcorpus" / "qrels" / "test.tsv", encoding="utf-8") as fh:
        next(fh)
        for line in fh:
            qid, doc, grade = line.rstrip("\n").split("\t")
            qrels.setdefault(qid, {})[doc] = int(grade)
    return ids, texts, {q: queries[q] for q in qrels if q in queries}, qrels


def encoders(model, variants: Sequence[str], batch_size: int, threads: int) -> dict[str, Callable]:  # noqa: ANN001
    """``{variant: encode(texts) -> (n, dim)}``; the ONNX exports are made (or reused) from ``model`` here."""
    from indexer.encode.onnx_encoder import OnnxEncoder, default_export_dir, exported_model
    from medcore.models import resolve

    spec = resolve("minilm")

    def plain_loop(texts: list[str]) -> np.ndarray:
        return np.concatenate([model.encode(texts[i : i + batch_size], batch_size=batch_size,
                                            normalize_embeddings=True) for i in range(0, len(texts), batch_size)])

    def st_sorted(bs: int) -> Callable:
        return lambda texts: model.encode(texts, batch_size=bs, normalize_embeddings=True)

    out: dict[str, Callable] = {}
    for name in variants:
        if name == "plain-loop":
            out[name] = plain_loop
        elif name.startswith("st-sorted"):
            out[name] = st_sorted(int(name.split("-bs")[1]) if "-bs" in name else batch_size)
        else:
            path = exported_model(model, spec.local_path, spec.name, name, default_export_dir(None))
            enc = OnnxEncoder(model, path, name, threads)
            out[name] = lambda texts, enc=enc: enc.encode(texts, batch_size)
    return out


def ndcg10(vectors: np.ndarray, query_vectors: np.ndarray, doc_ids: Sequence[str], qids: Sequence[str],
           qrels: dict) -> float:
    """Dense nDCG@10: exact inner-product top 100 per query, one chunk per document."""
    from search_app.evaluation.metrics import evaluate_named

    scores = query_vectors @ vectors.T  # (n_queries, n_docs)
    top = np.argsort(-scores, axis=1)[:, :100]
    run = {q: {doc_ids[j]: float(scores[i, j]) for j in top[i]} for i, q in enumerate(qids)}
    return evaluate_named({q: qrels[q] for q in qids}, run, ["ndcg@10"])["ndcg@10"]


def run(args: argparse.Namespace) -> dict:
    import torch

    from indexer.encode.embedder import Embedder
    from medcore.config import Settings

    if args.threads:
        torch.set_num_threads(args.threads)
    results: dict = {"benchmark": "encode_throughput", "date_utc": datetime.now(UTC).isoformat(timespec="seconds"),
                     "config": {k: str(v) for k, v in vars(args).items() if k != "out"}, "machine": machine_info()}
    doc_ids, texts, queries, qrels = load_nfcorpus(args.data_dir, args.n_chunks)
    qids = [q for q in qrels if q in queries][: args.n_queries]
    torch_only = Settings.from_dict({"index": {"encoder": "torch", "query_encoder": "torch"}})
    model = Embedder.load("minilm", torch_only).model
    tokens = [len(ids) for ids in model.tokenizer(texts[:2000], truncation=True, max_length=model.max_seq_length)[
        "input_ids"]]
    results["chunks"] = {"n": len(texts), "mean_tokens_truncated": round(float(np.mean(tokens)), 1),
                         "max_seq_length": model.max_seq_length, "source": "NFCorpus corpus, title + text per doc"}
    fns = encoders(model, args.variants, args.batch_size, args.threads)
    for fn in fns.values():
        fn(texts[: min(16, len(texts))])  # warm-up: first-call allocations, OpenVINO shape compilation
    results["variants"] = {name: {"seconds_per_round": [], "load_1min_per_round": []} for name in fns}
    vectors: dict[str, np.ndarray] = {}
    for r in range(args.rounds):  # rounds interleave the variants, so load drifts hit them alike
        for name, fn in fns.items():
            start = time.perf_counter()
            vectors[name] = np.asarray(fn(texts), dtype=np.float32)
            results["variants"][name]["seconds_per_round"].append(round(time.perf_counter() - start, 2))
            results["variants"][name]["load_1min_per_round"].append(round(os.getloadavg()[0], 2))
            logger.info("round %d %s: %.1f s", r, name, results["variants"][name]["seconds_per_round"][-1])
    base = vectors[next(iter(fns))]
    for name, fn in fns.items():
        row = results["variants"][name]
        seconds = float(np.median(row["seconds_per_round"]))
        row.update({"seconds": round(seconds, 2), "chunks_per_s": round(len(texts) / seconds, 2),
                    "min_cos_to_baseline": round(float((vectors[name] * base).sum(1).min()), 6),
                    "load_1min": round(float(np.mean(row["load_1min_per_round"])), 2)})
        if args.quality:
            qv = np.asarray(fn([queries[q] for q in qids]), dtype=np.float32)
            row["ndcg@10"] = round(ndcg10(vectors[name], qv, doc_ids, qids, qrels), 5)
        logger.info("%s: %s", name, row)
    first = next(iter(results["variants"].values()))
    for row in results["variants"].values():
        row["speedup_vs_first"] = round(row["chunks_per_s"] / first["chunks_per_s"], 2)
        if args.quality:
            row["ndcg@10_delta_vs_first"] = round(row["ndcg@10"] - first["ndcg@10"], 5)
    results["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return results


def table(results: dict) -> str:
    lines = ["| variant | chunks/s | x first | seconds | nDCG@10 | delta | min cos | load |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in results["variants"].items():
        lines.append(f"| {name} | {r['chunks_per_s']:.1f} | {r['speedup_vs_first']:.2f} | {r['seconds']:.1f} | "
                     f"{r.get('ndcg@10', float('nan')):.4f} | {r.get('ndcg@10_delta_vs_first', float('nan')):+.4f} | "
                     f"{r['min_cos_to_baseline']:.5f} | {r['load_1min']:.1f} |")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    p.add_argument("--n-chunks", type=int, default=0, help="First N NFCorpus documents (0: all 3,633).")
    p.add_argument("--n-queries", type=int, default=1000, help="NFCorpus test queries scored (at most 323).")
    p.add_argument("--batch-size", type=int, default=32, help="Batch size of the baseline and the fast encoders.")
    p.add_argument("--threads", type=int, default=0, help="torch / encoder threads (0: library default).")
    p.add_argument("--variants", type=lambda s: s.split(","), default=list(ALL_VARIANTS),
                   help=f"Comma-separated, the first is the baseline of the ratios: {','.join(ALL_VARIANTS)}.")
    p.add_argument("--rounds", type=int, default=1, help="Timed passes over the chunks per variant (median).")
    p.add_argument("--no-quality", dest="quality", action="store_false", help="Skip the nDCG@10 check.")
    return p


def main(argv: Sequence[str] | None = None) -> dict:
    args = parser().parse_args(argv)
    unknown = set(args.variants) - set(ALL_VARIANTS)
    if unknown:
        parser().error(f"unknown variants {sorted(unknown)}; choose from {','.join(ALL_VARIANTS)}")
    offline_defaults()
    results = run(args)
    save_results(args.out, results)
    print(table(results))
    return results


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    main()
