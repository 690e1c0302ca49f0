"""File operations inside a folder that others write to, none of which follows a symbolic link.

Whoever can write to the inbox can swap any folder in it for a link at any moment, also between our check and our
use of a path (``inbox/sub`` checked real, then replaced by a link to ``/etc`` before the file under it is read or
moved). So every step here goes from a directory handle opened with ``O_NOFOLLOW``, one path part at a time: a
read, a rename or a new file lands in the folder that was checked, whatever happens to the names meanwhile.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path, PurePath

from medcore.errors import ConfigError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class LinkedPathError(OSError):
    """A part of the path is a symbolic link (or not a folder): nothing was done through it."""

    def __init__(self, where: PurePath, linked: bool) -> None:
        super().__init__(errno.ELOOP, f"{where} is {'a symbolic link' if linked else 'not a folder'}")
        self.where, self.linked = where, linked


def _open_part(dir_fd: int, name: str, where: PurePath) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
            try:
                linked = stat.S_ISLNK(os.lstat(name, dir_fd=dir_fd).st_mode)
            except OSError:
                linked = True
            raise LinkedPathError(where, linked) from exc
        raise


@contextlib.contextmanager
def open_folder(root: Path, relative: PurePath, create: bool = False) -> Iterator[int]:
    """A handle on ``root/relative`` reached without following a link below ``root``; ``create`` makes missing
    levels. Raises :class:`LinkedPathError` when a level is a link or not a folder."""
    fds = [os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)]
    try:
        where = PurePath(root)
        for part in relative.parts:
            where = where / part
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=fds[-1])
            fds.append(_open_part(fds[-1], part, where))
        yield fds[-1]
    finally:
        for fd in reversed(fds):
            os.close(fd)


def real_folder(root: Path, relative: PurePath) -> None:
    """Make ``root/relative`` as real folders; a level that is a link stops us with a :class:`ConfigError`."""
    try:
        with open_folder(root, relative, create=True):
            pass
    except LinkedPathError as exc:
        raise ConfigError(f"{exc.strerror}; the watcher never writes through links. Replace it with a real folder "
                          "and start again.") from exc


def read_regular(dir_fd: int, name: str, max_bytes: int) -> tuple[bytes | None, str | None]:
    """The bytes of ``name`` in the folder ``dir_fd`` and None, or None and why it was not read: a link, not a
    regular file, or over ``max_bytes`` (checked on the open handle, before reading)."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK):
            return None, "link"
        raise
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            return None, "not a file"
        if info.st_size > max_bytes:
            return None, f"size:{info.st_size}"
        return fh.read(max_bytes + 1), None


def is_regular(dir_fd: int, name: str) -> bool:
    """True when ``name`` in ``dir_fd`` is a regular file itself (not a link to one)."""
    try:
        return stat.S_ISREG(os.lstat(name, dir_fd=dir_fd).st_mode)
    except FileNotFoundError:
        return False


def exists(dir_fd: int, name: str) -> bool:
    try:
        os.lstat(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return False
    return True


def write_new_at(dir_fd: int, name: str, data: bytes) -> None:
    """Write ``name`` afresh in ``dir_fd``: whatever is there (a planted link too) is removed, not written through."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name, dir_fd=dir_fd)
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=dir_fd)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
