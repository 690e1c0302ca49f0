"""``medembed eval``: score a retriever on a BEIR dataset, with the dataset's store and indexes cached."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm.auto import tqdm

from indexer.beir import CORPUS, QUERIES, data_file, is_beir_dir, load_qrels, load_queries
from indexer.build import build_indexes
from indexer.ingest import Ingestor
from indexer.store import Store
from medcore.config import Settings
from medcore.errors import DatasetError
from search_app.evaluation import METRIC_NAMES, evaluate_named
from search_app.searcher import Retriever, Searcher

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalResult:
    dataset: str
    split: str
    retriever: str
    n_queries: int
    metrics: dict[str, float]
    seconds: float

    def to_json(self) -> dict[str, object]:
        out = asdict(self)
        out["metrics"] = {name: round(self.metrics[name], 5) for name in METRIC_NAMES}
        out["seconds"] = round(self.seconds, 2)
        return out


def dataset_settings(dataset_dir: Path, settings: Settings) -> Settings:
    """Settings rooted at this dataset's own cache folder (its SQLite store and indexes) under ``paths.eval_dir``.

    The folder name carries a fingerprint of the corpus file and the chunking settings, so a changed corpus or
    chunker gets a fresh store instead of stale chunks.
    """
    corpus = data_file(dataset_dir, CORPUS)
    digest = hashlib.sha256()
    with open(corpus, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    chunking = settings.chunking
    digest.update(json.dumps([chunking.corpus_max_tokens, chunking.overlap_tokens, chunking.tokenizer]).encode())
    home = settings.paths.eval_dir / f"{dataset_dir.resolve().name}-{digest.hexdigest()[:12]}"
    return settings.with_home(home)


def prepare(dataset_dir: Path, settings: Settings, retriever: Retriever) -> tuple[Settings, Store]:
    """Ingest the corpus (once) and build the indexes the retriever needs (incrementally)."""
    ds_settings = dataset_settings(dataset_dir, settings)
    store = Store.from_settings(ds_settings)
    marker = ds_settings.paths.home / "ingested.json"
    if not marker.is_file():
        Ingestor(store, ds_settings).ingest_beir(dataset_dir, collection=dataset_dir.resolve().name)
        marker.write_text(json.dumps({"counts": store.counts()}), encoding="utf-8")
    build_indexes(store, ds_settings, model=retriever.model, dense=retriever.mode != "bm25")
    return ds_settings, store


def evaluate_dataset(dataset_dir: Path, split: str, retriever: str | Retriever, settings: Settings,
                     batch_size: int = 256, show_progress_bar: bool | None = None) -> EvalResult:
    """nDCG/MAP/Recall/Precision/MRR at 1/5/10 of ``retriever`` on the ``split`` queries (document level)."""
    if not isinstance(retriever, Retriever):
        retriever = Retriever.parse(retriever, settings.index.model)
    if not is_beir_dir(dataset_dir):
        raise DatasetError(f"{dataset_dir} is not a BEIR folder (no {CORPUS}); point at e.g. ../shared/data/nfcorpus.")
    qrels = load_qrels(dataset_dir, split)
    queries = load_queries(dataset_dir)
    qids = [q for q in qrels if q in queries and any(r > 0 for r in qrels[q].values())]
    if not qids:
        raise DatasetError(f"No queries of split '{split}' in {data_file(dataset_dir, QUERIES)} have judgements.")
    ds_settings, store = prepare(dataset_dir, settings, retriever)
    searcher = Searcher(ds_settings, store, retriever)
    start = time.perf_counter()
    run: dict[str, dict[str, float]] = {}
    show = show_progress_bar if show_progress_bar is not None else logger.getEffectiveLevel() <= logging.INFO
    for i in tqdm(range(0, len(qids), batch_size), desc=f"Searching ({retriever})", disable=not show):
        part = qids[i : i + batch_size]
        for qid, doc_run in zip(part, searcher.batch_search_documents([queries[q] for q in part], k=100),
                                strict=True):
            run[qid] = doc_run
    metrics = evaluate_named({q: qrels[q] for q in qids}, run)
    return EvalResult(dataset_dir.resolve().name, split, str(retriever), len(qids), metrics,
                      time.perf_counter() - start)
