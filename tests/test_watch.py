"""``medembed watch``: the inbox watcher, on the real PostgreSQL store with the real packaged MiniLM.

Covers: which files are taken (settled, not temporary), ingest + index + move, quarantine with the reason, the same
file twice stored once, recovery of work a crash left half done (including ``kill -9`` of a running watcher), and
the two locks (another indexer, another watcher).
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cli.main import cli
from indexer.index.layout import dense_dir
from indexer.index.versioned import read_manifest, writer_lock
from library.watch import ERROR_SUFFIX, LOCK_FILE, InboxWatcher, is_temporary
from medcore.config import Settings
from medcore.errors import ConfigError
from medcore.models import resolve
from search_app.searcher import Searcher
from store import Store
from tests.conftest import SUITE_ENV, TEST_DATA, make_bad_pdfs, suite_settings

PDFS = TEST_DATA / "pdfs"
#: A query per committed PDF and the title that must come back first.
EXPECTED = {
    "PMC4736312.pdf": ("methemoglobinemia in pregnancy", "Rare Case of Methemoglobinemia Complicating Pregnancy"),
    "PMC4738698.pdf": ("tularemia after a coyote bite", "First Pediatric Case of Tularemia after a Coyote Bite"),
    "PMC4735909.pdf": ("intracerebral hemorrhage in children", "Spectrum of Intracerebral Hemorrhage in Children"),
}
FAST = ["--interval", "0.2", "--settle", "0.2"]


def drop(src: Path, inbox: Path, name: str | None = None) -> Path:
    """Put a file into the inbox the way a careful copier does: write ``name.part``, then rename."""
    inbox.mkdir(parents=True, exist_ok=True)
    target = inbox / (name or src.name)
    part = target.with_name(target.name + ".part")
    shutil.copyfile(src, part)
    os.replace(part, target)
    return target


def pg_settings(home: Path, pg_url: str) -> Settings:
    return suite_settings().with_home(home, database_url=pg_url)


def run_cli(settings: Settings, *args: str):
    env = {"MEDEMBED_HOME": str(settings.paths.home), "MEDEMBED_DATABASE_URL": settings.paths.database_url}
    return CliRunner().invoke(cli, ["-q", "watch", *args], env=env, catch_exceptions=False)


def inbox_files(folder: Path) -> list[str]:
    """The file names in ``folder`` (none when it does not exist), the watcher's lock file left out."""
    return sorted(p.name for p in folder.glob("*") if p.is_file() and p.name != LOCK_FILE)


def assert_indexed_once(settings: Settings, n_docs: int) -> None:
    """``n_docs`` documents, every stored chunk in the dense index exactly once, and each paper found first."""
    store = Store.from_settings(settings)
    assert store.counts()[0] == n_docs
    version, _ = read_manifest(dense_dir(settings, resolve("minilm")))
    assert np.array_equal(np.sort(np.load(version / "ids.npy")), np.sort(store.chunk_ids()))
    searcher = Searcher.from_settings(settings, "hybrid:minilm")
    for query, title in EXPECTED.values():
        assert searcher.search(query, k=1)[0].title.startswith(title), query
    store.close()


# -- which files are taken ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["a.pdf.part", "a.pdf.crdownload", "a.tmp", "~$a.pdf", ".a.pdf", "a.pdf~",
                                  ".medembed-watch.lock", "a.PDF.PART"])
def test_temporary_names_are_never_taken(name: str) -> None:
    assert is_temporary(name)


@pytest.mark.parametrize("name", ["a.pdf", "PMC123.PDF", "notes.txt", "a.part.pdf"])
def test_ordinary_names_are_taken(name: str) -> None:
    assert not is_temporary(name)


def test_scan_waits_for_files_to_settle_and_skips_temporary_and_done_ones(tmp_path: Path, settings: Settings) -> None:
    inbox = tmp_path / "inbox"
    for rel in ("b.pdf", "a.pdf", "a.xml", "sub/c.pdf", "d.pdf.part", "processed/x.pdf", "quarantine/y.pdf",
                ".hidden/z.pdf"):
        (inbox / rel).parent.mkdir(parents=True, exist_ok=True)
        (inbox / rel).write_bytes(b"%PDF-1.4 data")
    watcher = InboxWatcher(inbox, store=None, settings=settings, settle_s=0.3)  # type: ignore[arg-type]
    assert watcher.scan() == ([], 3)  # first sight: nothing has settled yet; a.xml travels with a.pdf
    time.sleep(0.35)
    with open(inbox / "b.pdf", "ab") as fh:  # still being written
        fh.write(b" more")
    ready, waiting = watcher.scan()
    assert ready == [inbox / "a.pdf", inbox / "sub" / "c.pdf"] and waiting == 1
    time.sleep(0.35)
    assert watcher.scan() == ([inbox / "a.pdf", inbox / "b.pdf", inbox / "sub" / "c.pdf"], 0)


