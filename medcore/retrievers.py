"""The one place a retriever mode is declared, and how a retriever is named: ``bm25``, ``dense:MODEL``,
``hybrid:MODEL``, each optionally followed by ``+rerank`` (the second stage, :mod:`search_app.rerank`).

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


RERANK_SUFFIX = "+rerank"


@dataclass(frozen=True)
class RetrieverSpec:
    """``bm25``, ``dense:MODEL`` or ``hybrid:MODEL`` (the model defaults to ``settings.index.model``), with
    ``+rerank`` when the reranker rescores its top candidates (``hybrid:medembed-small+rerank``)."""

    mode: Mode
    model: str | None = None
    rerank: bool = False

    @classmethod
    def of(cls, mode: str, model: str | None, rerank: bool = False) -> RetrieverSpec:
        """The retriever for ``mode`` with ``model`` (dropped where the mode takes none)."""
        spec = cls.parse(mode if not RETRIEVER_MODES.get(mode, _NO_MODEL).uses_model else f"{mode}:{model}")
        return cls(spec.mode, spec.model, rerank)

    @classmethod
    def parse(cls, spec: str, default_model: str = "minilm") -> RetrieverSpec:
        spec = spec.strip()
        rerank = spec.endswith(RERANK_SUFFIX)
        mode, _, model = spec.removesuffix(RERANK_SUFFIX).partition(":")
        if mode not in RETRIEVER_MODES:
            raise MedEmbedError(f"Unknown retriever '{spec}'; use bm25, dense:MODEL or hybrid:MODEL, each optionally "
                                f"with {RERANK_SUFFIX} (hybrid:MODEL{RERANK_SUFFIX}).")
        if not RETRIEVER_MODES[mode].uses_model:
            if model:
                raise MedEmbedError(f"'{spec}': {mode} takes no model; use plain '{mode}'.")
            return cls(mode, None, rerank)  # type: ignore[arg-type]
        return cls(mode, model or default_model, rerank)  # type: ignore[arg-type]

    @property
    def first_stage(self) -> RetrieverSpec:
        """The same retriever without the reranker."""
        return RetrieverSpec(self.mode, self.model)

    def __str__(self) -> str:
        name = self.mode if self.model is None else f"{self.mode}:{self.model}"
        return name + (RERANK_SUFFIX if self.rerank else "")


_NO_MODEL = RetrieverMode("bm25", "", uses_model=False)  # an unknown mode: parse() says what is wrong
