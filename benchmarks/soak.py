"""Memory soak, run by hand: search one shared Searcher from N threads for a long time and sample the process RSS,
to show memory is stable (no growth after warm-up).

    python benchmarks/soak.py --minutes 30 --threads 16 [--home medembed-data] [--retriever hybrid:minilm]

Prints one JSON line per sample ``{"t_s", "requests", "rss_mb"}`` and a summary with the RSS growth after warm-up.
Needs an indexed library (``medembed ingest`` + ``medembed index``) under ``--home`` (default ``MEDEMBED_HOME``).
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
import time
from pathlib import Path

import psutil

from medcore.config import Settings
from search_app.searcher import Searcher

logger = logging.getLogger(__name__)
QUERIES = ["methemoglobinemia in pregnancy", "tularemia after a coyote bite", "statin myopathy", "vitamin D",
           "intracerebral hemorrhage children", "first-line treatment of hypothyroidism", "sepsis antibiotics"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--retriever", default="hybrid:minilm")
    parser.add_argument("--sample-s", type=float, default=30)
    args = parser.parse_args()
    settings = Settings.load() if args.home is None else Settings.load().with_home(args.home)
    searcher = Searcher.from_settings(settings, args.retriever)
    stop, count, lock = threading.Event(), [0], threading.Lock()

    def worker(n: int) -> None:
        i = n
        while not stop.is_set():
            searcher.refresh()
            searcher.search(QUERIES[i % len(QUERIES)] + f" {i % 97}", 10)
            i += 1
            with lock:
                count[0] += 1

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(args.threads)]
    for t in threads:
        t.start()
    proc, start, samples = psutil.Process(), time.monotonic(), []
    while time.monotonic() - start < args.minutes * 60:
        time.sleep(args.sample_s)
        samples.append({"t_s": round(time.monotonic() - start), "requests": count[0],
                        "rss_mb": round(proc.memory_info().rss / 2**20, 1)})
        print(json.dumps(samples[-1]), flush=True)  # noqa: T201 - the script's output
    stop.set()
    warm = samples[len(samples) // 5:] or samples
    print(json.dumps({"threads": args.threads, "minutes": args.minutes, "requests": count[0],  # noqa: T201
                      "rss_mb_after_warmup": warm[0]["rss_mb"], "rss_mb_end": samples[-1]["rss_mb"],
                      "rss_mb_max": max(s["rss_mb"] for s in samples),
                      "growth_mb_after_warmup": round(samples[-1]["rss_mb"] - warm[0]["rss_mb"], 1)}))


if __name__ == "__main__":
    main()
