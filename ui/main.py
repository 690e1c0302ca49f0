"""The page list of the MedEmbed app (run through ``ui/app.py``); each page is a script in ``ui/views/``."""

from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="MedEmbed · clinical literature search", page_icon=":material/local_library:",
                   layout="wide")

pages = {
    "Find": [
        st.Page("views/search.py", title="Search", icon=":material/search:", default=True),
        st.Page("views/compare.py", title="Compare", icon=":material/view_column:", url_path="compare"),
        st.Page("views/ask.py", title="Ask", icon=":material/forum:", url_path="ask"),
    ],
    "Evaluate": [
        st.Page("views/score.py", title="Score a query", icon=":material/grading:", url_path="score"),
        st.Page("views/benchmark.py", title="Benchmark", icon=":material/leaderboard:", url_path="benchmark"),
    ],
    "Manage": [
        st.Page("views/library.py", title="Library", icon=":material/library_books:", url_path="library"),
    ],
}
st.navigation(pages).run()
