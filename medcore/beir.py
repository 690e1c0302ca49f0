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

#: ``{query_id: {doc_id: graded relevance}}``
Qrels = dict[str, dict[str, int]]


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
    """``{query_id: text}`` from the folder's ``queries.jsonl`` (or its compressed twin)."""
    path = data_file(dataset_dir, QUERIES)
    if not path.is_file():
        raise DatasetError(f"{path} is missing; a BEIR folder has corpus.jsonl, queries.jsonl, qrels/<split>.tsv.")
    with open_text(path) as fh:
        return parse_queries_jsonl(fh.read(), where=str(path))


def splits(dataset_dir: Path) -> list[str]:
    """The splits a BEIR folder has judgements for (``qrels/<split>.tsv``), sorted."""
    return sorted(p.stem for p in (dataset_dir / "qrels").glob("*.tsv"))


def default_split(dataset_dir: Path, preferred: str = "test") -> str:
    """``preferred`` where the folder has it, else its only split (a sample with just ``dev``); else an error that
    lists the splits to choose from with ``--split``."""
    found = splits(dataset_dir)
    if preferred in found or not found:
        return preferred
    if len(found) == 1:
        return found[0]
    raise DatasetError(f"{dataset_dir} has no '{preferred}' split; choose one with --split: {', '.join(found)}.")


def load_qrels(dataset_dir: Path, split: str) -> Qrels:
    """``{query_id: {doc_id: relevance}}`` from ``qrels/<split>.tsv``."""
    path = dataset_dir / "qrels" / f"{split}.tsv"
    if not path.is_file():
        found = splits(dataset_dir)
        raise DatasetError(f"No qrels for split '{split}' at {path}; splits here: {found or 'none'}.")
    return parse_qrels_tsv(path.read_text(encoding="utf-8"), where=str(path))


def parse_qrels_tsv(text: str, where: str = "qrels") -> Qrels:
    """BEIR qrels text (``query-id<TAB>corpus-id<TAB>score``, optional header, or TREC's 4 columns) as qrels; the
    one qrels reader, for dataset folders and uploaded files alike.

    Raises:
        DatasetError: a row whose last column is not an integer grade (naming ``where`` and the line), or no rows.
    """
    qrels: Qrels = {}
    for n, row in enumerate(csv.reader(text.splitlines(), delimiter="\t"), 1):
        if not row or not "".join(row).strip():
            continue
        grade = row[-1].strip()
        if n == 1 and not grade.lstrip("-").isdigit():
            continue  # header
        if len(row) < 3 or not grade.lstrip("-").isdigit():
            raise DatasetError(f"{where} line {n}: expected 'query-id<TAB>corpus-id<TAB>score' with an integer "
                               f"score, got {chr(9).join(row)[:80]!r}.")
        qrels.setdefault(row[0].strip(), {})[row[1].strip()] = int(grade)
    if not qrels:
        raise DatasetError(f"The {where} file has no judgements; expected lines 'query-id<TAB>corpus-id<TAB>score'.")
    return qrels


def parse_queries_jsonl(text: str, where: str = "queries") -> dict[str, str]:
    """BEIR ``queries.jsonl`` text as ``{qid: text}``; the one queries reader.

    Raises:
        DatasetError: a line that is not a JSON object with ``_id`` (naming ``where`` and the line).
    """
    out = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            out[str(row["_id"])] = str(row.get("text", ""))
        except (json.JSONDecodeError, KeyError, TypeError):
            raise DatasetError(f"{where} line {n}: expected a JSON object with '_id' and 'text'.") from None
    return out
