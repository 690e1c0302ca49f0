"""Watch an inbox folder: each new PDF is ingested, indexed and moved out; a broken file goes to quarantine.

``medembed watch INBOX`` polls (the same on local disks and Docker volumes). Each cycle:

1. Scan ``INBOX`` (sub-folders too, but not ``processed/`` and ``quarantine/``) for files whose size and mtime
   have not changed for ``settle_s`` seconds. Names of files still being written (``x.part``, ``x.tmp``,
   ``x.crdownload``, ``~$x``, hidden ``.x``) are skipped. Files are taken in sorted order, ``batch_size`` at a time.
2. Ingest each file: a copy goes under ``paths.files_dir`` (the library's own copy, which the app serves and
   deletes), then one transaction stores its document and chunks. A file that cannot be read moves at once to
   ``quarantine/`` with ``<name>.error.txt`` beside it saying why. A JATS ``X.xml`` beside ``X.pdf`` supplies the
   PDF's metadata and travels with it.
3. Bring BM25 and each model's dense index up to date (new index versions are switched in atomically, so search
   keeps answering; a running app picks them up on its next search).
4. Only then move the batch's files to ``processed/``.

Nothing is lost by a crash (or ``kill -9``) at any point: a file leaves the inbox only after its document and the
indexes holding it are committed. On start the indexes are brought up to date first (chunks that a crashed run
stored but did not index get indexed); a file stored but not yet moved is found again, skipped by its sha256
(never stored twice) and moved. One watcher per inbox (``.medembed-watch.lock``); a second one waits. When another
process holds the index-writer lock, the watcher logs that and retries every ``lock_retry_s`` seconds.

Size: the watcher's crash-safety rules (settling, quarantine, moving out, the inbox lock) are one state machine;
what other callers share, accepting a PDF into the library, is in :mod:`indexer.accept`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from access.roles import Principal
from indexer.accept import MAX_UPLOAD_BYTES, accept_pdf
from indexer.encode.embedder import Embedder
from indexer.index.versioned import exclusive_lock
from indexer.ingest import IngestResult
from indexer.parse.kinds import companion_suffixes
from library import inbox_fs
from library.manage import indexed_models, reindex
from medcore.config import Settings
from medcore.errors import ConfigError, LockedError, ModelUnavailableError
from store import Store

#: Who the audit log names for the watcher's reindexing (whoever can drop files in the inbox curates the library).
WATCHER = Principal("watcher", "curator", "cli")

logger = logging.getLogger(__name__)

PROCESSED = "processed"
QUARANTINE = "quarantine"
ERROR_SUFFIX = ".error.txt"
LOCK_FILE = ".medembed-watch.lock"
JATS_SUFFIXES = companion_suffixes("pdf")
TEMP_PREFIXES = (".", "~$")
TEMP_SUFFIXES = (".part", ".partial", ".tmp", ".temp", ".crdownload", ".download", ".swp", "~")
#: Errors no retry can fix: the watcher stops with their message.
FATAL = (ConfigError, ModelUnavailableError)


def is_temporary(name: str) -> bool:
    """True for names of files still being written or not meant for us (``a.pdf.part``, ``~$a.pdf``, ``.a``)."""
    lower = name.lower()
    return lower.startswith(TEMP_PREFIXES) or lower.endswith(TEMP_SUFFIXES)


@dataclass
class WatchSummary:
    """What a watcher did: one IngestResult per file it took out of the inbox."""

    results: list[IngestResult] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    def __str__(self) -> str:
        added, skipped, failed = (self.count(s) for s in ("added", "skipped", "failed"))
        return f"{added} added, {skipped} already stored, {failed} quarantined"


class _Settle:
    """A file is ready once its (size, mtime) stayed the same for ``settle_s`` seconds (ten times that if empty)."""

    def __init__(self, settle_s: float) -> None:
        self.settle_s = settle_s
        self.seen: dict[Path, tuple[tuple[int, int], float]] = {}

    def ready(self, path: Path, stat: os.stat_result, now: float) -> bool:
        signature = (stat.st_size, stat.st_mtime_ns)
        previous = self.seen.get(path)
        if previous is None or previous[0] != signature:
            self.seen[path] = previous = (signature, now)
        return now - previous[1] >= self.settle_s * (10 if stat.st_size == 0 else 1)

    def keep_only(self, present: set[Path]) -> None:
        self.seen = {p: v for p, v in self.seen.items() if p in present}


class InboxWatcher:
    """Moves files from ``inbox`` into the library; see the module docstring for the guarantees.

    Args:
        inbox: the folder people drop papers into; ``processed/`` and ``quarantine/`` are made inside it.
        store: the library's store (the one the app searches).
        settings: paths (``files_dir``, ``index_dir``) and index settings.
        models: dense models to index with; empty means every model already indexed, else ``index.model``.
        settle_s: seconds a file must stay unchanged before it is read.
        batch_size: files ingested before the indexes are updated and the files moved.
        lock_retry_s: seconds between tries while another process holds a lock.
    """

    def __init__(self, inbox: Path, store: Store, settings: Settings, models: Sequence[str] = (),
                 collection: str = "library", settle_s: float = 2.0, batch_size: int = 20,
                 lock_retry_s: float = 5.0) -> None:
        self.inbox = Path(inbox)
        self.store = store
        self.settings = settings
        self.models = list(models)
        self.collection = collection
        self.batch_size = batch_size
        self.lock_retry_s = lock_retry_s
        self._settle = _Settle(settle_s)
        self._stop = threading.Event()

    def stop(self) -> None:
        """Ask the loop to stop after the current file (safe from a signal handler)."""
        self._stop.set()

    # -- the loop ---------------------------------------------------------------------------------------------
    def run(self, interval: float = 5.0, once: bool = False, lock_wait_s: float | None = None) -> WatchSummary:
        """Watch until :meth:`stop` (or, with ``once``, until the inbox holds no file to process).

        ``lock_wait_s`` bounds the wait for another watcher or indexer (None: wait as long as it takes); past it a
        :class:`LockedError` says who holds the lock, and every file not yet indexed is still in the inbox.
        """
        summary = WatchSummary()
        self.inbox.mkdir(parents=True, exist_ok=True)
        for folder in (PROCESSED, QUARANTINE):
            inbox_fs.real_folder(self.inbox, Path(folder))
        with self._inbox_lock(lock_wait_s):
            logger.info("Watching %s every %.1f s; done files go to %s/, broken ones to %s/", self.inbox, interval,
                        PROCESSED, QUARANTINE)
            synced = False
            while not self._stop.is_set():
                try:
                    synced = synced or self._start(lock_wait_s)
                    seen = self._cycle(summary, lock_wait_s) if synced else 0
                except FATAL:
                    raise
                except Exception:
                    if once:
                        raise
                    logger.exception("Watch cycle failed; files not yet indexed stay in %s. Retrying in %.0f s.",
                                     self.inbox, interval)
                    seen = 1
                if once and synced and not seen:
                    break
                self._stop.wait(min(interval, max(self._settle.settle_s / 2, 0.1)) if once else interval)
        logger.info("Watch: %s", summary)
        return summary

    def _start(self, lock_wait_s: float | None) -> bool:
        """Index what a crashed run stored but did not index, and load the models; False if stopped first."""
        if not self._index(lock_wait_s):
            return False
        self._warm_up()
        logger.info("Ready: new files in %s are indexed with %s", self.inbox, ", ".join(self._models()))
        return True

    def _cycle(self, summary: WatchSummary, lock_wait_s: float | None) -> int:
        """One scan, with its ready files processed in batches; returns how many files the scan saw."""
        ready, waiting = self.scan()
        for start in range(0, len(ready), self.batch_size):
            if self._stop.is_set():
                break
            summary.results.extend(self.process(ready[start : start + self.batch_size], lock_wait_s))
        return len(ready) + waiting

    def scan(self) -> tuple[list[Path], int]:
        """Files ready to process, in sorted order, and how many others are still being written."""
        now = time.monotonic()
        files = sorted(self._candidates())
        ready_now = {p for p in files if self._is_ready(p, now)}
        self._settle.keep_only(set(files))
        pdfs = {(p.parent, p.stem.lower()) for p in files if p.suffix.lower() == ".pdf"}
        ready, waiting = [], 0
        for path in files:
            if path.suffix.lower() in JATS_SUFFIXES and (path.parent, path.stem.lower()) in pdfs:
                continue  # metadata of a PDF: it travels with the PDF
            if path in ready_now and all(s in ready_now for s in _siblings(path)):
                ready.append(path)
            else:
                waiting += 1
        return ready, waiting

    def process(self, files: Sequence[Path], lock_wait_s: float | None = None) -> list[IngestResult]:
        """Ingest ``files`` (quarantining broken ones), update the indexes, then move the rest to ``processed/``."""
        results: list[IngestResult] = []
        for path in files:
            if self._stop.is_set():
                return results  # stored files stay in the inbox; the next start indexes and moves them
            if not path.is_file():
                continue  # taken away since the scan
            try:
                result = self._ingest(path)
            except inbox_fs.LinkedPathError as exc:  # a folder swapped for a link since the scan: never followed
                logger.warning("Skipped %s: %s; the watcher reads nothing through links.", path, exc.strerror)
                continue
            except FileNotFoundError:
                continue  # taken away since the scan
            if result.status == "failed":
                self._quarantine(path, result.reason or "unknown error")
                logger.warning("Quarantined %s: %s", path.name, result.reason)
            else:
                logger.info("%s %s: %s", "Added" if result.status == "added" else "Already stored", path.name,
                            result.title or result.reason)
            results.append(result)
        done = [Path(r.path) for r in results if r.status != "failed"]
        if done and self._index(lock_wait_s):
            for path in done:
                self._move_out(path, PROCESSED)
            logger.info("Indexed and moved %d file(s) to %s", len(done), self.inbox / PROCESSED)
        return results

    # -- steps ------------------------------------------------------------------------------------------------
    def _candidates(self) -> Iterator[Path]:
        for root, dirs, names in os.walk(self.inbox):
            top = Path(root) == self.inbox
            dirs[:] = sorted(d for d in dirs if not is_temporary(d) and not (top and d in (PROCESSED, QUARANTINE)))
            yield from (Path(root) / n for n in names if not is_temporary(n))

    def _is_ready(self, path: Path, now: float) -> bool:
        try:
            stat = path.stat()
        except FileNotFoundError:
            return False
        return self._settle.ready(path, stat, now)

    def _ingest(self, path: Path) -> IngestResult:
        """Store one file (a copy under ``files_dir``); ``failed`` only when the file itself is at fault.

        A store that does not answer raises instead, so a good file is never quarantined for it.
        """
        name = path.name
        if path.suffix.lower() in JATS_SUFFIXES:
            return IngestResult(str(path), "failed", f"{name}: a JATS XML file without its PDF; drop the PDF with it "
                                                     "(same name), or add the XML alone with `medembed ingest`.")
        if path.suffix.lower() != ".pdf":
            return IngestResult(str(path), "failed", f"{name}: not a PDF; the inbox takes PDF files of articles.")
        # Read from the checked folder's handle: a sub-folder swapped for a link since the scan is never followed.
        with inbox_fs.open_folder(self.inbox, path.parent.relative_to(self.inbox)) as folder:
            data, problem = inbox_fs.read_regular(folder, name, MAX_UPLOAD_BYTES)
            owner = os.stat(name, dir_fd=folder, follow_symlinks=False).st_uid
            siblings = [(suffix, inbox_fs.read_regular(folder, sibling, MAX_UPLOAD_BYTES)[0])
                        for suffix in JATS_SUFFIXES
                        if inbox_fs.is_regular(folder, sibling := Path(name).with_suffix(suffix).name)]
        if problem == "link":
            return IngestResult(str(path), "failed", f"{name}: a symbolic link; the inbox takes files, not links to "
                                                     "them (a link could point at any file on the server).")
        if problem is not None and problem.startswith("size:"):  # refused before reading it into memory
            size = int(problem.removeprefix("size:"))
            return IngestResult(str(path), "failed", f"{name}: {size / 2**20:.1f} MB is over the "
                                                     f"{MAX_UPLOAD_BYTES // 2**20} MB limit; split or compress it.")
        if data is None:
            return IngestResult(str(path), "failed", f"{name}: not a regular file; the inbox takes PDF files.")
        # The file's owner is its source: one inbox writer's papers outvote no one (abbreviation expansion).
        result = accept_pdf(self.store, self.settings, name, data, self.collection,
                            [(suffix, blob) for suffix, blob in siblings if blob is not None], f"inbox:uid{owner}")
        return IngestResult(str(path), result.status, result.reason, result.doc_id, result.n_chunks, result.title)

    def _index(self, lock_wait_s: float | None) -> bool:
        """Update BM25 and the dense indexes, waiting while another process holds the writer lock.

        Returns False when asked to stop before the indexes could be updated.
        """
        return _retry_locked(lambda: reindex(self.store, self.settings, self.models or None, user=WATCHER),
                             "index writer", self._stop, self.lock_retry_s, lock_wait_s) is not None

    def _models(self) -> list[str]:
        return self.models or indexed_models(self.settings) or [self.settings.index.model]

    def _warm_up(self) -> None:
        """Load the models now: a model that cannot load stops the watcher at start, not at the first paper."""
        for name in self._models():
            Embedder.load(name, self.settings)

    def _quarantine(self, path: Path, reason: str) -> None:
        """Write ``<name>.error.txt`` first, then move the file: a crash in between leaves it in the inbox."""
        when = datetime.now(UTC).isoformat(timespec="seconds")
        note = (f"{path.name} was not added to the library.\nReason: {reason}\nWhen: {when}\n"
                f"Fix the file (or get another copy) and drop it into {self.inbox} again.\n").encode()
        self._move_out(path, QUARANTINE, note)

    def _move_out(self, path: Path, folder: str, note: bytes | None = None) -> None:
        """Move a file and its JATS siblings under ``folder`` (siblings first; the main file last), with ``note``
        written beside it first when given.

        Source and destination are directory handles opened without following links, and the renames are relative
        to them: a folder swapped for a link meanwhile can neither send inbox files out nor bring outside files in.
        """
        relative = path.parent.relative_to(self.inbox)
        try:
            with (inbox_fs.open_folder(self.inbox, relative) as src,
                  inbox_fs.open_folder(self.inbox, Path(folder) / relative, create=True) as dst):
                dest = _free_name(dst, path.name)
                if note is not None:
                    inbox_fs.write_new_at(dst, dest + ERROR_SUFFIX, note)
                for suffix in JATS_SUFFIXES:
                    sibling = Path(path.name).with_suffix(suffix).name
                    if path.suffix.lower() == ".pdf" and inbox_fs.is_regular(src, sibling):
                        os.replace(sibling, Path(dest).with_suffix(suffix).name, src_dir_fd=src, dst_dir_fd=dst)
                os.replace(path.name, dest, src_dir_fd=src, dst_dir_fd=dst)
        except inbox_fs.LinkedPathError as exc:
            raise ConfigError(f"{exc.strerror}; the watcher never writes through links. Replace it with a real "
                              "folder and start again.") from exc

    @contextlib.contextmanager
    def _inbox_lock(self, lock_wait_s: float | None) -> Iterator[None]:
        """One watcher per inbox; a second one waits (logging who holds it) until the first stops."""
        with contextlib.ExitStack() as stack:

            def take() -> bool:
                stack.enter_context(exclusive_lock(
                    self.inbox / LOCK_FILE,
                    lambda holder: f"Another watcher ({holder}) is processing {self.inbox}; stop it, or let this "
                                   "one wait."))
                return True

            _retry_locked(take, "inbox", self._stop, self.lock_retry_s, lock_wait_s)
            yield


def _retry_locked(func: Callable[[], object], what: str, stop: threading.Event, retry_s: float,
                  wait_s: float | None) -> object | None:
    """``func()``, retried while it raises LockedError; None if ``stop`` was set first. Past ``wait_s``, re-raises."""
    deadline = None if wait_s is None else time.monotonic() + wait_s
    tries = 0
    while not stop.is_set():
        try:
            return func()
        except LockedError as exc:
            if deadline is not None and time.monotonic() + retry_s > deadline:
                raise
            tries += 1
            log = logger.warning if tries == 1 or tries % 12 == 0 else logger.debug
            log("%s Waiting for the %s lock; retrying every %.0f s (files stay in the inbox until indexed).",
                exc, what, retry_s)
            stop.wait(retry_s)
    return None


def _siblings(path: Path) -> list[Path]:
    """The JATS files beside a PDF with the same name (``X.xml``/``X.nxml`` for ``X.pdf``)."""
    if path.suffix.lower() != ".pdf":
        return []
    return [p for p in (path.with_suffix(s) for s in JATS_SUFFIXES) if p.is_file() and not p.is_symlink()]


def _free_name(folder: int, name: str) -> str:
    """``name``, or ``name-1.pdf``, ``name-2.pdf``... when a file of that name (or its sibling) is in ``folder``.

    A ``.error.txt`` alone does not count: it is left by a crash before its file moved, and is rewritten.
    """
    target = Path(name)
    n = 0
    while True:
        candidate = target if n == 0 else target.with_name(f"{target.stem}-{n}{target.suffix}")
        if not any(inbox_fs.exists(folder, p.name)
                   for p in (candidate, *(candidate.with_suffix(s) for s in JATS_SUFFIXES))):
            return candidate.name
        n += 1
