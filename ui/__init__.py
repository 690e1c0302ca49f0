"""The Streamlit app: pages (``views/``), the sign-in gate and its routes, presentation (``present.py``: escaped
Markdown, highlighting, links), scoring against judgements (``scoring.py``) and the helpers the pages share
(``common.py``: cached searchers, session state). Pages place what :mod:`search_app` computes and call
:mod:`library` for every change; they hold no retrieval logic and no access check of their own beyond the gate."""
