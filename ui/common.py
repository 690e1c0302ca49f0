"""What every page shares: settings, the cached store and searchers, timed search, and the result card."""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import streamlit as st

from access.roles import Principal
from library import reading_list
from library.manage import RetrieverStatus, retriever_statuses
from medcore.beir import load_qrels, load_queries
from medcore.config import Settings
from medcore.errors import MedEmbedError
from medcore.retrievers import RETRIEVER_MODES, RetrieverSpec
from medcore.types import Document, Hit, PaperHit, SearchFilters
from search_app import exporters
from search_app.evaluation import runner
from search_app.evaluation.benchmarks import Benchmark, benchmarks_root, find_benchmarks
from search_app.searcher import Searcher
from store import Store
from ui import present, scoring

logger = logging.getLogger(__name__)

#: The longest query or question taken: a paragraph. The box stops typing there; a client that sends more is refused.
MAX_QUERY_CHARS = 1000
MODE_LABELS = {m.name: m.label for m in RETRIEVER_MODES.values()}
#: The example in the Search and Compare boxes: a question the demo library (samples/pdfs) answers well, checked by
#: tests/test_readme_usage.py against the demo.
EXAMPLE_QUERY = "bowel preparation for capsule endoscopy"
_SEARCH_LOCK = threading.Lock()


def settings() -> Settings:
    """Settings as the CLI sees them (``MEDEMBED_CONFIG``, ``MEDEMBED_*``); cheap, so read on every run."""
    return Settings.load()


@st.cache_resource(show_spinner=False, max_entries=4)
def _store(url: str) -> Store:
    return Store(url)


def store(settings: Settings) -> Store:
    """One store per database for the whole server process."""
    if settings.paths.database_url is None:
        settings.paths.home.mkdir(parents=True, exist_ok=True)
    return _store(settings.paths.store_url)


def query_box(where: object, label: str, key: str, **kwargs: object) -> str:
    """A text box for a query, capped at :data:`MAX_QUERY_CHARS`: the browser stops typing there, and the server cuts
    what a client sends past it (Streamlit applies ``max_chars`` to the value it receives); the page says so."""
    value = str(where.text_input(label, key=key, max_chars=MAX_QUERY_CHARS, **kwargs) or "")  # type: ignore[attr-defined]
    value = value[:MAX_QUERY_CHARS]
    if len(value) == MAX_QUERY_CHARS:
        st.warning(f"Queries are limited to {MAX_QUERY_CHARS:,} characters; anything longer was cut there. Shorten "
                   "it to its key terms or question.", icon=":material/content_cut:")
    return value


@st.cache_resource(show_spinner="Loading the model and indexes (once per server)…", max_entries=8)
def _searcher(spec: str, settings: Settings) -> Searcher:
    return Searcher(settings, store(settings), RetrieverSpec.parse(spec, settings.index.model))


def searcher(settings: Settings, spec: str) -> Searcher:
    """The cached searcher for ``spec`` (``bm25``, ``dense:M``, ``hybrid:M``); the model loads once per process.

    Raises:
        MedEmbedError: no index yet, or the model cannot be loaded (the message says how to fix it).
    """
    return _searcher(spec, settings)


@contextlib.contextmanager
def _one_torch_thread() -> Iterator[None]:
    """Encode a single query on one thread: intra-op threads buy nothing for ~10 tokens and, when another process
    keeps a core busy, their spin-waits made a MiniLM query take 500 ms instead of 15 ms on this machine."""
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def timed_search(searcher: Searcher, query: str, k: int,
                 filters: SearchFilters | None = None) -> tuple[list[Hit], float]:
    """``refresh()`` (picks up indexes another process rebuilt), then search; returns hits and seconds taken."""
    with _SEARCH_LOCK, _one_torch_thread():
        start = time.perf_counter()
        searcher.refresh()
        hits = searcher.search(query, k, filters)
        if searcher.settings.search.key_sentences and hits:
            hits = searcher.mark_key_sentences(query, hits)
        return hits, time.perf_counter() - start


