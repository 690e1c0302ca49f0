"""Accepting a PDF into the library, the one path for uploads and the watched inbox: the checks (a PDF by its
first bytes, not empty, not too large), the library's own copy under ``paths.files_dir`` (a safe name, never
through a link, never over another file), the JATS siblings beside it, then ingest. The file's bytes are hashed once
here; the same sha256 goes on to the store check and the parsed document."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path

from indexer.ingest import Ingestor, IngestResult
from medcore.config import Settings
from store import Store

logger = logging.getLogger(__name__)

#: Largest PDF accepted; clinical papers are rarely above 20 MB.
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
PDF_MAGIC = b"%PDF-"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_filename(name: str, suffix: str = ".pdf") -> str:
    """A file name safe to create in the upload folder: no directories, no traversal, no odd characters.

    Example: ``"../../etc/passwd"`` gives ``"passwd.pdf"``, ``"Ré sumé (1).PDF"`` gives ``"Re_sume_1_.pdf"``.
    """
    base = re.split(r"[\\/]", name)[-1]
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode("ascii")
    stem = base[: -len(suffix)] if base.lower().endswith(suffix) else base
    stem = _UNSAFE.sub("_", stem).strip("._-")[:120] or "upload"
    return stem + suffix


def check_pdf(name: str, data: bytes, max_bytes: int = MAX_UPLOAD_BYTES) -> str | None:
    """Why an upload is refused (not a PDF by its first bytes, empty, or too large), or None when it is fine."""
    if not data:
        return f"{name}: the file is empty."
    if len(data) > max_bytes:
        size, limit = len(data) / 2**20, max_bytes / 2**20
        return f"{name}: {size:.1f} MB is over the {limit:.0f} MB limit; split or compress it."
    if PDF_MAGIC not in data[:1024]:
        return f"{name}: not a PDF (it does not start with %PDF-); upload the article's PDF file."
    return None


def save_upload(name: str, data: bytes, files_dir: Path) -> tuple[Path, bool]:
    """Write an accepted upload under ``files_dir`` with a safe name; returns ``(path, created)``.

    An identical file already there is reused (``created`` False); a different file of the same name gets ``-1``,
    ``-2``... appended.
    """
    files_dir.mkdir(parents=True, exist_ok=True)
    safe = safe_filename(name)
    stem, n = safe[: -len(".pdf")], 0
    while True:
        path = files_dir / (safe if n == 0 else f"{stem}-{n}.pdf")
        if _create_new(path, data):
            return path.resolve(), True
        if not path.is_symlink() and path.is_file() and path.read_bytes() == data:
            return path.resolve(), False
        n += 1


def _create_new(path: Path, data: bytes) -> bool:
    """Write ``data`` to a new file at ``path``; False when something (a file, a link) is already there. Never follows
    a symbolic link and never overwrites, so two uploads of one name at once cannot clobber each other. The bytes go
    to a hidden temporary file first and are linked into place whole: a process killed mid-write leaves no partial
    PDF under the real name (which a restart would take for another file and copy again beside it)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)
    return True


def accept_pdf(store: Store, settings: Settings, name: str, data: bytes, collection: str = "library",
               siblings: Sequence[tuple[str, bytes]] = (), added_by: str | None = None) -> IngestResult:
    """Check, copy and ingest one PDF given as ``name`` and its bytes; ``siblings`` are JATS files to copy beside it
    (each as its suffix and bytes, read by the caller from where it checked them); ``added_by``: who it came from.

    The result's ``path`` is ``name``. ``failed`` means the file itself is at fault (its reason says why); the copy
    is kept only when the store points at it: a failed file's copy is nobody's (its sha256 is not stored), even when
    a crashed run made it; a skipped one's only when made just now (another document may use that name).
    """
    if problem := check_pdf(safe_filename(name), data):
        return IngestResult(name, "failed", problem)
    sha256 = hashlib.sha256(data).hexdigest()
    if store.has_sha256(sha256):
        return IngestResult(name, "skipped", "already stored (same sha256)")
    copy, created = save_upload(name, data, settings.paths.files_dir)
    extras = [_copy_beside(suffix, blob, copy) for suffix, blob in siblings]
    result = Ingestor(store, settings, added_by).ingest_file(copy, collection, sha256=sha256)
    if result.status == "failed" and store.has_sha256(sha256):  # stored meanwhile by another process
        result = IngestResult(name, "skipped", "already stored (same sha256)")
    if result.status == "failed" or (result.status == "skipped" and created):
        for made in (copy, *(p for p, new in extras if new or result.status == "failed")):
            made.unlink(missing_ok=True)
    return IngestResult(name, result.status, result.reason, result.doc_id, result.n_chunks, result.title)


def _copy_beside(suffix: str, data: bytes, copy: Path) -> tuple[Path, bool]:
    """Put a PDF's JATS file beside the library's copy of the PDF (where ingest looks for it)."""
    target = copy.with_suffix(suffix.lower())
    if not target.is_symlink() and target.is_file() and target.read_bytes() == data:
        return target, False
    write_new(target, data)
    return target, True


def write_new(path: Path, data: bytes) -> None:
    """Write ``path`` afresh: what is there (a stale file, or a planted link) is removed, not written through, and
    the file is created exclusively without following links, so a link planted meanwhile fails the write."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
