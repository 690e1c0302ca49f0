"""Plain data the trainer reads and writes: passages, small BEIR folders, and triplet JSONL files.

The trainer may not import ``indexer`` (imports go ``trainer -> medcore``), so BEIR folders are read here with a
few lines of their own. Any JSONL file here may be compressed (``corpus.jsonl.gz`` or ``.xz``) so that data
travels small to a GPU machine: xz shrinks triplet files about 10x, as their passages repeat across the file.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from medcore.beir import CORPUS, data_file, load_qrels, load_queries, read_jsonl
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
        """What retrieval embeds for this passage (title, newline, text), as ``indexer.index.layout.index_text``
        does."""
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
        out.append(Passage(str(chunk.id), doc.key, chunk.text, doc.title))
    return sorted(out, key=lambda p: (p.doc_id, p.id))


def sample_passages(passages: list[Passage], n: int | None, seed: int = 42, min_chars: int = 200) -> list[Passage]:
    """Up to ``n`` passages of at least ``min_chars`` characters, drawn without replacement (stable for a seed).

    A larger ``n`` with the same seed draws the smaller draw first and then more, so a resumed run asked for more
    passages keeps what it already has."""
    pool = [p for p in passages if len(p.text) >= min_chars]
    if n is None or n >= len(pool):
        return pool
    random.Random(seed).shuffle(pool)
    return pool[:n]


@dataclass(frozen=True)
class BeirData:
    """A BEIR split in memory: ``corpus {doc_id: Passage}``, ``queries {qid: text}``, ``qrels {qid: {doc: rel}}``."""

    name: str
    split: str
    corpus: dict[str, Passage]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def read_beir(folder: Path, split: str) -> BeirData:
    """Load a BEIR folder's corpus, queries and one split's qrels."""
    folder = Path(folder)
    corpus = {}
    for row in read_jsonl(data_file(folder, CORPUS)):
        did = str(row["_id"])
        text, title = (row.get("text") or "").strip(), (row.get("title") or "").strip() or None
        corpus[did] = Passage(did, did, text or title or "", title if text else None)
    return BeirData(folder.resolve().name, split, corpus, load_queries(folder), load_qrels(folder, split))


def triplets_from_pairs(path: Path) -> list[Triplet]:
    """Triplets from a JSONL file of question pairs ``{"query", "positive", "negative"?, "source_id"?}`` (such as
    the Curai medical question pairs: a question, a doctor's paraphrase and a related but different question);
    the source is ``pairs:<folder name>``."""
    path = Path(path)
    name = path.parent.name if path.name.startswith("pairs.") else path.name.split(".")[0]
    out = []
    for n, row in enumerate(read_jsonl(path), 1):
        query, pos, neg = (str(row.get(k) or "").strip() for k in ("query", "positive", "negative"))
        if not query or not pos:
            raise DatasetError(f"{path}: row {n} needs a non-empty 'query' and 'positive'.")
        qid = str(row.get("source_id") or f"{name}:{n}")
        out.append(Triplet(query, pos, neg, qid, f"{qid}:pos", f"{qid}:neg" if neg else "", "qrels", f"pairs:{name}",
                           "dataset" if neg else ""))
    return out


def read_triplets(path: Path) -> list[Triplet]:
    """All triplets of a JSONL file (``.gz`` too)."""
    return [Triplet.from_json(row) for row in read_jsonl(Path(path))]
