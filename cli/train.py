"""``medembed generate``, ``train``, ``merge`` and ``card``: training data, fine-tuning, merging, the model card.

The only commands that import :mod:`trainer` (inside each command, so the rest of the CLI starts without torch).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import click

from cli.common import audited, handle_errors, settings_of
from medcore.config import Settings, redact_url

logger = logging.getLogger(__name__)


def _dev_set(settings: Settings, dev: tuple[Path, ...], split: str, queries: int | None, corpus: int | None):
    from trainer.devset import build_dev_set

    if not dev:
        return None
    dev_set = build_dev_set(dev, split, queries or settings.train.dev_queries, corpus or settings.train.dev_corpus,
                            settings.train.seed)
    logger.info("Dev set: %s", dev_set.describe())
    return dev_set


def _dev_options(func):  # noqa: ANN001, ANN201 - click decorator
    options = [
        click.option("--dev", "dev", multiple=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
                     help="BEIR folder whose dev split scores models (repeat: NFCorpus and MedQuAD)."),
        click.option("--dev-split", default="dev", show_default=True),
        click.option("--dev-queries", type=click.IntRange(1), default=None, help="Queries per dev folder."),
        click.option("--dev-corpus", type=click.IntRange(0), default=None, help="Distractor documents per folder."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _store_passages(settings: Settings):
    from store import Store
    from trainer.data import passages_from_chunks

    store = Store.from_settings(settings)
    passages = passages_from_chunks(store.get_chunks(store.chunk_ids()).values())
    if not passages:
        raise click.ClickException(f"The store at {redact_url(settings.paths.store_url)} has no chunks: ingest PDFs "
                                   "first (medembed ingest PATH) or pass --passages FILE.jsonl.")
    return passages


@click.command()
@audited("generate")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Triplets JSONL (.gz allowed); appended to, so a rerun resumes.")
@click.option("--passages", "passages_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSONL of {id, text, doc_id?, title?} instead of the store's chunks.")
@click.option("--from-qrels", "qrels_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Triplets from a labelled BEIR folder instead of the LLM.")
@click.option("--from-pairs", "pairs_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Triplets from a JSONL of question pairs {query, positive, negative?} (e.g. Curai's).")
@click.option("--split", default="train", show_default=True, help="Qrels split for --from-qrels.")
@click.option("--random-negatives", is_flag=True,
              help="--from-qrels: a pair whose negative cannot be mined gets a random unjudged document instead "
              "of being dropped (small corpora; pairs training does not use it).")
@click.option("--max-per-query", type=click.IntRange(1), default=3, show_default=True,
              help="--from-qrels: positives kept per query.")
@click.option("--max-queries", type=click.IntRange(1), default=None, help="--from-qrels: sample this many queries.")
@click.option("-n", "--n-passages", type=click.IntRange(1), default=None, help="Passages sampled (default all).")
@click.option("--min-chars", type=click.IntRange(0), default=200, show_default=True)
@click.option("--base-url", default=None, help="OpenAI-compatible API (default llm.base_url, else localhost:8000).")
@click.option("--llm-model", default=None, help="Served model name (default llm.model: Llama 3.1 70B Instruct).")
@click.option("--concurrency", type=click.IntRange(1, 256), default=4, show_default=True)
@click.option("--retries", type=click.IntRange(0), default=4, show_default=True)
@click.option("--timeout", "timeout_s", type=click.FloatRange(1), default=None,
              help="Seconds per request (default llm.timeout_s).")
@click.option("--temperature", type=float, default=0.7, show_default=True)
@click.option("--max-tokens", type=click.IntRange(50), default=700, show_default=True)
@click.option("--json-mode/--no-json-mode", default=True, show_default=True, help="Ask for response_format json.")
@click.option("--kinds", default="keyword,question,clinical", show_default=True)
@click.option("--prompt", "prompt_style", type=click.Choice(["span", "brief"]), default="span", show_default=True,
              help="span: each query quotes the passage words that answer it (a strong check, slow on a CPU); "
              "brief: queries only, checked by round trip (--round-trip-k).")
@click.option("--max-passage-chars", type=click.IntRange(200), default=2000, show_default=True,
              help="Passages are cut to this many characters in the prompt.")
@click.option("--round-trip-k", type=click.IntRange(0), default=20, show_default=True,
              help="Keep a query only if BM25 or the dense model ranks its passage in this top k (0: no check).")
@click.option("--min-relevance", type=click.IntRange(1, 5), default=4, show_default=True)
@click.option("--llm-negatives", is_flag=True, help="Also ask the LLM to write a hard negative per passage.")
@click.option("--mine", type=click.Choice(["hybrid", "bm25", "dense"]), default="hybrid", show_default=True)
@click.option("--mine-model", default=None, help="Dense model for mining (default index.model).")
@click.option("--negatives", type=click.IntRange(1, 20), default=1, show_default=True, help="Negatives per query.")
@click.option("--range-max", type=click.IntRange(1), default=50, show_default=True)
@click.option("--relative-margin", type=click.FloatRange(0, 1), default=0.05, show_default=True)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
@handle_errors
def generate(ctx: click.Context, output: Path, passages_file: Path | None, qrels_dir: Path | None,
             pairs_file: Path | None, split: str, random_negatives: bool,
             max_per_query: int, max_queries: int | None, n_passages: int | None, min_chars: int,
             base_url: str | None, llm_model: str | None, concurrency: int, retries: int, timeout_s: float | None,
             temperature: float, max_tokens: int, json_mode: bool, kinds: str, prompt_style: str,
             max_passage_chars: int, round_trip_k: int, min_relevance: int,
             llm_negatives: bool, mine: str, mine_model: str | None, negatives: int, range_max: int,
             relative_margin: float, seed: int, as_json: bool) -> None:
    """Write training triplets (query, positive, hard negative) from LLM-written queries, or --from-qrels."""
    from dataclasses import replace

    from medcore.llm import LLMClient
    from trainer.data import read_beir, read_passages, sample_passages
    from trainer.generate import GenerateConfig, generate_triplets, triplets_from_qrels
    from trainer.llm import KINDS, ValidationConfig
    from trainer.mining import MiningConfig, NegativeMiner
    from trainer.models import load_model

    settings = settings_of(ctx)
    if pairs_file is not None:
        from trainer.data import triplets_from_pairs
        from trainer.generate import TripletSink

        rows = triplets_from_pairs(pairs_file)
        sink = TripletSink(output)
        fresh = [t for t in rows if t.query_id not in sink.done]
        for t in fresh:
            sink.write(t.query_id, [t])
        click.echo(json.dumps({"triplets": len(fresh), "skipped_done": len(rows) - len(fresh)}) if as_json
                   else f"Generate: {len(fresh)} triplets from {pairs_file} ({len(rows) - len(fresh)} already done)")
        return
    mining = MiningConfig(method=mine, range_max=range_max, relative_margin=relative_margin, num_negatives=negatives,
                          seed=seed)
    spec, model = load_model(mine_model or settings.index.model, settings.index.device) if mine != "bm25" else (None,
                                                                                                             None)
    prefixes = {"query_prefix": spec.query_prefix, "passage_prefix": spec.passage_prefix} if spec else {}
    if qrels_dir is not None:
        data = read_beir(qrels_dir, split)
        miner = NegativeMiner(list(data.corpus.values()), model, mining, **prefixes)
        summary = triplets_from_qrels(data, miner, output, max_per_query, max_queries=max_queries, seed=seed,
                                      random_negatives=random_negatives)
    else:
        wanted = tuple(k.strip() for k in kinds.split(",") if k.strip())
        if not wanted or set(wanted) - set(KINDS):
            raise click.BadParameter(f"choose from {', '.join(KINDS)}", param_hint="--kinds")
        pool = read_passages(passages_file) if passages_file else _store_passages(settings)
        llm = replace(settings.llm, base_url=base_url or settings.llm.base_url or "http://localhost:8000/v1",
                      model=llm_model or settings.llm.model, timeout_s=timeout_s or settings.llm.timeout_s)
        client = LLMClient(llm.base_url, llm.model, os.environ.get(llm.api_key_env, "EMPTY"), llm.timeout_s,
                           retries, temperature=temperature, max_tokens=max_tokens, json_mode=json_mode, seed=seed)
        miner = NegativeMiner(pool, model, mining, **prefixes)
        if prompt_style == "brief" and llm_negatives:
            raise click.BadParameter("the brief prompt asks for queries only; use --prompt span",
                                     param_hint="--llm-negatives")
        config = GenerateConfig(kinds=wanted, concurrency=concurrency, llm_negatives=llm_negatives,
                                validation=ValidationConfig(min_relevance=min_relevance,
                                                            require_span=prompt_style == "span"),
                                style=prompt_style, max_passage_chars=max_passage_chars,
                                round_trip_k=round_trip_k or None)
        summary = generate_triplets(sample_passages(pool, n_passages, seed, min_chars), client, miner, output, config)
    click.echo(json.dumps(summary.to_json()) if as_json else f"Generate: {summary}")


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

