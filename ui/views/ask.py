"""Ask page: an answer written by an LLM from the top passages, with numbered citations linking to them."""

from __future__ import annotations

import streamlit as st

from medcore.errors import MedEmbedError
from medcore.retrievers import RetrieverSpec
from search_app.answer import answer_question, client_from_settings
from ui import common, gate, present

user = gate.page_user("reader", "The Ask page")
settings = common.settings()
st.title("Ask a question")
st.caption("The answer is written only from the passages retrieved below, and cites them. Check the passages: "
           "the model can still be wrong.")

if not settings.llm.base_url:
    st.info("No LLM is configured, so answers cannot be written; the passages are still retrieved.",
            icon=":material/info:")
    with st.expander("How to configure one"):
        st.markdown("Point MedEmbed at any OpenAI-compatible server (vLLM, `transformers serve`, llama.cpp, a hosted "
                    "API) and restart the app:")
        st.code(
            "export MEDEMBED_LLM_BASE_URL=http://localhost:8000/v1   # the server's /v1 base URL\n"
            "export MEDEMBED_LLM_MODEL=meta-llama/Llama-3.1-70B-Instruct  # a model name that server serves\n"
            "export OPENAI_API_KEY=...   # its key, if it needs one (MEDEMBED_LLM_API_KEY_ENV names another)\n"
            "medembed ui",
            language="bash",
        )

ready = [s.spec for s in common.statuses(settings) if s.available and s.spec.startswith("hybrid:")]
# the default model (index.model) with the default fusion and reranking, as the Search page opens with; another
# indexed model only where the default has no index yet
default = str(RetrieverSpec.of("hybrid", settings.index.model, settings.search.rerank))
first_stage = str(RetrieverSpec.of("hybrid", settings.index.model))
spec = next((s for s in (default, first_stage) if s in ready), ready[0] if ready else "bm25")
with st.form("ask_form"):
    question = common.query_box(st, "Question", key="ask_question",
                                placeholder="e.g. Which bowel preparation works best before capsule endoscopy?")
    n_passages = st.slider("Passages given to the model", 2, 10, 5, key="ask_k")
    asked = st.form_submit_button("Ask", type="primary")

if asked and question.strip():
    try:
        hits, seconds = common.timed_search(common.searcher(settings, spec), question, n_passages)
    except MedEmbedError as exc:
        common.show_error(exc)
        st.stop()
    if settings.llm.base_url:
        with st.spinner(f"Asking {settings.llm.model}…"):
            try:
                answer = answer_question(question, hits, client_from_settings(settings))
            except MedEmbedError as exc:
                common.show_error(exc)
            else:
                with st.container(border=True):
                    st.markdown("**Answer**")
                    st.markdown(present.answer_markdown(answer.text))
                    if answer.warning:
                        st.warning(answer.warning, icon=":material/warning:")
                    elif answer.answered:
                        st.caption(f"Cites passages {', '.join(map(str, answer.cited))} · {settings.llm.model}")
    st.caption(f"{len(hits)} passages · {common.spec_label(spec)} · {seconds * 1000:.0f} ms")
    for hit in hits:
        st.markdown(f'<div id="passage-{hit.rank}"></div>', unsafe_allow_html=True)  # our own id, no document text
        common.hit_card(hit, question, present.spec_mode(spec), compact=True)
