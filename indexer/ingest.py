"""Ingest files and corpora into the store: parse, chunk, store one document per transaction."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from tqdm.auto import tqdm

from indexer.parse.beir import iter_corpus
from indexer.parse.document import ParsedDocument
from indexer.parse.files import parse_file
from indexer.parse.kinds import kind_of
from indexer.parse.pdf import file_sha256
from indexer.parse.textclean import clean_document
from indexer.parse.worker import check_text_size, shared_worker
from indexer.text.abbreviations import extract_pairs
from indexer.text.chunking import chunk_document
from indexer.text.study_design import detect_document, detect_documents
from medcore.beir import is_beir_dir
from medcore.config import Settings
from medcore.errors import IngestError, MedEmbedError
from medcore.progress import show_progress
from store import Store

logger = logging.getLogger(__name__)

Status = Literal["added", "skipped", "failed"]


@dataclass(frozen=True)
class IngestResult:
    path: str
    status: Status
    reason: str | None = None
    doc_id: int | None = None
    n_chunks: int = 0
    title: str | None = None


@dataclass
class IngestReport:
    results: list[IngestResult] = field(default_factory=list)

    def count(self, status: Status) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def failed(self) -> list[IngestResult]:
        return [r for r in self.results if r.status == "failed"]

    def summary(self) -> str:
        return f"{self.count('added')} added, {self.count('skipped')} skipped, {self.count('failed')} failed"


def expand_paths(paths: Iterable[Path]) -> Iterator[Path]:
    """Files to ingest: given files as they are, folders searched recursively; BEIR folders stay whole.

    A JATS ``X.xml`` beside ``X.pdf`` is not ingested on its own: it enriches the PDF's metadata.
    """
    for path in paths:
        if is_beir_dir(path) or not path.is_dir():
            yield path
            continue
        files = sorted(p for p in path.rglob("*") if p.is_file() and kind_of(p) is not None)
        stems = {(kind_of(p).name, p.with_suffix("")) for p in files}  # type: ignore[union-attr]
        yield from (p for p in files if (kind_of(p).enriches, p.with_suffix("")) not in stems)  # type: ignore[union-attr]


class Ingestor:
    """Puts files and corpora into a store; one bad input never stops the batch."""

    def __init__(self, store: Store, settings: Settings, added_by: str | None = None) -> None:
        self.store = store
        self.settings = settings
        self.added_by = added_by  # who the stored documents came from (see DocumentRow.added_by)

    def parse(self, path: Path, collection: str, sha256: str | None = None) -> ParsedDocument:
        """:func:`parse_file` in the shared parser child process (time and memory limits of ``settings.ingest``),
        or in this process when ``ingest.timeout_s`` is 0."""
        limits = self.settings.ingest
        if limits.timeout_s <= 0 or not path.is_file():
            doc = parse_file(path, collection, sha256)
            check_text_size(doc, path.name, limits.max_text_chars)
            return doc
        worker = shared_worker(limits.timeout_s, limits.max_memory_mb, limits.max_text_chars)
        return worker.parse(path, collection, sha256)

    def ingest(self, paths: Iterable[Path], collection: str = "library",
               show_progress_bar: bool | None = None) -> IngestReport:
        report = IngestReport()
        files = list(expand_paths(Path(p) for p in paths))
        show_progress_bar = show_progress(show_progress_bar, logger)
        for path in tqdm(files, desc="Ingesting", unit="file", disable=not show_progress_bar or len(files) < 2):
            if is_beir_dir(path):
                report.results.extend(self.ingest_beir(path, show_progress_bar=show_progress_bar))
            else:
                report.results.append(self.ingest_file(path, collection))
        logger.debug("Ingest: %s", report.summary())
        return report

    def ingest_file(self, path: Path, collection: str = "library", sha256: str | None = None) -> IngestResult:
        """Parse, chunk and store one file; ``sha256`` is the file's when the caller hashed it already."""
        try:
            if path.is_file():
                sha256 = sha256 or file_sha256(path)
                if self.store.has_sha256(sha256):
                    return IngestResult(str(path), "skipped", "already stored (same sha256)")
            parsed = self.parse(path, collection, sha256)
            if parsed.study_type == "undetermined" and self.settings.ingest.design_model:
                design = detect_document(parsed)  # no phrase decided in the parser child: the model reads it here
                parsed = replace(parsed, study_type=design.study_type, study_evidence=design.evidence)
            clash = None
            if claims := self.store.duplicate_claims(parsed.doi, parsed.pmcid):
                for doc_id, title in claims:
                    if _same_title(title, parsed.title):
                        return IngestResult(str(path), "skipped", f"already stored as document {doc_id} (same "
                                                                  "DOI/PMCID and title)")
                # The first file to claim an identifier must not block the real paper: keep both, flag for a curator.
                clash = claims[0][0]
                logger.warning("%s claims the DOI/PMCID of document %d under another title; kept both, flagged for a "
                               "curator (`medembed library clashes`)", path.name, clash)
            chunks = chunk_document(parsed, self.settings.chunking)
            if not chunks:
                raise IngestError(f"{path.name}: no text to index.")
            (doc_id,) = self.store.add_documents([(parsed, chunks)], added_by=self.added_by, clash_with=clash)
        except MedEmbedError as exc:
            logger.debug("Skipped %s: %s", path, exc)  # the report carries it; each caller says it once
            return IngestResult(str(path), "failed", str(exc))
        except Exception as exc:  # noqa: BLE001 - one bad file never stops the batch
            logger.exception("Unexpected error ingesting %s", path)
            return IngestResult(str(path), "failed", f"{path.name}: unexpected error ({type(exc).__name__}: {exc})")
        reason = (f"its DOI/PMCID is also claimed by document {clash} under another title: a curator should check "
                  "which is genuine" if clash is not None else None)
        return IngestResult(str(path), "added", reason, doc_id=doc_id, n_chunks=len(chunks), title=parsed.title)

    def ingest_beir(self, dataset_dir: Path, collection: str | None = None, batch_size: int = 500,
                    show_progress_bar: bool | None = None) -> list[IngestResult]:
        """Ingest a BEIR corpus in transactions of ``batch_size`` documents; rerunning adds only what is new."""
        results: list[IngestResult] = []
        chunking = replace(self.settings.chunking, max_tokens=self.settings.chunking.corpus_max_tokens)
        docs = iter_corpus(dataset_dir, collection)
        show_progress_bar = show_progress(show_progress_bar, logger)
        bar = tqdm(desc=f"Ingesting {dataset_dir.name}", unit="doc", disable=not show_progress_bar)
        while batch := [d for _, d in zip(range(batch_size), docs)]:
            known = self.store.known_sha256(d.sha256 for d in batch)
            fresh = [clean_document(d) for d in _with_designs([d for d in batch if d.sha256 not in known],
                                                              self.settings.ingest.design_model)]
            todo = [(d, chunk_document(d, chunking)) for d in fresh]
            ids = self.store.add_documents(todo, added_by=self.added_by) if todo else []
            results.extend(
                IngestResult(d.external_id or "", "added", doc_id=i, n_chunks=len(c), title=d.title)
                for (d, c), i in zip(todo, ids, strict=True)
            )
            results.extend(IngestResult(d.external_id or "", "skipped", "already stored") for d in batch
                           if d.sha256 in known)
            bar.update(len(batch))
        bar.close()
        return results


def _same_title(a: str | None, b: str | None) -> bool:
    """Whether two titles are the same paper's (case, spacing and punctuation aside); a missing one never is."""
    def key(title: str | None) -> str:
        return "".join(c for c in (title or "").casefold() if c.isalnum())

    return bool(key(a)) and key(a) == key(b)


def _with_designs(parsed: list[ParsedDocument], use_model: bool) -> list[ParsedDocument]:
    designs = detect_documents(parsed, use_model)
    out = []
    for doc, design in zip(parsed, designs, strict=True):
        pairs = extract_pairs(". ".join(filter(None, [doc.title, *(s.text for s in doc.segments)])))
        out.append(replace(doc, study_type=design.study_type, study_evidence=design.evidence, abbreviations=pairs))
    return out
