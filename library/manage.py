"""Managing the library, for the UI and the CLI alike: which retrievers can run, uploads (accepted by
:mod:`indexer.accept`), delete, reindex, study-design corrections.

Nothing here imports Streamlit; each step takes a ``progress(fraction, message)`` callback the page turns into a
progress bar. Every change takes the acting ``user`` and checks its role here, on the server (uploads, deletes and
reindexing need a curator), and is written to the audit log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from access import audit
from access.roles import Principal, require
from indexer.accept import PDF_MAGIC, accept_pdf, safe_filename
from indexer.encode.cross_encoder import reranker_reason
from indexer.index.build import IndexReport, build_indexes
from indexer.index.factory import open_backend
from indexer.ingest import IngestResult
from medcore import study_types
from medcore.config import Settings
from medcore.errors import MedEmbedError
from medcore.models import registry, resolve
from medcore.retrievers import RERANK_SUFFIX
from medcore.types import Document
from store import Store

logger = logging.getLogger(__name__)

Progress = Callable[[float, str], None]



def _no_progress(_fraction: float, _message: str) -> None:
    return None


# -- which retrievers can run ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class RetrieverStatus:
    """One retriever spec (``bm25``, ``dense:minilm``, ``hybrid:minilm``) and why it can or cannot run here."""

    spec: str
    available: bool
    reason: str = ""


def model_reason(settings: Settings, model: str) -> str:
    """Why ``model`` cannot be searched with, or "" when its dense index exists."""
    spec = resolve(model)
    if open_backend(settings).has_index(spec):
        return ""
    if spec.local_path is None and spec.hub_id is not None:
        return (f"no index; {spec.hub_id} must be in the Hugging Face cache (or MEDEMBED_MODELS_ALLOW_DOWNLOAD=1), "
                f"then run `medembed index --model {spec.name}`")
    if spec.local_path is not None and not spec.local_path.is_dir():
        return f"no model folder at {spec.local_path} (train it first), and no index"
    return f"no index yet; run `medembed index --model {spec.name}` or use Reindex on the Library page"


def retriever_statuses(settings: Settings) -> list[RetrieverStatus]:
    """``bm25`` plus ``hybrid:M`` and ``dense:M`` for every registry model, each followed by its ``+rerank`` form,
    with availability and reason."""
    has_bm25 = open_backend(settings).has_index(None)
    bm25_reason = "" if has_bm25 else "no BM25 index yet; add documents on the Library page (or `medembed index`)"
    first = [RetrieverStatus("bm25", has_bm25, bm25_reason)]
    for name in registry():
        reason = model_reason(settings, name)
        first.append(RetrieverStatus(f"hybrid:{name}", not reason and has_bm25, reason or bm25_reason))
        first.append(RetrieverStatus(f"dense:{name}", not reason, reason))
    rerank_reason = reranker_reason(settings.search.reranker)
    out = []
    for status in first:
        out.append(status)
        out.append(RetrieverStatus(status.spec + RERANK_SUFFIX, status.available and not rerank_reason,
                                   status.reason or rerank_reason))
    return out


def indexed_models(settings: Settings) -> list[str]:
    """Registry models whose dense index exists for this store, in registry order."""
    return [name for name in registry() if not model_reason(settings, name)]


def default_retrievers(statuses: Sequence[RetrieverStatus], limit: int = 4, rerank: bool = False) -> list[str]:
    """A sensible comparison: our fine-tune (hybrid and dense) against MiniLM dense and BM25 where ours is indexed,
    else MiniLM hybrid, dense and BM25; then whatever else is available. With ``rerank`` (``search.rerank``), the
    hybrid column is the reranked one, as Search shows it (the same hybrid without it fills a free column)."""
    available = [s.spec for s in statuses if s.available]
    if {"hybrid:medembed-small", "dense:medembed-small"} <= set(available):
        preferred = ["hybrid:medembed-small", "dense:medembed-small", "dense:minilm", "bm25"]
    else:
        preferred = ["hybrid:minilm", "dense:minilm", "bm25"]
    if rerank:
        preferred[0] += RERANK_SUFFIX
    picked = [spec for spec in preferred if spec in available]
    # then other first stages: a +rerank twin of a column is the same retriever with a second stage, not another one
    picked += [spec for spec in available if spec not in picked and not spec.endswith(RERANK_SUFFIX)]
    return picked[:limit]


# -- the documents table --------------------------------------------------------------------------------------
def document_rows(docs: Sequence[tuple[Document, int]]) -> list[dict[str, str | int]]:
    """One row per ``(document, passages)`` for the Library table: text only, a missing value blank (a table
    showed the word "None" for a PDF without a year, journal or authors), authors given names first."""
    return [{"id": d.id, "title": d.title or "(untitled)", "year": str(d.year) if d.year else "",
             "journal": d.journal or "", "passages": n, "pages": str(d.n_pages) if d.n_pages else "",
             "authors": ", ".join(a.byline for a in d.author_list), "collection": d.collection or "",
             "PMCID": d.pmcid or "",
             "DOI": d.doi or "", "file": (d.file_path or "").rsplit("/", 1)[-1]} for d, n in docs]


# -- uploads --------------------------------------------------------------------------------------------------
def add_uploads(store: Store, settings: Settings, uploads: Sequence[tuple[str, bytes]],
                progress: Progress = _no_progress, *, user: Principal | None) -> list[IngestResult]:
    """Check, save and ingest uploaded files; one result per upload (refused files are ``failed`` with a reason).

    Raises:
        PermissionDenied: ``user`` is not a curator or admin (checked before anything is read or written).
    """
    require(user, "curator", "upload documents")
    results = []
    for i, (name, data) in enumerate(uploads):
        progress(i / max(len(uploads), 1), f"Reading {safe_filename(name)} ({i + 1}/{len(uploads)})")
        results.append(accept_pdf(store, settings, name, data, added_by=user.name))  # type: ignore[union-attr]
    for name_, r in zip([n for n, _ in uploads], results, strict=True):
        audit.record(store, user, "upload", safe_filename(name_), ok=r.status != "failed", status=r.status,
                     doc_id=r.doc_id, title=r.title, reason=r.reason)
    progress(1.0, "Files read")
    return results


# -- indexes --------------------------------------------------------------------------------------------------
def reindex(store: Store, settings: Settings, models: Sequence[str] | None = None,
            progress: Progress = _no_progress, *, user: Principal | None) -> list[IndexReport]:
    """Bring BM25 and the dense index of each model (default: every model already indexed, else the default model)
    in line with the store.

    Raises:
        PermissionDenied: ``user`` is not a curator or admin.
    """
    require(user, "curator", "reindex the library")
    reports = _reindex(store, settings, models, progress)
    audit.record(store, user, "reindex", ", ".join(r.model for r in reports),
                 added=sum(r.added for r in reports), removed=sum(r.removed for r in reports))
    return reports


def _reindex(store: Store, settings: Settings, models: Sequence[str] | None,
             progress: Progress) -> list[IndexReport]:
    models = list(models or indexed_models(settings) or [settings.index.model])
    reports = []
    for i, model in enumerate(models):
        progress(i / len(models), f"Indexing with {model} ({i + 1}/{len(models)}); new chunks are embedded")
        reports.append(build_indexes(store, settings, model=model, show_progress_bar=False))
    progress(1.0, "Indexes up to date")
    return reports


def delete_document(store: Store, settings: Settings, doc_id: int, progress: Progress = _no_progress, *,
                    user: Principal | None) -> Document:
    """Delete a document, its uploaded file (only files under ``paths.files_dir``) and its chunks from every index.

    Raises:
        PermissionDenied: ``user`` is not a curator or admin (nothing is deleted).
    """
    require(user, "curator", "delete documents")
    doc = store.get_document(doc_id)
    if doc is None:
        raise MedEmbedError(f"Document {doc_id} is not in the library (deleted already?); reload the page.")
    store.delete_document(doc_id)
    if doc.file_path:
        path = Path(doc.file_path).resolve()
        if path.is_file() and path.is_relative_to(settings.paths.files_dir.resolve()):
            path.unlink()
    audit.record(store, user, "delete", f"document {doc_id}: {doc.title or doc.file_path or '(untitled)'}",
                 doc_id=doc_id, title=doc.title)
    _reindex(store, settings, None, progress)
    return doc


def set_design(store: Store, doc_id: int, study_type: str | None, note: str = "", *,
               user: Principal | None) -> Document:
    """A curator's study design for a document (``None``: back to the detected one). It is stored apart from the
    detected design, so ``medembed classify --redo`` keeps it, and each change goes to the audit log.

    Raises:
        PermissionDenied: ``user`` is not a curator or admin (nothing changes).
        MedEmbedError: no such document, or ``study_type`` is not a design.
    """
    require(user, "curator", "correct study designs")
    if study_type is not None and study_type not in study_types.DESIGNS:
        raise MedEmbedError(f"{study_type!r} is not a study design; choose one of {', '.join(study_types.DESIGNS)}.")
    doc = store.get_document(doc_id)
    if doc is None:
        raise MedEmbedError(f"Document {doc_id} is not in the library (deleted already?); reload the page.")
    store.set_curated_design(doc_id, study_type, user.name if user else "", note)
    audit.record(store, user, "design", f"document {doc_id}: {doc.title or doc.file_path or '(untitled)'}",
                 doc_id=doc_id, study_type=study_type or "(detected)", previous=doc.study_type, note=note[:1000])
    return store.get_document(doc_id) or doc


def pdf_path(doc: Document | None) -> Path | None:
    """The stored PDF of a document, when it still exists and is a PDF; None otherwise (nothing else is served)."""
    if doc is None or not doc.file_path:
        return None
    path = Path(doc.file_path).expanduser().resolve()
    if path.suffix.lower() != ".pdf" or not path.is_file():
        return None
    with open(path, "rb") as fh:
        return path if PDF_MAGIC in fh.read(1024) else None
