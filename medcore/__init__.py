"""Leaf package shared by indexer, search_app, trainer and ui: settings, types, errors, model registry.

Nothing here imports torch, faiss or sentence-transformers at module import time.
"""

from medcore.config import Settings
from medcore.errors import MedEmbedError
from medcore.types import Chunk, Document, Hit

__all__ = ["Chunk", "Document", "Hit", "MedEmbedError", "Settings"]
