"""The deployment end to end, without Docker: what ``docker compose up`` runs, as processes on this machine.

``medembed watch INBOX`` and ``medembed ui`` run as subprocesses against a fresh PostgreSQL database and one data
folder (as the indexer and app containers share the db and the medembed-home volume). Three real PDFs and a broken
file are dropped into the inbox; within 60 s the three are found by searching in the running app, through headless
Chromium like a person (or, where Chromium or Playwright is missing, through a Searcher on the same store and
indexes while the app answers its health check), and the broken file is in quarantine with its reason.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from library.watch import ERROR_SUFFIX
from medcore.config import Settings
from search_app.searcher import Searcher
from store import Store
from tests.conftest import SUITE_ENV, TEST_DATA, make_bad_pdfs, suite_settings
from tests.test_watch import EXPECTED, drop, inbox_files

pytestmark = pytest.mark.postgres

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DEADLINE_S = 60
SCREENSHOTS = Path(__file__).resolve().parents[1] / "screenshots"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _wait(what: str, ok, procs: dict[str, tuple[subprocess.Popen, Path]], timeout_s: float) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout_s
    while not ok():
        for name, (proc, log) in procs.items():
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {n}:\n{log.read_text()[-2000:]}" for n, (_, log) in procs.items())
            raise AssertionError(f"{what}: not within {timeout_s:.0f} s\n{logs}")
        time.sleep(0.25)


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    script = Path(sys.executable).with_name("medembed")
    cmd = [str(script)] if script.is_file() else [sys.executable, "-m", "cli"]
    with open(log, "wb") as out:
        return subprocess.Popen([*cmd, *args], env=env, cwd=log.parent, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    with __import__("contextlib").suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.fixture
def deployment(tmp_path: Path, pg_url: str) -> Iterator[dict]:
    """The watcher and the app running on one fresh PostgreSQL database and one data folder."""
    home, inbox = tmp_path / "home", tmp_path / "inbox"
    settings = suite_settings().with_home(home, database_url=pg_url)
    Store.from_settings(settings).close()  # the tables, before two processes race to create them
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDEMBED_")} | SUITE_ENV
    env |= {"MEDEMBED_HOME": str(home), "MEDEMBED_DATABASE_URL": pg_url, "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    procs = {"medembed watch": (_start(["watch", str(inbox), "--interval", "1", "--settle", "1"], env,
                                       tmp_path / "watch.log"), tmp_path / "watch.log"),
             "medembed ui": (_start(["ui", "--port", str(port)], env, tmp_path / "ui.log"), tmp_path / "ui.log")}
    try:
        _wait("the app's health check", lambda: _healthy(url), procs, 120)
        _wait("the watcher's start", lambda: "Ready:" in (tmp_path / "watch.log").read_text(), procs, 120)
        yield {"url": url, "inbox": inbox, "settings": settings, "procs": procs}
    finally:
        for proc, _ in procs.values():
            _stop(proc)


def _browser_available() -> bool:
    if not CHROMIUM.is_file():
        return False
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


def _found_in_browser(url: str, pending: dict[str, tuple[str, str]], deadline: float) -> None:
    """Search the running app like a person until every pending paper shows up (reloading while it is indexed).

    Runs in a thread of its own: Playwright's sync API refuses a thread where another test's session-scoped
    Playwright is still open.
    """
    errors: list[BaseException] = []

    def run() -> None:
        try:
            _search_in_browser(url, pending, deadline)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def _search_in_browser(url: str, pending: dict[str, tuple[str, str]], deadline: float) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        tab = browser.new_context(viewport={"width": 1400, "height": 1400}).new_page()
        tab.set_default_timeout(20_000)
        while pending and time.monotonic() < deadline:
            name, (query, title) = next(iter(pending.items()))
            tab.goto(url)
            box = tab.get_by_label("Question or keywords")
            box.fill(query)
            box.press("Enter")
            try:  # result cards, or a message (empty library, no index yet) when the watcher is not done
                tab.get_by_text("Why here").or_(tab.get_by_text("library is empty")).or_(
                    tab.locator('[data-testid="stAlert"]')).first.wait_for(timeout=20_000)
                tab.wait_for_timeout(300)
            except Exception:  # noqa: BLE001 - Playwright's timeout: try again while time is left
                continue
            if tab.get_by_text(title).count():
                pending.pop(name)
                SCREENSHOTS.mkdir(exist_ok=True)
                tab.screenshot(path=str(SCREENSHOTS / f"watch_{Path(name).stem}.png"))
            else:
                tab.wait_for_timeout(1000)
        browser.close()


def _found_by_searcher(settings: Settings, pending: dict[str, tuple[str, str]], deadline: float) -> None:
    while pending and time.monotonic() < deadline:
        try:
            searcher = Searcher.from_settings(settings, "hybrid:minilm")
            for name, (query, title) in list(pending.items()):
                if any(h.title and h.title.startswith(title) for h in searcher.search(query, k=3)):
                    pending.pop(name)
        except Exception:  # noqa: BLE001 - no index yet
            pass
        time.sleep(1)


def test_dropped_papers_are_searchable_in_the_running_app_within_a_minute(deployment: dict, tmp_path: Path) -> None:
    inbox, url = deployment["inbox"], deployment["url"]
    truncated = make_bad_pdfs(tmp_path / "bad")[0]
    start = time.monotonic()
    for name in EXPECTED:
        drop(TEST_DATA / "pdfs" / name, inbox)
    drop(truncated, inbox, "broken.pdf")

    pending = dict(EXPECTED)
    if _browser_available():
        _found_in_browser(url, pending, start + DEADLINE_S)
    else:
        _found_by_searcher(deployment["settings"], pending, start + DEADLINE_S)
    elapsed = time.monotonic() - start
    print(f"3 papers searchable in the app {elapsed:.1f} s after the drop "
          f"({'Chromium' if _browser_available() else 'Searcher + health check'})")

    logs = {n: log.read_text()[-3000:] for n, (_, log) in deployment["procs"].items()}
    assert not pending, f"not found within {DEADLINE_S} s: {sorted(pending)}\n{logs}"
    assert elapsed < DEADLINE_S
    assert _healthy(url) and all(p.poll() is None for p, _ in deployment["procs"].values()), logs
    _wait("the files moved out of the inbox", lambda: inbox_files(inbox) == [], deployment["procs"], 30)
    assert inbox_files(inbox / "processed") == sorted(EXPECTED)
    assert inbox_files(inbox / "quarantine") == ["broken.pdf", "broken.pdf" + ERROR_SUFFIX]
    assert "truncated or corrupt PDF" in (inbox / "quarantine" / ("broken.pdf" + ERROR_SUFFIX)).read_text()
    store = Store.from_settings(deployment["settings"])
    assert store.counts()[0] == 3
    store.close()

    watcher = deployment["procs"]["medembed watch"][0]
    watcher.send_signal(signal.SIGTERM)  # `docker stop`
    assert watcher.wait(timeout=20) == 0
