"""What the browser tests share: ``medembed ui`` in a subprocess on a free port, and Debian's Chromium."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WAIT_MS = 120_000


def require_browser() -> None:
    """Skip, saying how to fix it, unless Debian's Chromium and the playwright package are both here."""
    import pytest

    if not CHROMIUM.is_file():
        pytest.skip(f"needs Debian's Chromium at {CHROMIUM} (apt-get install chromium; never `playwright install`)")
    pytest.importorskip("playwright.sync_api", reason="needs the playwright package (pip install playwright)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def medembed_cmd() -> list[str]:
    """The installed ``medembed`` script of this interpreter, else ``python -m cli``."""
    script = Path(sys.executable).with_name("medembed")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "cli"]


def wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"medembed ui exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"medembed ui did not answer on {url} within {timeout_s:.0f} s:\n{log.read_text()[-3000:]}")


@contextlib.contextmanager
def running_ui(args: Sequence[str], env: Mapping[str, str], cwd: Path, log: Path,
               timeout_s: float = 90) -> Iterator[str]:
    """``medembed [args] ui --port P`` (``args`` may hold ``{port}``) until the block ends; yields its URL."""
    port = free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen([*medembed_cmd(), *(a.format(port=port) for a in args)], env=dict(env), cwd=cwd,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, log, timeout_s)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


@contextlib.contextmanager
def chromium() -> Iterator[object]:
    """A headless Debian Chromium driven by Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@contextlib.contextmanager
def new_tab(browser, height: int = 1400) -> Iterator[object]:  # noqa: ANN001 - a Playwright Browser
    """A page in a fresh browser context (no cookies); the context closes after the block."""
    context = browser.new_context(viewport={"width": 1400, "height": height})
    tab = context.new_page()
    tab.set_default_timeout(WAIT_MS)
    try:
        yield tab
    finally:
        context.close()
