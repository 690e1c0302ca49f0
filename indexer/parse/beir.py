"""BEIR corpora as documents for the store (the file readers are :mod:`medcore.beir`)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

from indexer.parse.document import ParsedDocument, Segment
from medcore.beir import CORPUS, data_file, read_jsonl
from medcore.errors import DatasetError

logger = logging.getLogger(__name__)


def iter_corpus(dataset_dir: Path, collection: str | None = None) -> Iterator[ParsedDocument]:
    """Each corpus entry as a one-segment document whose ``external_id`` is the BEIR ``_id``."""
    collection = collection or dataset_dir.resolve().name
    corpus = data_file(dataset_dir, CORPUS)
    for row in read_jsonl(corpus):
        if "_id" not in row:
            raise DatasetError(f"{corpus}: an entry has no '_id' field.")
        doc_id, title, text = str(row["_id"]), (row.get("title") or "").strip(), (row.get("text") or "").strip()
        digest = hashlib.sha256(f"beir\0{collection}\0{doc_id}\0{title}\0{text}".encode()).hexdigest()
        yield ParsedDocument(
            source="beir",
            collection=collection,
            sha256=digest,
            external_id=doc_id,
            title=title or None,
            segments=[Segment(text=text)] if text else [Segment(text=title)],
            file_path=str(corpus.resolve()),
        )

