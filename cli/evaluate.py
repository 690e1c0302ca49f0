"""``medembed eval`` (a retriever's metrics on a BEIR folder) and ``medembed models`` (the model registry)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cli.common import handle_errors, settings_of


@click.command(name="eval")
@click.argument("dataset_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--split", default=None, help="qrels/<split>.tsv to score [default: test, or the folder's only split]")
@click.option("--retriever", "retrievers", multiple=True, default=("hybrid",), show_default=True,
              help="bm25, dense:MODEL or hybrid:MODEL; repeat to compare.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per retriever; the last line is the last.")
@click.option("--save/--no-save", default=True, help="Record the run in the store (shown in the UI).")
@click.option("--max-queries", type=click.IntRange(1), default=None, help="Score only the first N judged queries.")
@click.option("--ignore-identical-ids/--keep-identical-ids", default=True, show_default=True,
              help="Drop a hit whose document id is the query's id, as BEIR and MTEB do (sets whose queries are "
                   "corpus documents, such as ArguAna).")
@click.pass_context
@handle_errors
def evaluate(ctx: click.Context, dataset_dir: Path, split: str | None, retrievers: tuple[str, ...], as_json: bool,
             save: bool, max_queries: int | None, ignore_identical_ids: bool) -> None:
    """Score retrievers on a BEIR folder (document-level nDCG, MAP, Recall, Precision, MRR at 1/5/10)."""
    from medcore.beir import default_split
    from search_app.evaluation.metrics import METRIC_NAMES
    from search_app.evaluation.runner import evaluate_dataset, timing_text
    from store import Store

    settings = settings_of(ctx)
    split = split or default_split(dataset_dir)
    results = [evaluate_dataset(dataset_dir, split, r, settings, max_queries=max_queries,
                                ignore_identical_ids=ignore_identical_ids) for r in retrievers]
    if save:
        store = Store.from_settings(settings)
        for r in results:
            store.save_eval_run(r.dataset, r.split, r.retriever, r.n_queries, r.metrics, r.seconds)
    for r in results:  # on stderr: standard output holds only the scores (one JSON object each with --json)
        click.echo(f"{r.retriever}: {timing_text(r)}", err=True)
    if as_json:
        for r in results:
            click.echo(json.dumps(r.to_json()))
        return
    width = max(len(r.retriever) for r in results)
    click.echo(f"{results[0].dataset} / {results[0].split}: {results[0].n_queries} queries")
    click.echo(f"{'retriever':<{width}}  " + "  ".join(f"{m:>11}" for m in METRIC_NAMES))
    for r in results:
        click.echo(f"{r.retriever:<{width}}  " + "  ".join(f"{r.metrics[m]:>11.4f}" for m in METRIC_NAMES))



@click.command()
@click.pass_context
def models(ctx: click.Context) -> None:
    """List the model registry, whether each model is available offline, and which is the default and why."""
    from medcore.models import default_model_choice, registry

    for spec in registry().values():
        where = str(spec.local_path) if spec.local_path and spec.local_path.is_dir() else (spec.hub_id or "missing")
        click.echo(f"{spec.name:22} {spec.description}\n{'':22} -> {where}")
    name, why = default_model_choice()
    configured = settings_of(ctx).index.model
    click.echo(f"\nDefault model: {name} ({why})."
               + (f" This installation's settings choose {configured} (index.model)." if configured != name else ""))
