"""Scoring retrievers against judgements in the UI: benchmark folders, uploaded qrels, one query's graded hits,
full evaluations with progress, and the published MTEB numbers shipped with MedEmbed.

Shapes follow :mod:`search_app.evaluation.metrics`:
qrels ``{qid: {doc_key: grade}}``, runs ``{qid: {doc_key: score}}``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from indexer.encode.cross_encoder import reranker_reason
from indexer.index.factory import open_backend
from medcore.beir import Qrels
from medcore.config import Settings
from medcore.models import REPO_MODELS_DIR, base_model, resolve
from medcore.retrievers import RERANK_SUFFIX
from medcore.types import Document
from search_app.evaluation.benchmarks import corpus_size
from search_app.evaluation.metrics import METRIC_NAMES, evaluate_named, rank_ids
from search_app.evaluation.runner import dataset_settings
from search_app.searcher import Searcher

logger = logging.getLogger(__name__)


REFERENCE_SUBDIR = Path("reference_results") / "medembed_mteb"
#: Our folder name -> the MTEB task whose published numbers are comparable (same corpus; see caveats).
MTEB_TASKS = {"nfcorpus": "NFCorpus", "medquad": "MedicalQARetrieval", "trec-covid": "TRECCOVID",
              "treccovid": "TRECCOVID", "arguana": "ArguAna", "publichealthqa": "PublicHealthQA"}
PUBLISHED_CAVEAT = (
    "Published numbers come from the MTEB result files released with MedEmbed (test split). MedEmbed's harness "
    "scored the bge models without bge's query instruction, which understates bge (bge-small on NFCorpus: "
    "nDCG@10 0.337 without, 0.343 with it). MedicalQARetrieval is MTEB's 2,048-query sample of MedQuAD, not our "
    "medquad dev split: compare trends there, not decimals."
)



# -- uploaded judgements for the library ----------------------------------------------------------------------
def library_aliases(documents: Iterable[Document]) -> dict[str, str]:
    """Names a judgement may use for a library document -> its search key (the document id as text).

    A document answers to its id, PMCID, DOI (case-insensitive), external id and file name without ``.pdf``.
    """
    out: dict[str, str] = {}
    for doc in documents:
        key = doc.key
        names = [str(doc.id), doc.pmcid, doc.doi, doc.external_id, Path(doc.file_path).stem if doc.file_path else None]
        for name in names:
            if name:
                out.setdefault(name.strip().lower(), key)
    return out


def map_qrels(qrels: Mapping[str, Mapping[str, int]], aliases: Mapping[str, str]) -> tuple[Qrels, list[str]]:
    """Qrels with document names turned into search keys, and the names that match no document."""
    mapped: Qrels = {}
    unknown: list[str] = []
    for qid, rels in qrels.items():
        for name, grade in rels.items():
            key = aliases.get(name.strip().lower())
            if key is None:
                unknown.append(name)
                continue
            mapped.setdefault(qid, {})[key] = max(grade, mapped.get(qid, {}).get(key, grade))
    return mapped, sorted(set(unknown))


# -- one query, graded --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GradedDoc:
    """A document a retriever returned for a judged query, with its grade (None when never judged)."""

    rank: int
    key: str
    score: float
    grade: int | None
    document: Document | None
    text: str


@dataclass(frozen=True)
class QueryScore:
    retriever: str
    docs: list[GradedDoc]
    metrics: dict[str, float] = field(default_factory=dict)
    n_relevant: int = 0


def score_query(searcher: Searcher, query: str, rels: Mapping[str, int], k: int = 10) -> QueryScore:
    """The retriever's top ``k`` documents for one query, each with its grade, and that query's metrics.

    Metrics are computed on the document-level run of depth 100, exactly as a full evaluation does.
    """
    run = searcher.batch_search_documents([query], k=100)[0]
    n_relevant = sum(1 for g in rels.values() if g > 0)
    metrics = evaluate_named({"q": dict(rels)}, {"q": run}) if n_relevant else {}
    ranked = rank_ids(run)[:k]
    previews = searcher.store.documents_by_keys(ranked)
    docs = [
        GradedDoc(i, key, run[key], rels.get(key), *previews.get(key, (None, "")))
        for i, key in enumerate(ranked, 1)
    ]
    return QueryScore(str(searcher.retriever), docs, metrics, n_relevant)


def dataset_retrievers(dataset_dir: Path, settings: Settings, models: Sequence[str] = ("medembed-small", "minilm"),
                       small_corpus: int = 2000) -> tuple[list[str], list[str]]:
    """``(options, defaults)`` for a benchmark: every retriever worth offering, and those cheap to run now.

    A dense retriever is a default when its index over this corpus exists already, or when the corpus is small
    enough to embed in seconds; otherwise choosing it embeds the whole corpus first (minutes on a CPU). The
    defaults are BM25 and the first such model's dense and hybrid retrievers (ours where it is shipped; the hybrid
    one reranked where ``search.rerank`` is on, as Search shows it), and the dense retriever of the model it was
    fine-tuned from (MiniLM for ours) where that is cheap too: four at most, as the pages allow.
    """
    options = ["bm25"] + [f"{mode}:{m}" for m in models for mode in ("dense", "hybrid")]
    options += [f"dense:{m}" for m in ("bge-small", "bge-base", "bge-large")]
    if not reranker_reason(settings.search.reranker):
        options += [f"hybrid:{m}{RERANK_SUFFIX}" for m in models] + [f"bm25{RERANK_SUFFIX}"]
    ds_settings = dataset_settings(dataset_dir, settings)
    small = corpus_size(dataset_dir) <= small_corpus
    backend = open_backend(ds_settings)
    ready = [m for m in models if small or backend.has_index(resolve(m))]
    ready = [m for m in ready if resolve(m).local_path is None or resolve(m).local_path.is_dir()]
    first = ready[:1]
    reranked = bool(first) and settings.search.rerank and f"hybrid:{first[0]}{RERANK_SUFFIX}" in options
    suffix = RERANK_SUFFIX if reranked else ""
    defaults = ["bm25"] + [f"dense:{m}" for m in first] + [f"hybrid:{m}{suffix}" for m in first]
    if ready and (base := base_model(ready[0])) in ready:
        defaults.append(f"dense:{base}")  # the baseline a fine-tune is judged against: the model it started from
    return options, defaults


# -- published numbers --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PublishedResult:
    model: str
    task: str
    metrics: dict[str, float]


def mteb_task(dataset_name: str) -> str | None:
    return MTEB_TASKS.get(re.sub(r"[^a-z0-9-]", "", dataset_name.lower()))


def mteb_key(metric: str) -> str:
    """``"ndcg@10"`` -> ``"ndcg_at_10"`` (MTEB's naming)."""
    name, _, k = metric.partition("@")
    return f"{name}_at_{k}"


def published_results(root: Path | None, dataset_name: str) -> list[PublishedResult]:
    """MTEB test scores published with MedEmbed for the task matching ``dataset_name``; empty when absent."""
    task = mteb_task(dataset_name)
    ref = root / REFERENCE_SUBDIR if root is not None else None
    if task is None or ref is None or not ref.is_dir():
        return []
    out = []
    for path in sorted(ref.glob(f"*/{task}.json")):
        try:
            scores = json.loads(path.read_text(encoding="utf-8"))["scores"]["test"][0]
        except (OSError, json.JSONDecodeError, KeyError, IndexError):
            logger.warning("Skipping unreadable published result %s", path)
            continue
        metrics = {m: float(scores[mteb_key(m)]) for m in METRIC_NAMES if mteb_key(m) in scores}
        out.append(PublishedResult(path.parent.name.split("__")[-1], task, metrics))
    return out


@dataclass(frozen=True)
class ShippedResult:
    """A ``medembed eval`` result recorded in the card of a model shipped in ``models/`` (by its training recipe)."""

    model: str
    retriever: str
    split: str
    n_queries: int
    metrics: dict[str, float]


def shipped_results(dataset_name: str, models_dir: Path = REPO_MODELS_DIR) -> list[ShippedResult]:
    """Our models' measured scores on ``dataset_name``, from their cards (``models/*/medembed.json``)."""
    out = []
    for info_path in sorted(models_dir.glob("*/medembed.json")):
        try:
            rows = json.loads(info_path.read_text(encoding="utf-8")).get("evaluation", [])
        except (OSError, json.JSONDecodeError):
            logger.warning("Skipping unreadable model card %s", info_path)
            continue
        out += [ShippedResult(info_path.parent.name, r["retriever"], r["split"], int(r["n_queries"]), r["metrics"])
                for r in rows if r.get("dataset") == dataset_name]
    return out