def timed_paper_search(searcher: Searcher, query: str, k: int,
                       filters: SearchFilters | None = None) -> tuple[list[PaperHit], float]:
    """Like :func:`timed_search`, one result per paper."""
    with _SEARCH_LOCK, _one_torch_thread():
        start = time.perf_counter()
        searcher.refresh()
        papers = searcher.search_papers(query, k, filters)
        if searcher.settings.search.key_sentences and papers:
            papers = searcher.mark_key_sentences(query, papers)
        return papers, time.perf_counter() - start


@st.cache_data(ttl=5, show_spinner=False)
def statuses(settings: Settings) -> list[RetrieverStatus]:
    """Which retrievers can run (checked on disk; cached for a few seconds)."""
    return retriever_statuses(settings)


spec_label = present.retriever_label


WEAK_BADGE = ":gray-badge[weak match]"


def rank_details(hits: list[Hit], mode: str) -> None:
    """Each passage's ranks and scores per retriever, in a closed expander: there for whoever wants them, out of a
    clinician's way."""
    with st.expander("Rank details"):
        for hit in hits:
            page = f"p. {hit.page}: " if hit.page and len(hits) > 1 else ""
            st.caption(page + present.why_ranked(hit, mode))


def hit_card(hit: Hit, query: str, mode: str, *, compact: bool = False, extra: str | None = None,
             actions: Callable[[Hit], None] | None = None, weak: bool = False) -> None:
    """One result: title, byline, highlighted snippet, why it is here, links. All document text is escaped.
    ``weak``: a result under the relevance floor, shown only on request and marked so."""
    doc = hit.document
    with st.container(border=True):
        badge = " ".join(b for b in (WEAK_BADGE if weak else "", present.study_badge(doc)) if b)
        st.markdown(f"**{hit.rank}.** **{present.title_markdown(hit.title, doc)}**" + (f" {badge}" if badge else ""),
                    help=present.study_evidence(doc) or None)
        if byline := present.byline(doc, hit.page):
            st.caption(byline)
        if extra:
            st.markdown(extra)
        st.markdown(present.snippet(hit.text, query, max_chars=220 if compact else 420, key=hit.key_sentence))
        st.caption("Why here: " + present.why_here(hit, mode))
        rank_details([hit], mode)
        if links := present.links(doc, hit.page):
            st.markdown(present.links_markdown(links))
        if actions is not None:
            actions(hit)


def paper_card(paper: PaperHit, query: str, mode: str, *, compact: bool = False, extra: str | None = None,
               actions: Callable[[PaperHit], None] | None = None, weak: bool = False) -> None:
    """One paper: title, design badge, byline, then each of its best passages (page, snippet, link to that page).

    ``actions`` draws the paper's buttons (cite, reading list) inside the card; ``weak`` marks a paper under the
    relevance floor."""
    doc = paper.document
    with st.container(border=True):
        badge = " ".join(b for b in (WEAK_BADGE if weak else "", present.study_badge(doc)) if b)
        title = f"**{paper.rank}.** **{present.title_markdown(paper.title, doc)}**"
        st.markdown(title + (f" {badge}" if badge else ""), help=present.study_evidence(doc) or None)
        if byline := present.byline(doc):
            st.caption(byline)
        if extra:
            st.markdown(extra)
        for hit in paper.passages:
            page = f"p. {hit.page} · " if hit.page else ""
            st.markdown(f":gray[{page}]" + present.snippet(hit.text, query, max_chars=220 if compact else 360,
                                                           key=hit.key_sentence))
            why = "Why here: " + present.why_here(hit, mode)
            pdf = present.pdf_url(doc, hit.page) if doc else None
            st.caption(why + (f" · [Open PDF at page {hit.page}]({pdf})" if pdf and hit.page else ""))
        rank_details(list(paper.passages), mode)
        if links := [link for link in present.links(doc, None) if not link.url.startswith(present.PDF_ROUTE)]:
            st.markdown(present.links_markdown(links))
        if actions is not None:
            actions(paper)


