"""Search page: one query, one retriever, result cards with highlighted passages and links to the PDF page."""

from __future__ import annotations

import streamlit as st

from medcore.errors import MedEmbedError
from search_app.searcher import SearchFilters
from ui import common, gate

user = gate.page_user("reader", "The Search page")
cfg = common.settings()
library = common.store(cfg)
docs = [doc for doc, _ in library.documents()]

st.title("Search the library")
query = common.query_box(st, "Question or keywords", key="search_query",
                         placeholder="e.g. methemoglobinemia in pregnancy, treatment")

left, mid, right = st.columns([3, 3, 2])
mode = left.radio("Retrieval", list(common.MODE_LABELS), format_func=common.MODE_LABELS.get, horizontal=True,
                  key="search_mode")
statuses = {s.spec: s for s in common.statuses(cfg)}
models = sorted({s.spec.split(":", 1)[1] for s in statuses.values() if ":" in s.spec})
ready = [m for m in models if statuses[f"dense:{m}"].available]
default_model = cfg.index.model if cfg.index.model in ready else (ready[0] if ready else None)
model = mid.selectbox("Embedding model", ready, index=ready.index(default_model) if default_model else None,
                      disabled=mode == "bm25" or not ready, key="search_model",
                      help="Only models with an index for this library are listed; see 'Other models' below.")
k = right.slider("Results", 1, 50, 10, key="search_k")
unavailable = [m for m in models if m not in ready]
if unavailable:
    with mid.expander(f"Other models ({len(unavailable)} not ready)"):
        for name in unavailable:
            st.markdown(f":gray[**{name}**: {statuses[f'dense:{name}'].reason}]")

with st.sidebar:
    st.subheader("Filters")
    years = sorted({d.year for d in docs if d.year})
    year_range = None
    if len(years) > 1:
        year_range = st.slider("Year", years[0], years[-1], (years[0], years[-1]), key="search_years")
    elif years:
        st.caption(f"All dated documents are from {years[0]}.")
    journals = st.multiselect("Journal", sorted({d.journal for d in docs if d.journal}), key="search_journals")
    collections = sorted({d.collection for d in docs})
    chosen_collections = st.multiselect("Collection", collections, key="search_collections") if len(
        collections) > 1 else []

filters = SearchFilters(
    collections=tuple(chosen_collections),
    journals=tuple(journals),
    year_min=year_range[0] if year_range and year_range[0] > years[0] else None,
    year_max=year_range[1] if year_range and year_range[1] < years[-1] else None,
)

if not docs:
    st.info("The library is empty. Add PDFs on the **Library** page (or run `medembed ingest` and `medembed index`).")
elif query.strip():
    spec = "bm25" if mode == "bm25" else f"{mode}:{model}"
    try:
        if mode != "bm25" and model is None:
            raise MedEmbedError("No embedding model has an index yet; use BM25, or index one on the Library page.")
        hits, seconds = common.timed_search(common.searcher(cfg, spec), query, k, filters)
    except MedEmbedError as exc:
        common.show_error(exc)
    else:
        filtered = " (filtered)" if filters else ""
        st.caption(f"{len(hits)} passages{filtered} · {common.spec_label(spec)} · {seconds * 1000:.0f} ms")
        if not hits:
            st.info("Nothing matched. Try other words, another retrieval mode, or fewer filters.")
        for hit in hits:
            common.hit_card(hit, query, mode)
