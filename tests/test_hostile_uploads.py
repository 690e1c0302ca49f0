"""Hostile uploads: path traversal names, files past the size cap, wrong types, planted links. Each is refused
with a message or stored under a safe name; nothing is ever written outside the data folder."""

from __future__ import annotations

import os
from pathlib import Path

from figures import record
from hostile_pdfs import REAL

from access.roles import Principal
from indexer import accept
from library import manage as lib
from store import Store
from tests.conftest import suite_settings

CURATOR = Principal("cura", "curator")
PDF = REAL.read_bytes()
NAMES = ["../../x.pdf", "..\\..\\..\\windows\\x.pdf", "/etc/passwd", "/tmp/abs.pdf", "..", ".pdf", "....pdf",
         "a\x00b.pdf", "x.pdf/../../y.pdf", "\u202egpj.pdf", "CON.pdf", "n" * 5000 + ".pdf", "\u00e9t\u00e9 (1).PDF",
         "~/.bashrc", "%2e%2e%2fx.pdf", " "]


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_traversal_names_oversize_and_wrong_types_never_escape_the_data_folder(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    home = outside / "deep" / "home"
    settings = suite_settings().with_home(home)
    store = Store.from_settings(settings)
    before = _tree(outside) - {str(p.relative_to(outside)) for p in home.rglob("*")} - {"deep", "deep/home"}

    uploads = [(name, PDF) for name in NAMES]
    uploads += [("huge.pdf", b"%PDF-1.7\n" + b"0" * (accept.MAX_UPLOAD_BYTES + 1)), ("empty.pdf", b""),
                ("page.pdf", b"<html><script>alert(1)</script></html>"), ("shell.pdf", b"#!/bin/sh\nrm -rf /\n"),
                ("exe.pdf", b"MZ\x90\x00" + b"\x00" * 100)]
    results = lib.add_uploads(store, settings, uploads, user=CURATOR)
    by_name = {r.path: r for r in results}

    added = [r for r in results if r.status == "added"]
    assert len(added) == 1, "the same paper under 16 names is stored once"
    assert all(by_name[n].status in ("added", "skipped") for n in NAMES), [by_name[n] for n in NAMES]
    assert "over the 50 MB limit" in by_name["huge.pdf"].reason
    assert "the file is empty" in by_name["empty.pdf"].reason
    for name in ("page.pdf", "shell.pdf", "exe.pdf"):
        assert by_name[name].status == "failed" and "not a PDF" in by_name[name].reason

    files = list(settings.paths.files_dir.iterdir())
    assert len(files) == 1 and files[0].name == "x.pdf", files
    after = _tree(outside) - {str(p.relative_to(outside)) for p in home.rglob("*")} - {"deep", "deep/home"}
    assert after == before == set(), "nothing outside the data folder"
    for name in NAMES:
        safe = accept.safe_filename(name)
        assert "/" not in safe and "\\" not in safe and "\x00" not in safe and not safe.startswith(".")
        assert safe.endswith(".pdf") and len(safe) <= 124 and (settings.paths.files_dir / safe).parent == \
            settings.paths.files_dir
    record("hostile_uploads", {"uploads": len(uploads), "added": len(added),
                               "skipped": sum(r.status == "skipped" for r in results),
                               "refused": sum(r.status == "failed" for r in results),
                               "files_written": [p.name for p in files], "written_outside": len(after)})


def test_a_link_planted_in_the_upload_folder_is_never_followed(tmp_path: Path) -> None:
    settings = suite_settings().with_home(tmp_path / "home")
    target = tmp_path / "victim.txt"
    target.write_text("precious")
    files_dir = settings.paths.files_dir
    files_dir.mkdir(parents=True)
    os.symlink(target, files_dir / "paper.pdf")
    os.symlink(tmp_path / "missing.txt", files_dir / "paper-1.pdf")  # a dangling link: writing would create it
    path, created = accept.save_upload("paper.pdf", PDF, files_dir)
    assert created and path.name == "paper-2.pdf" and path.read_bytes() == PDF
    assert target.read_text() == "precious" and not (tmp_path / "missing.txt").exists()
