"""Audit log page (admins): who uploaded, deleted, reindexed, trained, signed in or failed to, when, and what."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta

import pandas as pd
import streamlit as st

from access import audit
from ui import common, gate, present

user = gate.page_user("admin", "The Audit log")
settings = common.settings()
store = common.store(settings)
st.title("Audit log")
st.caption("Every change to the library, every training or generation run started from the CLI, and every sign-in "
           "and failed sign-in, newest first. Times are UTC.")

actors, actions = audit.distinct_values(store)
c1, c2, c3, c4 = st.columns([2, 3, 2, 2])
who = c1.selectbox("Who", ["(everyone)", *actors], key="audit_actor")
chosen = c2.multiselect("Actions", actions, key="audit_actions", placeholder="all actions")
today = datetime.now(UTC).date()
days = c3.date_input("Between", (today - timedelta(days=30), today), key="audit_days")
text = common.query_box(c4, "What contains", key="audit_text")
limit = st.slider("At most", 50, 2000, 200, step=50, key="audit_limit")

since = until = None
if isinstance(days, tuple | list) and len(days) == 2:
    since = datetime.combine(days[0], time.min, tzinfo=UTC)
    until = datetime.combine(days[1], time.max, tzinfo=UTC)
entries = audit.query(store, actor=None if who == "(everyone)" else who, actions=chosen or None, since=since,
                      until=until, text=text.strip() or None, limit=limit)
st.caption(f"{len(entries)} entries")
if entries:
    # st.table renders each cell as Markdown; targets hold file names and PDF titles, user names come from a form
    esc = present.escape_markdown
    st.table(pd.DataFrame([{
        "when (UTC)": e.at.strftime("%Y-%m-%d %H:%M:%S"), "who": esc(e.actor), "role": esc(e.role or ""),
        "action": esc(e.action), "what": esc(e.target), "ok": e.ok,
        "detail": esc(json.dumps(e.detail, default=str)) if e.detail else "",
    } for e in entries]).set_index("when (UTC)"))
else:
    st.info("Nothing matches these filters.")
