"""``medembed adapt``: the MedEmbed recipe on the user's own library (see :mod:`trainer.adapt`).

Imports :mod:`trainer` inside the command, so the rest of the CLI starts without torch.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from cli.common import audited, handle_errors, settings_of
from cli.generate import store_passages


@click.command()
@audited("adapt")
@click.option("-o", "--work-dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Work folder (a rerun resumes there); the adapted model lands in WORK_DIR/model.")
@click.option("--passages", "passages_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSONL of {id, text, doc_id?, title?} instead of the library's chunks.")
@click.option("-n", "--n-passages", type=click.IntRange(1), default=200, show_default=True,
              help="Passages the LLM writes queries for.")
@click.option("--held-out", type=click.FloatRange(0.05, 0.5), default=0.2, show_default=True,
              help="Share of the passages whose queries judge the result (never trained on).")
@click.option("--minutes", type=click.FloatRange(0.1), default=20.0, show_default=True,
              help="Training time budget on a CPU (a rerun with more resumes).")
@click.option("--epochs", type=click.FloatRange(0, min_open=True), default=1.0, show_default=True,
              help="Epochs over the generated pairs (on a GPU; on a CPU cut by --minutes).")
@click.option("--base-model", default="minilm", show_default=True, help="Model to adapt (registry name or folder).")
@click.option("--weights", multiple=True, help="Merge weights of the fine-tune tried (default 0.3, 0.5, 0.7).")
@click.option("--base-url", default=None, help="OpenAI-compatible API (default llm.base_url, else localhost:8000).")
@click.option("--llm-model", default=None, help="Served model name (default llm.model).")
@click.option("--concurrency", type=click.IntRange(1, 256), default=2, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
@handle_errors
def adapt(ctx: click.Context, work_dir: Path, passages_file: Path | None, n_passages: int, held_out: float,
          minutes: float, epochs: float, base_model: str, weights: tuple[str, ...], base_url: str | None,
          llm_model: str | None, concurrency: int, as_json: bool) -> None:
    """Adapt an embedding model to this library (the MedEmbed recipe): LLM queries for its passages, filtered,
    a fine-tune within a time budget, merged with the base; reports nDCG@10 on held-apart queries before/after."""
    from dataclasses import replace

    from medcore.llm import llm_client
    from trainer.adapt import AdaptConfig
    from trainer.adapt import adapt as run_adapt
    from trainer.data import read_passages

    settings = settings_of(ctx)
    passages = read_passages(passages_file) if passages_file else store_passages(settings)
    config = AdaptConfig(work_dir, base_model, n_passages, held_out, minutes, epochs,
                         tuple(weights) or AdaptConfig.weights, seed=settings.train.seed)
    config = replace(config, generate=replace(config.generate, concurrency=concurrency))
    result = run_adapt(passages, llm_client(settings.llm, base_url, llm_model, max_tokens=300, seed=42), config,
                       settings)
    if as_json:
        click.echo(json.dumps(result.to_json()))
        return
    click.echo(f"Adapted {base_model} on {result.train_pairs} generated pairs -> {result.model_dir}\n"
               f"  nDCG@10 on {result.eval_queries} held-apart queries: before {result.before:.4f}, "
               f"after {result.after:.4f} (merge weights {','.join(f'{w:g}' for w in result.chosen)})")
