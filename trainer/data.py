"""Plain data the trainer reads and writes: passages, small BEIR folders, and triplet JSONL files.

The trainer may not import ``indexer`` (imports go ``trainer -> medcore``), so BEIR folders are read here with a
few lines of their own. Any JSONL file here may be compressed (``corpus.jsonl.gz`` or ``.xz``) so that data
travels small to a GPU machine: xz shrinks triplet files about 10x, as their passages repeat across the file.
"""

from __future__ import annotations

import csv
import gzip
import json
import lzma
import random
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import IO

from medcore.errors import DatasetError
from medcore.types import Chunk, Document


@dataclass(frozen=True)
class Passage:
    """One retrievable text: a store chunk or a BEIR document.

    Attributes:
        id: the passage id (store chunk id, or BEIR ``_id``); becomes ``pos_id``/``neg_id`` in triplets.
        doc_id: the document it belongs to; negatives never come from the positive's document.
        text: the passage text; title: its document title, if any.
    """

    id: str
    doc_id: str
    text: str
    title: str | None = None

    @property
    def indexed_text(self) -> str:
        """What retrieval embeds for this passage (title, newline, text), as ``indexer.build.index_text`` does."""
        return f"{self.title}\n{self.text}" if self.title else self.text


@dataclass(frozen=True)
class Triplet:
    """One training example: ``query`` should rank ``pos`` above ``neg``.

    ``kind`` is the query kind (``keyword``, ``question``, ``clinical``, or ``qrels``); ``source`` says where the
    query came from (``llm:<model>`` or ``qrels:<dataset>/<split>``); ``neg_source`` how the negative was found
    (``bm25``, ``dense``, ``bm25+dense`` or ``llm``).
    """

    query: str
    pos: str
    neg: str
    query_id: str
    pos_id: str
    neg_id: str
    kind: str
    source: str
    neg_source: str = ""

    def to_json(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_json(cls, row: dict) -> Triplet:
        missing = [f.name for f in fields(cls) if f.name != "neg_source" and f.name not in row]
        if missing:
            raise DatasetError(f"A triplet lacks the field(s) {missing}; expected {[f.name for f in fields(cls)]}.")
        return cls(**{f.name: str(row.get(f.name, "")) for f in fields(cls)})


def open_text(path: Path, mode: str = "rt") -> IO[str]:
    """Open a text file, compressed when its name ends in ``.gz`` or ``.xz`` (appending adds a member/stream)."""
    if str(path).endswith(".gz"):
        return gzip.open(path, mode, encoding="utf-8")  # type: ignore[return-value]
    if str(path).endswith(".xz"):
        return lzma.open(path, mode, encoding="utf-8")  # type: ignore[return-value]
    return open(path, mode.replace("t", ""), encoding="utf-8")


def read_jsonl(path: Path) -> Iterator[dict]:
    """Rows of a JSONL file (optionally ``.gz``); a bad line raises a DatasetError naming file and line."""
    if not path.is_file():
        raise DatasetError(f"{path} does not exist.")
    with open_text(path) as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}:{n} is not valid JSON ({exc.msg}); fix or remove that line.") from None


def read_passages(path: Path) -> list[Passage]:
    """Passages from a JSONL file of ``{"id" (or "_id"), "text", "doc_id"?, "title"?}`` rows."""
    out = []
    for n, row in enumerate(read_jsonl(path), 1):
        pid = row.get("id", row.get("_id"))
        if pid is None or not str(row.get("text") or "").strip():
            raise DatasetError(f"{path}: row {n} needs an 'id' (or '_id') and a non-empty 'text'.")
        doc_id, title = str(row.get("doc_id") or pid), row.get("title") or None
        out.append(Passage(str(pid), doc_id, str(row["text"]).strip(), title))
    return out


def passages_from_chunks(pairs: Iterable[tuple[Chunk, Document]]) -> list[Passage]:
    """Store chunks (as ``Store.get_chunks`` returns them) as passages; the document key is the external id."""
    out = []
    for chunk, doc in pairs:
        key = doc.external_id if doc.external_id is not None else str(doc.id)
        out.append(Passage(str(chunk.id), key, chunk.text, doc.title))
    return sorted(out, key=lambda p: (p.doc_id, p.id))


def sample_passages(passages: list[Passage], n: int | None, seed: int = 42, min_chars: int = 200) -> list[Passage]:
    """Up to ``n`` passages of at least ``min_chars`` characters, drawn without replacement (stable for a seed)."""
    pool = [p for p in passages if len(p.text) >= min_chars]
    if n is None or n >= len(pool):
        return pool
    return random.Random(seed).sample(pool, n)


@dataclass(frozen=True)
class BeirData:
    """A BEIR split in memory: ``corpus {doc_id: Passage}``, ``queries {qid: text}``, ``qrels {qid: {doc: rel}}``."""

    name: str
    split: str
    corpus: dict[str, Passage]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def _beir_file(folder: Path, name: str) -> Path:
    for candidate in (folder / name, folder / f"{name}.gz", folder / f"{name}.xz"):
        if candidate.is_file():
            return candidate
    raise DatasetError(f"{folder} has no {name} (or {name}.gz, .xz); a BEIR folder holds corpus.jsonl, "
                       "queries.jsonl and qrels/<split>.tsv.")


def read_qrels(folder: Path, split: str) -> dict[str, dict[str, int]]:
    """``{qid: {doc_id: relevance}}`` from ``qrels/<split>.tsv`` (header row skipped)."""
    path = folder / "qrels" / f"{split}.tsv"
    if not path.is_file():
        found = sorted(p.stem for p in (folder / "qrels").glob("*.tsv"))
        raise DatasetError(f"No qrels for split '{split}' at {path}; splits here: {found or 'none'}.")
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8", newline="") as fh:
        for n, row in enumerate(csv.reader(fh, delimiter="\t")):
            if len(row) < 3 or (n == 0 and not row[-1].strip().lstrip("-").isdigit()):
                continue
            qrels.setdefault(row[0].strip(), {})[row[1].strip()] = int(row[-1].strip())
    return qrels


def read_beir(folder: Path, split: str) -> BeirData:
    """Load a BEIR folder's corpus, queries and one split's qrels."""
    folder = Path(folder)
    corpus = {}
    for row in read_jsonl(_beir_file(folder, "corpus.jsonl")):
        did = str(row["_id"])
        text, title = (row.get("text") or "").strip(), (row.get("title") or "").strip() or None
        corpus[did] = Passage(did, did, text or title or "", title if text else None)
    queries = {str(r["_id"]): str(r.get("text", "")) for r in read_jsonl(_beir_file(folder, "queries.jsonl"))}
    return BeirData(folder.resolve().name, split, corpus, queries, read_qrels(folder, split))


def read_triplets(path: Path) -> list[Triplet]:
    """All triplets of a JSONL file (``.gz`` too)."""
    return [Triplet.from_json(row) for row in read_jsonl(Path(path))]
