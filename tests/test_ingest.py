"""Ingestion of real PDFs, JATS and BEIR folders into SQLite and PostgreSQL stores."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from click.testing import CliRunner

from cli.main import cli
from indexer.ingest import Ingestor
from store import Store
from tests.conftest import TEST_DATA, make_bad_pdfs, suite_settings


def test_bad_files_are_reported_and_the_rest_goes_in(tmp_path: Path, store_url: str) -> None:
    settings = suite_settings().with_home(tmp_path / "home", database_url=store_url)
    store = Store.from_settings(settings)
    bad = make_bad_pdfs(tmp_path / "bad")
    report = Ingestor(store, settings).ingest([*bad[:2], TEST_DATA / "pdfs", *bad[2:]])
    assert report.count("added") == 3 and report.count("failed") == 4
    reasons = {Path(r.path).name: r.reason for r in report.failed}
    assert "truncated or corrupt" in reasons["truncated.pdf"]
    assert "encrypted PDF" in reasons["encrypted.pdf"] and "decrypt" in reasons["encrypted.pdf"]
    assert "empty file" in reasons["empty.pdf"]
    assert "not a PDF" in reasons["notes.pdf"]
    docs = {d.pmcid: (d, n) for d, n in store.documents()}
    doc, n_chunks = docs["PMC4738698"]
    assert doc.title == "First Pediatric Case of Tularemia after a Coyote Bite"
    assert doc.journal == "Case Reports in Infectious Diseases" and doc.year == 2016, "JATS beside the PDF fills in"
    assert n_chunks > 5 and doc.n_pages == 4
    pages = {c.page for c, _ in store.get_chunks(store.chunk_ids()).values() if _.id == doc.id}
    assert {1, 2, 3} <= pages <= {1, 2, 3, 4}, "page 4 holds only references, which are dropped"

    again = Ingestor(store, settings).ingest([TEST_DATA / "pdfs"])
    assert again.count("skipped") == 3 and store.counts()[0] == 3, "re-ingesting the same files is a no-op"
    store.close()


def test_the_same_paper_under_another_name_or_format_is_stored_once(tmp_path: Path) -> None:
    settings = suite_settings().with_home(tmp_path)
    store = Store.from_settings(settings)
    copy = tmp_path / "renamed.pdf"
    copy.write_bytes((TEST_DATA / "pdfs" / "PMC4736312.pdf").read_bytes())
    ingestor = Ingestor(store, settings)
    assert ingestor.ingest([TEST_DATA / "pdfs" / "PMC4736312.pdf"]).count("added") == 1
    report = ingestor.ingest([copy, TEST_DATA / "pdfs" / "PMC4736312.xml"])
    assert [r.status for r in report.results] == ["skipped", "skipped"]
    assert "same DOI/PMCID" in report.results[1].reason


def test_beir_folder_is_ingested_in_batches_and_resumable(tmp_path: Path) -> None:
    beir = tmp_path / "tiny"
    beir.mkdir()
    rows = [{"_id": f"d{i}", "title": f"Title {i}", "text": f"Vitamin D and bone, study {i}."} for i in range(7)]
    (beir / "corpus.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    settings = suite_settings().with_home(tmp_path / "home")
    store = Store.from_settings(settings)
    results = Ingestor(store, settings).ingest_beir(beir, batch_size=3)
    assert [r.status for r in results] == ["added"] * 7
    assert sorted(d.external_id for d, _ in store.documents()) == [f"d{i}" for i in range(7)]
    assert {d.collection for d, _ in store.documents()} == {"tiny"}
    results = Ingestor(store, settings).ingest_beir(beir, batch_size=3)
    assert [r.status for r in results] == ["skipped"] * 7


def test_cli_ingests_the_17_papers_and_reports_3_errors(shared_data: Path, tmp_path: Path) -> None:
    bad = make_bad_pdfs(tmp_path / "bad")
    pdfs = sorted((shared_data / "pdfs").glob("*.pdf"))
    env = {"MEDEMBED_HOME": str(tmp_path / "home")}
    result = CliRunner().invoke(cli, ["-q", "ingest", *map(str, pdfs), *map(str, bad[:3])], env=env)
    assert result.exit_code == 1, result.output
    assert result.output.count("FAILED") == 3 and "17 added, 0 skipped, 3 failed" in result.output
    store = Store.from_settings(suite_settings().with_home(tmp_path / "home"))
    with open(shared_data / "pdfs" / "MANIFEST.csv", encoding="utf-8") as fh:
        manifest = {row["pmcid"]: row for row in csv.DictReader(fh)}
    docs = store.documents()
    assert len(docs) == 17
    chunks = store.get_chunks(store.chunk_ids())
    for doc, _ in docs:
        expected = manifest[doc.pmcid]
        assert doc.title == " ".join(expected["title"].split())
        assert doc.n_pages == int(expected["pages"])
        pages = {c.page for c, d in chunks.values() if d.id == doc.id}
        assert max(pages) <= doc.n_pages and 1 in pages


def test_cli_says_each_ingest_failure_once(tmp_path: Path) -> None:
    """At the default log level a broken file is reported once, in the report after the progress bar, not also as
    a log line drawn into the bar; the summary likewise."""
    bad = make_bad_pdfs(tmp_path / "bad")
    good = Path(__file__).resolve().parent / "data" / "pdfs" / "PMC4736312.pdf"
    result = CliRunner().invoke(cli, ["ingest", str(good), *map(str, bad[:2])],
                                env={"MEDEMBED_HOME": str(tmp_path / "home")})
    said = result.stdout + result.stderr
    assert result.exit_code == 1, said
    for broken in bad[:2]:
        assert said.count(broken.name + ":") == 1, said
    assert said.count("1 added, 0 skipped, 2 failed") == 1, said


def test_a_page_of_periods_and_a_huge_author_field_ingest_as_fast_as_a_normal_paper(tmp_path: Path) -> None:
    """A 40 KB PDF whose page holds 30,000 periods in a row and whose /Author is 40,000 letters: the sentence splitter
    (in the ingesting process) and the author check (in the parser child) used to take seconds to minutes on it."""
    import time

    import pymupdf

    dotted = tmp_path / "dotted.pdf"
    with pymupdf.open() as doc:
        page = doc.new_page()
        page.insert_text((72, 72), "Case report on a dotted page.", fontsize=11)
        page.insert_text((10, 120), "Dots " + "." * 30_000 + "x end. Next", fontsize=0.05)
        doc.set_metadata({"author": "a" * 40_000})
        doc.save(dotted)
    settings = suite_settings().with_home(tmp_path)
    ingestor = Ingestor(Store.from_settings(settings), settings)
    assert ingestor.ingest([TEST_DATA / "pdfs" / "PMC4738698.pdf"]).count("added") == 1  # warm: parser, tokenizer
    started = time.perf_counter()
    normal = ingestor.ingest([TEST_DATA / "pdfs" / "PMC4736312.pdf"])
    normal_s = time.perf_counter() - started
    started = time.perf_counter()
    report = ingestor.ingest([dotted])
    dotted_s = time.perf_counter() - started
    assert normal.count("added") == 1 and report.count("added") == 1, report.results
    assert dotted_s < max(3 * normal_s, 2.0), f"{dotted_s:.1f} s for the dotted PDF, {normal_s:.1f} s for a paper"


def test_a_paper_claiming_anothers_doi_blocks_nothing_and_is_flagged(tmp_path: Path) -> None:
    """A planted PDF claims the DOI of a real paper that arrives later under its real title: both are kept, and the
    clash is listed for a curator (`medembed library clashes`). The same paper again (same title) is still skipped."""
    from hostile_pdfs import text_pdf

    doi = "doi: 10.1155/2016/8095138"
    planted = text_pdf(tmp_path / "planted.pdf", "Miracle implant device cures tularemia",
                       [f"{doi}. Buy the device. It cures every bite."])
    real = text_pdf(tmp_path / "real.pdf", "First Pediatric Case of Tularemia after a Coyote Bite",
                    [f"{doi}. A child developed tularemia after a coyote bite and recovered with gentamicin."])
    again = text_pdf(tmp_path / "again.pdf", "First pediatric case of tularemia after a coyote bite.",
                     [f"{doi}. The same paper, another copy of it: gentamicin."])
    settings = suite_settings().with_home(tmp_path / "home")
    store = Store.from_settings(settings)
    report = Ingestor(store, settings).ingest([planted, real, again])
    statuses = [r.status for r in report.results]
    assert statuses == ["added", "added", "skipped"], report.results
    fake_id, real_id = report.results[0].doc_id, report.results[1].doc_id
    assert "a curator should check" in report.results[1].reason
    assert store.clashes() == [(real_id, fake_id)]
    out = CliRunner().invoke(cli, ["clashes"],
                             env={"MEDEMBED_HOME": str(settings.paths.home)})
    assert out.exit_code == 0 and f"document {real_id}" in out.output and f"document {fake_id}" in out.output
