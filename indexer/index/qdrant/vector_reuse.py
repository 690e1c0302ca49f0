"""Moving from the ``faiss`` backend to another without encoding again: vectors from the local FAISS index."""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from indexer.index.layout import dense_dir, weights_changed
from indexer.index.local.dense import DenseIndex
from indexer.index.versioned import current_version, read_manifest
from medcore.config import Settings
from medcore.models import ModelSpec

logger = logging.getLogger(__name__)


def local_vectors(settings: Settings, spec: ModelSpec) -> Callable[[np.ndarray], np.ndarray | None] | None:
    """A lookup ``ids (n,) -> vectors (n, dim)`` (None when any id is missing) from this home's FAISS index of
    ``spec``, when ``qdrant.reuse_local_vectors`` is on and that index was built with the same model, weights and text;
    else None. The vectors are the ones FAISS searches, so both backends rank with identical vectors."""
    if not settings.qdrant.reuse_local_vectors:
        return None
    root = dense_dir(settings, spec)
    if current_version(root) is None:
        return None
    version, manifest = read_manifest(root)
    if (manifest.get("model") != spec.name or weights_changed(manifest, spec)
            or manifest.get("title_in_text") != settings.index.title_in_text):
        return None
    index = DenseIndex.load(version, manifest["dimension"])
    have = set(index.ids().tolist())
    logger.info("Reusing %d vectors of %s from the local FAISS index %s", len(have), spec.name, version)

    def lookup(ids: np.ndarray) -> np.ndarray | None:
        if not all(int(i) in have for i in ids):
            return None
        return np.vstack([index.index.reconstruct(int(i)) for i in ids]).astype(np.float32)

    return lookup
