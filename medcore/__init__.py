"""Leaf package shared by indexer, access, search_app, trainer, ui and cli: settings, types, errors, the model
registry, BEIR files, text analysis.

Nothing here imports torch, faiss or sentence-transformers at module import time.
"""
