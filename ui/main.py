"""The page list of the MedEmbed app (run through ``ui/app.py``); each page is a script in ``ui/views/``.

Sign-in happens here first (``ui/gate.py``). Pages above the user's role are hidden from the menu but still routed,
so opening their address shows a refusal from the page's own check rather than silently showing another page.
"""

from __future__ import annotations

import streamlit as st

from access.roles import Role
from ui import gate

st.set_page_config(page_title="MedEmbed · clinical literature search", page_icon=":material/local_library:",
                   layout="wide")

user = gate.page_user("reader", "MedEmbed", chrome=True)


def page(script: str, title: str, icon: str, role: Role, **kwargs: object) -> st.Page:
    return st.Page(script, title=title, icon=icon, visibility="visible" if user.can(role) else "hidden", **kwargs)


pages = {
    "Find": [
        page("views/search.py", "Search", ":material/search:", "reader", default=True),
        page("views/compare.py", "Compare", ":material/view_column:", "reader", url_path="compare"),
        page("views/ask.py", "Ask", ":material/forum:", "reader", url_path="ask"),
        page("views/saved.py", "Saved", ":material/bookmarks:", "reader", url_path="saved"),
    ],
    "Evaluate": [
        page("views/score.py", "Score a query", ":material/grading:", "reader", url_path="score"),
        page("views/benchmark.py", "Benchmark", ":material/leaderboard:", "curator", url_path="benchmark"),
    ],
    "Manage": [
        page("views/library.py", "Library", ":material/library_books:", "curator", url_path="library"),
    ],
    "Admin": [
        page("views/audit.py", "Audit log", ":material/history:", "admin", url_path="audit"),
        page("views/users.py", "Users", ":material/group:", "admin", url_path="users"),
        page("views/settings.py", "Settings", ":material/settings:", "admin", url_path="settings"),
    ],
}
st.navigation(pages).run()
