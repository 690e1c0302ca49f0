"""``kill -9`` during ingest and during index building, at random points, many times: after every kill the store
and every index are consistent, and a rerun completes the work without duplicates.

``MEDEMBED_KILLS`` sets the number of kills (default 20: 10 during ingest, 10 during indexing); by hand, e.g.
``MEDEMBED_KILLS=200 pytest -s tests/test_faults_kill.py``.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from figures import record
from hostile_pdfs import TEST_PDFS, text_pdf
from sqlalchemy import func, select

from indexer.index.local.bm25 import BM25Index
from indexer.index.local.dense import DenseIndex
from indexer.index.versioned import current_version, read_manifest
from search_app.searcher import Searcher
from store import Store
from store.tables import ChunkRow, DocumentRow
from tests.conftest import suite_settings

REPO = Path(__file__).resolve().parents[1]
KILLS = int(os.environ.get("MEDEMBED_KILLS", "20"))
TOPICS = ["asthma inhalers", "gout colchicine", "sepsis antibiotics", "stroke thrombolysis", "anaemia iron"]


class Zygote:
    """Drives ``tests/kill_zygote.py``: fork a job, kill it, reap it."""

    def __init__(self, log: Path) -> None:
        self.log = open(log, "w")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen([sys.executable, str(REPO / "tests" / "kill_zygote.py")], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log, text=True, cwd=REPO)
        assert json.loads(self.proc.stdout.readline())["ready"]

    def _ask(self, request: dict) -> dict:
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def run(self, job: str, home: Path, files: list[Path], kill_after: float | None) -> dict:
        """Start ``job``; SIGKILL it after ``kill_after`` seconds (None: let it finish). Returns the wait status."""
        pid = self._ask({"job": job, "home": str(home), "files": [str(f) for f in files]})["pid"]
        if kill_after is not None:
            time.sleep(kill_after)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return self._ask({"wait": pid})

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
        self.log.close()


def check_consistent(home: Path, complete: bool) -> dict[str, int]:
    """The store has no half-written document, and every index's live version loads, holds unique ids that all
    exist in the store (``complete``: exactly the store's chunk ids)."""
    settings = suite_settings().with_home(home)
    store = Store.from_settings(settings)
    with store.session() as s:
        docs = s.execute(select(DocumentRow.id, DocumentRow.sha256)).all()
        per_doc = dict(s.execute(select(ChunkRow.document_id, func.count(ChunkRow.id))
                                 .group_by(ChunkRow.document_id)).all())
        ordinals = s.execute(select(ChunkRow.document_id, ChunkRow.ordinal)).all()
    assert len({sha for _, sha in docs}) == len(docs), "a document stored twice"
    assert all(per_doc.get(doc_id, 0) > 0 for doc_id, _ in docs), "a document without its chunks (half-written)"
    by_doc: dict[int, list[int]] = {}
    for doc_id, ordinal in ordinals:
        by_doc.setdefault(doc_id, []).append(ordinal)
    assert all(sorted(o) == list(range(len(o))) for o in by_doc.values()), "missing or duplicate chunk ordinals"
    chunk_ids = set(store.chunk_ids())
    store.close()
    sizes = {"documents": len(docs), "chunks": len(chunk_ids)}
    for name in ("bm25", "dense-minilm"):
        root = settings.paths.index_dir / name
        version = current_version(root)
        if version is None:
            assert not complete, f"{name}: no index after a complete run"
            continue
        _, manifest = read_manifest(root)
        ids = np.load(version / manifest["ids_file"])
        loaded = BM25Index.load(version) if name == "bm25" else DenseIndex.load(version, manifest["dimension"])
        assert len(loaded) == len(ids) == manifest["n_chunks"], f"{name}: manifest and index disagree"
        assert len(set(ids.tolist())) == len(ids), f"{name}: duplicate chunk ids"
        assert set(ids.tolist()) <= chunk_ids, f"{name}: indexed chunks missing from the store"
        if complete:
            assert set(ids.tolist()) == chunk_ids, f"{name}: store chunks missing from the index"
        sizes[name] = len(ids)
    return sizes


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """One committed paper and seven small generated ones (about 35 chunks: a full index build takes seconds)."""
    folder = tmp_path_factory.mktemp("kill-corpus")
    made = [text_pdf(folder / f"topic{i}.pdf", f"A review of {t}", [f"Evidence on {t}: trials and cohorts. " * 12])
            for i, t in enumerate(TOPICS)]
    return [TEST_PDFS / "PMC4738698.pdf", *made]


def test_kill_9_during_ingest_and_indexing_loses_nothing_and_duplicates_nothing(corpus: list[Path],
                                                                                 tmp_path: Path) -> None:
    """Episodes on fresh data folders: ingest is started and killed at a random point until a run finishes, then
    the same for indexing; after every kill the state is checked, after every episode it must equal a clean run."""
    rng = random.Random(int(os.environ.get("MEDEMBED_KILL_SEED", "7")))
    zygote = Zygote(tmp_path / "zygote.log")
    stats: Counter = Counter()
    try:
        reference = tmp_path / "reference"  # one clean, uninterrupted run, timed to place the kills
        start = time.perf_counter()
        assert zygote.run("ingest", reference, corpus, None)["exit"] == 0
        took = {"ingest": time.perf_counter() - start}
        start = time.perf_counter()
        assert zygote.run("index", reference, [], None)["exit"] == 0
        took["index"] = time.perf_counter() - start
        expected = check_consistent(reference, complete=True)

        episode = 0
        while stats["ingest_killed"] + stats["index_killed"] < KILLS:
            episode += 1
            home = tmp_path / f"home{episode}"
            for job in ("ingest", "index"):
                while True:
                    status = zygote.run(job, home, corpus, rng.uniform(0, 1.2 * took[job]))
                    killed = status["signal"] == signal.SIGKILL
                    assert killed or status["exit"] == 0, (job, status, (tmp_path / "zygote.log").read_text()[-2000:])
                    stats[f"{job}_killed" if killed else f"{job}_runs_finished"] += 1
                    check_consistent(home, complete=False)
                    if not killed:
                        break
            assert check_consistent(home, complete=True) == expected, "the reruns end where one clean run ends"
            shutil.rmtree(home)
        home = tmp_path / "last"
        for job in ("ingest", "index"):
            assert zygote.run(job, home, corpus, None)["exit"] == 0
    finally:
        zygote.close()
    hits = Searcher.from_settings(suite_settings().with_home(home), "hybrid:minilm").search("gout colchicine", 3)
    assert hits and hits[0].title == "A review of gout colchicine"
    record("faults_kill9", {"kills": stats["ingest_killed"] + stats["index_killed"], "episodes": episode, **stats,
                            "clean_ingest_s": round(took["ingest"], 2), "clean_index_s": round(took["index"], 2),
                            "final": expected})
