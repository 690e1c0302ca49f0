"""Atomic, versioned index folders and the index-writer lock.

An index lives in ``<root>/v-<timestamp>-<rand>/`` beside a ``CURRENT`` file naming the live version. A build
writes a fresh version folder completely (including ``manifest.json``), fsyncs it, then replaces ``CURRENT``
with ``os.replace``: readers see the old index or the new one, never a half-written one. A crash leaves at
most an orphan folder, removed by the next build.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from medcore.errors import ConfigError, IndexNotFoundError, LockedError

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
CURRENT = "CURRENT"


def current_version(root: Path) -> Path | None:
    """The live version folder of an index, or None when none was built yet."""
    try:
        name = (root / CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    path = root / name
    return path if (path / MANIFEST).is_file() else None


def read_manifest(root: Path) -> tuple[Path, dict[str, Any]]:
    version = current_version(root)
    if version is None:
        raise IndexNotFoundError(f"No index at {root}; build it with `medembed index`.")
    return version, json.loads((version / MANIFEST).read_text(encoding="utf-8"))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def new_version(root: Path, manifest: dict[str, Any]) -> Iterator[Path]:
    """Yield an empty version folder to write into; on success it becomes ``CURRENT`` atomically.

    ``manifest`` may be updated by the caller inside the block; ``built_at`` is added here.
    """
    root.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    version = root / f"v-{stamp}-{secrets.token_hex(3)}"
    version.mkdir()
    try:
        yield version
        manifest["built_at"] = datetime.now(UTC).isoformat()
        (version / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        for f in version.iterdir():
            if f.is_file():
                with open(f, "rb") as fh:
                    os.fsync(fh.fileno())
        _fsync_dir(version)
        tmp = root / f".{CURRENT}.{secrets.token_hex(4)}"
        tmp.write_text(version.name, encoding="utf-8")
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, root / CURRENT)
        _fsync_dir(root)
    except BaseException:
        shutil.rmtree(version, ignore_errors=True)
        raise
    prune(root, keep=2)


def prune(root: Path, keep: int = 2, min_age_s: float = 60.0) -> None:
    """Remove old versions (keeping ``keep`` newest and any younger than ``min_age_s`` that a reader may hold)."""
    live = current_version(root)
    versions = sorted((p for p in root.glob("v-*") if p.is_dir()), key=lambda p: p.name, reverse=True)
    now = time.time()
    for old in versions[keep:]:
        if old != live and now - old.stat().st_mtime > min_age_s:
            shutil.rmtree(old, ignore_errors=True)
    for tmp in root.glob(f".{CURRENT}.*"):
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def exclusive_lock(path: Path, busy: Callable[[str], str]) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (recording our pid in it); if another process holds it, raise
    :class:`LockedError` at once with ``busy(holder)`` as the message.

    The lock file is never opened through a symbolic link: it is truncated and written, so a link planted in its
    place would have us clobber the file it points at.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        raise ConfigError(f"The lock file {path} is a symbolic link; MedEmbed never writes through links. Remove it "
                          "(it is made again as a plain file) and start again.") from None
    with os.fdopen(fd, "r+") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                fh.seek(0)
                raise LockedError(busy(fh.read().strip() or "another process")) from None
            raise
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}")
        fh.flush()
        try:
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def writer_lock(index_dir: Path) -> contextlib.AbstractContextManager[None]:
    """Hold the one-writer lock for all indexes under ``index_dir``; fail at once if another process has it."""
    index_dir.mkdir(parents=True, exist_ok=True)
    return exclusive_lock(
        index_dir / ".lock",
        lambda holder: f"Another indexer ({holder}) is writing {index_dir}; wait for it to finish and run again.",
    )
