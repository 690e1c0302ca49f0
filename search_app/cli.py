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

from medcore.config import Settings, redact_url
from medcore.errors import MedEmbedError
from medcore.study_types import STUDY_TYPES
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
@click.option("-k", "k", default=10, show_default=True, type=click.IntRange(1, 1000),
              help="Passages, or papers with --papers.")
@click.option("--fusion", type=click.Choice(["rrf", "convex"]), default=None, help="Hybrid fusion method.")
@click.option("--alpha", type=click.FloatRange(0, 1), default=None, help="Dense weight for --fusion convex.")
@click.option("--per-doc", type=click.IntRange(1, 100), default=None,
              help="Max chunks per document (default 2; with --papers, passages shown per paper, default 3).")
@click.option("--papers/--passages", default=False, help="One result per paper with its best passages inside.")
@click.option("--study-type", "study_types", multiple=True, type=click.Choice(STUDY_TYPES),
              help="Only papers of this design (repeat for several).")
@click.option("--sort", "sort_by", type=click.Choice(["relevance", "evidence"]), default="relevance",
              show_default=True, help="With --papers: order by relevance or by level of evidence.")
@click.option("--export", "export_format", type=click.Choice(["ris", "bibtex", "csv", "vancouver"]), default=None,
              help="Print the result papers as RIS, BibTeX, CSV or Vancouver references instead of results.")
@click.option("--key-sentence/--no-key-sentence", "key_sentences", default=None,
              help="Mark each passage's sentence closest to the query (default: search.key_sentences).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per hit (or paper) per line.")
@click.pass_context
@handle_errors
def search(ctx: click.Context, query: str, mode: str | None, model: str | None, k: int, fusion: str | None,
           alpha: float | None, per_doc: int | None, papers: bool, study_types: tuple[str, ...], sort_by: str,
           export_format: str | None, key_sentences: bool | None, as_json: bool) -> None:
    """Search the indexed library."""
    from dataclasses import replace

    from search_app import key_sentence
    from search_app.papers import sort_papers
    from search_app.searcher import Searcher, SearchFilters

    settings = _settings(ctx)
    mark = settings.search.key_sentences if key_sentences is None else key_sentences
    overrides = {key: value for key, value in (("fusion", fusion), ("alpha", alpha)) if value is not None}
    if per_doc is not None and not papers:
        overrides["per_doc_cap"] = per_doc
    settings = replace(settings, search=replace(settings.search, **overrides))
    mode = mode or settings.search.mode
    retriever = "bm25" if mode == "bm25" else f"{mode}:{model or settings.index.model}"
    searcher = Searcher.from_settings(settings, retriever)
    filters = SearchFilters(study_types=study_types)
    if export_format:
        _echo_export([p.document for p in searcher.search_papers(query, k, filters) if p.document], export_format)
        return
    if papers:
        found = sort_papers(searcher.search_papers(query, k, filters, passages=per_doc or 3), sort_by)  # type: ignore[arg-type]
        if mark and found:
            found = key_sentence.mark_papers(searcher.sentence_embedder(), query, found)
        for paper in found:
            click.echo(json.dumps(paper.to_json(), ensure_ascii=False) if as_json else _paper_plain(paper))
        if not found and not as_json:
            click.echo("No results.")
        return
    hits = searcher.search(query, k, filters)
    if mark and hits:
        hits = key_sentence.mark_hits(searcher.sentence_embedder(), query, hits)
    for hit in hits:
        if as_json:
            click.echo(json.dumps(hit.to_json(), ensure_ascii=False))
            continue
        why = ", ".join(f"{name} #{rank} ({hit.scores[name]:.3f})" for name, rank in hit.ranks.items())
        page = f" p.{hit.page}" if hit.page else ""
        click.echo(f"{hit.rank:>3}. {hit.title or '(untitled)'}{page}  [{hit.score:.4f}; {why}]")
        click.echo(f"     {hit.text[:240].replace(chr(10), ' ')}{'...' if len(hit.text) > 240 else ''}")
        if hit.key_sentence:
            click.echo(f"     » {_key_text(hit)}")
    if not hits and not as_json:
        click.echo("No results.")


def _echo_export(docs: list, export_format: str) -> None:
    from search_app.citations import export, vancouver

    if export_format == "vancouver":
        for number, reference in enumerate(vancouver(docs), start=1):
            click.echo(f"{number}. {reference}")
    else:
        click.echo(export(docs, export_format), nl=False)  # type: ignore[arg-type]


