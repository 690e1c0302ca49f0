"""Search page: one query, one retriever, result cards with highlighted passages and links to the PDF page."""

from __future__ import annotations

import streamlit as st

from indexer.encode.cross_encoder import reranker_reason
from library import reading_list
from medcore import study_types
from medcore.errors import MedEmbedError
from medcore.models import default_model_choice, default_rerank_choice
from medcore.retrievers import RERANK_SUFFIX, RetrieverSpec
from medcore.types import Hit, PaperHit, SearchFilters
from search_app import citations, relevance
from search_app.papers import sort_papers
from ui import common, gate, present

user = gate.page_user("reader", "The Search page")
settings = common.settings()
library = common.store(settings)
facets = library.facets()  # the filter lists, by aggregate queries: a large library is never loaded whole

st.title("Search the library")
query = common.query_box(st, "Question or keywords", key="search_query",
                         placeholder=f"e.g. {common.EXAMPLE_QUERY}")

left, mid, right = st.columns([3, 3, 2])
mode = left.radio("Retrieval", list(common.MODE_LABELS), format_func=common.MODE_LABELS.get, horizontal=True,
                  key="search_mode")
statuses = {s.spec: s for s in common.statuses(settings)}
models = sorted({s.spec.split(":", 1)[1] for s in statuses.values() if s.spec.startswith("dense:")
                 and not s.spec.endswith(RERANK_SUFFIX)})
ready = [m for m in models if statuses[f"dense:{m}"].available]
default_choice = default_model_choice()
default_model = settings.index.model if settings.index.model in ready else (ready[0] if ready else None)
model = mid.selectbox("Embedding model", ready, index=ready.index(default_model) if default_model else None,
                      disabled=mode == "bm25" or not ready, key="search_model",
                      help="Only models with an index for this library are listed; see 'Other models' below. "
                           f"The default is {default_choice[0]}: {default_choice[1]}.")
k = right.slider("Results", 1, 50, 10, key="search_k")
rerank_reason = reranker_reason(settings.search.reranker)
rerank_default = default_rerank_choice()
rerank = right.toggle("Rerank", value=settings.search.rerank and not rerank_reason, disabled=bool(rerank_reason),
                      key="search_rerank",
                      help=f"A second model reads the query with each of the top {settings.search.rerank_depth} "
                           "candidates and reorders them: more precise, a few hundred ms slower. "
                           + (f"Unavailable: {rerank_reason}" if rerank_reason
                              else f"{'On' if rerank_default[0] else 'Off'} by default here: {rerank_default[1]}."
                              + ("" if settings.search.rerank == rerank_default[0] else
                                 f" Your settings turn it {'on' if settings.search.rerank else 'off'}.")))
view_col, sort_col = st.columns([3, 5])
view = view_col.segmented_control("Show", ["Papers", "Passages"], default="Papers", key="search_view",
                                  help="Papers: one card per paper with its best passages. Passages: each on its own."
                                  ) or "Papers"
sort_by = sort_col.segmented_control("Order papers by", ["Relevance", "Level of evidence"], default="Relevance",
                                     key="search_sort", disabled=view == "Passages",
                                     help="Level of evidence: systematic reviews and guidelines first, then trials, "
                                          "cohort/case-control, cross-sectional, case reports, reviews, lab work.")
unavailable = [m for m in models if m not in ready]
if unavailable:
    with mid.expander(f"Other models ({len(unavailable)} not ready)"):
        for name in unavailable:
            st.markdown(f":gray[**{name}**: {statuses[f'dense:{name}'].reason}]")

with st.sidebar:
    st.subheader("Filters")
    years = facets.years
    year_range = None
    if len(years) > 1:
        year_range = st.slider("Year", years[0], years[-1], (years[0], years[-1]), key="search_years")
    elif years:
        st.caption(f"All dated documents are from {years[0]}.")
    journals = st.multiselect("Journal", facets.journals, key="search_journals")
    present_types = [t for t in study_types.STUDY_TYPES if t in facets.study_types]
    designs = st.multiselect("Study type", present_types, format_func=study_types.label, key="search_designs",
                             help="Detected at ingest from the article type, title and abstract; 'Other' when the "
                                  "paper names no design.")
    collections = facets.collections
    chosen_collections = st.multiselect("Collection", collections, key="search_collections") if len(
        collections) > 1 else []