# -- the whole path, through the CLI, on PostgreSQL -------------------------------------------------------------------
@pytest.mark.postgres
def test_watch_once_adds_papers_quarantines_broken_files_and_stores_duplicates_once(
        tmp_path: Path, pg_url: str, minilm) -> None:  # noqa: ANN001 - the session's Embedder
    settings = pg_settings(tmp_path / "home", pg_url)
    inbox = tmp_path / "inbox"
    for pdf in sorted(PDFS.glob("*.pdf")):
        drop(pdf, inbox)
    drop(PDFS / "PMC4736312.xml", inbox)  # JATS metadata beside its PDF
    truncated, _, _, notes = make_bad_pdfs(tmp_path / "bad")
    drop(truncated, inbox)
    drop(notes, inbox)
    (inbox / "late.pdf.part").write_bytes(b"%PDF-1.4 still downloading")

    result = run_cli(settings, str(inbox), "--once", *FAST)

    assert result.exit_code == 1, result.output  # like `medembed ingest`: 1 when a file failed
    assert "Watch: 3 added, 0 already stored, 2 quarantined" in result.output
    assert inbox_files(inbox) == ["late.pdf.part"]
    assert inbox_files(inbox / "processed") == ["PMC4735909.pdf", "PMC4736312.pdf", "PMC4736312.xml",
                                                "PMC4738698.pdf"]
    assert inbox_files(inbox / "quarantine") == ["notes.pdf", "notes.pdf" + ERROR_SUFFIX, "truncated.pdf",
                                                 "truncated.pdf" + ERROR_SUFFIX]
    assert "not a PDF" in (inbox / "quarantine" / ("notes.pdf" + ERROR_SUFFIX)).read_text()
    assert "truncated or corrupt" in (inbox / "quarantine" / ("truncated.pdf" + ERROR_SUFFIX)).read_text()
    assert sorted(p.name for p in settings.paths.files_dir.iterdir()) == [
        "PMC4735909.pdf", "PMC4736312.pdf", "PMC4736312.xml", "PMC4738698.pdf"]  # the library's own copies
    assert_indexed_once(settings, 3)
    store = Store.from_settings(settings)
    doc = next(d for d, _ in store.documents() if d.pmcid == "PMC4736312")
    assert doc.journal and Path(doc.file_path).parent == settings.paths.files_dir.resolve()
    store.close()

    drop(PDFS / "PMC4738698.pdf", inbox)  # the same paper again, same name
    drop(PDFS / "PMC4738698.pdf", inbox, "tularemia-copy.pdf")  # and under another name
    result = run_cli(settings, str(inbox), "--once", *FAST)
    assert result.exit_code == 0, result.output
    assert "Watch: 0 added, 2 already stored, 0 quarantined" in result.output
    assert {"PMC4738698-1.pdf", "tularemia-copy.pdf"} <= set(inbox_files(inbox / "processed"))
    assert len(list(settings.paths.files_dir.glob("*.pdf"))) == 3
    assert_indexed_once(settings, 3)


@pytest.mark.postgres
def test_a_paper_stored_by_a_crashed_run_is_indexed_and_moved_without_a_duplicate(
        tmp_path: Path, pg_url: str, minilm) -> None:  # noqa: ANN001
    settings = pg_settings(tmp_path / "home", pg_url)
    inbox = tmp_path / "inbox"
    for pdf in sorted(PDFS.glob("*.pdf")):
        drop(pdf, inbox)
    store = Store.from_settings(settings)
    crashed = InboxWatcher(inbox, store, settings)
    for path in sorted(inbox.glob("*.pdf"))[:2]:  # the crash came after two documents were committed
        assert crashed._ingest(path).status == "added"
    assert store.counts()[0] == 2 and not dense_dir(settings, resolve("minilm")).exists()

    summary = InboxWatcher(inbox, store, settings, settle_s=0.1).run(interval=0.1, once=True)

    assert [r.status for r in summary.results] == ["skipped", "skipped", "added"]
    assert inbox_files(inbox) == [] and len(inbox_files(inbox / "processed")) == 3
    assert_indexed_once(settings, 3)
    store.close()


