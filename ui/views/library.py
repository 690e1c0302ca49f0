"""Library page: upload PDFs (checked, safely named), watch ingest and indexing, delete documents, reindex."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from indexer import accept
from library import manage as lib
from medcore import study_types
from medcore.errors import MedEmbedError
from medcore.models import registry
from ui import common, gate, present

user = gate.page_user("curator", "The Library page (upload, delete, reindex)")
settings = common.settings()
store = common.store(settings)
st.title("Library")

n_docs, n_chunks = store.counts()
indexed = lib.indexed_models(settings)
c1, c2, c3 = st.columns(3)
c1.metric("Documents", n_docs)
c2.metric("Passages (chunks)", n_chunks)
# the count as the tile's value (a list of names was cut off with an ellipsis); the names in full beneath it
c3.metric("Models indexed", len(indexed))
c3.caption(", ".join(indexed) or "none yet: Reindex below, or `medembed index`")


def _bar(text: str):  # noqa: ANN202 - returns (progress element, callback)
    bar = st.progress(0.0, text=text)
    return bar, lambda fraction, message: bar.progress(min(max(fraction, 0.0), 1.0), text=message)


# -- upload ---------------------------------------------------------------------------------------------------
st.subheader("Add PDFs")
upload_key = f"library_upload_{st.session_state.get('library_upload_round', 0)}"
files = st.file_uploader(f"Research articles as PDF (at most {accept.MAX_UPLOAD_BYTES // 2**20} MB each)",
                         type=["pdf"], accept_multiple_files=True, key=upload_key,
                         max_upload_size=accept.MAX_UPLOAD_BYTES // 2**20)
if st.button("Add to library", type="primary", disabled=not files, key="library_add"):
    _, step = _bar("Reading files")
    results = lib.add_uploads(store, settings, [(f.name, f.getvalue()) for f in files], progress=step, user=user)
    reports = []
    if any(r.status == "added" for r in results):
        _, step = _bar("Indexing")
        try:
            reports = lib.reindex(store, settings, progress=step, user=user)
        except MedEmbedError as exc:
            common.show_error(exc)
    common.statuses.clear()
    st.session_state["library_last"] = (results, [f"{r.model}: +{r.added} passages in {r.seconds:.1f} s"
                                                  for r in reports])
    st.session_state["library_upload_round"] = st.session_state.get("library_upload_round", 0) + 1
    st.rerun()

if "library_last" in st.session_state:
    results, index_notes = st.session_state["library_last"]
    for r in results:
        name = present.escape_markdown(r.path.rsplit("/", 1)[-1])
        if r.status == "added":
            st.success(f"**{name}** added: {present.escape_markdown(r.title or '(untitled)')} · {r.n_chunks} passages",
                       icon=":material/check_circle:")
        elif r.status == "skipped":
            st.info(f"**{name}** skipped: {present.escape_markdown(r.reason or '')}", icon=":material/info:")
        else:
            st.error(f"**{name}** failed: {present.escape_markdown(r.reason or 'unknown error')}",
                     icon=":material/error:")
    if index_notes:
        st.caption("Indexes updated: " + "; ".join(present.escape_markdown(note) for note in index_notes))

# -- documents ------------------------------------------------------------------------------------------------
st.subheader("Documents")
docs = store.documents()
if not docs:
    st.info("No documents yet: add PDFs above, or run `medembed ingest PATH...` and `medembed index`.")
else:
    st.dataframe(pd.DataFrame(lib.document_rows(docs)), hide_index=True, width="stretch",
                 column_config={"title": st.column_config.TextColumn(width="large")})

    left, right = st.columns([3, 1], vertical_alignment="bottom")
    labels = {d.id: f"{d.id} · {d.title or d.file_path or '(untitled)'}" for d, _ in docs}
    doc_id = left.selectbox("Document", list(labels), format_func=labels.get, key="library_delete_id")
    with right.popover("Delete…", icon=":material/delete:", width="stretch"):
        st.markdown("The document, its uploaded file and its passages leave the library and every index.")
        if st.button("Delete permanently", type="primary", key="library_delete"):
            _, step = _bar("Deleting and updating the indexes")
            try:
                gone = lib.delete_document(store, settings, doc_id, progress=step, user=user)
            except MedEmbedError as exc:
                common.show_error(exc)
            else:
                common.statuses.clear()
                st.session_state["library_last"] = ([], [f"deleted document {gone.id}: {gone.title}"])
                st.rerun()

# -- study designs --------------------------------------------------------------------------------------------
if docs:
    st.subheader("Study designs")
    st.caption("Each paper's design badge and why it has it. A correction is kept when the library is classified "
               "again (`medembed classify --redo`), and each one is in the audit log.")
    designs = store.study_design_rows()
    st.dataframe(pd.DataFrame([{
        "id": d.id, "title": d.title or "(untitled)", "design": study_types.label(d.study_type),
        "why": present.study_evidence(d),
        "detected": study_types.label(designs[d.id].study_type) if d.id in designs else "Not classified",
        "corrected by": designs[d.id].curated_by if d.id in designs else None,
    } for d, _ in docs]), hide_index=True, width="stretch", key="library_designs_table",
        column_config={"title": st.column_config.TextColumn(width="large")})
    with st.form("library_design_form"):
        left, right = st.columns([3, 2])
        design_doc = left.selectbox("Paper to correct", list(labels), format_func=labels.get, key="library_design_id")
        choice = right.selectbox("Design", ["", *study_types.DESIGNS], key="library_design_type",
                                 format_func=lambda t: study_types.label(t) if t else "The detected design")
        note = st.text_input("Why (optional, kept with the correction)", max_chars=1000, key="library_design_note")
        if st.form_submit_button("Save design"):
            try:
                changed = lib.set_design(store, design_doc, choice or None, note, user=user)
            except MedEmbedError as exc:
                common.show_error(exc)
            else:
                common.statuses.clear()
                st.session_state["library_design_done"] = (f"Document {changed.id} is now "
                                                           f"{study_types.label(changed.study_type)}.")
                st.rerun()
    if done := st.session_state.pop("library_design_done", None):
        st.success(done, icon=":material/check_circle:")

# -- indexes --------------------------------------------------------------------------------------------------
st.subheader("Indexes")
st.caption("Reindex brings BM25 and each chosen model's index in line with the library: new passages are embedded, "
           "deleted ones removed. Choosing a model without an index builds one (if the model can be loaded).")
left, right = st.columns([3, 1], vertical_alignment="bottom")
models = left.multiselect("Models", list(registry()), default=indexed or [settings.index.model], key="library_models")
if right.button("Reindex", disabled=not models or not n_chunks, key="library_reindex", width="stretch"):
    _, step = _bar("Indexing")
    try:
        reports = lib.reindex(store, settings, models, progress=step, user=user)
    except MedEmbedError as exc:
        common.show_error(exc)
    else:
        common.statuses.clear()
        st.success("; ".join(f"{r.model}: +{r.added} −{r.removed}, {r.total} passages indexed ({r.seconds:.1f} s)"
                             for r in reports))
