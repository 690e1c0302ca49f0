"""``medembed generate``: training triplets from LLM-written queries, labelled BEIR qrels or question pairs.

Its options come in groups, each read by the helper that builds one thing from them: the LLM client, the
:class:`trainer.generate.GenerateConfig` and the negative miner. Imports :mod:`trainer` inside the command, so the
rest of the CLI starts without torch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from cli.common import audited, handle_errors, option_group, settings_of
from medcore.config import Settings, redact_url

if TYPE_CHECKING:
    from medcore.llm import LLMClient
    from trainer.data import Passage
    from trainer.generate import GenerateConfig
    from trainer.mining import NegativeMiner


def store_passages(settings: Settings) -> list[Passage]:
    from store import Store
    from trainer.data import passages_from_chunks

    store = Store.from_settings(settings)
    passages = passages_from_chunks(store.get_chunks(store.chunk_ids()).values())
    if not passages:
        raise click.ClickException(f"The store at {redact_url(settings.paths.store_url)} has no chunks: ingest PDFs "
                                   "first (medembed ingest PATH) or pass --passages FILE.jsonl.")
    return passages


#: ``--from-qrels``: which judged pairs become triplets.
_qrels_options = option_group(
    click.option("--split", default="train", show_default=True, help="Qrels split for --from-qrels."),
    click.option("--random-negatives", is_flag=True,
                 help="--from-qrels: a pair whose negative cannot be mined gets a random unjudged document instead "
                 "of being dropped (small corpora; pairs training does not use it)."),
    click.option("--max-per-query", type=click.IntRange(1), default=3, show_default=True,
                 help="--from-qrels: positives kept per query."),
    click.option("--max-queries", type=click.IntRange(1), default=None,
                 help="--from-qrels: sample this many queries."),
)
#: The LLM server and its sampling: what :func:`medcore.llm.llm_client` builds from ``settings.llm``.
_llm_options = option_group(
    click.option("--base-url", default=None,
                 help="OpenAI-compatible API (default llm.base_url, else localhost:8000)."),
    click.option("--llm-model", default=None, help="Served model name (default llm.model: Llama 3.1 70B Instruct)."),
    click.option("--concurrency", type=click.IntRange(1, 256), default=4, show_default=True),
    click.option("--retries", type=click.IntRange(0), default=4, show_default=True),
    click.option("--timeout", "timeout_s", type=click.FloatRange(1), default=None,
                 help="Seconds per request (default llm.timeout_s)."),
    click.option("--temperature", type=float, default=0.7, show_default=True),
    click.option("--max-tokens", type=click.IntRange(50), default=700, show_default=True),
    click.option("--json-mode/--no-json-mode", default=True, show_default=True, help="Ask for response_format json."),
)
#: What the LLM is asked for and which of its queries are kept: a :class:`trainer.generate.GenerateConfig`.
_query_options = option_group(
    click.option("--kinds", default="keyword,question,clinical", show_default=True),
    click.option("--prompt", "prompt_style", type=click.Choice(["span", "brief"]), default="span", show_default=True,
                 help="span: each query quotes the passage words that answer it (a strong check, slow on a CPU); "
                 "brief: queries only, checked by round trip (--round-trip-k)."),
    click.option("--max-passage-chars", type=click.IntRange(200), default=2000, show_default=True,
                 help="Passages are cut to this many characters in the prompt."),
    click.option("--round-trip-k", type=click.IntRange(0), default=20, show_default=True,
                 help="Keep a query only if BM25 or the dense model ranks its passage in this top k (0: no check)."),
    click.option("--min-relevance", type=click.IntRange(1, 5), default=4, show_default=True),
    click.option("--llm-negatives", is_flag=True, help="Also ask the LLM to write a hard negative per passage."),
)
#: How hard negatives are mined: a :class:`trainer.mining.MiningConfig` and the dense model it uses.
_mining_options = option_group(
    click.option("--mine", type=click.Choice(["hybrid", "bm25", "dense", "random"]), default="hybrid",
                 show_default=True, help="random (--from-qrels only): one random document of the corpus that is not "
                 "judged relevant to the query; the other mining options do not apply."),
    click.option("--mine-model", default=None, help="Dense model for mining (default index.model)."),
    click.option("--negatives", type=click.IntRange(1, 20), default=1, show_default=True, help="Negatives per query."),
    click.option("--range-max", type=click.IntRange(1), default=50, show_default=True),
    click.option("--relative-margin", type=click.FloatRange(0, 1), default=0.05, show_default=True),
)


def _miner(settings: Settings, passages: list[Passage], options: dict[str, Any], seed: int) -> NegativeMiner:
    """The negative miner of ``--mine*`` over ``passages``, with the mining model's prefixes."""
    from trainer.mining import MiningConfig, NegativeMiner
    from trainer.models import load_model

    method = options["mine"]
    mining = MiningConfig(method=method, range_max=options["range_max"], relative_margin=options["relative_margin"],
                          num_negatives=options["negatives"], seed=seed)
    if method == "bm25":
        return NegativeMiner(passages, None, mining)
    spec, model = load_model(options["mine_model"] or settings.index.model, settings.index.device)
    return NegativeMiner(passages, model, mining, query_prefix=spec.query_prefix, passage_prefix=spec.passage_prefix)


