"""Parse files in a child process, so a file that hangs the PDF library, eats memory or crashes it costs only itself.

One child (``python -m indexer.parse.worker``) serves a whole batch: requests and replies are JSON frames on its
stdin and stdout. A file that takes longer than the time limit gets the child killed (the next file starts a fresh
one); the child's address space is capped; a crash (e.g. a segfault in MuPDF) becomes an :class:`IngestError`. The
child dies with its parent (``PR_SET_PDEATHSIG``, and end-of-file on its stdin).

The child parses untrusted files, so it is treated as hostile: its replies are data only (JSON, every field's type
checked, never unpickled), it gets a bare environment, it gives up every capability but reading files before it
reads one, and the parent makes itself non-dumpable so that ``/proc/<parent>/environ`` (the store password, API
keys) is closed to it.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

from indexer.parse.confine import confine, die_with_parent, make_non_dumpable
from indexer.parse.document import ParsedDocument, document_from_wire, document_to_wire
from medcore.errors import IngestError, MedEmbedError

logger = logging.getLogger(__name__)

_HEADER = struct.Struct("!Q")
_READY = b"R"
_STARTUP_S = 120.0
MAX_TEXT_CHARS = 20_000_000  # ingest.max_text_chars's default
_CHILD_KEEP = frozenset({"PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "VIRTUAL_ENV", "PYTHONHASHSEED",
                         "PYTHONDONTWRITEBYTECODE", "PYTHONUTF8", "PYTHONIOENCODING"})


def _write(stream: BinaryIO, obj: Any) -> None:
    data = json.dumps(obj, ensure_ascii=False, allow_nan=False).encode("utf-8", "surrogatepass")
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def _decode_reply(data: bytes, name: str) -> ParsedDocument:
    """The child's reply as a document, or the :class:`IngestError` it reports; anything else is refused."""
    try:
        reply = json.loads(data.decode("utf-8", "surrogatepass"))
        status = reply["status"] if isinstance(reply, dict) else None
        if status == "ok":
            return document_from_wire(reply["document"])
        if status == "error" and isinstance(reply.get("message"), str):
            message = reply["message"]
        else:
            raise ValueError(f"unknown status {status!r}")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise IngestError(f"{name}: the parser's reply was malformed ({exc}); the file was refused.") from None
    raise IngestError(message)


def _read_exact(fd: int, n: int) -> bytes:
    parts, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


class ParseWorker:
    """A reusable parser child process with a per-file time limit; thread-safe (one file at a time)."""

    def __init__(self, timeout_s: float, max_memory_mb: int = 0, max_text_chars: int = MAX_TEXT_CHARS) -> None:
        self.timeout_s, self.max_memory_mb, self.max_text_chars = timeout_s, max_memory_mb, max_text_chars
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self.started = 0  # child processes started (a kill after a timeout or crash starts another)

    def _start(self) -> subprocess.Popen:
        make_non_dumpable()
        env = child_environment(os.environ)
        proc = subprocess.Popen([sys.executable, "-m", "indexer.parse.worker", str(self.max_memory_mb),
                                 str(self.max_text_chars)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self.started += 1
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        if not select.select([fd], [], [], _STARTUP_S)[0] or _read_exact(fd, 1) != _READY:  # the time limit
            proc.kill()  # counts from here, not from interpreter start-up
            proc.wait()
            raise IngestError(f"The parser process did not start within {_STARTUP_S:.0f} s; check that "
                              f"`{sys.executable} -m indexer.parse.worker` runs, or set MEDEMBED_INGEST_TIMEOUT_S=0.")
        return proc

    def parse(self, path: Path, collection: str, sha256: str | None = None) -> ParsedDocument:
        """Parse ``path`` in the child (``sha256``: the file's, when the caller has it already); raises
        :class:`IngestError` on a parse error, time-out or crash."""
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._proc = self._start()
            proc = self._proc
            assert proc.stdin is not None and proc.stdout is not None
            try:
                _write(proc.stdin, {"path": str(path), "collection": collection, "sha256": sha256})
            except (BrokenPipeError, OSError):
                return self._crashed(path)
            deadline = time.monotonic() + self.timeout_s
            fd = proc.stdout.fileno()
            while not select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
                if time.monotonic() >= deadline:
                    self._kill()
                    raise IngestError(
                        f"{path.name}: parsing took longer than {self.timeout_s:g} s (ingest.timeout_s) and was "
                        "stopped; the file is probably malformed. Repair it (e.g. `qpdf in.pdf out.pdf`), or raise "
                        "MEDEMBED_INGEST_TIMEOUT_S for a huge but sound file."
                    )
            try:
                (size,) = _HEADER.unpack(_read_exact(fd, _HEADER.size))
                if size > _reply_cap(self.max_text_chars):  # the child checks the text; this is a second fence
                    self._kill()
                    raise IngestError(f"{path.name}: the parser's reply ({size / 2**20:.0f} MB) is larger than any "
                                      "file within ingest.max_text_chars can give; the file was refused.")
                data = _read_exact(fd, size)
            except EOFError:
                return self._crashed(path)
        return _decode_reply(data, path.name)

    def _crashed(self, path: Path) -> ParsedDocument:
        proc = self._proc
        code = proc.wait(timeout=10) if proc is not None else None
        self._proc = None
        how = f"signal {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit code {code}"
        raise IngestError(f"{path.name}: the PDF parser crashed on this file ({how}); the file is malformed. "
                          "Re-download it or repair it (e.g. `qpdf in.pdf out.pdf`) and ingest again.")

    def _kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def close(self) -> None:
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                try:
                    self._proc.stdin.close()  # the child exits at end of input
                    self._proc.wait(timeout=5)
                except (OSError, subprocess.TimeoutExpired):
                    self._kill()
            self._proc = None


def child_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The parser child's environment: what Python and the locale need, nothing else. The child reads untrusted
    files, so the database URL, API keys and cookie secrets of the parent's environment stay out of its reach."""
    keep = {k: v for k, v in environ.items() if k in _CHILD_KEEP or k.startswith("LC_")}
    keep["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]),
                                                       environ.get("PYTHONPATH")]))
    return keep


