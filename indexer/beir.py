"""BEIR-format datasets: ``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``."""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path

from indexer.parsed import ParsedDocument, Segment
from medcore.errors import DatasetError

logger = logging.getLogger(__name__)

CORPUS = "corpus.jsonl"
QUERIES = "queries.jsonl"


def data_file(dataset_dir: Path, name: str) -> Path:
    """``dataset_dir/name``, or its gzipped twin ``name.gz`` when only that exists."""
    plain = dataset_dir / name
    gz = dataset_dir / f"{name}.gz"
    return gz if not plain.is_file() and gz.is_file() else plain


def is_beir_dir(path: Path) -> bool:
    return path.is_dir() and data_file(path, CORPUS).is_file()


def _read_jsonl(path: Path) -> Iterator[dict]:
    if not path.is_file():
        raise DatasetError(f"{path} is missing; a BEIR folder has corpus.jsonl, queries.jsonl, qrels/<split>.tsv.")
    with gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}:{n} is not valid JSON ({exc.msg}); fix or remove that line.") from None


def iter_corpus(dataset_dir: Path, collection: str | None = None) -> Iterator[ParsedDocument]:
    """Each corpus entry as a one-segment document whose ``external_id`` is the BEIR ``_id``."""
    collection = collection or dataset_dir.resolve().name
    corpus = data_file(dataset_dir, CORPUS)
    for row in _read_jsonl(corpus):
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


def load_queries(dataset_dir: Path) -> dict[str, str]:
    """``{query_id: text}``."""
    return {str(r["_id"]): r.get("text", "") for r in _read_jsonl(data_file(dataset_dir, QUERIES))}


def load_qrels(dataset_dir: Path, split: str) -> dict[str, dict[str, int]]:
    """``{query_id: {doc_id: relevance}}`` from ``qrels/<split>.tsv`` (header row skipped)."""
    path = dataset_dir / "qrels" / f"{split}.tsv"
    if not path.is_file():
        found = sorted(p.stem for p in (dataset_dir / "qrels").glob("*.tsv"))
        raise DatasetError(f"No qrels for split '{split}' at {path}; splits here: {found or 'none'}.")
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8", newline="") as fh:
        for n, row in enumerate(csv.reader(fh, delimiter="\t")):
            if n == 0 and row and not row[-1].strip().lstrip("-").isdigit():
                continue
            if len(row) < 3:
                continue
            qid, did, score = row[0].strip(), row[1].strip(), int(row[-1].strip())
            qrels.setdefault(qid, {})[did] = score
    return qrels
