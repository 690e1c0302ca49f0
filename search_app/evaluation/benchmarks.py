"""Where the benchmarks are and what each holds: BEIR folders under ``benchmarks.dir``, their splits, their size.

The Benchmark and Score pages and ``medembed eval`` find datasets here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from medcore.beir import CORPUS, QUERIES, data_file, is_beir_dir, open_text
from medcore.config import Settings

REPO = Path(__file__).resolve().parents[2]
#: When no folder is configured: the small benchmark shipped with the repository (a MedQuAD sample).
SAMPLE_BENCHMARKS_DIR = REPO / "samples" / "benchmarks"


def benchmarks_root(settings: Settings) -> Path | None:
    """``benchmarks.dir`` (env ``MEDEMBED_BENCHMARKS_DIR``) if set, else the sample shipped in
    ``samples/benchmarks`` when it is there."""
    if settings.benchmarks.dir is not None:
        return Path(settings.benchmarks.dir).expanduser()
    return SAMPLE_BENCHMARKS_DIR if SAMPLE_BENCHMARKS_DIR.is_dir() else None


@dataclass(frozen=True)
class Benchmark:
    """A BEIR folder: ``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``."""

    name: str
    path: Path
    splits: tuple[str, ...]


def find_benchmarks(root: Path | None) -> list[Benchmark]:
    """BEIR folders at ``root`` or directly below it, sorted by name; none when ``root`` is missing."""
    if root is None or not root.is_dir():
        return []
    folders = [root] if is_beir_dir(root) else sorted(p for p in root.iterdir() if is_beir_dir(p))
    out = []
    for folder in folders:
        splits = tuple(sorted(p.stem for p in (folder / "qrels").glob("*.tsv")))
        if splits and data_file(folder, QUERIES).is_file():
            out.append(Benchmark(folder.name, folder.resolve(), splits))
    return out


def preferred_split(splits: Sequence[str]) -> str:
    """``test`` if there, else ``dev``, else the first split."""
    return next((s for s in ("test", "dev") if s in splits), splits[0])


def corpus_size(dataset_dir: Path) -> int:
    """Documents in a BEIR corpus (lines of ``corpus.jsonl``), to warn before embedding a large one."""
    with open_text(data_file(dataset_dir, CORPUS)) as fh:
        return sum(1 for line in fh if line.strip())
