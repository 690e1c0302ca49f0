"""Benchmark page: full evaluations with a progress bar, saved runs, and the published MTEB numbers beside them."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from medcore.errors import MedEmbedError
from search_app.evaluation import benchmarks, runner
from search_app.evaluation.metrics import METRIC_NAMES
from ui import common, gate, scoring

user = gate.page_user("curator", "The Benchmark page (it runs evaluations)")
settings = common.settings()
library = common.store(settings)
st.title("Benchmark retrievers")
st.caption("nDCG, MAP, Recall, Precision and MRR at 1/5/10 over every judged query of a split (document level, "
           "top 100), as `medembed eval` computes them. Runs are saved and can be compared with earlier ones.")

root = common.benchmark_root(settings, key="bench_root", user=user)
found = {b.name: b for b in common.benchmarks(root)}
if not found:
    st.info("No BEIR folder found there: a benchmark folder holds corpus.jsonl, queries.jsonl and "
            "qrels/<split>.tsv (e.g. ../shared/data/nfcorpus).")
    st.stop()

c1, c2, c3 = st.columns([2, 1, 1])
names = list(found)
bench = found[c1.selectbox("Benchmark", names, index=names.index("nfcorpus") if "nfcorpus" in names else 0,
                           key="bench_name")]
split = c2.selectbox("Split", bench.splits, index=bench.splits.index(benchmarks.preferred_split(bench.splits)),
                     key="bench_split")
qrels, queries = common.load_benchmark(str(bench.path), split)
n_judged = len(runner.judged_queries(qrels, queries))
max_queries = c3.number_input(f"Queries (0 = all {n_judged})", 0, n_judged, 0, step=10, key="bench_max")
options, defaults = common.dataset_retrievers(str(bench.path), settings)
specs = st.multiselect("Retrievers", options, default=defaults, key="bench_specs")
n_docs = benchmarks.corpus_size(bench.path)
if any(s != "bm25" for s in specs) and n_docs > 1000:
    st.caption(f"{bench.name} has {n_docs:,} documents: the first dense run of a model embeds them all (about "
               f"{n_docs / 8.6 / 60:.0f} min for MiniLM on 2 CPU cores); later runs reuse that index.")

if st.button("Run evaluation", type="primary", disabled=not specs, key="bench_run"):
    for spec in specs:
        bar = st.progress(0.0, text=f"{spec}: starting")
        try:
            result = runner.evaluate_dataset(bench.path, split, spec, settings, max_queries=max_queries or None,
                                                progress=lambda f, msg, bar=bar: bar.progress(min(f, 1.0), text=msg))
        except MedEmbedError as exc:
            common.show_error(exc)
            continue
        library.save_eval_run(result.dataset, result.split, result.retriever, result.n_queries, result.metrics,
                              result.seconds)
        bar.progress(1.0, text=f"{spec}: nDCG@10 {result.metrics['ndcg@10']:.4f} over {result.n_queries} queries; "
                               f"{runner.timing_text(result)}")

runs = [r for r in library.eval_runs() if r.dataset == bench.path.name]
published = scoring.published_results(root, bench.name)
rows = [{"run": f"#{r.id} {r.retriever} · {r.split} · {r.n_queries} q", "source": "this app",
         "when": f"{r.created_at:%Y-%m-%d %H:%M}", **{m: r.metrics.get(m) for m in METRIC_NAMES}} for r in runs]
shipped = scoring.shipped_results(bench.path.name)
rows += [{"run": f"{r.retriever} · {r.split} · {r.n_queries} q (model card)", "source": "measured (model card)",
          "when": "", **{m: r.metrics.get(m) for m in METRIC_NAMES}} for r in shipped]
rows += [{"run": f"{p.model} (published)", "source": "published (MTEB)", "when": "",
          **{m: p.metrics.get(m) for m in METRIC_NAMES}} for p in published]
if not rows:
    st.info("No runs yet for this benchmark, and no published numbers for it. Choose retrievers and run.")
    st.stop()

table = pd.DataFrame(rows)
st.subheader("Results")
st.dataframe(table, hide_index=True, width="stretch",
             column_config={m: st.column_config.NumberColumn(m, format="%.4f") for m in METRIC_NAMES})
if published:
    st.caption(f"Published rows: MTEB task {published[0].task}, test split. {scoring.PUBLISHED_CAVEAT}")
if shipped:
    st.caption("Model-card rows: measured by the training recipe of our models (scripts/train_medembed_small.sh) with "
               "`medembed eval` on the whole split; medembed-small is our MiniLM fine-tune, not the published "
               "MedEmbed-small-v0.1 (a bge-small fine-tune).")

latest = {}
for r in runs:  # newest first: keep the latest run of each retriever and split
    latest.setdefault((r.retriever, r.split), f"#{r.id} ")
default_runs = [row["run"] for row in rows if row["source"] == "this app"
                and any(row["run"].startswith(tag) for tag in latest.values())]
default_runs += [row["run"] for row in rows if row["source"] == "measured (model card)"
                 and row["run"].startswith(("dense:medembed-small", "hybrid:medembed-small", "dense:minilm"))]
default_runs += [row["run"] for row in rows if row["source"] == "published (MTEB)"
                 and any(n in row["run"] for n in ("MedEmbed-small", "bge-small", "bge-base"))]
left, right = st.columns([3, 1])
chosen = left.multiselect("Runs to chart", table["run"].tolist(), default=default_runs, key="bench_chart_runs")
metric = right.selectbox("Metric", METRIC_NAMES, index=METRIC_NAMES.index("ndcg@10"), key="bench_metric")
if chosen:
    data = table[table["run"].isin(chosen)]
    chart = alt.Chart(data).mark_bar().encode(
        x=alt.X(f"{metric}:Q", title=metric, scale=alt.Scale(domainMin=0, nice=True)),
        y=alt.Y("run:N", sort="-x", title=None, axis=alt.Axis(labelLimit=420)),
        color=alt.Color("source:N", title=None, legend=alt.Legend(orient="bottom")),
        tooltip=["run", "source", alt.Tooltip(f"{metric}:Q", format=".4f")],
    )
    labels = chart.mark_text(align="right", dx=-4).encode(text=alt.Text(f"{metric}:Q", format=".3f"),
                                                           color=alt.value("white"))
    st.altair_chart(chart + labels, width="stretch")
