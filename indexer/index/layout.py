"""Where local indexes live, what text is indexed for a chunk, and the model check every index reader makes.

Shared by the builder and by every backend, so it sits below both.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from medcore.config import Settings
from medcore.errors import IndexMismatchError
from medcore.models import ModelSpec, weights_digest

if TYPE_CHECKING:
    from store import Store

BM25_DIR = "bm25"


def dense_dir(settings: Settings, spec: ModelSpec) -> Path:
    return settings.paths.index_dir / f"dense-{spec.slug}"


def bm25_dir(settings: Settings) -> Path:
    return settings.paths.index_dir / BM25_DIR


def index_text(text: str, title: str | None, with_title: bool) -> str:
    """What gets embedded and BM25-indexed for a chunk: its document title, then its text."""
    return f"{title}\n{text}" if with_title and title else text


def check_manifest(manifest: dict, spec: ModelSpec, root: Path | str) -> None:
    """Refuse an index built with another model than the one asked for, or with other weights of it."""
    if manifest.get("model") != spec.name:
        raise IndexMismatchError(
            f"The index at {root} was built with model '{manifest.get('model')}', not '{spec.name}'. "
            f"Search with --model {manifest.get('model')}, or rebuild: medembed index --model {spec.name} --rebuild."
        )
    recorded, current = manifest.get("weights"), weights_digest(spec)
    if recorded and current and recorded != current:
        raise IndexMismatchError(
            f"The index at {root} was built with other weights of '{spec.name}' (weights {recorded}, the model on "
            f"disk now {current}: it was retrained or replaced since). Re-embed the library: "
            f"medembed index --model {spec.name}."
        )


def weights_changed(manifest: dict, spec: ModelSpec) -> bool:
    """Whether a dense index's vectors came from other weights than ``spec``'s (or from unrecorded ones)."""
    current = weights_digest(spec)
    return current is not None and manifest.get("weights") != current


def chunk_texts(store: Store, settings: Settings, ids: Sequence[int] | np.ndarray) -> list[str]:
    """The indexed text (:func:`index_text`) of each chunk in ``ids``, in that order."""
    out: list[str] = []
    for batch in store.iter_index_texts([int(i) for i in ids]):
        out.extend(index_text(text, title, settings.index.title_in_text) for _, text, title in batch)
    if len(out) != len(ids):
        raise IndexMismatchError("The store changed while indexing; run `medembed index` again.")
    return out
