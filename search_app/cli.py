"""The ``medembed`` command line: thin commands over the library (ingest, index, search, eval, models, ui)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from functools import wraps
from pathlib import Path

import click

from medcore.config import Settings
from medcore.errors import MedEmbedError
from search_app import logs

logger = logging.getLogger(__name__)


def _settings(ctx: click.Context) -> Settings:
    return ctx.obj["settings"]


def handle_errors(func):  # noqa: ANN001, ANN201 - click callback decorator
    """Turn MedEmbedError into a one-line message and exit status 1 instead of a traceback."""

    @wraps(func)
    def wrapper(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        try:
            return func(*args, **kwargs)
        except MedEmbedError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper


@click.group()
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path), envvar="MEDEMBED_CONFIG",
              help="TOML settings file (env MEDEMBED_CONFIG); MEDEMBED_* variables override it.")
@click.option("-v", "--verbose", count=True, help="Debug logging.")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors; no progress bars.")
@click.pass_context
def cli(ctx: click.Context, config: Path | None, verbose: int, quiet: bool) -> None:
    """MedEmbed: medical literature search with fine-tuned embeddings, BM25 and hybrid retrieval."""
    logs.configure(verbose, quiet)
    try:
        settings = Settings.from_toml(config)
    except MedEmbedError as exc:
        raise click.ClickException(str(exc)) from None
    ctx.obj = {"settings": settings}
    logger.debug("Settings: %s", settings.to_dict())


@cli.command()
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
    from indexer.build import build_indexes
    from indexer.ingest import Ingestor
    from indexer.store import Store

    settings = _settings(ctx)
    store = Store.from_settings(settings)
    report = Ingestor(store, settings).ingest(paths, collection=collection)
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


@cli.command()
@click.option("--model", default=None, help="Registry name, local folder or hub id (default: index.model).")
@click.option("--rebuild", is_flag=True, help="Re-embed everything instead of only new chunks.")
@click.pass_context
@handle_errors
def index(ctx: click.Context, model: str | None, rebuild: bool) -> None:
    """Embed chunks not yet in MODEL's index (and refresh BM25); deleted chunks leave the indexes."""
    from indexer.build import build_indexes
    from indexer.store import Store

    settings = _settings(ctx)
    report = build_indexes(Store.from_settings(settings), settings, model=model, rebuild=rebuild)
    click.echo(f"{report.model}: +{report.added} -{report.removed} chunks, {report.total} indexed "
               f"(BM25 {'rebuilt' if report.bm25_rebuilt else 'unchanged'}) in {report.seconds:.1f}s")


@cli.command()
@click.argument("query")
@click.option("--mode", type=click.Choice(["bm25", "dense", "hybrid"]), default=None, help="Default: search.mode.")
@click.option("--model", default=None, help="Embedding model for dense/hybrid (default: index.model).")
@click.option("-k", "k", default=10, show_default=True, type=click.IntRange(1, 1000))
@click.option("--fusion", type=click.Choice(["rrf", "convex"]), default=None, help="Hybrid fusion method.")
@click.option("--alpha", type=click.FloatRange(0, 1), default=None, help="Dense weight for --fusion convex.")
@click.option("--per-doc", type=click.IntRange(1, 100), default=None, help="Max chunks per document (default 2).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per hit per line.")
@click.pass_context
@handle_errors
def search(ctx: click.Context, query: str, mode: str | None, model: str | None, k: int, fusion: str | None,
           alpha: float | None, per_doc: int | None, as_json: bool) -> None:
    """Search the indexed library."""
    from dataclasses import replace

    from search_app.searcher import Searcher

    settings = _settings(ctx)
    overrides = {key: value for key, value in (("fusion", fusion), ("alpha", alpha), ("per_doc_cap", per_doc))
                 if value is not None}
    settings = replace(settings, search=replace(settings.search, **overrides))
    mode = mode or settings.search.mode
    retriever = "bm25" if mode == "bm25" else f"{mode}:{model or settings.index.model}"
    hits = Searcher.from_settings(settings, retriever).search(query, k)
    for hit in hits:
        if as_json:
            click.echo(json.dumps(hit.to_json(), ensure_ascii=False))
            continue
        why = ", ".join(f"{name} #{rank} ({hit.scores[name]:.3f})" for name, rank in hit.ranks.items())
        page = f" p.{hit.page}" if hit.page else ""
        click.echo(f"{hit.rank:>3}. {hit.title or '(untitled)'}{page}  [{hit.score:.4f}; {why}]")
        click.echo(f"     {hit.text[:240].replace(chr(10), ' ')}{'...' if len(hit.text) > 240 else ''}")
    if not hits and not as_json:
        click.echo("No results.")


@cli.command(name="eval")
@click.argument("dataset_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--split", default="test", show_default=True)
@click.option("--retriever", "retrievers", multiple=True, default=("hybrid",), show_default=True,
              help="bm25, dense:MODEL or hybrid:MODEL; repeat to compare.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per retriever; the last line is the last.")
@click.option("--save/--no-save", default=True, help="Record the run in the store (shown in the UI).")
@click.pass_context
@handle_errors
def evaluate(ctx: click.Context, dataset_dir: Path, split: str, retrievers: tuple[str, ...], as_json: bool,
             save: bool) -> None:
    """Score retrievers on a BEIR folder (document-level nDCG, MAP, Recall, Precision, MRR at 1/5/10)."""
    from indexer.store import Store
    from search_app.benchmark import evaluate_dataset
    from search_app.evaluation import METRIC_NAMES

    settings = _settings(ctx)
    results = [evaluate_dataset(dataset_dir, split, r, settings) for r in retrievers]
    if save:
        store = Store.from_settings(settings)
        for r in results:
            store.save_eval_run(r.dataset, r.split, r.retriever, r.n_queries, r.metrics, r.seconds)
    if as_json:
        for r in results:
            click.echo(json.dumps(r.to_json()))
        return
    width = max(len(r.retriever) for r in results)
    click.echo(f"{results[0].dataset} / {split}: {results[0].n_queries} queries")
    click.echo(f"{'retriever':<{width}}  " + "  ".join(f"{m:>11}" for m in METRIC_NAMES))
    for r in results:
        click.echo(f"{r.retriever:<{width}}  " + "  ".join(f"{r.metrics[m]:>11.4f}" for m in METRIC_NAMES))


@cli.command()
@click.pass_context
def models(ctx: click.Context) -> None:
    """List the model registry and whether each model is available offline."""
    from medcore.models import registry

    for spec in registry().values():
        where = str(spec.local_path) if spec.local_path and spec.local_path.is_dir() else (spec.hub_id or "missing")
        click.echo(f"{spec.name:22} {spec.description}\n{'':22} -> {where}")


@cli.command()
@click.option("--port", default=8501, show_default=True, type=int)
@click.option("--address", default="127.0.0.1", show_default=True)
@click.argument("streamlit_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def ui(ctx: click.Context, port: int, address: str, streamlit_args: tuple[str, ...]) -> None:
    """Start the Streamlit app (search, compare, score, ask, library)."""
    app = Path(__file__).resolve().parent.parent / "ui" / "app.py"
    cmd = [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(port),
           "--server.address", address, "--server.headless", "true", "--browser.gatherUsageStats", "false",
           *streamlit_args]
    logger.info("Starting %s", " ".join(cmd))
    ctx.exit(subprocess.call(cmd, env=os.environ.copy()))
