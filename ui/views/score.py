"""Score a query: pick a judged query from a benchmark (or upload judgements for the library) and see, per
retriever, the graded relevance of every hit and that query's metrics."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from library.manage import default_retrievers
from medcore import beir
from medcore.errors import MedEmbedError
from search_app.evaluation import benchmarks, runner
from search_app.evaluation.metrics import METRIC_NAMES
from search_app.searcher import Searcher
from ui import common, gate, present, scoring

user = gate.page_user("reader", "The Score page")
LIBRARY = "Library (upload judgements)"
HEADLINE = ("ndcg@10", "recall@10", "mrr@10", "precision@5")
LABELS = {"ndcg@10": "nDCG@10", "recall@10": "Recall@10", "mrr@10": "MRR@10", "precision@5": "P@5"}

settings = common.settings()
st.title("Score a query against judgements")
st.caption("Each hit is marked with its graded relevance from the qrels; metrics are that single query's, computed "
           "on the top 100 documents exactly as a full benchmark run does.")

root = common.benchmark_root(settings, key="score_root", user=user)
found = {b.name: b for b in common.benchmarks(root)}
choices = [*sorted(found, key=lambda name: name != "nfcorpus"), LIBRARY]
source = st.radio("Judgements", choices, horizontal=True, key="score_source")

if source == LIBRARY:
    statuses = common.statuses(settings)
    options = [s.spec for s in statuses]
    defaults = default_retrievers(statuses, limit=3, rerank=settings.search.rerank)
    qrels_file = st.file_uploader("qrels (BEIR TSV: query-id, corpus-id, score)", type=["tsv", "txt"],
                                  key="score_qrels")
    queries_file = st.file_uploader("queries.jsonl (optional; without it the query id is the query text)",
                                    type=["jsonl", "json"], key="score_queries")
    st.caption("corpus-id may be a library document's id, PMCID, DOI or PDF file name (without .pdf).")
    if qrels_file is None:
        st.stop()
    try:
        raw = beir.parse_qrels_tsv(qrels_file.getvalue().decode("utf-8", "replace"))
        queries = (beir.parse_queries_jsonl(queries_file.getvalue().decode("utf-8", "replace"))
                   if queries_file else {q: q for q in raw})
    except MedEmbedError as exc:
        common.show_error(exc)
        st.stop()
    qrels, unknown = scoring.map_qrels(raw, scoring.library_aliases(d for d, _ in common.store(settings).documents()))
    if unknown:
        st.warning(f"{len(unknown)} judged document name(s) match no library document and are ignored: "
                   + present.escape_markdown(", ".join(unknown[:10])))

    def searcher(spec: str) -> Searcher:
        return common.searcher(settings, spec)
elif source in found:
    bench = found[source]
    split = st.selectbox("Split", bench.splits, index=bench.splits.index(benchmarks.preferred_split(bench.splits)),
                         key="score_split")
    qrels, queries = common.load_benchmark(str(bench.path), split)
    options, defaults = common.dataset_retrievers(str(bench.path), settings)
    if len(defaults) == 1:
        st.caption(f"Only BM25 is preselected: {bench.name} has {benchmarks.corpus_size(bench.path):,} documents and "
                   "no dense index yet, so the first dense retriever you add embeds them all (minutes on a CPU).")

    def searcher(spec: str) -> Searcher:
        with st.spinner(f"Preparing {bench.name} for {spec} (the first dense run embeds the whole corpus)…"):
            return common.dataset_searcher(str(bench.path), spec, settings)
else:
    st.stop()

qids = runner.judged_queries(qrels, queries)
if not qids:
    st.warning("No query has both a text and a relevant judgement.")
    st.stop()
with st.form("score_form"):
    qid = st.selectbox(f"Query ({len(qids)} judged)", qids, key="score_qid",
                       format_func=lambda q: queries[q][:110] if queries[q] == q else f"{q} · {queries[q][:100]}")
    specs = st.multiselect("Retrievers (1-4)", options, default=[d for d in defaults if d in options],
                           max_selections=4, key="score_specs")
    submitted = st.form_submit_button("Score this query", type="primary")

if submitted:
    results, problems = {}, {}
    for spec in specs:
        try:
            results[spec] = scoring.score_query(searcher(spec), queries[qid], qrels[qid], k=10)
        except MedEmbedError as exc:
            problems[spec] = str(exc)
    st.session_state["score_results"] = (qid, specs, results, problems)

if "score_results" in st.session_state:
    shown_qid, specs, results, problems = st.session_state["score_results"]
    if shown_qid in queries:
        rels = qrels.get(shown_qid, {})
        n_rel = sum(1 for g in rels.values() if g > 0)
        label = "" if queries[shown_qid] == shown_qid else f" {present.escape_markdown(shown_qid)}"
        st.markdown(f"**Query{label}:** {present.escape_markdown(queries[shown_qid])}")
        st.caption(f"{n_rel} relevant documents judged ({len(rels)} judgements in all).")
        for column, spec in zip(st.columns(max(len(specs), 1)), specs, strict=False):
            with column:
                st.subheader(common.spec_label(spec), divider="gray")
                if spec in problems:
                    st.markdown(f":gray[**Not available.** {present.escape_markdown(problems[spec])}]")
                    continue
                score = results[spec]
                st.markdown(" · ".join(f"{LABELS[m]} **{score.metrics.get(m, 0.0):.3f}**" for m in HEADLINE))
                with st.expander("All metrics for this query"):
                    st.dataframe(pd.DataFrame({"metric": list(METRIC_NAMES),
                                               "value": [round(score.metrics.get(m, 0.0), 4) for m in METRIC_NAMES]}),
                                 hide_index=True, width="stretch")
                for doc in score.docs:
                    title = present.title_markdown(doc.document.title if doc.document else None, doc.document)
                    with st.container(border=True):
                        st.markdown(f"**{doc.rank}.** {present.relevance_markdown(doc.grade)} {title}")
                        key = f"doc {doc.key}" if doc.key.isdigit() else doc.key
                        st.caption(f"{present.escape_markdown(key)} · "
                                   + present.snippet(doc.text, queries[shown_qid], max_chars=160))
