"""Parsing one file into a :class:`ParsedDocument`: PDF or JATS XML, a sibling JATS file's metadata, the study
design and abbreviations found in it, and the text cleaned. Runs in the parser child (:mod:`indexer.parse.worker`)
or, with ``ingest.timeout_s = 0``, in the ingesting process."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from indexer.parse.document import ParsedDocument
from indexer.parse.jats import parse_jats
from indexer.parse.kinds import FILE_KINDS, companion_suffixes, kind_of
from indexer.parse.textclean import clean_document
from indexer.text.abbreviations import extract_pairs
from indexer.text.study_design import detect_document
from medcore.errors import IngestError, MedEmbedError

logger = logging.getLogger(__name__)

#: What a JATS file beside a PDF supplies (it is more reliable than what the PDF's pages give).
JATS_METADATA = ("title", "authors", "journal", "year", "doi", "pmcid", "article_type", "subjects")


def parse_file(path: Path, collection: str, sha256: str | None = None) -> ParsedDocument:
    """Parse one PDF or JATS XML file; a sibling JATS file fills in the PDF's metadata. ``sha256``: the file's,
    when the caller hashed it already."""
    # a file of no known kind goes to the PDF parser, which says what is wrong with it (not a PDF, empty, ...)
    kind = kind_of(path) or FILE_KINDS["pdf"]
    if kind.enriches is None and not path.is_file():
        raise IngestError(f"{path}: no such file.")
    parsed = kind.parse(path, collection, sha256)
    for sibling in (path.with_suffix(s) for s in companion_suffixes(kind.name)):
        if sibling.is_file():
            parsed = _enrich_from_jats(parsed, sibling, collection)
            break
    if parsed.file_path:  # the app opens it later, from any directory
        parsed = replace(parsed, file_path=str(Path(parsed.file_path).resolve()))
    if parsed.study_type is None:
        design = detect_document(parsed, use_model=False)  # the ingesting process runs the model (one load)
        parsed = replace(parsed, study_type=design.study_type, study_evidence=design.evidence)
    parsed = replace(parsed, abbreviations=extract_pairs("\n\n".join(s.text for s in parsed.segments)))
    return clean_document(parsed)  # no NUL, controls, bidi overrides or lone surrogates; one-line metadata


def _enrich_from_jats(parsed: ParsedDocument, xml: Path, collection: str) -> ParsedDocument:
    try:
        meta = parse_jats(xml, collection=collection)
    except MedEmbedError as exc:
        logger.warning("Ignoring metadata in %s: %s", xml, exc)
        return parsed
    found = {key: getattr(meta, key) for key in JATS_METADATA if getattr(meta, key)}
    # The JATS abstract is marked; the PDF's first pages are only a stand-in. Phrases only here, in the parser
    # child: the ingesting process reads undecided abstracts with the model (loaded once there).
    design = detect_document(meta, use_model=False)
    return replace(parsed, **found, study_type=design.study_type, study_evidence=design.evidence)
