"""Ingest a folder of PDFs into a fresh store and index it end to end: seconds per stage and a profile of where
the time goes, with the chunk encoder of the settings against torch in the same run.

Stages: ingest (parse with PyMuPDF, clean, chunk by model tokens, store in SQLite), model load, BM25 + dense
index (embedding the chunks is most of it). The profile runs the same work in-process (``ingest.timeout_s = 0``:
no parser child process, so the parse shows in the profile) under ``cProfile`` and reports the cumulative time of
each stage's function (:data:`STAGES`).

Usage::

    python benchmarks/ingest_pdfs.py --pdfs ../shared/data/pdfs --out /tmp/bench/ingest.json
"""

from __future__ import annotations

import argparse
import cProfile
import json
import logging
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.machine import machine_info, offline_defaults, save_results  # noqa: E402

logger = logging.getLogger(__name__)

DEFAULT_PDFS = Path(__file__).resolve().parents[2] / "shared" / "data" / "pdfs"
#: Stages of the profile: cumulative seconds of these functions (file suffix, function name).
STAGES = (
    ("ingest, all (Ingestor.ingest)", "indexer/ingest.py", "ingest"),
    ("  parse PDF (parse_pdf: PyMuPDF + cleanup)", "indexer/parse/pdf.py", "parse_pdf"),
    ("    PyMuPDF text extraction (_read_pages)", "indexer/parse/pdf.py", "_read_pages"),
    ("  chunk (chunk_document: sentences + tokenizer)", "indexer/text/chunking.py", "chunk_document"),
    ("  store (Store.add_documents)", "store/store.py", "add_documents"),
    ("model load (Embedder.load)", "indexer/encode/embedder.py", "load"),
    ("index, all (build_indexes)", "indexer/index/build.py", "build_indexes"),
    ("  read chunk texts (chunk_texts)", "indexer/index/build.py", "chunk_texts"),
    ("  BM25 build (BM25Index.build)", "indexer/index/local/bm25.py", "build"),
    ("  embed chunks (Embedder.encode_passages)", "indexer/encode/embedder.py", "encode_passages"),
    ("    tokenise (OnnxEncoder: tokenizer __call__)", "tokenization_utils_base.py", "__call__"),
    ("  FAISS add + save (DenseIndex.add/save)", "indexer/index/local/dense.py", "add"),
    ("  write version folders (new_version)", "indexer/index/versioned.py", "new_version"),
)


def _settings(home: Path, encoder: str, in_process: bool):  # noqa: ANN202
    from medcore.config import Settings

    base = Settings.load().with_home(home)
    index = replace(base.index, encoder=encoder, query_encoder=encoder)
    ingest = replace(base.ingest, timeout_s=0.0) if in_process and hasattr(base, "ingest") else getattr(
        base, "ingest", None)
    return replace(base, index=index, **({"ingest": ingest} if ingest is not None else {}))


def end_to_end(pdfs: list[Path], encoder: str, in_process: bool = False) -> dict:
    """Seconds of ingest, model load and indexing into a fresh temporary home."""
    from indexer.encode.embedder import Embedder
    from indexer.index.build import build_indexes
    from indexer.ingest import Ingestor
    from store import Store

    with tempfile.TemporaryDirectory(prefix="medembed-ingest-bench-") as tmp:
        settings = _settings(Path(tmp), encoder, in_process)
        store = Store.from_settings(settings)
        try:
            t0 = time.perf_counter()
            report = Ingestor(store, settings).ingest(pdfs, collection="bench")
            t1 = time.perf_counter()
            embedder = Embedder.load(settings.index.model, settings)
            t2 = time.perf_counter()
            build_indexes(store, settings, embedder=embedder, show_progress_bar=False)
            t3 = time.perf_counter()
            docs, chunks = store.counts()[:2]
        finally:
            store.close()
    return {"encoder": embedder.encoder_name, "pdfs": len(pdfs), "documents": docs, "chunks": chunks,
            "failed": sum(r.status == "failed" for r in report.results), "ingest_s": round(t1 - t0, 2),
            "model_load_s": round(t2 - t1, 2), "index_s": round(t3 - t2, 2), "total_s": round(t3 - t0, 2),
            "chunks_per_s_indexing": round(chunks / (t3 - t2), 1) if t3 > t2 else None}


def profile(pdfs: list[Path], encoder: str) -> dict:
    """Self time by area (see :data:`AREAS`) of an in-process run, and the top functions by cumulative time."""
    prof = cProfile.Profile()
    prof.enable()
    run = end_to_end(pdfs, encoder, in_process=True)
    prof.disable()
    stats = pstats.Stats(prof)
    cumulative = {name: 0.0 for name, _, _ in STAGES}
    for (filename, _, func), (_, _, _, cum, _) in stats.stats.items():  # type: ignore[attr-defined]
        for name, suffix, fn in STAGES:
            if func == fn and filename.endswith(suffix):
                cumulative[name] += cum
    top = sorted(((cum, f"{Path(f).name}:{line} {fn}") for (f, line, fn), (_, _, _, cum, _)
                  in stats.stats.items()), reverse=True)[:25]  # type: ignore[attr-defined]
    return {"run": run, "cumulative_seconds": {k: round(v, 3) for k, v in cumulative.items()},
            "top_cumulative": [{"seconds": round(c, 3), "function": name} for c, name in top]}


def main(argv: Sequence[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--pdfs", type=Path, default=DEFAULT_PDFS, help="Folder of PDFs (or one PDF).")
    p.add_argument("--max-pdfs", type=int, default=0, help="Only the first N PDFs (0: all).")
    p.add_argument("--baseline-encoder", default="torch", help="The encoder compared against the settings' one.")
    p.add_argument("--no-profile", dest="profile", action="store_false")
    args = p.parse_args(argv)
    offline_defaults()
    from medcore.config import Settings

    pdfs = sorted(args.pdfs.glob("*.pdf")) if args.pdfs.is_dir() else [args.pdfs]
    pdfs = pdfs[: args.max_pdfs] if args.max_pdfs else pdfs
    encoder = Settings.load().index.encoder
    results: dict = {"benchmark": "ingest_pdfs", "date_utc": datetime.now(UTC).isoformat(timespec="seconds"),
                     "machine": machine_info(), "pdf_bytes": sum(f.stat().st_size for f in pdfs)}
    end_to_end(pdfs[:1], encoder)  # warm-up: imports, model files in the page cache, the ONNX export
    results["runs"] = [end_to_end(pdfs, encoder), end_to_end(pdfs, args.baseline_encoder)]
    if args.profile:
        results["profile"] = profile(pdfs, encoder)
    results["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    save_results(args.out, results)
    for row in results["runs"]:
        print(json.dumps(row))
    if args.profile:
        print(json.dumps(results["profile"]["cumulative_seconds"], indent=1))
    return results


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    main()