def _generate_config(options: dict[str, Any]) -> GenerateConfig:
    """The query options (and ``--concurrency``) as a :class:`trainer.generate.GenerateConfig`."""
    from trainer.generate import GenerateConfig
    from trainer.llm import KINDS, ValidationConfig

    kinds = tuple(k.strip() for k in options["kinds"].split(",") if k.strip())
    if not kinds or set(kinds) - set(KINDS):
        raise click.BadParameter(f"choose from {', '.join(KINDS)}", param_hint="--kinds")
    style = options["prompt_style"]
    if style == "brief" and options["llm_negatives"]:
        raise click.BadParameter("the brief prompt asks for queries only; use --prompt span",
                                 param_hint="--llm-negatives")
    return GenerateConfig(kinds=kinds, concurrency=options["concurrency"], llm_negatives=options["llm_negatives"],
                          validation=ValidationConfig(min_relevance=options["min_relevance"],
                                                      require_span=style == "span"),
                          style=style, max_passage_chars=options["max_passage_chars"],
                          round_trip_k=options["round_trip_k"] or None)


def _llm_client(settings: Settings, options: dict[str, Any], seed: int) -> LLMClient:
    from medcore.llm import llm_client

    return llm_client(settings.llm, options["base_url"], options["llm_model"], options["timeout_s"],
                      max_retries=options["retries"], temperature=options["temperature"],
                      max_tokens=options["max_tokens"], json_mode=options["json_mode"], seed=seed)


def _triplets_from_pairs(pairs_file: Path, output: Path, as_json: bool) -> None:
    from trainer.data import triplets_from_pairs
    from trainer.generate import TripletSink

    rows = triplets_from_pairs(pairs_file)
    sink = TripletSink(output)
    fresh = [t for t in rows if t.query_id not in sink.done]
    for t in fresh:
        sink.write(t.query_id, [t])
    click.echo(json.dumps({"triplets": len(fresh), "skipped_done": len(rows) - len(fresh)}) if as_json
               else f"Generate: {len(fresh)} triplets from {pairs_file} ({len(rows) - len(fresh)} already done)")


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
@_qrels_options
@click.option("-n", "--n-passages", type=click.IntRange(1), default=None, help="Passages sampled (default all).")
@click.option("--min-chars", type=click.IntRange(0), default=200, show_default=True)
@_llm_options
@_query_options
@_mining_options
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
@handle_errors
def generate(ctx: click.Context, output: Path, passages_file: Path | None, qrels_dir: Path | None,
             pairs_file: Path | None, n_passages: int | None, min_chars: int, seed: int, as_json: bool,
             **options: Any) -> None:  # options: the groups above
    """Write training triplets (query, positive, hard negative) from LLM-written queries, or --from-qrels."""
    from trainer.data import read_beir, read_passages, sample_passages
    from trainer.generate import generate_triplets, triplets_from_qrels

    settings = settings_of(ctx)
    if pairs_file is not None:
        _triplets_from_pairs(pairs_file, output, as_json)
        return
    if qrels_dir is not None:
        data = read_beir(qrels_dir, options["split"])
        miner = None if options["mine"] == "random" else _miner(settings, list(data.corpus.values()), options, seed)
        summary = triplets_from_qrels(data, miner, output, options["max_per_query"],
                                      max_queries=options["max_queries"], seed=seed,
                                      random_negatives=options["random_negatives"])
    else:
        if options["mine"] == "random":
            raise click.BadParameter("random negatives are for --from-qrels; LLM-written queries are checked and "
                                     "mined with bm25, dense or hybrid", param_hint="--mine")
        config = _generate_config(options)
        pool = read_passages(passages_file) if passages_file else store_passages(settings)
        miner = _miner(settings, pool, options, seed)
        summary = generate_triplets(sample_passages(pool, n_passages, seed, min_chars),
                                    _llm_client(settings, options, seed), miner, output, config)
    click.echo(json.dumps(summary.to_json()) if as_json else f"Generate: {summary}")