def _paper_plain(paper) -> str:  # noqa: ANN001 - a PaperHit
    from medcore.study_types import label

    doc = paper.document
    design = f" [{label(doc.study_type)}]" if doc is not None and doc.study_type else ""
    lines = [f"{paper.rank:>3}. {paper.title or '(untitled)'}{design}  [{paper.score:.4f}]"]
    for hit in paper.passages:
        page = f"p.{hit.page}: " if hit.page else ""
        if hit.key_sentence:
            lines.append(f"     - {page}» {_key_text(hit)}")
        else:
            lines.append(f"     - {page}{hit.text[:200].replace(chr(10), ' ')}{'...' if len(hit.text) > 200 else ''}")
    return "\n".join(lines)


def _key_text(hit) -> str:  # noqa: ANN001 - a Hit with a key sentence
    start, end = hit.key_sentence
    return " ".join(hit.text[start:end].split())


@cli.command()
@click.option("--redo", is_flag=True, help="Classify every document again, not only those without a design.")
@click.pass_context
@handle_errors
def classify(ctx: click.Context, redo: bool) -> None:
    """Detect the study design of stored documents that have none (stores made before designs were detected)."""
    from indexer.store import Store
    from indexer.study_design import classify_stored

    click.echo(f"Classified {classify_stored(Store.from_settings(_settings(ctx)), redo)} documents.")


@cli.command(name="eval")
@click.argument("dataset_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--split", default="test", show_default=True)
@click.option("--retriever", "retrievers", multiple=True, default=("hybrid",), show_default=True,
              help="bm25, dense:MODEL or hybrid:MODEL; repeat to compare.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per retriever; the last line is the last.")
@click.option("--save/--no-save", default=True, help="Record the run in the store (shown in the UI).")
@click.option("--max-queries", type=click.IntRange(1), default=None, help="Score only the first N judged queries.")
@click.pass_context
@handle_errors
def evaluate(ctx: click.Context, dataset_dir: Path, split: str, retrievers: tuple[str, ...], as_json: bool,
             save: bool, max_queries: int | None) -> None:
    """Score retrievers on a BEIR folder (document-level nDCG, MAP, Recall, Precision, MRR at 1/5/10)."""
    from indexer.store import Store
    from search_app.benchmark import evaluate_dataset
    from search_app.evaluation import METRIC_NAMES

    settings = _settings(ctx)
    results = [evaluate_dataset(dataset_dir, split, r, settings, max_queries=max_queries) for r in retrievers]
    if save:
        store = Store.from_settings(settings)
        for r in results:
            store.save_eval_run(r.dataset, r.split, r.retriever, r.n_queries, r.metrics, r.seconds)
    if as_json:
        for r in results:
            click.echo(json.dumps(r.to_json()))
        return
    width = max(len(r.retriever) for r in results)
    click.echo(f"{results[0].dataset} / {results[0].split}: {results[0].n_queries} queries")
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
@handle_errors
def ui(ctx: click.Context, port: int, address: str, streamlit_args: tuple[str, ...]) -> None:
    """Start the Streamlit app (search, compare, score, ask, library). Refuses to serve without sign-in beyond
    localhost (see `medembed users add` and docs/deploy.md)."""
    from search_app import serve

    app = Path(__file__).resolve().parent.parent / "ui" / "app.py"
    with serve.prepared(_settings(ctx), address) as hardening:
        cmd = [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(port),
               "--server.address", address, "--server.headless", "true", *hardening, *streamlit_args]
        logger.info("Starting %s", " ".join(cmd))
        code = subprocess.call(cmd, env=os.environ.copy())
    ctx.exit(code)


# -- training data, fine-tuning, merging (issue 3); only these commands import trainer ------------------------------
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
    from indexer.store import Store
    from trainer.data import passages_from_chunks

    store = Store.from_settings(settings)
    passages = passages_from_chunks(store.get_chunks(store.chunk_ids()).values())
    if not passages:
        raise click.ClickException(f"The store at {redact_url(settings.paths.store_url)} has no chunks: ingest PDFs "
                                   "first (medembed ingest PATH) or pass --passages FILE.jsonl.")
    return passages


