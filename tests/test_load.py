"""Load: 16 threads search one shared Searcher for a bounded time (``MEDEMBED_LOAD_SECONDS``, default 20) while
``medembed index --rebuild`` rebuilds both indexes in another process, again and again. No errors, no wrong results
(each query's hits equal its single-threaded hits), latency reported. A longer memory soak by hand:
``python benchmarks/soak.py --minutes 30``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from figures import record

from search_app.searcher import Searcher
from tests.conftest import SUITE_ENV

SECONDS = float(os.environ.get("MEDEMBED_LOAD_SECONDS", "20"))
THREADS = 16
QUERIES = ["methemoglobinemia in pregnancy", "tularemia after a coyote bite", "intracerebral hemorrhage children",
           "methylene blue dose", "francisella tularensis antibiotics", "stroke in childhood causes",
           "cyanosis and low oxygen saturation", "gentamicin treatment"]


def _reindex_forever(home: Path, stop: threading.Event, runs: list[int], log: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDEMBED_")}
    env |= SUITE_ENV | {"MEDEMBED_HOME": str(home)}
    script = Path(sys.executable).with_name("medembed")
    cmd = [str(script)] if script.is_file() else [sys.executable, "-m", "cli"]
    with open(log, "ab") as out:
        while not stop.is_set():
            code = subprocess.run([*cmd, "-q", "index", "--model", "minilm", "--rebuild"], env=env, stdout=out,
                                  stderr=subprocess.STDOUT, timeout=300).returncode
            runs.append(code)


def test_16_threads_search_while_a_reindex_runs(library_home, tmp_path: Path) -> None:  # noqa: ANN001 - Settings
    home = tmp_path / "home"
    shutil.copytree(library_home.paths.home, home)
    settings = library_home.with_home(home)
    searcher = Searcher.from_settings(settings, "hybrid:minilm")
    expected = {q: [h.chunk_id for h in searcher.search(q, 5)] for q in QUERIES}

    stop, runs, errors, wrong = threading.Event(), [], [], []
    latencies: list[float] = []
    swaps: list[float] = []  # index versions picked up while searching
    lock = threading.Lock()

    def worker(n: int) -> None:
        i = n
        while not stop.is_set():
            query = QUERIES[i % len(QUERIES)]
            i += 1
            start = time.perf_counter()
            try:
                if searcher.refresh():
                    with lock:
                        swaps.append(time.perf_counter())
                got = [h.chunk_id for h in searcher.search(query, 5)]
            except Exception as exc:  # noqa: BLE001 - every error is a finding
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
                continue
            with lock:
                latencies.append(time.perf_counter() - start)
                if got != expected[query]:
                    wrong.append((query, got, expected[query]))

    reindexer = threading.Thread(target=_reindex_forever, args=(home, stop, runs, tmp_path / "index.log"))
    reindexer.start()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    time.sleep(SECONDS)
    stop.set()
    for t in threads:
        t.join(timeout=120)
    reindexer.join(timeout=300)
    assert not errors, errors[:5]
    assert not wrong, wrong[:3]
    assert runs and all(code == 0 for code in runs), (runs, (tmp_path / "index.log").read_text()[-2000:])
    assert len(latencies) > THREADS and swaps, "the searchers picked up at least one rebuilt index"
    ms = np.array(latencies) * 1000
    record("load_16_threads", {"threads": THREADS, "seconds": SECONDS, "requests": len(latencies), "errors": 0,
                               "wrong_results": 0, "reindex_runs_completed": len(runs),
                               "index_swaps_seen": len(swaps),
                               "latency_ms_p50": round(float(np.percentile(ms, 50)), 1),
                               "latency_ms_p95": round(float(np.percentile(ms, 95)), 1),
                               "latency_ms_max": round(float(ms.max()), 1)})
