"""Parsing one file into a :class:`ParsedDocument`: PDF or JATS XML, a sibling JATS file's metadata, the study
design and abbreviations found in it, and the text cleaned. Runs in the parser child (:mod:`indexer.parse_worker`)
or, with ``ingest.timeout_s = 0``, in the ingesting process."""

from __future__ import annotations

import logging
from pathlib import Path

from indexer.abbreviations import extract_pairs
from indexer.jats import parse_jats
from indexer.parsed import ParsedDocument
from indexer.pdf import parse_pdf
from indexer.study_design import detect_document
from indexer.textclean import clean_document
from medcore.errors import IngestError, MedEmbedError

logger = logging.getLogger(__name__)


def parse_file(path: Path, collection: str) -> ParsedDocument:
    """Parse one PDF or JATS XML file; a sibling JATS file fills in the PDF's metadata."""
    suffix = path.suffix.lower()
    if suffix in (".xml", ".nxml"):
        parsed = parse_jats(path, collection=collection)
    elif not path.is_file():
        raise IngestError(f"{path}: no such file.")
    else:
        parsed = parse_pdf(path, collection=collection)
        for sibling in (path.with_suffix(".xml"), path.with_suffix(".nxml")):
            if sibling.is_file():
                _enrich_from_jats(parsed, sibling, collection)
                break
    if parsed.file_path:
        parsed.file_path = str(Path(parsed.file_path).resolve())  # the app opens it later, from any directory
    if parsed.study_type is None:
        design = detect_document(parsed)
        parsed.study_type, parsed.study_evidence = design.study_type, design.evidence
    parsed.abbreviations = extract_pairs("\n\n".join(s.text for s in parsed.segments))
    return clean_document(parsed)  # no NUL, controls, bidi overrides or lone surrogates; one-line metadata


def _enrich_from_jats(parsed: ParsedDocument, xml: Path, collection: str) -> None:
    try:
        meta = parse_jats(xml, collection=collection)
    except MedEmbedError as exc:
        logger.warning("Ignoring metadata in %s: %s", xml, exc)
        return
    for key in ("title", "authors", "journal", "year", "doi", "pmcid", "article_type", "subjects"):
        if getattr(meta, key):
            setattr(parsed, key, getattr(meta, key))
    design = detect_document(meta)  # the JATS abstract is marked; the PDF's first pages are only a stand-in
    parsed.study_type, parsed.study_evidence = design.study_type, design.evidence