@pytest.mark.postgres
def test_search_keeps_answering_while_the_watcher_indexes(tmp_path: Path, pg_url: str, minilm) -> None:  # noqa: ANN001
    settings = pg_settings(tmp_path / "home", pg_url)
    inbox = tmp_path / "inbox"
    store = Store.from_settings(settings)
    drop(PDFS / "PMC4736312.pdf", inbox)
    InboxWatcher(inbox, store, settings, settle_s=0).run(interval=0.1, once=True)
    searcher = Searcher.from_settings(settings, "hybrid:minilm")
    old_query, old_title = EXPECTED["PMC4736312.pdf"]
    for name in ("PMC4735909.pdf", "PMC4738698.pdf"):
        drop(PDFS / name, inbox)

    watcher = threading.Thread(target=InboxWatcher(inbox, store, settings, settle_s=0).run,
                               kwargs={"interval": 0.1, "once": True})
    watcher.start()
    answered = 0
    while watcher.is_alive():
        searcher.refresh()  # what the app does before each search
        assert searcher.search(old_query, k=1)[0].title.startswith(old_title)
        answered += 1
    watcher.join()

    assert answered >= 3, "the watcher finished before search was tried"
    searcher.refresh()
    assert_indexed_once(settings, 3)
    store.close()


@pytest.mark.postgres
def test_a_broken_file_leaves_no_copy_in_the_library_even_after_a_crash(tmp_path: Path, pg_url: str) -> None:
    settings = pg_settings(tmp_path / "home", pg_url)
    inbox = tmp_path / "inbox"
    truncated = make_bad_pdfs(tmp_path / "bad")[0]
    drop(truncated, inbox)
    settings.paths.files_dir.mkdir(parents=True)
    shutil.copyfile(truncated, settings.paths.files_dir / "truncated.pdf")  # a crashed run's copy
    store = Store.from_settings(settings)

    results = InboxWatcher(inbox, store, settings).process([inbox / "truncated.pdf"])

    assert [r.status for r in results] == ["failed"] and store.counts() == (0, 0)
    assert list(settings.paths.files_dir.iterdir()) == []
    assert inbox_files(inbox / "quarantine") == ["truncated.pdf", "truncated.pdf" + ERROR_SUFFIX]
    store.close()


# -- kill -9 in the middle of a batch ---------------------------------------------------------------------------------
def _medembed() -> list[str]:
    script = Path(sys.executable).with_name("medembed")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "cli"]


def _env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDEMBED_")}
    return env | SUITE_ENV | {"MEDEMBED_HOME": str(settings.paths.home),
                              "MEDEMBED_DATABASE_URL": settings.paths.database_url, "HF_HUB_OFFLINE": "1",
                              "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


@pytest.mark.postgres
@pytest.mark.parametrize("kill_when", ["after the first document", "while indexing"])
def test_kill_9_mid_batch_then_restart_finishes_the_work_without_duplicates(
        tmp_path: Path, pg_url: str, kill_when: str) -> None:
    settings = pg_settings(tmp_path / "home", pg_url)
    inbox = tmp_path / "inbox"
    for pdf in sorted(PDFS.glob("*.pdf")):
        drop(pdf, inbox)
    store = Store.from_settings(settings)  # tables exist before the watcher starts
    log = tmp_path / "watch.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([*_medembed(), "watch", str(inbox), "--interval", "0.2", "--settle", "0.2"],
                                env=_env(settings), stdout=out, stderr=subprocess.STDOUT)
    try:
        wanted = 1 if kill_when == "after the first document" else 3
        deadline = time.monotonic() + 120
        while store.counts()[0] < wanted:
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"no document stored in 120 s:\n{log.read_text()}"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert inbox_files(inbox / "processed") == [], "the kill came too late: the batch was already done"
    assert len(inbox_files(inbox)) == 3

    restart = subprocess.run([*_medembed(), "-q", "watch", str(inbox), "--once", "--interval", "0.2", "--settle",
                              "0.2"], env=_env(settings), capture_output=True, text=True, timeout=300)

    assert restart.returncode == 0, restart.stdout + restart.stderr
    assert inbox_files(inbox) == [] and len(inbox_files(inbox / "processed")) == 3
    assert_indexed_once(settings, 3)
    assert len(list(settings.paths.files_dir.glob("*.pdf"))) == 3
    store.close()


