"""``medembed train``, ``merge`` and ``card``: fine-tuning, merging, the model card.

Imports :mod:`trainer` inside each command, so the rest of the CLI starts without torch.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click

from cli.common import audited, handle_errors, option_group, settings_of
from medcore.config import Settings

logger = logging.getLogger(__name__)


def _dev_set(settings: Settings, dev: tuple[Path, ...], split: str, queries: int | None, corpus: int | None):
    from trainer.devset import build_dev_set

    if not dev:
        return None
    dev_set = build_dev_set(dev, split, queries or settings.train.dev_queries, corpus or settings.train.dev_corpus,
                            settings.train.seed)
    logger.info("Dev set: %s", dev_set.describe())
    return dev_set


_dev_options = option_group(
    click.option("--dev", "dev", multiple=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
                 help="BEIR folder whose dev split scores models (repeat: NFCorpus and MedQuAD)."),
    click.option("--dev-split", default="dev", show_default=True),
    click.option("--dev-queries", type=click.IntRange(1), default=None, help="Queries per dev folder."),
    click.option("--dev-corpus", type=click.IntRange(0), default=None, help="Distractor documents per folder."),
)


@click.command()
@audited("train")
@click.argument("triplets", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--base-model", default=None, help="Registry name or folder (default train.base_model: minilm).")
@_dev_options
@click.option("--batch-size", type=click.IntRange(2), default=None)
@click.option("--epochs", type=click.FloatRange(0, min_open=True), default=None)
@click.option("--max-steps", type=int, default=-1, show_default=True, help="Stop after this many steps (> 0).")
@click.option("--lr", "learning_rate", type=float, default=None)
@click.option("--warmup-ratio", type=float, default=None)
@click.option("--max-seq-length", type=click.IntRange(8), default=None, help="Tokens per passage (default 256).")
@click.option("--query-max-length", type=click.IntRange(8), default=None, help="Tokens per query (default 64).")
@click.option("--hard-negatives/--no-hard-negatives", default=None,
              help="Use each triplet's negative (default), or train on pairs with in-batch negatives only.")
@click.option("--group-by-length/--no-group-by-length", default=None, help="Length-grouped batches (default on).")
@click.option("--freeze-embeddings/--no-freeze-embeddings", default=None, help="Keep the word embeddings fixed.")
@click.option("--freeze-layers", type=click.IntRange(0), default=None, help="Keep the lowest N layers fixed.")
@click.option("--loss", type=click.Choice(["mnrl", "cached_mnrl"]), default=None)
@click.option("--mini-batch-size", type=click.IntRange(1), default=None, help="cached_mnrl mini-batch.")
@click.option("--precision", type=click.Choice(["auto", "fp32", "fp16", "bf16"]), default=None)
@click.option("--distill-from", default=None,
              help="A stronger embedding model (registry name or folder; mpnet after scripts/fetch_mpnet.sh) whose "
                   "ranking of each batch's positives the model also learns (torch backend, mnrl loss).")
@click.option("--distill-weight", type=click.FloatRange(0), default=None, help="Weight of the teacher's term (1.0).")
@click.option("--distill-rows", type=click.Choice(["all", "agree"]), default=None,
              help="agree: learn the teacher's ranking only where it ranks the labelled positive first (all).")
@click.option("--backend", type=click.Choice(["auto", "trainer", "torch"]), default=None)
@click.option("--save-steps", type=click.IntRange(1), default=None)
@click.option("--seed", type=int, default=None)
@click.option("--checkpoint-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Default: OUTPUT-checkpoints beside the output.")
@click.option("--resume", is_flag=True, help="Continue from the last checkpoint.")
@click.option("--overwrite", is_flag=True, help="Replace a non-empty output folder.")
@click.option("--limit", type=click.IntRange(2), default=None, help="Use only this many triplets (seeded sample).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@handle_errors
def train(ctx: click.Context, triplets: tuple[Path, ...], output: Path, base_model: str | None, dev: tuple[Path, ...],
          dev_split: str, dev_queries: int | None, dev_corpus: int | None, max_steps: int,
          checkpoint_dir: Path | None, resume: bool, overwrite: bool, limit: int | None, as_json: bool,
          **overrides: object) -> None:
    """Fine-tune an embedding model on TRIPLETS files (MNRL with hard negatives); writes the model and its card."""
    import random
    from dataclasses import replace

    from trainer.data import read_triplets
    from trainer.train import TrainConfig
    from trainer.train import train as run_training

    settings = settings_of(ctx)
    given = {**overrides, "base_model": base_model, "dev_queries": dev_queries, "dev_corpus": dev_corpus}
    hp = replace(settings.train, **{k: v for k, v in given.items() if v is not None})
    settings = replace(settings, train=hp)
    rows = [t for path in triplets for t in read_triplets(path)]
    if limit is not None and limit < len(rows):
        rows = random.Random(hp.seed).sample(rows, limit)
    config = TrainConfig(output, hp, checkpoint_dir, max_steps, resume, overwrite, settings.index.device,
                         settings.models.allow_download)
    result = run_training(rows, config, _dev_set(settings, dev, dev_split, dev_queries, dev_corpus), settings)
    if as_json:
        click.echo(json.dumps(result.to_json()))
        return
    click.echo(f"Trained {result.steps} steps ({result.backend}) in {result.seconds:.1f}s, "
               f"{result.triplets_per_second:.2f} triplets/s -> {result.output_dir}")
    for name, scores in result.scores.items():
        click.echo(f"  {name:11} " + "  ".join(f"{m} {v:.4f}" for m, v in scores.items()))


@click.command()
@audited("merge")
@click.argument("models_", metavar="MODEL... ", nargs=-1, required=True)
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--weights", multiple=True, help="Weight of the first model (0.7), or one per model (0.5,0.3,0.2); "
              "repeat for candidates chosen on --dev. Default: 0.3, 0.5, 0.7.")
@_dev_options
@click.option("--fp16", is_flag=True, help="Save float16 safetensors (half the size).")
@click.option("--overwrite", is_flag=True, help="Replace a non-empty output folder.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@handle_errors
def merge(ctx: click.Context, models_: tuple[str, ...], output: Path, weights: tuple[str, ...], dev: tuple[Path, ...],
          dev_split: str, dev_queries: int | None, dev_corpus: int | None, fp16: bool, overwrite: bool,
          as_json: bool) -> None:
    """Average a fine-tune with its base (LM-Cocktail), or several fine-tunes; the mix is chosen on --dev."""
    from trainer.merge import merge as run_merge

    settings = settings_of(ctx)
    result = run_merge(models_, output, weights, _dev_set(settings, dev, dev_split, dev_queries, dev_corpus), fp16,
                       overwrite, settings=settings)
    if as_json:
        click.echo(json.dumps(result.to_json()))
        return
    for candidate in result.candidates:
        scores = "  ".join(f"{m} {v:.4f}" for m, v in candidate["scores"].items())
        click.echo(f"  {candidate['weights']:>24}  {scores}")
    click.echo(f"Merged {', '.join(models_)} with weights {','.join(f'{w:g}' for w in result.chosen)} -> {output}")


@click.command()
@click.argument("model_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--about", default=None, help="A paragraph for the top of the card (what the model is, and is not).")
@click.option("--eval-results", "eval_files", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSON lines from `medembed eval --json` to show in the card (repeat).")
@handle_errors
def card(model_dir: Path, about: str | None, eval_files: tuple[Path, ...]) -> None:
    """Add a description and evaluation results to the card (README.md, medembed.json) of MODEL_DIR."""
    from trainer.card import annotate_card

    rows = [json.loads(line) for path in eval_files for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip().startswith("{")]
    try:
        readme = annotate_card(model_dir, about, rows)
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Card updated: {readme}")

