"""A pre-loaded process that forks one ingest or index job per request, so a test can ``kill -9`` jobs at random
points many times without paying Python, torch and MiniLM start-up for each one.

Protocol (JSON lines): request ``{"job": "ingest"|"index", "home": DIR, "files": [...]}`` -> ``{"pid": N}``; then
``{"wait": N}`` -> ``{"pid": N, "exit": code, "signal": sig}``. Run as ``python tests/kill_zygote.py``.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

torch.set_num_threads(1)  # no OpenMP pool before fork: a forked child then starts its own safely

from indexer.encode.embedder import Embedder  # noqa: E402
from indexer.index.build import build_indexes  # noqa: E402
from indexer.ingest import Ingestor  # noqa: E402
from medcore.config import Settings  # noqa: E402
from store import Store  # noqa: E402

EMBEDDER = Embedder.load("minilm")


def _settings(home: str) -> Settings:
    settings = Settings.from_toml(None).with_home(Path(home))
    return replace(settings, ingest=replace(settings.ingest, timeout_s=0))  # parse in the job process itself


def _run(request: dict) -> None:
    settings = _settings(request["home"])
    store = Store.from_settings(settings)
    if request["job"] == "ingest":
        Ingestor(store, settings).ingest([Path(p) for p in request["files"]], show_progress_bar=False)
    else:
        build_indexes(store, settings, model="minilm", embedder=EMBEDDER, show_progress_bar=False)


def main() -> None:
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        if "wait" in request:
            _, status = os.waitpid(request["wait"], 0)
            reply = {"pid": request["wait"], "exit": os.waitstatus_to_exitcode(status),
                     "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None}
            print(json.dumps(reply), flush=True)
            continue
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                _run(request)
            except BaseException as exc:  # noqa: BLE001 - reported through the exit code
                print(f"job failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
                code = 3
            os._exit(code)
        print(json.dumps({"pid": pid}), flush=True)


if __name__ == "__main__":
    main()
