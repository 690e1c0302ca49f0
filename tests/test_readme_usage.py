"""The README's Usage section, run as a new user runs it: every command, in order, against (a copy of) the demo
library that scripts/demo.sh builds, with the product's defaults. A command that fails, prints an error or a
traceback, or a search that finds nothing, fails the test; `medembed ui` and `medembed watch` are started, checked
and stopped with SIGTERM, after which nothing may still serve the app's port.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import rispy

from tests.browser.harness import free_port, wait_healthy
from tests.conftest import REPO, product_env

README = REPO / "README.md"
PASSWORD = "first-hour-password-42"
#: Lines of the block that set up the shell rather than run MedEmbed: the test supplies the interpreter itself.
SHELL_SETUP = (". .venv/bin/activate",)


def usage_lines() -> list[str]:
    """The command lines of the README's ``## Usage`` bash block, comments and blank lines left out."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Usage"):]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "README's Usage section has no bash block"
    lines = [line.split(" # ", 1)[0].strip() if not line.lstrip().startswith("#") else "" for line in
             block.group(1).splitlines()]
    return [line for line in lines if line]


def port_closed(port: int, within_s: float = 15) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(1)
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                return True
        time.sleep(0.5)
    return False


@pytest.fixture
def workdir(tmp_path: Path, demo_home: Path) -> tuple[Path, dict[str, str]]:
    """A folder laid out as the repository's root for the README's relative paths (``samples/``,
    ``./medembed-data`` a copy of the demo library), a ``medembed`` on PATH that runs this checkout, and the
    environment of a new user."""
    work = tmp_path / "clone"
    work.mkdir()
    (work / "samples").symlink_to(REPO / "samples")
    shutil.copytree(demo_home, work / "medembed-data")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "medembed"
    script.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m cli "$@"\n', encoding="utf-8")
    script.chmod(0o755)
    env = product_env(work / "medembed-data")
    env.pop("MEDEMBED_HOME")  # the README's own `export MEDEMBED_HOME=...` line sets it
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    return work, env


def run_service(line: str, prefix: str, cwd: Path, env: dict[str, str], log: Path) -> str:
    """Start a long-running README command (after the shell ``prefix``), check that it serves, SIGTERM it; what it
    logged."""
    port = free_port()
    command = line + (f" --port {port}" if line.startswith("medembed ui") else "")
    with open(log, "wb") as out:  # `exec`: the signal goes to medembed itself, as a service manager sends it
        proc = subprocess.Popen(["bash", "-c", f"{prefix}exec {command}"], cwd=cwd, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        if line.startswith("medembed ui"):
            wait_healthy(f"http://127.0.0.1:{port}", proc, log, timeout_s=120)
        else:
            deadline = time.monotonic() + 120
            while "Watching" not in log.read_text(errors="replace") and time.monotonic() < deadline:
                assert proc.poll() is None, log.read_text()
                time.sleep(0.5)
            assert "Watching" in log.read_text(errors="replace"), log.read_text()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) in (0, -signal.SIGTERM, 128 + signal.SIGTERM), log.read_text()
        if line.startswith("medembed ui"):
            assert port_closed(port), f"`{line}` ended but its port {port} still answers: Streamlit kept serving"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # only if something above failed: never leave a server behind
    return log.read_text(errors="replace")


def test_every_usage_command_of_the_readme_runs_on_the_demo_library(workdir: tuple[Path, dict[str, str]],
                                                                    tmp_path: Path) -> None:
    cwd, env = workdir
    exports: list[str] = []
    ran = []
    for line in usage_lines():
        if line in SHELL_SETUP:
            continue
        if line.startswith("export "):
            exports.append(line)
            continue
        prefix = "; ".join(exports) + "; " if exports else ""
        if re.match(r"medembed (ui|watch)\b", line):
            output = run_service(line, prefix, cwd, env, tmp_path / f"service-{len(ran)}.log")
            assert "Traceback" not in output and "Error:" not in output, output[-3000:]
            ran.append(line)
            continue
        done = subprocess.run(["bash", "-c", f"set -e; {prefix}{line}"], cwd=cwd, env=env, capture_output=True,
                              text=True, timeout=900, input=f"{PASSWORD}\n{PASSWORD}\n")
        said = done.stdout + done.stderr
        assert done.returncode == 0, f"`{line}` exited {done.returncode}:\n{said[-3000:]}"
        assert "Traceback" not in said and "Error:" not in said, f"`{line}`:\n{said[-3000:]}"
        if line.startswith("medembed search"):
            assert "No results." not in said, f"`{line}` found nothing in the demo library"
            assert done.stdout.strip() or (cwd / "results.ris").stat().st_size, f"`{line}` printed nothing"
        ran.append(line)
    assert any(line.startswith("medembed ui") for line in ran) and len(ran) >= 12, ran
    references = rispy.loads((cwd / "results.ris").read_text(encoding="utf-8"))
    assert references and all(r.get("title") for r in references)


def test_the_search_pages_example_query_finds_its_paper_in_the_demo(demo_home: Path) -> None:
    """The example in the Search box must be a question the demo library answers: its top paper is about it."""
    from medcore.config import Settings
    from search_app.searcher import Searcher
    from ui.common import EXAMPLE_QUERY

    settings = Settings.from_toml(None, environ=product_env(demo_home))
    [top, *_] = Searcher.from_settings(settings).search_papers(EXAMPLE_QUERY, 3)
    assert "Bowel Preparation for Video Capsule Endoscopy" in (top.title or "")
