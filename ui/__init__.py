"""The Streamlit app: pages (``views/``), the sign-in gate and its routes, and the helpers the pages share
(``common.py``: cached searchers, session state). Pages place what :mod:`search_app` computes; they hold no
retrieval or scoring logic of their own."""
