"""Reading BEIR-format folders (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``) and JSONL files.

Plain file reading with no heavy dependencies, shared by ``indexer`` (corpus ingestion, evaluation) and ``trainer``
(triplets from qrels). Any JSONL file may be gzip (``.gz``) or xz (``.xz``) compressed.
"""

from __future__ import annotations

import csv
import gzip
import json
import lzma
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from medcore.errors import DatasetError

CORPUS = "corpus.jsonl"
QUERIES = "queries.jsonl"


def open_text(path: Path, mode: str = "rt") -> IO[str]:
    """Open a text file, compressed when its name ends in ``.gz`` or ``.xz`` (appending adds a member/stream)."""
    if str(path).endswith(".gz"):
        return gzip.open(path, mode, encoding="utf-8")  # type: ignore[return-value]
    if str(path).endswith(".xz"):
        return lzma.open(path, mode, encoding="utf-8")  # type: ignore[return-value]
    return open(path, mode.replace("t", ""), encoding="utf-8")


def read_jsonl(path: Path) -> Iterator[dict]:
    """Rows of a JSONL file; a missing file or a bad line raises a DatasetError naming file and line."""
    if not path.is_file():
        raise DatasetError(f"{path} is missing; a BEIR folder has corpus.jsonl, queries.jsonl, qrels/<split>.tsv.")
    with open_text(path) as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}:{n} is not valid JSON ({exc.msg}); fix or remove that line.") from None


def data_file(dataset_dir: Path, name: str) -> Path:
    """``dataset_dir/name``, or its compressed twin (``.gz``, ``.xz``) when only that exists."""
    for candidate in (dataset_dir / name, dataset_dir / f"{name}.gz", dataset_dir / f"{name}.xz"):
        if candidate.is_file():
            return candidate
    return dataset_dir / name


def is_beir_dir(path: Path) -> bool:
    return path.is_dir() and data_file(path, CORPUS).is_file()


def load_queries(dataset_dir: Path) -> dict[str, str]:
    """``{query_id: text}``."""
    return {str(r["_id"]): str(r.get("text", "")) for r in read_jsonl(data_file(dataset_dir, QUERIES))}


def load_qrels(dataset_dir: Path, split: str) -> dict[str, dict[str, int]]:
    """``{query_id: {doc_id: relevance}}`` from ``qrels/<split>.tsv`` (a header row is skipped)."""
    path = dataset_dir / "qrels" / f"{split}.tsv"
    if not path.is_file():
        found = sorted(p.stem for p in (dataset_dir / "qrels").glob("*.tsv"))
        raise DatasetError(f"No qrels for split '{split}' at {path}; splits here: {found or 'none'}.")
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8", newline="") as fh:
        for n, row in enumerate(csv.reader(fh, delimiter="\t")):
            if len(row) < 3 or (n == 0 and not row[-1].strip().lstrip("-").isdigit()):
                continue
            qrels.setdefault(row[0].strip(), {})[row[1].strip()] = int(row[-1].strip())
    return qrels
