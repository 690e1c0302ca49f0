"""``medembed ingest``, ``index``, ``classify``, ``clashes`` and ``watch``: putting files into the library and
keeping the indexes in line with it. Each run is recorded in the audit log."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click

from cli.common import audit_note, audited, handle_errors, settings_of

logger = logging.getLogger(__name__)


@click.command()
@audited("ingest")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--collection", default="library", show_default=True, help="Collection name for PDFs and XML.")
@click.option("--index/--no-index", "then_index", default=False, help="Also update the indexes afterwards.")
@click.option("--model", default=None, help="Model for --index (default: index.model).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per input.")
@click.pass_context
@handle_errors
def ingest(ctx: click.Context, paths: tuple[Path, ...], collection: str, then_index: bool, model: str | None,
           as_json: bool) -> None:
    """Parse PDFs, PMC JATS XML files and BEIR folders into the store. Exit status 1 if any input failed."""
    from access.admin import cli_principal
    from indexer.index.build import build_indexes
    from indexer.ingest import Ingestor
    from store import Store

    settings = settings_of(ctx)
    store = Store.from_settings(settings)
    report = Ingestor(store, settings, added_by=cli_principal().name).ingest(paths, collection=collection)
    for result in report.results:
        if as_json:
            click.echo(json.dumps(result.__dict__))
        elif result.status != "added" or len(report.results) <= 50:
            detail = result.reason or f"{result.n_chunks} chunks, doc {result.doc_id}: {result.title}"
            click.echo(f"{result.status.upper():8} {result.path}  {detail}")
    click.echo(f"Ingest: {report.summary()}", err=as_json)
    if then_index and report.count("added"):
        click.echo(f"Index: {build_indexes(store, settings, model=model)}", err=as_json)
    if report.failed:
        ctx.exit(1)


@click.command()
@audited("index")
@click.option("--model", default=None, help="Registry name, local folder or hub id (default: index.model).")
@click.option("--rebuild", is_flag=True, help="Re-embed everything instead of only new chunks.")
@click.pass_context
@handle_errors
def index(ctx: click.Context, model: str | None, rebuild: bool) -> None:
    """Embed chunks not yet in MODEL's index (and refresh BM25); deleted chunks leave the indexes."""
    from indexer.index.build import build_indexes
    from store import Store

    settings = settings_of(ctx)
    name = model or settings.index.model
    audit_note(ctx, f"indexes of {name} and BM25{' (rebuilt)' if rebuild else ''}", model=name)
    report = build_indexes(Store.from_settings(settings), settings, model=model, rebuild=rebuild)
    audit_note(ctx, added=report.added, removed=report.removed, total=report.total)
    click.echo(f"{report.model}: +{report.added} -{report.removed} chunks, {report.total} indexed "
               f"(BM25 {'rebuilt' if report.bm25_rebuilt else 'unchanged'}) in {report.seconds:.1f}s")


@click.command()
@audited("classify")
@click.option("--redo", is_flag=True, help="Classify every document again, not only those without a design (a "
              "curator's correction is kept).")
@click.pass_context
@handle_errors
def classify(ctx: click.Context, redo: bool) -> None:
    """Detect the study design of stored documents that have none (stores made before designs were detected); with
    --redo, relabel the whole library with the current classifier."""
    from indexer.text.study_design import classify_stored
    from store import Store

    click.echo(f"Classified {classify_stored(Store.from_settings(settings_of(ctx)), redo)} documents.")


@click.command()
@click.pass_context
@handle_errors
def clashes(ctx: click.Context) -> None:
    """List documents kept although an earlier one claims the same DOI or PMCID under another title: one of each
    pair is probably not what it claims to be. Check both, and delete the wrong one on the Library page."""
    from store import Store

    store = Store.from_settings(settings_of(ctx))
    found = store.clashes()
    for doc_id, earlier in found:
        new, old = store.get_document(doc_id), store.get_document(earlier)
        click.echo(f"document {doc_id} ({(new.title if new else '')!r}) claims the DOI/PMCID of document {earlier} "
                   f"({(old.title if old else '(deleted)')!r})")
    if not found:
        click.echo("No DOI/PMCID clashes.")


@click.command()
@audited("watch")
@click.argument("inbox", type=click.Path(file_okay=False, path_type=Path))
@click.option("--interval", type=click.FloatRange(0.1), default=5.0, show_default=True, help="Seconds between scans.")
@click.option("--once", is_flag=True, help="Process what is in the inbox (once fully written), then exit.")
@click.option("--model", "models_", multiple=True,
              help="Dense model to index with (repeat). Default: every model already indexed, else index.model.")
@click.option("--collection", default="library", show_default=True, help="Collection of the new documents.")
@click.option("--settle", type=click.FloatRange(0), default=2.0, show_default=True,
              help="Seconds a file's size and mtime must stay unchanged before it is read.")
@click.option("--batch-size", type=click.IntRange(1), default=20, show_default=True,
              help="Files ingested before the indexes are updated and the files moved out.")
@click.option("--lock-wait", type=click.FloatRange(0), default=None,
              help="Give up (exit 1) after waiting this many seconds for another indexer. Default: keep waiting.")
@click.pass_context
@handle_errors
def watch(ctx: click.Context, inbox: Path, interval: float, once: bool, models_: tuple[str, ...], collection: str,
          settle: float, batch_size: int, lock_wait: float | None) -> None:
    """Watch INBOX: ingest and index each new PDF, then move it to INBOX/processed/; a broken file goes to
    INBOX/quarantine/ with NAME.error.txt. Safe to kill at any time: the next start finishes the work."""
    import signal

    from library.watch import InboxWatcher
    from store import Store

    settings = settings_of(ctx)
    watcher = InboxWatcher(inbox, Store.from_settings(settings), settings, models_, collection, settle, batch_size)
    signal.signal(signal.SIGTERM, lambda *_: watcher.stop())  # `docker stop`: finish the current file, then exit
    summary = watcher.run(interval=interval, once=once, lock_wait_s=lock_wait)
    click.echo(f"Watch: {summary}")
    if once and summary.count("failed"):
        ctx.exit(1)
