"""Settings page (admins): the resolved settings this server runs with (read-only; change them in the environment or
the MEDEMBED_CONFIG file and restart). Passwords in the database URL are masked; secrets are never in Settings."""

from __future__ import annotations

import streamlit as st

from medcore.config import redact_url
from ui import common, gate

user = gate.page_user("admin", "The Settings page")
settings = common.settings()
st.title("Settings")
st.caption("From defaults, the MEDEMBED_CONFIG TOML file and MEDEMBED_<SECTION>_<KEY> variables (.env.example lists "
           "them all). Read-only here: change them where they are set, then restart the app.")
values = settings.to_dict()
values["paths"]["database_url"] = redact_url(settings.paths.store_url)  # the resolved URL, every secret masked
st.json(values, expanded=1)
