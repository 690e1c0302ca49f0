"""Hostile files: each is ingested or refused with a clear reason, the rest of the batch goes in, memory stays
bounded, and nothing hangs (the per-file time limit of ``ingest.timeout_s``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from figures import record
from hostile_pdfs import TEST_PDFS, make_hostile_corpus, many_pages, odd_unicode

from indexer.ingest import Ingestor
from indexer.parse.pdf import parse_pdf
from indexer.parse.worker import ParseWorker
from medcore.errors import IngestError
from store import Store
from tests.conftest import suite_settings

REPO = Path(__file__).resolve().parents[1]
PEAK_RSS_LIMIT_MB = 1500  # the whole batch, with the tokenizer loaded; the parser child is capped separately

# Expected outcome per case: (status, words the reason must hold).
EXPECTED = {
    "truncated": ("failed", ["truncated or corrupt", "re-download"]),
    # MuPDF rebuilds the cross-reference table (%%EOF is there): read, then found to be the paper already stored.
    "corrupt_xref": ("skipped", ["same DOI/PMCID"]),
    "encrypted_user_pw": ("failed", ["encrypted PDF", "decrypt"]),
    "encrypted_owner_only": ("skipped", ["same DOI/PMCID"]),  # opens without a password: the same paper again
    "scanned": ("failed", ["no extractable text", "OCR"]),
    "odd_unicode": ("added", []),
    "nul_padded": ("skipped", ["same DOI/PMCID"]),  # complete PDF + 1 MB of zeros: read, found to be a duplicate
    "not_a_pdf_webpage": ("failed", ["not a PDF", "<!DOCTYPE html"]),
    "not_a_pdf_picture": ("failed", ["not a PDF", "PNG"]),
    "not_a_pdf_archive": ("failed", ["not a PDF", "PK"]),
    "duplicate_0": ("skipped", ["already stored (same sha256)"]),
    "duplicate_1": ("skipped", ["already stored (same sha256)"]),
    "pages_2000": ("added", []),
    "images_50mb": ("added", []),
}

DRIVER = """
import json, re, resource, sys
from pathlib import Path
from indexer.ingest import Ingestor
from indexer.parse.worker import _close_shared
from store import Store
from medcore.config import Settings
settings = Settings.load()
report = Ingestor(Store.from_settings(settings), settings).ingest([Path(p) for p in sys.argv[1:]],
                                                                  show_progress_bar=False)