# -- locks ----------------------------------------------------------------------------------------------------------
class _OnMessage(logging.Handler):
    """Sets ``event`` when a log record's message contains ``text``."""

    def __init__(self, text: str, event: threading.Event) -> None:
        super().__init__()
        self.text, self.event = text, event

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.event.set()


@pytest.mark.postgres
def test_with_another_indexer_running_the_watcher_waits_then_finishes(
        tmp_path: Path, pg_url: str, minilm, caplog: pytest.LogCaptureFixture) -> None:  # noqa: ANN001
    settings = pg_settings(tmp_path / "home", pg_url)
    inbox = tmp_path / "inbox"
    drop(PDFS / "PMC4736312.pdf", inbox)
    store = Store.from_settings(settings)
    held, watcher_waits, released = threading.Event(), threading.Event(), threading.Event()

    def hold_lock() -> None:
        with writer_lock(settings.paths.index_dir):
            held.set()
            # Held until the watcher says it waits, however long its ingest takes: no race with a sleep.
            if watcher_waits.wait(120):
                released.set()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    assert held.wait(30), "the other indexer never took the lock"
    caplog.set_level("WARNING", logger="library.watch")
    signal_wait = _OnMessage("Waiting for the index writer lock", watcher_waits)
    logging.getLogger("library.watch").addHandler(signal_wait)
    try:
        summary = InboxWatcher(inbox, store, settings, settle_s=0.1, lock_retry_s=0.3).run(interval=0.1, once=True)
    finally:
        logging.getLogger("library.watch").removeHandler(signal_wait)
    finished_after_release = released.is_set()  # before join(): a watcher that ignored the lock ends first
    holder.join()

    assert finished_after_release and summary.count("added") == 1
    assert "Another indexer (pid" in caplog.text and "Waiting for the index writer lock" in caplog.text
    assert inbox_files(inbox) == [] and inbox_files(inbox / "processed") == ["PMC4736312.pdf"]
    store.close()


@pytest.mark.postgres
def test_lock_wait_gives_up_with_the_lock_message_and_leaves_the_files(tmp_path: Path, pg_url: str) -> None:
    settings = pg_settings(tmp_path / "home", pg_url)
    inbox = tmp_path / "inbox"
    drop(PDFS / "PMC4736312.pdf", inbox)
    with writer_lock(settings.paths.index_dir):
        result = CliRunner().invoke(cli, ["-q", "watch", str(inbox), "--once", "--lock-wait", "0.5", *FAST],
                                    env={"MEDEMBED_HOME": str(settings.paths.home),
                                         "MEDEMBED_DATABASE_URL": pg_url})
    assert result.exit_code == 1
    assert f"Another indexer (pid {os.getpid()}) is writing" in result.output
    assert inbox_files(inbox) == ["PMC4736312.pdf"]


