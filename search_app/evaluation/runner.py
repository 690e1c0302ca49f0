"""``medembed eval``: score a retriever on a BEIR dataset, with the dataset's store and indexes cached."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from tqdm.auto import tqdm

from indexer.index.build import build_indexes
from indexer.ingest import Ingestor
from medcore.beir import CORPUS, QUERIES, data_file, is_beir_dir, load_qrels, load_queries
from medcore.config import Settings
from medcore.errors import DatasetError
from medcore.progress import show_progress
from medcore.retrievers import RetrieverSpec
from search_app.evaluation.metrics import METRIC_NAMES, drop_self_hits, evaluate_named
from search_app.searcher import Searcher
from store import Store

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalResult:
    dataset: str
    split: str
    retriever: str
    n_queries: int
    metrics: dict[str, float]
    seconds: float  # searching and scoring the queries only
    prepare_seconds: float = 0.0  # ingesting the corpus and building its indexes first (0 once cached)

    def to_json(self) -> dict[str, object]:
        out = asdict(self)
        out["metrics"] = {name: round(self.metrics[name], 5) for name in METRIC_NAMES}
        out["seconds"] = round(self.seconds, 2)
        out["prepare_seconds"] = round(self.prepare_seconds, 2)
        return out


def timing_text(result: EvalResult) -> str:
    """What a run's time covers: "searched in 0.5 s, after 41.2 s preparing the corpus's store and indexes" (the
    first run of a model ingests and embeds the corpus; later ones only check that nothing changed)."""
    return (f"searched in {result.seconds:.1f} s, after {result.prepare_seconds:.1f} s preparing the corpus's store "
            "and indexes")


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
    # no sentence vectors: scoring never marks key sentences, and embedding every sentence of a corpus costs several
    # times its chunks (the Score page, which shows passages, marks them by embedding a bounded number instead);
    # no study-design model: scoring never reads designs, and the model embeds every document a second time
    return replace(settings.with_home(home), index=replace(settings.index, sentence_vectors=False),
                   ingest=replace(settings.ingest, design_model=False))


def prepare(dataset_dir: Path, settings: Settings, retriever: RetrieverSpec) -> tuple[Settings, Store]:
    """Ingest the corpus (once) and build the indexes the retriever needs (incrementally)."""
    ds_settings = dataset_settings(dataset_dir, settings)
    store = Store.from_settings(ds_settings)
    marker = ds_settings.paths.home / "ingested.json"
    if not marker.is_file():
        Ingestor(store, ds_settings).ingest_beir(dataset_dir, collection=dataset_dir.resolve().name)
        marker.write_text(json.dumps({"counts": store.counts()}), encoding="utf-8")
    build_indexes(store, ds_settings, model=retriever.model, dense=retriever.mode != "bm25")
    return ds_settings, store


Progress = Callable[[float, str], None]


def judged_queries(qrels: Mapping[str, Mapping[str, int]], queries: Mapping[str, str]) -> list[str]:
    """Query ids with text and at least one relevant judgement, in qrels order."""
    return [q for q in qrels if q in queries and any(g > 0 for g in qrels[q].values())]


def dataset_searcher(dataset_dir: Path, settings: Settings, retriever: str | RetrieverSpec) -> Searcher:
    """A searcher over a benchmark's own store (ingested and indexed on first use, cached under ``eval_dir``)."""
    if not isinstance(retriever, RetrieverSpec):
        retriever = RetrieverSpec.parse(retriever, settings.index.model)
    if not is_beir_dir(dataset_dir):
        raise DatasetError(f"{dataset_dir} is not a BEIR folder (no {CORPUS}); point at e.g. ../shared/data/nfcorpus.")
    ds_settings, store = prepare(dataset_dir, settings, retriever)
    return Searcher(ds_settings, store, retriever)


def run_queries(searcher: Searcher, queries: Mapping[str, str], qids: Sequence[str], batch_size: int = 64,
                progress: Progress | None = None, k: int = 100) -> dict[str, dict[str, float]]:
    """Document-level runs ``{qid: {doc_id: score}}`` (depth ``k``) for ``qids``, reporting progress per batch."""
    run: dict[str, dict[str, float]] = {}
    for i in range(0, len(qids), batch_size):
        part = list(qids[i : i + batch_size])
        if progress:
            progress(i / len(qids), f"{searcher.retriever}: query {i + 1}-{i + len(part)} of {len(qids)}")
        for qid, doc_run in zip(part, searcher.batch_search_documents([queries[q] for q in part], k=k),
                                strict=True):
            run[qid] = doc_run
    if progress:
        progress(1.0, f"{searcher.retriever}: {len(qids)} queries scored")
    return run


def evaluate_dataset(dataset_dir: Path, split: str, retriever: str | RetrieverSpec, settings: Settings,
                     max_queries: int | None = None, progress: Progress | None = None,
                     show_progress_bar: bool | None = None, ignore_identical_ids: bool = True) -> EvalResult:
    """nDCG/MAP/Recall/Precision/MRR at 1/5/10 of ``retriever`` on the ``split`` queries (document level).

    ``ignore_identical_ids`` drops a hit whose document id is the query's id (:func:`drop_self_hits`), as BEIR and
    MTEB score.

    ``max_queries`` scores only the first n judged queries; such a run is labelled ``split[:n]`` so it is never
    mistaken for a full one. ``progress(fraction, message)`` is called per batch (the UI's progress bar); without
    it a tqdm bar is shown at INFO logging.
    """
    if not is_beir_dir(dataset_dir):
        raise DatasetError(f"{dataset_dir} is not a BEIR folder (no {CORPUS}); point at e.g. ../shared/data/nfcorpus.")
    qrels, queries = load_qrels(dataset_dir, split), load_queries(dataset_dir)
    qids = judged_queries(qrels, queries)
    if not qids:
        raise DatasetError(f"No queries of split '{split}' in {data_file(dataset_dir, QUERIES)} have judgements.")
    if max_queries is not None and max_queries < len(qids):
        qids, split = qids[:max_queries], f"{split}[:{max_queries}]"
    if progress:
        progress(0.0, f"{retriever}: preparing the {dataset_dir.name} store and index (the first dense run embeds "
                      "the whole corpus: minutes on a CPU)")
    start = time.perf_counter()
    searcher = dataset_searcher(dataset_dir, settings, retriever)
    prepared, start = time.perf_counter() - start, time.perf_counter()
    if progress is None:
        show = show_progress(show_progress_bar, logger)
        with tqdm(total=len(qids), desc=f"Searching ({searcher.retriever})", disable=not show) as bar:
            run = run_queries(searcher, queries, qids, progress=lambda f, _m: bar.update(round(f * len(qids)) - bar.n))
    else:
        run = run_queries(searcher, queries, qids, progress=progress)
    if ignore_identical_ids:
        run = drop_self_hits(run)
    metrics = evaluate_named({q: qrels[q] for q in qids}, run)
    return EvalResult(dataset_dir.resolve().name, split, str(searcher.retriever), len(qids), metrics,
                      time.perf_counter() - start, prepared)
