"""The ``medembed`` command group; each command lives in the module of its group (``cli/<group>.py``)."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from cli import adapt, evaluate, generate, library, logs, rerank, saved, search, serve, train, users
from medcore.config import Settings
from medcore.errors import MedEmbedError

logger = logging.getLogger(__name__)


@click.group()
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path), envvar="MEDEMBED_CONFIG",
              help="TOML settings file (env MEDEMBED_CONFIG); MEDEMBED_* variables override it.")
@click.option("-v", "--verbose", count=True, help="Debug logging.")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors; no progress bars.")
@click.pass_context
def cli(ctx: click.Context, config: Path | None, verbose: int, quiet: bool) -> None:
    """MedEmbed: medical literature search with fine-tuned embeddings, BM25 and hybrid retrieval."""
    ctx.with_resource(logs.configured(verbose, quiet))
    try:
        settings = Settings.from_toml(config)
    except MedEmbedError as exc:
        raise click.ClickException(str(exc)) from None
    ctx.obj = {"settings": settings}
    logger.debug("Settings: %s", settings.to_dict())


cli.add_command(library.ingest)
cli.add_command(library.index)
cli.add_command(library.classify)
cli.add_command(library.clashes)
cli.add_command(library.watch)
cli.add_command(search.search)
cli.add_command(saved.reading_list)
cli.add_command(saved.recent)
cli.add_command(evaluate.evaluate)
cli.add_command(evaluate.models)
cli.add_command(generate.generate)
cli.add_command(train.train)
cli.add_command(train.merge)
cli.add_command(rerank.train_reranker)
cli.add_command(adapt.adapt)
cli.add_command(train.card)
cli.add_command(serve.ui)
cli.add_command(users.users)
