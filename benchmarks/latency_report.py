"""The tables and ratios of the query-latency benchmark (``benchmarks/query_latency.py``)."""

from __future__ import annotations


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
            "encode_torch_over_encode": _ratio(lat["encode_torch"], lat["encode"]),
            "faiss_exact_over_faiss_search": _ratio(lat["faiss_exact"], lat["faiss_search"]),
            "bm25_numpy_over_bm25": _ratio(lat["bm25_numpy"], lat["bm25"]),
            "hybrid_over_hybrid_concurrent": _ratio(lat["hybrid"], lat["hybrid_concurrent"]),
        }
        if "rank_bm25" in ref:
            out[threads]["bm25s_full_over_bm25s_at_ref"] = _ratio(lat["bm25"], ref["bm25s"])
    if "rank_bm25" in ref:
        out["reference"] = {"rank_bm25_over_bm25s": _ratio(ref["rank_bm25"], ref["bm25s"])}
    return out


_PATHS = (
    ("encode", "query encoding only ({encoder}, 1 query)"),
    ("encode_torch", "query encoding only (torch, 1 query)"),
    ("faiss_search", "dense: FAISS search only ({search}), k=100"),
    ("faiss_exact", "dense: FAISS exact IndexFlatIP search only, k=100"),
    ("dense", "dense: encode + search, k=100"),
    ("bm25_numpy", "bm25: BM25Index.search (bm25s numpy), k=100"),
    ("bm25_numba", "bm25: BM25Index.search (bm25s numba), k=100"),
    ("fusion", "fusion only: rrf + per-doc cap + texts"),
    ("hybrid", "hybrid: bm25 then dense + rrf + cap"),
    ("hybrid_concurrent", "hybrid: bm25 in a thread while dense runs + rrf + cap"),
)


def table(results: dict) -> str:
    """The latency rows as a markdown table, grouped by thread setting."""
    n, ref, e2e = results["corpus"]["n_chunks"], results["reference_bm25"], results.get("end_to_end") or {}
    approx = (results["build"]["dense_search"].get("approximate") or {}).get("kind")
    names = {"encoder": results["build"]["vectors"]["encoder"], "search": f"{approx} approximate" if approx else
             "exact IndexFlatIP"}
    rows: list[tuple[str, object, str, dict]] = []
    for threads, lat in results["latency"].items():
        rows += [(label.format(**names), "-" if key.startswith("encode") else n, threads, lat[key])
                 for key, label in _PATHS if key in lat]
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
