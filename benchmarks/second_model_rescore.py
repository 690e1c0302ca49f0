"""Would a second, larger embedding model help as a second stage? nDCG@10 on dev of ``hybrid:MODEL`` with its top
``--depth`` documents rescored by :func:`medcore.fusion.rerank_order` of the first stage's score and the second
model's cosine, for each ``--weights`` value (0: the first stage alone).

The second model's cosine of a document is its best chunk's, read from that model's own dense run over the corpus
at depth ``--second-depth`` chunks (the default, 5,000, holds every chunk of the sets measured so far, so every
candidate has its true cosine; where one is missing it gets the lowest cosine of the query's run, which leaves the
min-max range of the others alone, and the count of such stand-ins is logged). Both models' corpora are embedded once
and cached under ``paths.eval_dir``, as ``medembed eval`` does; all-mpnet-base-v2 costs several times what the
MiniLM-sized first stage does, the reason this is a measurement and not a product feature.

With ``--rerank`` the first stage is ``hybrid:MODEL+rerank``: the cross-encoder reorders its top candidates first
and the second model's cosine reorders that (weight 0: the cross-encoder's order as shipped).

Usage::

    python benchmarks/second_model_rescore.py --second mpnet --sets nfcorpus train/medicationqa \\
        --out /tmp/bench/second_model.json
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.machine import machine_info, offline_defaults, save_results  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
logger = logging.getLogger("second_model_rescore")

if TYPE_CHECKING:
    from medcore.config import Settings
    from search_app.searcher import Searcher


def rescored(first: dict[str, dict[str, float]], second: dict[str, dict[str, float]], depth: int,
             weight: float) -> tuple[dict[str, dict[str, float]], int]:
    """Each query's first-stage run with its top ``depth`` documents reordered by ``rerank_order`` of the first
    stage's score and the second model's cosine (``weight`` on the latter), and how many candidates had no cosine."""
    from medcore.fusion import rerank_order

    out, missing = {}, 0
    for qid, run in first.items():
        theirs = second.get(qid, {})
        top = list(run)[:depth]
        missing += sum(doc not in theirs for doc in top)
        lowest = min(theirs.values(), default=0.0)
        out[qid] = rerank_order(run, {doc: theirs.get(doc, lowest) for doc in top}, weight)
    return out, missing


def candidate_cosines(searcher: Searcher, second: str, queries: dict[str, str], first: dict[str, dict[str, float]],
                      depth: int) -> dict[str, dict[str, float]]:
    """``{qid: {doc: cosine}}`` of the second model for the first stage's top ``depth`` documents only (a document's
    cosine is its best chunk's, as in the second model's own run), embedding just those documents' chunks: the same
    figures as a full run at a fraction of the cost on a large corpus, where that run is exact (an approximate index,
    above ``index.ann_threshold`` chunks, may miss a candidate that these cosines still score)."""
    from indexer.encode.embedder import Embedder
    from indexer.index.layout import chunk_texts

    chunks: dict[str, list[int]] = {}
    for chunk_id, key in searcher.store.chunk_doc_keys().items():
        chunks.setdefault(key, []).append(chunk_id)
    top = {qid: list(run)[:depth] for qid, run in first.items()}
    wanted = sorted({c for docs in top.values() for doc in docs for c in chunks.get(doc, [])})
    embedder = Embedder.load(second, searcher.settings)
    logger.info("%s: embedding %d chunks of %d queries' candidates", second, len(wanted), len(top))
    # the Embedder returns unit vectors, so a dot product is the cosine
    vectors = embedder.encode_passages(chunk_texts(searcher.store, searcher.settings, wanted), show_progress_bar=True)
    row = {c: i for i, c in enumerate(wanted)}
    qids = list(top)
    query_vectors = embedder.encode_queries([searcher.searched_text(queries[q]) for q in qids])  # as retrievers read
    return {qid: {doc: max(float(vectors[row[c]] @ qv) for c in chunks[doc]) for doc in top[qid] if doc in chunks}
            for qid, qv in zip(qids, query_vectors, strict=True)}


def document_runs(folder: Path, settings: Settings, spec: str, queries: dict[str, str], qids: list[str],
                  k: int) -> tuple[dict[str, dict[str, float]], Searcher]:
    """``{qid: {doc: score}}`` of ``spec`` at depth ``k``, as ``medembed eval`` scores them (self hits dropped), and
    the searcher that ran them."""
    from search_app.evaluation.metrics import drop_self_hits
    from search_app.evaluation.runner import dataset_searcher, run_queries

    searcher = dataset_searcher(folder, settings, spec)
    return drop_self_hits(run_queries(searcher, queries, qids, k=k)), searcher


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--sets", nargs="+", default=["nfcorpus", "train/medicationqa"])
    parser.add_argument("--split", default="dev")
    parser.add_argument("--model", default="medembed-small", help="The first stage's model (hybrid:MODEL).")
    parser.add_argument("--rerank", action="store_true",
                        help="The first stage is hybrid:MODEL+rerank (the cross-encoder as configured), so the second "
                             "model rescores the cross-encoder's order: both second stages together.")
    parser.add_argument("--second", default="mpnet", help="The second embedding model (a registry name or folder).")
    parser.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.2, 0.3, 0.4, 0.5, 0.6])
    parser.add_argument("--depth", type=int, default=30, help="Candidates rescored (at most 100).")
    parser.add_argument("--second-depth", type=int, default=5000, help="Chunks of the second model's own run.")
    parser.add_argument("--candidates-only", action="store_true",
                        help="Embed only the candidates' chunks with the second model, not the whole corpus (large "
                             "corpora); 'second alone' is then not measured and --second-depth not used.")
    parser.add_argument("--max-queries", type=int, default=None, help="The first n judged queries of each set.")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if not 1 <= args.depth <= 100:
        parser.error("--depth must be 1-100: the first stage's run holds 100 documents")
    if args.max_queries is not None and args.max_queries < 1:
        parser.error("--max-queries must be at least 1 (leave it out for every judged query)")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    offline_defaults()

    from medcore.beir import load_qrels, load_queries
    from medcore.config import Settings
    from search_app.evaluation.metrics import evaluate_named
    from search_app.evaluation.runner import judged_queries

    settings = Settings.load()
    results: dict[str, dict[str, float]] = {}
    for name in args.sets:
        folder = args.data / name
        qrels, queries = load_qrels(folder, args.split), load_queries(folder)
        qids = judged_queries(qrels, queries)[: args.max_queries]
        judged = {q: qrels[q] for q in qids}

        first_spec = f"hybrid:{args.model}" + ("+rerank" if args.rerank else "")
        first, searcher = document_runs(folder, settings, first_spec, queries, qids, 100)
        if args.candidates_only:
            second = candidate_cosines(searcher, args.second, queries, first, args.depth)
            row = {}
        else:
            second, _ = document_runs(folder, settings, f"dense:{args.second}", queries, qids, args.second_depth)
            row = {"second alone": evaluate_named(judged, second)["ndcg@10"]}
        for weight in args.weights:
            run, missing = rescored(first, second, args.depth, weight)
            row[f"w={weight}"] = evaluate_named(judged, run)["ndcg@10"]
        results[name] = row
        logger.info("%s (%d queries, %d candidates without the second model's cosine): %s", name, len(qids), missing,
                    {k: round(v, 4) for k, v in row.items()})
    save_results(args.out, {"machine": machine_info(), "args": {k: str(v) for k, v in vars(args).items()},
                            "ndcg@10": results})
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
