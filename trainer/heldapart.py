"""Generated queries split by passage into training rows and a held-apart dev set on text that is not trained on.

The breadth dev set that chooses a training mix and its merge weights holds, beside the BEIR dev splits, queries an
LLM wrote for passages whose queries never reach training (:func:`trainer.adapt.split`, by the positive passage,
stable across machines). The dev part is written as a BEIR folder, so ``medembed train --dev`` and ``medembed merge
--dev`` read it like any other set: its corpus is every passage the generated files name (positives and mined
negatives), so the held-apart passages stand among related text.

    python -m trainer.heldapart data/generated/*.jsonl.gz --train OUT.jsonl --dev-folder DIR [--share 0.2]
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path

from trainer.adapt import split
from trainer.data import Triplet, read_triplets

logger = logging.getLogger(__name__)

#: The split the dev folder's judgements are written as (what ``build_dev_set`` reads by default).
DEV_SPLIT = "dev"


def write_split(files: Sequence[Path], train_out: Path, dev_folder: Path, share: float = 0.2,
                seed: int = 20261203) -> tuple[int, int]:
    """Write the training rows of ``files`` to ``train_out`` (JSONL) and the held-apart queries as a BEIR folder;
    ``(train rows, held-apart queries)``."""
    rows: list[Triplet] = [t for f in files for t in read_triplets(Path(f))]
    train, held = split(rows, share, seed)
    train_out.parent.mkdir(parents=True, exist_ok=True)
    _write_jsonl(train_out, (t.to_json() for t in train))
    corpus: dict[str, str] = {}
    for t in rows:
        corpus.setdefault(t.pos_id, t.pos)
        if t.neg_id and t.neg:
            corpus.setdefault(t.neg_id, t.neg)
    queries = {t.query_id: t.query for t in held}
    (dev_folder / "qrels").mkdir(parents=True, exist_ok=True)
    _write_jsonl(dev_folder / "corpus.jsonl", ({"_id": i, "title": "", "text": text} for i, text in corpus.items()))
    _write_jsonl(dev_folder / "queries.jsonl", ({"_id": q, "text": text} for q, text in queries.items()))
    with open(dev_folder / "qrels" / f"{DEV_SPLIT}.tsv", "w", encoding="utf-8") as out:
        out.write("query-id\tcorpus-id\tscore\n")
        out.writelines(f"{t.query_id}\t{t.pos_id}\t1\n" for t in held)
    logger.info("%d training rows -> %s; %d held-apart queries over %d passages -> %s", len(train), train_out,
                len(queries), len(corpus), dev_folder)
    return len(train), len(queries)


def _write_jsonl(path: Path, rows) -> None:  # noqa: ANN001 - any iterable of JSON-able dicts
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        out.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    tmp.replace(path)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path, help="generated triplet files (JSONL, .gz too)")
    parser.add_argument("--train", type=Path, required=True, help="where the training rows go (JSONL)")
    parser.add_argument("--dev-folder", type=Path, required=True, help="the held-apart dev set (a BEIR folder)")
    parser.add_argument("--share", type=float, default=0.2, help="share of passages held apart (default 0.2)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    write_split(args.files, args.train, args.dev_folder, args.share)


if __name__ == "__main__":
    main()
