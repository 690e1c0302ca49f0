"""``medembed train-reranker``: fine-tune the cross-encoder that reorders the first stage's top candidates."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cli.common import audited, handle_errors


@click.command("train-reranker")
@audited("train-reranker")
@click.argument("triplets", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Model folder (a rerun with the same folder resumes from its checkpoint).")
@click.option("--base-model", default="medembed-small", show_default=True,
              help="Registry name or folder to start from: an encoder gets a fresh one-logit head; a reranker "
                   "folder (e.g. models/medembed-rerank) keeps its head and trains on.")
@click.option("--steps", "max_steps", type=click.IntRange(1), default=1000, show_default=True)
@click.option("--group-size", type=click.IntRange(2), default=8, show_default=True,
              help="Passages per query per step: one judged-relevant, the rest negatives.")
@click.option("--batch-queries", type=click.IntRange(1), default=4, show_default=True, help="Queries per step.")
@click.option("--lr", "learning_rate", type=click.FloatRange(0, min_open=True), default=8e-5, show_default=True)
@click.option("--head-lr", "head_learning_rate", type=click.FloatRange(0, min_open=True), default=1e-3,
              show_default=True, help="Learning rate of the one-logit head (lower it when training a reranker on).")
@click.option("--max-length", type=click.IntRange(16, 512), default=256, show_default=True,
              help="Tokens of query and passage together.")
@click.option("--save-steps", type=click.IntRange(1), default=100, show_default=True)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def train_reranker(triplets: tuple[Path, ...], output: Path, base_model: str, max_steps: int, group_size: int,
                   batch_queries: int, learning_rate: float, head_learning_rate: float, max_length: int,
                   save_steps: int, seed: int, as_json: bool) -> None:
    """Train a cross-encoder reranker on TRIPLETS (from `medembed generate --from-qrels ... --negatives 7`)."""
    from medcore.errors import ModelUnavailableError
    from medcore.models import resolve
    from trainer.rerank import RerankTrainConfig, read_groups
    from trainer.rerank import train_reranker as train

    spec = resolve(base_model)
    if spec.local_path is None or not spec.local_path.is_dir():
        raise ModelUnavailableError(f"The reranker starts from a model folder on disk; '{base_model}' is not one "
                                    "here (try medembed-small or minilm).")
    config = RerankTrainConfig(group_size=group_size, batch_queries=batch_queries, max_steps=max_steps,
                               learning_rate=learning_rate, head_learning_rate=head_learning_rate,
                               max_length=max_length, save_steps=save_steps, seed=seed,
                               extra={"triplets": [str(p) for p in triplets], "base_model": base_model})
    info = train(read_groups(triplets), spec.local_path, output, config)
    if as_json:
        click.echo(json.dumps(info))
    else:
        click.echo(f"Reranker saved to {output}: {info['steps']} steps on {info['queries']} queries in "
                   f"{info['seconds']:.0f} s ({info['pairs_per_second']} pairs/s on {info['cpu']}).")
