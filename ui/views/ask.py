"""Ask page (placeholder): answers written by an LLM from retrieved passages come in a later change."""

from __future__ import annotations

import streamlit as st

from ui import common

cfg = common.settings()
st.title("Ask a question")
if cfg.llm.base_url:
    st.info(f"An LLM is configured ({cfg.llm.model} at {cfg.llm.base_url}), but answering is not built yet. "
            "Use **Search** meanwhile.", icon=":material/construction:")
else:
    st.info("No LLM is configured yet, so answers cannot be written. Use **Search** meanwhile.",
            icon=":material/info:")
st.markdown(
    "To configure one, point MedEmbed at any OpenAI-compatible server (vLLM, `transformers serve`, a hosted API) "
    "and restart the app:"
)
st.code(
    "export MEDEMBED_LLM_BASE_URL=http://localhost:8000/v1   # the server's /v1 base URL\n"
    "export MEDEMBED_LLM_MODEL=meta-llama/Llama-3.1-70B-Instruct  # a model name that server serves\n"
    "export OPENAI_API_KEY=...   # its key, if it needs one (MEDEMBED_LLM_API_KEY_ENV names another variable)\n"
    "medembed ui",
    language="bash",
)
st.caption("The same keys can go in the settings file under [llm] (base_url, model, api_key_env, timeout_s).")
