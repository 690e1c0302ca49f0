"""Services failing under the app: the database restarting (a private PostgreSQL started for this test), and the
LLM down, slow or answering garbage. Requests fail with a clear message and recover; ``generate`` resumes."""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from figures import record
from scripted_llm import Script, scripted_llm

from cli.main import cli
from indexer.index.build import build_indexes
from indexer.ingest import Ingestor
from medcore.errors import LLMError, StoreUnavailableError
from search_app.answer import answer_question, client_from_settings
from search_app.searcher import Searcher
from store import Store
from tests.conftest import suite_settings

TEST_PDFS = Path(__file__).resolve().parent / "data" / "pdfs"
PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))


class PrivatePostgres:
    """A throw-away PostgreSQL cluster in a temp folder on a free port, run as the ``postgres`` OS user."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="medembed-pg-"))
        shutil.chown(self.dir, "postgres")
        self.data, self.log = self.dir / "data", self.dir / "pg.log"
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self._as_postgres(f"{PG_BIN[-1]}/initdb -D {self.data} -A trust -U postgres --no-sync")
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, command: str) -> None:
        runner = [] if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--"]
        subprocess.run([*runner, "sh", "-c", command], check=True, capture_output=True, cwd=self.dir, timeout=120)

    def start(self) -> None:
        self._as_postgres(f"{PG_BIN[-1]}/pg_ctl -D {self.data} -l {self.log} -w -o '-p {self.port} -k {self.dir} "
                          "-c listen_addresses=127.0.0.1 -c fsync=off' start")

    def stop(self) -> None:
        self._as_postgres(f"{PG_BIN[-1]}/pg_ctl -D {self.data} -m fast -w stop")

    def remove(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    if not PG_BIN or (os.geteuid() == 0 and not shutil.which("runuser")):
        pytest.skip("needs PostgreSQL's initdb and pg_ctl (/usr/lib/postgresql/*/bin)")
    pg = PrivatePostgres()
    pg.start()
    yield pg
    pg.remove()


def test_the_database_restarting_fails_requests_cleanly_and_they_recover(private_pg: PrivatePostgres,
                                                                          tmp_path: Path) -> None:
    settings = suite_settings().with_home(tmp_path / "home", database_url=private_pg.url)
    store = Store.from_settings(settings)
    assert Ingestor(store, settings).ingest([TEST_PDFS], show_progress_bar=False).count("added") == 3
    build_indexes(store, settings, dense=False, show_progress_bar=False)
    searcher = Searcher.from_settings(settings, "bm25", store=store)
    before = [h.chunk_id for h in searcher.search("tularemia coyote bite", 5)]
    env = {"MEDEMBED_HOME": str(tmp_path / "home"), "MEDEMBED_DATABASE_URL": private_pg.url}
    failures, cli_failures = 0, 0
    for _ in range(2):  # two restarts
        private_pg.stop()
        for _ in range(3):
            with pytest.raises(StoreUnavailableError, match=r"is unavailable .*Check that the server is running"):
                searcher.search("tularemia coyote bite", 5)
            failures += 1
        result = CliRunner().invoke(cli, ["-q", "search", "--mode", "bm25", "tularemia"], env=env)
        assert result.exit_code == 1 and "Error: The database at" in result.output, result.output
        assert "Traceback" not in result.output
        cli_failures += 1
        private_pg.start()
        assert [h.chunk_id for h in searcher.search("tularemia coyote bite", 5)] == before, "the same object recovers"
    assert CliRunner().invoke(cli, ["-q", "search", "--mode", "bm25", "tularemia"], env=env).exit_code == 0
    record("faults_database_restart", {"restarts": 2, "failed_requests": failures, "failed_cli_requests": cli_failures,
                                       "recovered": True})


@pytest.fixture(scope="module")
def pdf_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    settings = suite_settings().with_home(tmp_path_factory.mktemp("gen-home"))
    assert Ingestor(Store.from_settings(settings), settings).ingest([TEST_PDFS]).count("added") == 3
    return settings.paths.home


def _generate(home: Path, out: Path, url: str, *args: str) -> tuple[int, str, dict]:
    result = CliRunner().invoke(cli, ["-q", "generate", "-o", str(out), "--mine", "bm25", "--json", "--base-url", url,
                                      "--llm-model", "scripted", "--retries", "0", "--concurrency", "1", *args],
                                env={"MEDEMBED_HOME": str(home)})
    lines = [line for line in result.stdout.splitlines() if line.startswith('{"')]
    return result.exit_code, result.output, (json.loads(lines[-1]) if lines else {})


def test_generate_stops_clearly_when_the_llm_dies_and_resumes_where_it_stopped(pdf_home: Path,
                                                                               tmp_path: Path) -> None:
    out = tmp_path / "triplets.jsonl"
    outcomes = {}
    for mode in ("slow", "garbage", "error"):
        with scripted_llm(Script(mode=mode, delay_s=3.0, ok_first=0)) as url:
            code, output, _ = _generate(pdf_home, tmp_path / f"{mode}.jsonl", url, "-n", "10", "--timeout", "1")
        assert code == 1 and "rerun the same command to resume" in output
        assert "Traceback" not in output
        outcomes[mode] = next(line for line in output.splitlines() if line.startswith("Error:"))[:200]
    script = Script(mode="error", ok_first=4, reply=lambda _request: '{"queries": []}')
    with scripted_llm(script) as url:
        code, output, _ = _generate(pdf_home, out, url, "-n", "12")
    assert code == 1 and "rerun the same command to resume" in output
    done = [json.loads(line)["unit"] for line in out.with_name(out.name + ".done").read_text().splitlines()]
    assert len(done) == 4, "the four answered passages are recorded as done"
    with scripted_llm(Script(reply=lambda _request: '{"queries": []}')) as url:
        code, output, summary = _generate(pdf_home, out, url, "-n", "12")
    assert code == 0, output
    assert summary["skipped_done"] == 4 and summary["units"] == 8, summary
    record("faults_llm_generate", {"outcomes": outcomes, "done_before_crash": 4, "resumed_skipped": 4,
                                   "resumed_done": summary["units"]})


def test_ask_degrades_with_a_clear_message_when_the_llm_is_slow_or_answers_garbage(settings) -> None:  # noqa: ANN001
    from medcore.types import Document, Hit

    doc = Document(id=1, source="pdf", title="T")
    hits = [Hit(chunk_id=1, doc_id=1, score=1.0, text="Methylene blue treats methemoglobinemia.", title="T", page=1,
                rank=1, document=doc)]
    messages = {}
    for mode in ("slow", "garbage", "error"):
        with scripted_llm(Script(mode=mode, delay_s=4.0)) as url:
            cfg = replace(settings, llm=replace(settings.llm, base_url=url, model="scripted", timeout_s=1))
            start = time.perf_counter()
            with pytest.raises(LLMError, match="search still works|OpenAI chat completion") as caught:
                answer_question("How is it treated?", hits, client_from_settings(cfg))
            messages[mode] = (str(caught.value)[:160], round(time.perf_counter() - start, 1))
    with scripted_llm(Script(reply=lambda _request: "Methylene blue [1].")) as url:
        cfg = replace(settings, llm=replace(settings.llm, base_url=url, model="scripted", timeout_s=5))
        assert answer_question("How is it treated?", hits, client_from_settings(cfg)).cited == [1], "recovers"
    record("faults_llm_ask", messages)
