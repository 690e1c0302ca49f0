"""What paper grouping and key-sentence marking cost: p50/p95 search latency with both on against both off, in
one run, on a library of real PDFs indexed with the real MiniLM (hybrid search, as the app's default).

Five variants are timed over the same queries, interleaved query by query so load from other processes falls on all
of them alike: ``off`` (passages, no marking), ``papers`` (grouping only), ``key_sentence`` (passages marked) and
``on`` (papers with every shown passage marked), both with the sentence-vector cache emptied first (a new search),
and ``on_rerun`` (``on`` again right after it, cache warm: what Streamlit's rerun on a click costs). With
``--with-unbounded``, also ``on_all_sentences``: papers with every sentence of every shown passage embedded by the
passage encoder, the way marking worked before it was bounded (about a second of CPU per call, so opt-in).

Torch and FAISS run on one thread, as the app encodes a query (``ui/common.py``). Three clocks: wall time, the
calling thread's CPU time (``time.thread_time``) and the process's CPU time (``time.process_time``, which also
counts the OpenVINO/ONNX Runtime worker threads); on a shared, niced machine the wall time is mostly waiting for
the CPU, so CPU time is the work a search does.

Usage::

    nice -n 19 python benchmarks/clinician_latency.py --pdfs ../shared/data/pdfs --out /tmp/bench/clinician.json
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.machine import machine_info, offline_defaults, save_results  # noqa: E402
from benchmarks.timing import set_threads, summary  # noqa: E402

logger = logging.getLogger(__name__)

DEFAULT_PDFS = Path(__file__).resolve().parents[2] / "shared" / "data" / "pdfs"
QUERIES = (
    "initial insulin dosage for newly diagnosed type 2 diabetes", "SNP genotyping of a SNARE gene in diabetes",
    "pneumatic dilation versus Heller myotomy", "oxidative stress in rats given metformin",
    "prognosis of mucinous adenocarcinoma of the stomach", "bowel preparation before capsule endoscopy",
    "echocardiogram for syncope with a normal ECG", "upper GI bleeding from aspirin in older patients",
    "Notch pathway and tamoxifen resistance", "rapid malaria test against Giemsa microscopy",
    "thrombocytopenia caused by levofloxacin", "visfatin in autoimmune thyroiditis",
    "sleep quality and depression in multiple sclerosis", "preventing mother to child HIV transmission",
    "methemoglobinemia in pregnancy", "tularemia after a coyote bite", "intracerebral hemorrhage in children",
)
VARIANTS = ("off", "papers", "key_sentence", "on", "on_rerun", "on_all_sentences")  # the last with --with-unbounded
FOLLOWS = {"on_rerun": "on"}  # timed right after that variant, on the same query


def build_library(pdfs: Path, home: Path):  # noqa: ANN201 - (Settings, Searcher)
    from indexer.index.build import build_indexes
    from indexer.ingest import Ingestor
    from medcore.config import Settings
    from search_app.searcher import Searcher
    from store import Store

    settings = Settings.load().with_home(home)
    store = Store.from_settings(settings)
    report = Ingestor(store, settings).ingest([pdfs], show_progress_bar=False)
    build_indexes(store, settings, model="minilm", show_progress_bar=False)
    logger.info("Library: %s", report.summary())
    return settings, Searcher.from_settings(settings, "hybrid:minilm")


def variants(searcher, k: int, unbounded: bool = False) -> dict[str, Callable[[str], object]]:  # noqa: ANN001
    from search_app import key_sentence

    embedder = searcher.sentence_embedder()

    def cold(mark: Callable[[str], object]) -> Callable[[str], object]:
        def fn(q: str) -> object:
            key_sentence.clear_cache()
            return mark(q)
        return fn

    fns = {
        "off": lambda q: searcher.search(q, k),
        "papers": lambda q: searcher.search_papers(q, k),
        "key_sentence": cold(lambda q: key_sentence.mark_hits(embedder, q, searcher.search(q, k))),
        "on": cold(lambda q: key_sentence.mark_papers(embedder, q, searcher.search_papers(q, k))),
        "on_rerun": lambda q: key_sentence.mark_papers(embedder, q, searcher.search_papers(q, k)),
        "on_all_sentences": lambda q: mark_all_sentences(embedder, q, searcher.search_papers(q, k)),
    }
    return fns if unbounded else {name: fn for name, fn in fns.items() if name != "on_all_sentences"}


def mark_all_sentences(embedder, query: str, papers: list) -> list:  # noqa: ANN001 - an Embedder, PaperHits
    """The unbounded marking this benchmark compares against: every sentence worth marking of every passage,
    embedded in one batch by the passage encoder, each passage's closest sentence marked."""
    from dataclasses import replace

    from search_app import key_sentence

    hits = [h for p in papers for h in p.passages]
    spans = [key_sentence.sentence_spans(h.text) for h in hits]
    texts = [h.text[a:b] for h, s in zip(hits, spans, strict=True) if len(s) > 1 for a, b in s]
    if not texts:
        return papers
    query_vector = embedder.encode_queries([query])[0]  # (dim,)
    vectors = embedder.encode_passages(texts, show_progress_bar=False)  # (n_sentences, dim)
    marked, at = [], 0
    for hit, hit_spans in zip(hits, spans, strict=True):
        if len(hit_spans) > 1:
            hit = replace(hit, key_sentence=hit_spans[key_sentence.best_sentence(query_vector,
                                                                             vectors[at : at + len(hit_spans)])])
            at += len(hit_spans)
        marked.append(hit)
    return marked