@cli.command()
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Triplets JSONL (.gz allowed); appended to, so a rerun resumes.")
@click.option("--passages", "passages_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSONL of {id, text, doc_id?, title?} instead of the store's chunks.")
@click.option("--from-qrels", "qrels_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Triplets from a labelled BEIR folder instead of the LLM.")
@click.option("--split", default="train", show_default=True, help="Qrels split for --from-qrels.")
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
def generate(ctx: click.Context, output: Path, passages_file: Path | None, qrels_dir: Path | None, split: str,
             max_per_query: int, max_queries: int | None, n_passages: int | None, min_chars: int,
             base_url: str | None, llm_model: str | None, concurrency: int, retries: int, timeout_s: float | None,
             temperature: float, max_tokens: int, json_mode: bool, kinds: str, min_relevance: int,
             llm_negatives: bool, mine: str, mine_model: str | None, negatives: int, range_max: int,
             relative_margin: float, seed: int, as_json: bool) -> None:
    """Write training triplets (query, positive, hard negative) from LLM-written queries, or --from-qrels."""
    from dataclasses import replace

    from trainer.data import read_beir, read_passages, sample_passages
    from trainer.generate import GenerateConfig, generate_triplets, triplets_from_qrels
    from trainer.llm import KINDS, LLMClient, ValidationConfig
    from trainer.mining import MiningConfig, NegativeMiner
    from trainer.models import load_model

    settings = _settings(ctx)
    mining = MiningConfig(method=mine, range_max=range_max, relative_margin=relative_margin, num_negatives=negatives,
                          seed=seed)
    spec, model = load_model(mine_model or settings.index.model, settings.index.device) if mine != "bm25" else (None,
                                                                                                             None)
    prefixes = {"query_prefix": spec.query_prefix, "passage_prefix": spec.passage_prefix} if spec else {}
    if qrels_dir is not None:
        data = read_beir(qrels_dir, split)
        miner = NegativeMiner(list(data.corpus.values()), model, mining, **prefixes)
        summary = triplets_from_qrels(data, miner, output, max_per_query, max_queries=max_queries, seed=seed)
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
        config = GenerateConfig(kinds=wanted, concurrency=concurrency, llm_negatives=llm_negatives,
                                validation=ValidationConfig(min_relevance=min_relevance))
        summary = generate_triplets(sample_passages(pool, n_passages, seed, min_chars), client, miner, output, config)
    click.echo(json.dumps(summary.to_json()) if as_json else f"Generate: {summary}")


@cli.command()
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

    settings = _settings(ctx)
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


@cli.command()
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

    settings = _settings(ctx)
    result = run_merge(models_, output, weights, _dev_set(settings, dev, dev_split, dev_queries, dev_corpus), fp16,
                       overwrite, settings=settings)
    if as_json:
        click.echo(json.dumps(result.to_json()))
        return
    for candidate in result.candidates:
        scores = "  ".join(f"{m} {v:.4f}" for m, v in candidate["scores"].items())
        click.echo(f"  {candidate['weights']:>24}  {scores}")
    click.echo(f"Merged {', '.join(models_)} with weights {','.join(f'{w:g}' for w in result.chosen)} -> {output}")


@cli.command()
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


# -- the watched inbox (issue 5): docker-compose's indexer service runs `medembed watch /data/inbox` -----------------
@cli.command()
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

    from indexer.store import Store
    from search_app.watch import InboxWatcher

    settings = _settings(ctx)
    watcher = InboxWatcher(inbox, Store.from_settings(settings), settings, models_, collection, settle, batch_size)
    signal.signal(signal.SIGTERM, lambda *_: watcher.stop())  # `docker stop`: finish the current file, then exit
    summary = watcher.run(interval=interval, once=once, lock_wait_s=lock_wait)
    click.echo(f"Watch: {summary}")
    if once and summary.count("failed"):
        ctx.exit(1)


from search_app.cli_audit import audit_commands  # noqa: E402 - issue 9: access control
from search_app.cli_saved import reading_list, recent  # noqa: E402 - `medembed reading-list`, `medembed recent`
from search_app.cli_users import users  # noqa: E402 - the `medembed users` subgroup

cli.add_command(users)
cli.add_command(reading_list)
cli.add_command(recent)
audit_commands(cli)  # ingest, index, generate, train, merge, watch go to the audit log
