"""Compare page: the same query through 2-4 retrievers side by side; shared documents are tagged across columns."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from library.manage import default_retrievers
from medcore.errors import MedEmbedError
from ui import common, gate, present

user = gate.page_user("reader", "The Compare page")
settings = common.settings()
statuses = common.statuses(settings)
by_spec = {s.spec: s for s in statuses}

st.title("Compare retrievers")
query = common.query_box(st, "Question or keywords", key="compare_query",
                         placeholder=f"e.g. {common.EXAMPLE_QUERY}")
left, right = st.columns([4, 1])
specs = left.multiselect(
    "Retrievers (2-4)", list(by_spec), default=default_retrievers(statuses, rerank=settings.search.rerank),
    max_selections=4, key="compare_specs",
    format_func=lambda s: s if by_spec[s].available else f"{s} (not ready)",
)
k = right.slider("Results per column", 3, 20, 8, key="compare_k")
view = st.segmented_control("Show", ["Papers", "Passages"], default="Papers", key="compare_view") or "Papers"

if not query.strip() or not specs:
    st.caption("Type a query; each column lists its papers (or passages) best first. A coloured tag marks a "
               "document that several columns found, with the number of its card in the others. The columns of our "
               "model and of the model it was fine-tuned from are marked.")
    st.stop()

results: dict[str, list] = {}
problems: dict[str, str] = {}
timings: dict[str, float] = {}
for spec in specs:
    if not by_spec[spec].available:
        problems[spec] = by_spec[spec].reason
        continue
    try:
        if view == "Papers":
            results[spec], timings[spec] = common.timed_paper_search(common.searcher(settings, spec), query, k)
        else:
            results[spec], timings[spec] = common.timed_search(common.searcher(settings, spec), query, k)
    except MedEmbedError as exc:
        problems[spec] = str(exc)

# a paper's best passage, numbered with the paper's rank, stands for it when marking shared documents
leads = {spec: [replace(r.passages[0], rank=r.rank) for r in rs] if view == "Papers" else rs
         for spec, rs in results.items()}
shared = present.overlaps(leads)
for column, spec in zip(st.columns(len(specs)), specs, strict=True):
    with column:
        st.subheader(common.spec_label(spec), divider="gray")
        if mark := present.model_mark(spec):
            st.markdown(mark)
        if spec in problems:
            st.markdown(f":gray[**Not available.** {present.escape_markdown(problems[spec])}]")
            continue
        st.caption(f"{len(results[spec])} {view.lower()} · {timings[spec] * 1000:.0f} ms")
        if len(results[spec]) < k:
            st.caption(present.fewer_results(spec, view.lower(), len(results[spec]), k))
        for result in results[spec]:
            mark = present.overlap_markdown(shared[result.doc_id], spec)
            if view == "Papers":
                common.paper_card(result, query, present.spec_mode(spec), compact=True, extra=mark)
            else:
                common.hit_card(result, query, present.spec_mode(spec), compact=True, extra=mark)
