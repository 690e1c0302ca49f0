"""The one place a retriever mode is declared, and how a retriever is named: ``bm25``, ``dense:MODEL``,
``hybrid:MODEL``.

The CLI's ``--mode`` choices, the Search page's options and the parsing of a ``--retriever`` string all read
:data:`RETRIEVER_MODES`. The runs a mode needs are made by the index backends (``indexer.index``) and fused by
the searcher; ``docs/extending.md`` says what a new mode needs besides its registration.
"""

from __future__ import annotations

from dataclasses import dataclass

from medcore.errors import MedEmbedError
from medcore.types import Mode


@dataclass(frozen=True)
class RetrieverMode:
    """A way to retrieve.

    Attributes:
        name: e.g. ``"hybrid"``.
        label: what the Search page shows, e.g. ``"Hybrid (BM25 + dense)"``.
        uses_model: whether it embeds the query (``dense:MODEL``), or takes no model (``bm25``).
    """

    name: Mode
    label: str
    uses_model: bool


RETRIEVER_MODES: dict[str, RetrieverMode] = {}


def register_mode(mode: RetrieverMode) -> RetrieverMode:
    """Add (or replace) a retriever mode; returns it. The first registered is the Search page's first option."""
    RETRIEVER_MODES[mode.name] = mode
    return mode


register_mode(RetrieverMode("hybrid", "Hybrid (BM25 + dense)", uses_model=True))
register_mode(RetrieverMode("dense", "Dense (embeddings)", uses_model=True))
register_mode(RetrieverMode("bm25", "BM25 (keywords)", uses_model=False))


@dataclass(frozen=True)
class RetrieverSpec:
    """``bm25``, ``dense:MODEL`` or ``hybrid:MODEL`` (the model defaults to ``settings.index.model``)."""

    mode: Mode
    model: str | None = None

    @classmethod
    def of(cls, mode: str, model: str | None) -> RetrieverSpec:
        """The retriever for ``mode`` with ``model`` (dropped where the mode takes none)."""
        return cls.parse(mode if not RETRIEVER_MODES.get(mode, _NO_MODEL).uses_model else f"{mode}:{model}")

    @classmethod
    def parse(cls, spec: str, default_model: str = "minilm") -> RetrieverSpec:
        mode, _, model = spec.strip().partition(":")
        if mode not in RETRIEVER_MODES:
            raise MedEmbedError(f"Unknown retriever '{spec}'; use bm25, dense:MODEL or hybrid:MODEL.")
        if not RETRIEVER_MODES[mode].uses_model:
            if model:
                raise MedEmbedError(f"'{spec}': {mode} takes no model; use plain '{mode}'.")
            return cls(mode)  # type: ignore[arg-type]
        return cls(mode, model or default_model)  # type: ignore[arg-type]

    def __str__(self) -> str:
        return self.mode if self.model is None else f"{self.mode}:{self.model}"


_NO_MODEL = RetrieverMode("bm25", "", uses_model=False)  # an unknown mode: parse() says what is wrong