filters = SearchFilters(
    collections=tuple(chosen_collections),
    journals=tuple(journals),
    year_min=year_range[0] if year_range and year_range[0] > years[0] else None,
    year_max=year_range[1] if year_range and year_range[1] < years[-1] else None,
    study_types=tuple(designs),
)

if not facets.n_documents:
    st.info("The library is empty. Add PDFs on the **Library** page (or run `medembed ingest` and `medembed index`).")
elif query.strip():
    spec = str(RetrieverSpec.of(mode, model, rerank))
    try:
        if mode != "bm25" and model is None:
            raise MedEmbedError("No embedding model has an index yet; use BM25, or index one on the Library page.")
        searcher = common.searcher(settings, spec)
        if view == "Passages":
            results, seconds = common.timed_search(searcher, query, k, filters)
        else:
            results, seconds = common.timed_paper_search(searcher, query, k, filters)
    except MedEmbedError as exc:
        common.show_error(exc)
    else:
        if also := searcher.expansions(query):
            st.caption("Also searched: " + ", ".join(f"{present.escape_markdown(long)} "
                                                     f"({present.escape_markdown(short)})" for short, long in also))
        filtered = " (filtered)" if filters else ""
        unit = "passages" if view == "Passages" else "papers"
        if view == "Papers":
            order = "evidence" if sort_by == "Level of evidence" else "relevance"
            ordered = sort_papers(results, order, searcher.floor)
            shown, weak = relevance.split(ordered, searcher.floor)
        else:
            strong, weak = relevance.split(results, searcher.floor)
            numbered = relevance.renumber(strong + weak)
            shown, weak = numbered[:len(strong)], numbered[len(strong):]
        st.caption(f"{len(shown)} {unit}{filtered} · {common.spec_label(spec)} · {seconds * 1000:.0f} ms")
        if not results:
            st.info("Nothing matched. Try other words, another retrieval mode, or fewer filters.")
        elif not shown:
            st.warning("No good match: nothing in the library is relevant enough to this query to show as a result. "
                       "Try other words, or ask about a topic the library covers. The nearest "
                       f"{unit} are below, marked weak.", icon=":material/search_off:")
        docs = list({r.doc_id: r.document for r in shown if r.document is not None}.values())
        references = dict(zip((d.id for d in docs), citations.vancouver(docs), strict=True))
        if docs:
            common.export_buttons(docs, key="results", label="papers")

        options = {"mode": mode, "model": model if mode != "bm25" else None, "rerank": rerank, "k": k, "view": view,
                   "sort": sort_by,
                   "study_types": list(designs), "journals": list(journals), "collections": list(chosen_collections),
                   "year_min": filters.year_min, "year_max": filters.year_max}
        if st.session_state.get("_recorded_search") != (query.strip(), options):  # not again on each rerun
            reading_list.record_search(library, user, query.strip(), options)
            st.session_state["_recorded_search"] = (query.strip(), options)
        listed = reading_list.saved_ids(library, user)

        def actions(result: PaperHit | Hit) -> None:
            # a paper has one card; a passage's buttons are keyed by its chunk (two may share a paper)
            suffix = f"{result.doc_id}" if isinstance(result, PaperHit) else f"{result.doc_id}-{result.chunk_id}"
            cite, keep = st.columns([1, 3])
            with cite:
                if result.doc_id in references:
                    common.cite_popover(references[result.doc_id], key=f"cite-{suffix}")
            with keep:
                common.reading_list_toggle(library, user, result.doc_id, result.doc_id in listed, key=f"keep-{suffix}")

        card = common.hit_card if view == "Passages" else common.paper_card
        for result in shown:
            card(result, query, mode, actions=actions)  # type: ignore[operator]
        if weak:
            # below the relevance floor: kept out of the results, one click away for whoever wants the nearest ones
            label = (f"Nearest {unit}: weak matches ({len(weak)})" if not shown
                     else f"{len(weak)} weaker {unit} below the relevance floor")
            with st.expander(label, expanded=False):
                for result in weak:
                    card(result, query, mode, weak=True)  # type: ignore[operator]