def run(fns: dict[str, Callable[[str], object]], queries: Sequence[str], rounds: int,
        warmup: int = 2) -> dict[str, dict[str, np.ndarray]]:
    """``{variant: {"wall": ms, "cpu": ms, "proc": ms}}`` per call; each query runs every variant before the next
    query (rotating the order; a variant in :data:`FOLLOWS` right after the one it follows), after one untimed
    warm-up pass over the first ``warmup`` queries."""
    for fn in fns.values():
        for q in queries[:warmup]:
            fn(q)
    times: dict[str, dict[str, list[float]]] = {name: {"wall": [], "cpu": [], "proc": []} for name in fns}
    names = [name for name in fns if name not in FOLLOWS]
    followers = {FOLLOWS[name]: name for name in fns if name in FOLLOWS}
    for r in range(rounds):
        for i, q in enumerate(queries):
            shift = (r + i) % len(names)
            for name in names[shift:] + names[:shift]:
                for timed in filter(None, (name, followers.get(name))):
                    wall, cpu, proc = time.perf_counter_ns(), time.thread_time_ns(), time.process_time_ns()
                    fns[timed](q)
                    times[timed]["proc"].append((time.process_time_ns() - proc) / 1e6)
                    times[timed]["cpu"].append((time.thread_time_ns() - cpu) / 1e6)
                    times[timed]["wall"].append((time.perf_counter_ns() - wall) / 1e6)
    return {name: {kind: np.array(ms) for kind, ms in t.items()} for name, t in times.items()}


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pdfs", type=Path, default=DEFAULT_PDFS)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=5, help="Passes over the queries.")
    parser.add_argument("-k", type=int, default=10, help="Results per search (papers or passages).")
    parser.add_argument("--warmup", type=int, default=2, help="Queries of the untimed warm-up pass.")
    parser.add_argument("--with-unbounded", action="store_true",
                        help="Also time marking every sentence of every shown passage (the old way; slow).")
    parser.add_argument("--home", type=Path, default=None,
                        help="Keep the built library here and reuse it next time (default: a temporary folder).")
    args = parser.parse_args(argv)
    offline_defaults()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    set_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        home = args.home or Path(tmp)
        reuse = (home / "medembed.db").is_file()
        settings, searcher = reopen_library(home) if reuse else build_library(args.pdfs, home)
        docs, chunks = searcher.store.counts()
        machine = machine_info()
        times = run(variants(searcher, args.k, args.with_unbounded), QUERIES, args.rounds, args.warmup)
    results = {
        "machine": machine, "pdfs": str(args.pdfs), "documents": docs, "chunks": chunks, "k": args.k,
        "rounds": args.rounds, "queries": len(QUERIES), "retriever": "hybrid:minilm",
        "latency_wall": {name: summary(t["wall"]) for name, t in times.items()},
        "latency_cpu": {name: summary(t["cpu"]) for name, t in times.items()},
        "latency_proc": {name: summary(t["proc"]) for name, t in times.items()},
    }
    for kind in ("wall", "cpu", "proc"):
        off = results[f"latency_{kind}"]["off"]["p50_ms"]
        results[f"p50_ratio_vs_off_{kind}"] = {name: round(v["p50_ms"] / off, 2)
                                               for name, v in results[f"latency_{kind}"].items()}
    save_results(args.out, results)
    print(json.dumps({k: v for k, v in results.items() if k != "machine"}, indent=2))
    return results


def reopen_library(home: Path):  # noqa: ANN201 - (Settings, Searcher)
    from medcore.config import Settings
    from search_app.searcher import Searcher

    settings = Settings.load().with_home(home)
    return settings, Searcher.from_settings(settings, "hybrid:minilm")


if __name__ == "__main__":
    main()