_close_shared()
print(json.dumps({"results": [r.__dict__ for r in report.results],
                  # VmHWM, not ru_maxrss: Linux carries ru_maxrss across execve, so it would report pytest's peak
                  "self_mb": int(re.search(r"VmHWM:\\s+(\\d+)", Path("/proc/self/status").read_text())[1]) / 1024,
                  "parser_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


@pytest.fixture(scope="session")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The hostile corpus (with the 2,000-page and the 50 MB file), built once per session."""
    return make_hostile_corpus(tmp_path_factory.mktemp("hostile"))


def test_every_hostile_file_is_ingested_or_refused_and_the_batch_goes_on(hostile: dict[str, Path],
                                                                         tmp_path: Path) -> None:
    # The same committed paper is first in the batch, so its duplicates meet it already stored.
    real = sorted(TEST_PDFS.glob("*.pdf"))
    order = [*hostile.values()]
    files = [real[1], *order[:7], real[0], *order[7:], real[2]]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDEMBED_")}
    env |= {"MEDEMBED_HOME": str(tmp_path / "home"), "PYTHONPATH": str(REPO)}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", DRIVER, *map(str, files)], env=env, capture_output=True,
                          text=True, timeout=600)
    seconds = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    by_path = {Path(r["path"]).name: r for r in out["results"]}
    outcomes = {}
    for case, path in hostile.items():
        result = by_path[path.name]
        status, words = EXPECTED[case]
        assert result["status"] == status, (case, result)
        for word in words:
            assert word in (result["reason"] or ""), (case, result["reason"])
        outcomes[case] = f"{result['status']}: {result['reason']}" if result["reason"] else result["status"]
    assert [by_path[p.name]["status"] for p in real] == ["added"] * 3, "the real papers around them go in"

    store = Store.from_settings(suite_settings().with_home(tmp_path / "home"))
    docs = {d.title: (d, n) for d, n in store.documents()}
    assert len(docs) == 3 + 3, "three real papers + odd Unicode, 2,000 pages, 50 MB of images"
    big, n_big = next(v for t, v in docs.items() if t and "two thousand" in t)
    assert big.n_pages == 2000 and n_big > 100
    chunks = store.get_chunks(store.chunk_ids())
    pages = {c.page for c, d in chunks.values() if d.id == big.id}
    assert min(pages) == 1 and max(pages) > 1990, "the text is read to the last page"
    peak = max(out["self_mb"], out["parser_mb"])
    assert peak < PEAK_RSS_LIMIT_MB, out
    record("hostile_files", {
        "files": len(files), "hostile_files": len(hostile),
        "added": sum(r["status"] == "added" for r in out["results"]),
        "skipped": sum(r["status"] == "skipped" for r in out["results"]),
        "failed": sum(r["status"] == "failed" for r in out["results"]),
        "peak_rss_mb_ingest_process": round(out["self_mb"]), "peak_rss_mb_parser_process": round(out["parser_mb"]),
        "sizes_mb": {k: round(p.stat().st_size / 2**20, 2) for k, p in hostile.items()},
        "seconds": round(seconds, 1), "outcomes": outcomes,
    })


def test_odd_unicode_and_nul_are_stored_clean_in_postgres(tmp_path: Path, pg_url: str) -> None:
    settings = suite_settings().with_home(tmp_path / "home", database_url=pg_url)
    store = Store.from_settings(settings)
    path = odd_unicode(tmp_path)
    report = Ingestor(store, settings).ingest([path], show_progress_bar=False)
    assert [r.status for r in report.results] == ["added"], report.results
    ((doc, n),) = store.documents()
    for value in (doc.title, doc.authors, *(c.text for c, _ in store.get_chunks(store.chunk_ids()).values())):
        assert value and not any(ch in value for ch in "\x00\u202e\u202c\u200b\ufeff"), repr(value)
        assert not any("\ud800" <= ch <= "\udfff" for ch in value), repr(value)
    assert "\u05e9\u05dc\u05d5\u05dd" in doc.title and "\U0001f9ec" in doc.title, "visible text of any script stays"
    assert doc.authors == "Nbody evil"


def test_a_file_past_the_time_limit_is_stopped_and_the_next_one_goes_in(hostile: dict[str, Path],
                                                                        tmp_path: Path) -> None:
    start = time.perf_counter()
    parse_pdf(hostile["pages_2000"])
    in_process = time.perf_counter() - start
    limit = max(0.3, in_process / 3)  # well under the big file's parse, well over a one-page file's
    settings = suite_settings().with_home(tmp_path / "home")
    settings = replace(settings, ingest=replace(settings.ingest, timeout_s=limit))
    store = Store.from_settings(settings)
    report = Ingestor(store, settings).ingest([hostile["pages_2000"], odd_unicode(tmp_path)], show_progress_bar=False)
    first, second = report.results
    assert first.status == "failed" and f"longer than {limit:g} s" in first.reason, first
    assert "MEDEMBED_INGEST_TIMEOUT_S" in first.reason
    assert second.status == "added", second
    record("ingest_time_limit", {"parse_seconds_in_process": round(in_process, 2), "limit_s": round(limit, 3),
                                 "outcome": first.reason})


def test_a_parser_crash_costs_only_that_file(tmp_path: Path) -> None:
    """A segfault in MuPDF (simulated: SIGSEGV sent to the parser child mid-file) is reported for that file."""
    big = many_pages(tmp_path, n_pages=600)
    worker = ParseWorker(timeout_s=120)
    try:
        worker.parse(TEST_PDFS / "PMC4738698.pdf", "library")  # the child is up
        pid = worker._proc.pid
        threading.Timer(0.01, os.kill, (pid, signal.SIGSEGV)).start()
        with pytest.raises(IngestError, match=r"parser crashed on this file \(signal SIGSEGV\).*qpdf"):
            worker.parse(big, "library")
        parsed = worker.parse(TEST_PDFS / "PMC4738698.pdf", "library")
        assert parsed.title and worker.started == 2, "a fresh child took over"
    finally:
        worker.close()


def test_the_parser_child_does_not_outlive_its_parent(tmp_path: Path) -> None:
    code = ("import sys, time; from pathlib import Path; from indexer.parse.worker import ParseWorker; "
            "w = ParseWorker(60); w.parse(Path(sys.argv[1]), 'library'); print(w._proc.pid, flush=True); "
            "time.sleep(60)")
    parent = subprocess.Popen([sys.executable, "-c", code, str(TEST_PDFS / "PMC4738698.pdf")], cwd=REPO,
                              stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
    child = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and Path(f"/proc/{child}").exists():
        time.sleep(0.1)
    assert not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]


@pytest.mark.parametrize("timeout_s", [60.0, 0.0], ids=["parser child", "in process"])
def test_a_file_with_more_text_than_the_cap_is_refused_before_its_text_crosses(tmp_path: Path,
                                                                              timeout_s: float) -> None:
    paper = TEST_PDFS / "PMC4738698.pdf"
    settings = suite_settings().with_home(tmp_path / "home")
    settings = replace(settings, ingest=replace(settings.ingest, timeout_s=timeout_s, max_text_chars=5000))
    store = Store.from_settings(settings)
    [result] = Ingestor(store, settings).ingest([paper], show_progress_bar=False).results
    assert result.status == "failed" and "more than ingest.max_text_chars (5,000)" in result.reason, result
    assert "MEDEMBED_INGEST_MAX_TEXT_CHARS" in result.reason and store.counts() == (0, 0)
    roomy = replace(settings, ingest=replace(settings.ingest, max_text_chars=1_000_000))
    assert Ingestor(store, roomy).ingest([paper], show_progress_bar=False).results[0].status == "added"


def test_the_parser_child_gets_no_secrets_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = {"MEDEMBED_DATABASE_URL": "postgresql+psycopg://medembed:db-secret@db/medembed",
               "MEDEMBED_OIDC_CLIENT_SECRET": "oidc-secret", "MEDEMBED_COOKIE_SECRET": "cookie-secret",
               "OPENAI_API_KEY": "llm-secret", "AWS_SECRET_ACCESS_KEY": "cloud-secret"}
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    worker = ParseWorker(timeout_s=120)
    try:
        assert worker.parse(TEST_PDFS / "PMC4738698.pdf", "library").title, "the trimmed child still parses"
        environ = Path(f"/proc/{worker._proc.pid}/environ").read_bytes().decode().split("\0")
    finally:
        worker.close()
    names = {entry.split("=", 1)[0] for entry in environ if entry}
    assert not names & set(secrets) and not any(v in "\0".join(environ) for v in secrets.values()), names
    assert {"PATH", "PYTHONPATH"} <= names


# A parser child taken over by a file that exploits MuPDF, modelled by a script in its place. It confines itself
# first the way the real child does (where that exists), then does what an exploit would.
_HIJACKED_CHILD = r"""
import os, pickle, struct, sys
try:
    from indexer.parse.worker import confine
    confine()
except ImportError:
    pass
marker, mode = sys.argv[1], sys.argv[2]
out, inp = sys.stdout.buffer, sys.stdin.buffer
out.write(b"R"); out.flush()
(size,) = struct.unpack("!Q", inp.read(8)); inp.read(size)
if mode == "environ":
    try:
        seen = open(f"/proc/{os.getppid()}/environ", "rb").read().decode(errors="replace")
    except OSError as exc:
        seen = f"refused: {exc}"
    open(marker, "w").write(seen)
    sys.exit(3)
class Exploit:
    def __reduce__(self):
        return (open, (marker, "w"))
reply = pickle.dumps(("ok", Exploit()))
out.write(struct.pack("!Q", len(reply)) + reply); out.flush()
"""


def _hijack(monkeypatch: pytest.MonkeyPatch, marker: Path, mode: str) -> None:
    real_popen = subprocess.Popen

    def popen(args, **kwargs):  # noqa: ANN001, ANN202 - the worker's own environment and pipes, another program
        return real_popen([sys.executable, "-c", _HIJACKED_CHILD, str(marker), mode], **kwargs)

    monkeypatch.setattr("indexer.parse.worker.subprocess.Popen", popen)


def test_a_hijacked_parser_childs_reply_is_never_unpickled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "code-ran-in-the-parent"
    _hijack(monkeypatch, marker, "pickle")
    worker = ParseWorker(timeout_s=30)
    try:
        with pytest.raises(IngestError, match="the parser's reply was malformed"):
            worker.parse(TEST_PDFS / "PMC4738698.pdf", "library")
    finally:
        worker.close()
    assert not marker.exists(), "the child's reply ran code in the parent"


def test_a_hijacked_parser_child_cannot_read_the_parents_environment(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDEMBED_DATABASE_URL", "postgresql+psycopg://medembed:db-secret-26@db/medembed")
    marker = tmp_path / "what-the-child-saw"
    _hijack(monkeypatch, marker, "environ")
    worker = ParseWorker(timeout_s=30)
    try:
        with pytest.raises(IngestError, match="parser crashed"):
            worker.parse(TEST_PDFS / "PMC4738698.pdf", "library")
    finally:
        worker.close()
    seen = marker.read_text()
    assert "db-secret-26" not in seen and seen.startswith("refused:"), seen[:200]
