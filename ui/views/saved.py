"""Saved page: the user's reading list (notes, remove, cite, export) and recent searches (run again)."""

from __future__ import annotations

import streamlit as st

from library import reading_list
from search_app import citations
from ui import common, gate, present

user = gate.page_user("reader", "The Saved page")
settings = common.settings()
library = common.store(settings)

st.title("Saved")
listed = reading_list.items(library, user)
st.subheader(f"Reading list ({len(listed)})", divider="gray")
if not listed:
    st.info("Nothing saved yet. Use **Add to reading list** on a search result.")
else:
    docs = [item.document for item in listed]
    notes = {item.document.id: item.note for item in listed if item.note}
    common.export_buttons(docs, notes, key="reading-list", label="papers")
    references = citations.vancouver(docs)
    for item, reference in zip(listed, references, strict=True):
        doc = item.document
        with st.container(border=True):
            badge = present.study_badge(doc)
            st.markdown(f"**{present.title_markdown(doc.title, doc)}**" + (f" {badge}" if badge else ""),
                        help=present.study_evidence(doc) or None)
            st.caption(" · ".join(filter(None, [present.byline(doc), f"added {item.added_at:%Y-%m-%d %H:%M} UTC"])))
            if links := present.links(doc, None):
                st.markdown(present.links_markdown(links))
            # A form sends the typed note with the click: a plain button beside a text area was still disabled
            # (or saw the old text) when clicked straight after typing, because the area commits only on blur.
            with st.form(key=f"note-form-{doc.id}", border=False, enter_to_submit=False):
                text = st.text_area("Note", value=item.note, key=f"note-{doc.id}", height=68,
                                    max_chars=reading_list.NOTE_CHARS, placeholder="Why this paper, what to check…")
                if st.form_submit_button("Save note", key=f"save-note-{doc.id}", icon=":material/save:") and (
                        text.strip() != item.note):
                    reading_list.note(library, user, doc.id, text)
                    st.rerun()
            cite, drop = st.columns([1, 4])
            with cite:
                common.cite_popover(reference, key=f"saved-cite-{doc.id}")
            with drop:
                common.reading_list_toggle(library, user, doc.id, True)

recent = reading_list.recent(library, user)
head, clear = st.columns([4, 1])
head.subheader(f"Recent searches ({len(recent)})", divider="gray")
if recent and clear.button("Clear", key="clear-recent", icon=":material/delete_sweep:"):
    reading_list.clear_recent(library, user)
    st.rerun()
if not recent:
    st.caption("Searches you run on the Search page appear here, with their settings.")
for search in recent:
    opts = search.options
    described = present.describe_search(opts)
    left, right = st.columns([5, 1])
    left.markdown(f"**{present.escape_markdown(search.query)}**  \n:gray[{present.escape_markdown(described)} · "
                  f"{search.at:%Y-%m-%d %H:%M} UTC]")
    if right.button("Run again", key=f"rerun-{search.id}", icon=":material/replay:"):
        st.session_state["search_query"] = search.query
        # settings left out of a recorded search are at their defaults (saved.search_settings drops them)
        defaults = {"sort": "Relevance", "study_types": [], "journals": [], "collections": []}
        for key, name in (("search_mode", "mode"), ("search_k", "k"), ("search_view", "view"), ("search_sort", "sort"),
                          ("search_designs", "study_types"), ("search_journals", "journals"),
                          ("search_collections", "collections")):
            if (value := opts.get(name, defaults.get(name))) is not None:
                st.session_state[key] = value
        if opts.get("model"):
            st.session_state["search_model"] = opts["model"]
        st.switch_page("views/search.py")