def _reply_cap(max_text_chars: int) -> int:
    """The largest reply a file within the text cap can give: 6 bytes a character (UTF-8, JSON escapes of control
    characters), plus room for the framing."""
    return 6 * max_text_chars + (16 << 20)


def check_text_size(doc: ParsedDocument, name: str, max_text_chars: int) -> None:
    """Raise :class:`IngestError` when a parsed file holds more text than ``ingest.max_text_chars``."""
    if (n := doc.n_chars()) > max_text_chars:
        raise IngestError(f"{name}: {n:,} characters of text, more than ingest.max_text_chars ({max_text_chars:,}); "
                          "split the file, or raise MEDEMBED_INGEST_MAX_TEXT_CHARS if it is sound.")


_SHARED: dict[tuple[float, int, int], ParseWorker] = {}
_SHARED_LOCK = threading.Lock()


def shared_worker(timeout_s: float, max_memory_mb: int, max_text_chars: int = MAX_TEXT_CHARS) -> ParseWorker:
    """One worker per set of limits for the whole process (the UI and the watcher ingest file by file)."""
    key = (timeout_s, max_memory_mb, max_text_chars)
    with _SHARED_LOCK:
        worker = _SHARED.get(key)
        if worker is None:
            worker = _SHARED[key] = ParseWorker(*key)
        return worker


@atexit.register
def _close_shared() -> None:
    for worker in list(_SHARED.values()):
        worker.close()


# -- the child ------------------------------------------------------------------------------------------------
def _limit_memory(max_memory_mb: int) -> None:
    if max_memory_mb > 0:
        import resource

        limit = max_memory_mb << 20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _warm_up() -> None:
    """Load what MuPDF loads lazily on its first page, so the time limit counts parsing, not imports."""
    try:
        import pymupdf

        with pymupdf.open() as doc:
            doc.new_page().insert_text((72, 72), "warm up")
            doc.load_page(0).get_text("dict")
    except Exception:  # noqa: BLE001 - only a warm-up
        logger.debug("Parser warm-up failed", exc_info=True)


def _serve(max_memory_mb: int, max_text_chars: int) -> None:
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything a library prints goes to stderr, never into the reply stream
    die_with_parent()
    confine()
    from indexer.parse.files import parse_file

    _warm_up()
    _limit_memory(max_memory_mb)
    out.write(_READY)
    out.flush()
    inp = sys.stdin.buffer.fileno()
    while True:
        try:
            (size,) = _HEADER.unpack(_read_exact(inp, _HEADER.size))
            request = json.loads(_read_exact(inp, size))
        except EOFError:
            return
        path, collection, sha256 = request["path"], request["collection"], request["sha256"]
        name = Path(path).name
        try:
            doc = parse_file(Path(path), collection, sha256)
            check_text_size(doc, name, max_text_chars)
            reply: dict[str, Any] = {"status": "ok", "document": document_to_wire(doc)}
        except MedEmbedError as exc:
            reply = {"status": "error", "message": str(exc)}
        except MemoryError:
            reply = {"status": "error", "message": f"{name}: parsing needs more than {max_memory_mb} MB "
                                                   "(ingest.max_memory_mb); the file is malformed or far too large."}
        except Exception as exc:  # noqa: BLE001 - reported as this file's failure, the batch goes on
            reply = {"status": "error", "message": f"{name}: unexpected parser error ({type(exc).__name__}: {exc})."}
        _write(out, reply)


if __name__ == "__main__":
    _serve(int(sys.argv[1]) if len(sys.argv) > 1 else 0, int(sys.argv[2]) if len(sys.argv) > 2 else MAX_TEXT_CHARS)
