"""Entry point of the MedEmbed app: ``streamlit run ui/app.py`` (or ``medembed ui``).

``st.App`` runs the pages listed in ``ui/main.py`` and adds one route of our own (``ui/pdf_route.py``):
``/medembed/pdf/<doc_id>`` serves a library document's stored PDF inline, and result cards link to it with
``#page=N`` so the browser's PDF viewer opens the page the passage came from. ``ui/login_route.py`` adds the
sign-in form of local accounts (``/medembed/login``, ``/medembed/logout``).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui.login_route import ROUTES as LOGIN_ROUTES
from ui.pdf_route import ROUTES

app = st.App(Path(__file__).with_name("main.py"), routes=[*ROUTES, *LOGIN_ROUTES])
