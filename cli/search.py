"""``medembed search``: passages or papers, filtered by study design, printed for people, as JSON or as
references (RIS, BibTeX, CSV, Vancouver)."""

from __future__ import annotations

import json

import click

from cli.common import export_formats, handle_errors, retriever_modes, settings_of
from medcore.study_types import STUDY_TYPES


@click.command()
@click.argument("query")
@click.option("--mode", type=retriever_modes(), default=None, help="Default: search.mode.")
@click.option("--model", default=None, help="Embedding model for dense/hybrid (default: index.model).")
@click.option("-k", "k", default=10, show_default=True, type=click.IntRange(1, 1000),
              help="Passages, or papers with --papers.")
@click.option("--fusion", type=click.Choice(["rrf", "convex"]), default=None, help="Hybrid fusion method.")
@click.option("--alpha", type=click.FloatRange(0, 1), default=None, help="Dense weight for --fusion convex.")
@click.option("--per-doc", type=click.IntRange(1, 100), default=None,
              help="Max chunks per document (default 2; with --papers, passages shown per paper, default 3).")
@click.option("--papers/--passages", default=False, help="One result per paper with its best passages inside.")
@click.option("--study-type", "study_types", multiple=True, type=click.Choice(STUDY_TYPES, case_sensitive=False),
              help="Only papers of this design (repeat for several).")
@click.option("--sort", "sort_by", type=click.Choice(["relevance", "evidence"]), default="relevance",
              show_default=True, help="With --papers: order by relevance or by level of evidence.")
@click.option("--export", "export_format", type=export_formats(), default=None,
              help="Print the result papers in this format (references) instead of results.")
@click.option("--rerank/--no-rerank", default=None,
              help="Rescore the top candidates with the reranker (default: search.rerank, on where the CPU computes "
                   "bf16 natively).")
@click.option("--key-sentence/--no-key-sentence", "key_sentences", default=None,
              help="Mark each passage's sentence closest to the query (default: search.key_sentences).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per hit (or paper) per line.")
@click.pass_context
@handle_errors
def search(ctx: click.Context, query: str, mode: str | None, model: str | None, k: int, fusion: str | None,
           alpha: float | None, per_doc: int | None, papers: bool, study_types: tuple[str, ...], sort_by: str,
           export_format: str | None, rerank: bool | None, key_sentences: bool | None, as_json: bool) -> None:
    """Search the indexed library."""
    from dataclasses import replace

    from medcore.retrievers import RetrieverSpec
    from medcore.types import SearchFilters
    from search_app.papers import sort_papers
    from search_app.relevance import renumber, split
    from search_app.searcher import Searcher

    settings = settings_of(ctx)
    mark = settings.search.key_sentences if key_sentences is None else key_sentences
    overrides = {key: value for key, value in (("fusion", fusion), ("alpha", alpha)) if value is not None}
    if per_doc is not None and not papers:
        overrides["per_doc_cap"] = per_doc
    settings = replace(settings, search=replace(settings.search, **overrides))
    mode = mode or settings.search.mode
    retriever = RetrieverSpec.of(mode, model or settings.index.model,
                                 settings.search.rerank if rerank is None else rerank)
    searcher = Searcher.from_settings(settings, retriever)
    if also := searcher.expansions(query):  # on stderr where stdout is JSON or references
        click.echo("Also searched: " + ", ".join(f"{long} ({short})" for short, long in also),
                   err=as_json or bool(export_format))
    filters = SearchFilters(study_types=study_types)
    if export_format:
        found, weak = split(searcher.search_papers(query, k, filters), searcher.floor)
        _echo_export([p.document for p in found if p.document], export_format)
        if not found:
            _no_results(True, weak)
        return
    if papers:
        found, weak = split(sort_papers(searcher.search_papers(query, k, filters, passages=per_doc or 3),
                                        sort_by, searcher.floor), searcher.floor)  # type: ignore[arg-type]
        if mark and found:
            found = searcher.mark_key_sentences(query, found)
        for paper in found:
            click.echo(json.dumps(paper.to_json(), ensure_ascii=False) if as_json else _paper_plain(paper))
        if not found:
            _no_results(as_json, weak)
        return
    hits, weak = split(searcher.search(query, k, filters), searcher.floor)
    hits = renumber(hits)
    if mark and hits:
        hits = searcher.mark_key_sentences(query, hits)
    for hit in hits:
        if as_json:
            click.echo(json.dumps(hit.to_json(), ensure_ascii=False))
            continue
        why = ", ".join(f"{name} #{rank} ({hit.scores[name]:.3f})" for name, rank in hit.ranks.items())
        page = f" p.{hit.page}" if hit.page else ""
        click.echo(f"{hit.rank:>3}. {hit.title or '(untitled)'}{page}  [{_relevance(hit)}{hit.score:.4f}; {why}]")
        click.echo(f"     {hit.text[:240].replace(chr(10), ' ')}{'...' if len(hit.text) > 240 else ''}")
        if hit.key_sentence:
            click.echo(f"     » {_key_text(hit)}")
    if not hits:
        _no_results(as_json, weak)


def _no_results(as_json: bool, weak: list) -> None:
    # with --json, stdout holds only JSON lines: an empty result is said on stderr, so a person still sees it
    if weak:
        best = max(r.relevance for r in weak)
        message = (f"No good match: the closest of {len(weak)} results has relevance {best:.2f}, under the floor "
                   f"below which results are not shown. Try other words, or a question the library answers.")
    else:
        message = "No results."
    click.echo(message + (" (no JSON lines printed)" if as_json else ""), err=as_json)


def _relevance(result) -> str:  # noqa: ANN001 - a Hit or PaperHit
    return f"relevance {result.relevance:.2f}; " if result.relevance is not None else ""


def _echo_export(docs: list, export_format: str) -> None:
    from search_app.exporters import export

    click.echo(export(docs, export_format), nl=False)


def _paper_plain(paper) -> str:  # noqa: ANN001 - a PaperHit
    from medcore.study_types import label

    doc = paper.document
    design = f" [{label(doc.study_type)}]" if doc is not None and doc.study_type else ""
    lines = [f"{paper.rank:>3}. {paper.title or '(untitled)'}{design}  [{_relevance(paper)}{paper.score:.4f}]"]
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