def export_buttons(docs: list[Document], notes: dict[int, str] | None = None, *, key: str,
                   label: str = "results") -> None:
    """A download button for each export format the registry offers (RIS, BibTeX, CSV: in that order)."""
    formats = exporters.downloads()
    # the buttons side by side after the label, not spread over the page's width
    columns = st.columns([1.4] + [1] * len(formats) + [4], vertical_alignment="center")
    columns[0].caption(f"Export {len(docs)} {label}:")
    for column, fmt in zip(columns[1:], formats):
        column.download_button(
            fmt.label, fmt.render(docs, notes), file_name=f"medembed-{key}.{fmt.extension}", mime=fmt.media_type,
            key=f"{key}-export-{fmt.name}", icon=":material/download:", disabled=not docs)


def cite_popover(reference: str, key: str) -> None:
    """A "Cite" button whose box shows the Vancouver reference with a copy button."""
    with st.popover("Cite", icon=":material/format_quote:", key=key):
        st.caption("Vancouver (NLM)")
        st.code(reference, language=None, wrap_lines=True)


def reading_list_toggle(store: Store, user: Principal, doc_id: int, listed: bool, key: str | None = None) -> None:
    """"Add to reading list" or, for a paper already on it, "On reading list" that removes it."""
    def toggle() -> None:
        try:
            (reading_list.remove if listed else reading_list.add)(store, user, doc_id)
        except MedEmbedError as exc:
            st.toast(str(exc), icon=":material/error:")

    st.button("On reading list · remove" if listed else "Add to reading list", key=key or f"keep-{doc_id}",
              icon=":material/bookmark_added:" if listed else ":material/bookmark_add:", on_click=toggle,
              type="secondary" if listed else "tertiary")


def show_error(exc: MedEmbedError) -> None:
    st.error(str(exc), icon=":material/error:")


@st.cache_data(show_spinner=False, max_entries=16)
def _benchmarks(root: str | None) -> list[Benchmark]:
    return find_benchmarks(Path(root) if root else None)


def benchmark_root(settings: Settings, key: str, user: Principal) -> Path | None:
    """The benchmark folder: ``MEDEMBED_BENCHMARKS_DIR`` / ``[benchmarks] dir``, else the shipped sample. Curators
    may type another folder on the server; readers get the configured one only (a typed path would let them list
    and read any folder the server can)."""
    default = benchmarks_root(settings)
    if not user.can("curator"):
        if default is None or not default.is_dir():
            st.info("No benchmark folder is configured; ask an admin to set MEDEMBED_BENCHMARKS_DIR.")
            return None
        return default
    with st.expander("Benchmark folder", expanded=default is None):
        typed = st.text_input(
            "Folder holding BEIR folders (corpus.jsonl, queries.jsonl, qrels/<split>.tsv)",
            value=str(default) if default else "", key=key,
            help="Set MEDEMBED_BENCHMARKS_DIR (or [benchmarks] dir in the settings file) to change the default.")
        if not typed.strip():
            st.info("No benchmark folder configured. Set MEDEMBED_BENCHMARKS_DIR to a folder of BEIR datasets "
                    "(e.g. ../shared/data with nfcorpus/ and medquad/), or type its path above.")
            return None
        root = Path(typed.strip()).expanduser()
        if not root.is_dir():
            st.warning(f"{present.escape_markdown(str(root))} is not a folder on the server.")
            return None
        return root


def benchmarks(root: Path | None) -> list[Benchmark]:
    return _benchmarks(str(root) if root else None)


@st.cache_resource(show_spinner=False, max_entries=4)
def dataset_searcher(path: str, spec: str, settings: Settings) -> Searcher:
    """A searcher over a benchmark's own store; the first call ingests the corpus and builds the index."""
    return runner.dataset_searcher(Path(path), settings, spec)


@st.cache_data(show_spinner=False, max_entries=8)
def load_benchmark(path: str, split: str) -> tuple[dict[str, dict[str, int]], dict[str, str]]:
    """``(qrels, queries)`` of one split, read once per server."""
    return load_qrels(Path(path), split), load_queries(Path(path))


@st.cache_data(ttl=10, show_spinner=False)
def dataset_retrievers(path: str, settings: Settings) -> tuple[list[str], list[str]]:
    """``(options, defaults)`` for a benchmark; see :func:`ui.scoring.dataset_retrievers`."""
    return scoring.dataset_retrievers(Path(path), settings)