def test_a_second_watcher_on_the_same_inbox_waits_for_the_first(tmp_path: Path, settings: Settings) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    with open(inbox / LOCK_FILE, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        fh.write("pid 4242")
        fh.flush()
        result = CliRunner().invoke(cli, ["-q", "watch", str(inbox), "--once", "--lock-wait", "0"],
                                    env={"MEDEMBED_HOME": str(settings.paths.home)})
    assert result.exit_code == 1
    assert f"Another watcher (pid 4242) is processing {inbox}" in result.output


# -- links planted in the inbox ---------------------------------------------------------------------------------------
@pytest.fixture
def planted(tmp_path: Path, settings: Settings):  # noqa: ANN201 - (inbox, victim folder, victim file, watcher)
    """An inbox holding one broken PDF, and a folder outside it whose file must never change."""
    inbox, outside = tmp_path / "inbox", tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim.txt"
    victim.write_text("precious\n")
    drop(make_bad_pdfs(tmp_path / "bad")[0], inbox)
    store = Store.from_settings(settings)
    yield inbox, outside, victim, InboxWatcher(inbox, store, settings, lock_retry_s=0.1)
    store.close()


def test_a_planted_error_note_link_is_replaced_not_written_through(planted) -> None:  # noqa: ANN001
    inbox, _, victim, watcher = planted
    (inbox / "quarantine").mkdir()
    (inbox / "quarantine" / ("truncated.pdf" + ERROR_SUFFIX)).symlink_to(victim)
    assert [r.status for r in watcher.process([inbox / "truncated.pdf"])] == ["failed"]
    note = inbox / "quarantine" / ("truncated.pdf" + ERROR_SUFFIX)
    assert victim.read_text() == "precious\n" and not note.is_symlink() and "Reason:" in note.read_text()


@pytest.mark.parametrize("link", ["quarantine", "processed", "quarantine/sub"])
def test_linked_watcher_folders_are_refused(planted, link: str) -> None:  # noqa: ANN001
    inbox, outside, victim, watcher = planted
    if link == "quarantine/sub":  # a sub-folder of the inbox mirrored under quarantine/
        (inbox / "sub").mkdir()
        os.replace(inbox / "truncated.pdf", inbox / "sub" / "truncated.pdf")
        (inbox / "quarantine").mkdir()
    (inbox / link).symlink_to(outside, target_is_directory=True)
    with pytest.raises(ConfigError, match=f"{inbox / link} is a symbolic link; the watcher never writes through"):
        watcher.run(once=True, lock_wait_s=0) if link != "quarantine/sub" else watcher.process(
            [inbox / "sub" / "truncated.pdf"])
    assert sorted(p.name for p in outside.iterdir()) == ["victim.txt"] and victim.read_text() == "precious\n"


def test_a_planted_lock_file_link_is_refused_and_its_target_kept(planted) -> None:  # noqa: ANN001
    inbox, _, victim, watcher = planted
    (inbox / LOCK_FILE).symlink_to(victim)
    with pytest.raises(ConfigError, match="is a symbolic link; MedEmbed never writes through links"):
        watcher.run(once=True, lock_wait_s=0)
    assert victim.read_text() == "precious\n"


def test_a_linked_file_in_the_inbox_is_quarantined_unread(planted, tmp_path: Path) -> None:  # noqa: ANN001
    inbox, outside, _, watcher = planted
    secret = outside / "secret.pdf"
    shutil.copyfile(PDFS / "PMC4736312.pdf", secret)
    (inbox / "secret.pdf").symlink_to(secret)
    [result] = watcher.process([inbox / "secret.pdf"])
    assert result.status == "failed" and "a symbolic link" in result.reason
    assert watcher.store.counts() == (0, 0) and secret.is_file()
    assert (inbox / "quarantine" / "secret.pdf").is_symlink(), "the link itself moved, its target untouched"


def test_a_sub_folder_swapped_for_a_link_after_the_scan_is_not_followed(planted) -> None:  # noqa: ANN001
    """The scan saw ``inbox/sub/paper.pdf`` in a real folder; before the batch reached it, the writer swapped ``sub``
    for a link to a folder outside: nothing outside is read, ingested or moved into the inbox's folders."""
    inbox, outside, victim, watcher = planted
    (inbox / "sub").mkdir()
    drop(PDFS / "PMC4736312.pdf", inbox / "sub", "paper.pdf")
    shutil.copyfile(PDFS / "PMC4738698.pdf", outside / "paper.pdf")
    os.replace(inbox / "sub", inbox / "sub-real")
    (inbox / "sub").symlink_to(outside, target_is_directory=True)
    assert watcher.process([inbox / "sub" / "paper.pdf"]) == []
    assert watcher.store.counts() == (0, 0), "the outside file was never ingested"
    assert sorted(p.name for p in outside.iterdir()) == ["paper.pdf", "victim.txt"], "nothing moved out of it"
    assert not (inbox / "processed").exists() or not any((inbox / "processed").rglob("*.pdf"))


def test_a_quarantine_sub_folder_swapped_for_a_link_before_the_move_gets_nothing(planted, monkeypatch) -> None:  # noqa: ANN001
    """``quarantine/sub`` is checked real, then swapped for a link just before the move: the move lands in the
    checked folder (or is refused), never in the link's target, and the victim file is never overwritten."""
    inbox, outside, victim, watcher = planted
    (inbox / "sub").mkdir()
    os.replace(inbox / "truncated.pdf", inbox / "sub" / "truncated.pdf")
    os.replace(victim, outside / "truncated.pdf")
    real_replace = os.replace

    def swap_then_replace(src, dst, **kwargs):  # noqa: ANN001, ANN202 - the writer wins the race every time
        sub = inbox / "quarantine" / "sub"
        if sub.is_dir() and not sub.is_symlink():
            real_replace(sub, inbox / "quarantine" / "sub-real")
            sub.symlink_to(outside, target_is_directory=True)
        return real_replace(src, dst, **kwargs)

    monkeypatch.setattr(os, "replace", swap_then_replace)
    watcher.process([inbox / "sub" / "truncated.pdf"])
    assert (outside / "truncated.pdf").read_bytes() == b"precious\n", "the victim file was not overwritten"
    assert sorted(p.name for p in outside.iterdir()) == ["truncated.pdf"]
