"""Counting text in an embedding model's tokens, with the model's own tokenizer (``tokenizer.json``) loaded from
disk. The chunker sizes chunks with these counts."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from medcore.errors import ModelUnavailableError
from medcore.models import resolve

logger = logging.getLogger(__name__)


@runtime_checkable
class TokenCounter(Protocol):
    """Counts a text's tokens and says where they are.

    Implementations may also offer ``count_many(texts) -> list[int]`` (one batched call) and a true
    ``additive`` attribute when counts add up over text cut at whitespace or punctuation; the chunker then
    trusts summed sentence counts instead of recounting every chunk.
    """

    def count(self, text: str) -> int: ...

    def token_spans(self, text: str) -> list[tuple[int, int]]: ...


class HFTokenCounter:
    """A Hugging Face fast tokenizer, without special tokens, truncation or padding.

    Args:
        tokenizer: a ``PreTrainedTokenizerFast`` or a ``tokenizers.Tokenizer``; a private copy of its Rust
            backend is used, so the caller's tokenizer settings are not changed.
    """

    def __init__(self, tokenizer: Any) -> None:
        backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
        if not hasattr(backend, "encode_batch") or not hasattr(backend, "to_str"):
            raise TypeError(
                f"HFTokenCounter needs a fast (Rust) tokenizer with offsets, got {type(tokenizer).__name__}; "
                "load it with AutoTokenizer.from_pretrained(..., use_fast=True)."
            )
        from tokenizers import Tokenizer

        serialized = backend.to_str()
        config = json.loads(serialized)
        self._backend = Tokenizer.from_str(serialized)
        self._backend.no_truncation()
        self._backend.no_padding()
        #: BERT-style pre-tokenization splits at whitespace and around every punctuation mark, so counts add up.
        self.additive = _type_of(config.get("pre_tokenizer")) == "BertPreTokenizer" and _type_of(
            config.get("normalizer")
        ) in (None, "BertNormalizer")

    def count(self, text: str) -> int:
        return len(self._backend.encode(text, add_special_tokens=False).ids)

    def count_many(self, texts: Sequence[str]) -> list[int]:
        """Token counts of many texts in one call (tokenized in parallel by the Rust backend)."""
        encode = getattr(self._backend, "encode_batch_fast", self._backend.encode_batch)  # fast: no offsets
        return [len(encoding.ids) for encoding in encode(list(texts), add_special_tokens=False)]

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return [tuple(span) for span in self._backend.encode(text, add_special_tokens=False).offsets]  # type: ignore[misc]


@functools.lru_cache(maxsize=8)
def load_token_counter(name: str) -> TokenCounter:
    """The tokenizer of registry model ``name`` (or a model folder), loaded from disk only, cached per name.

    Raises:
        ModelUnavailableError: the model's tokenizer is neither on disk nor in the local Hugging Face cache.
    """
    from transformers import AutoTokenizer

    spec = resolve(name)
    source = str(spec.local_path) if spec.local_path is not None and spec.local_path.is_dir() else spec.hub_id
    if source is None:
        raise ModelUnavailableError(
            f"No tokenizer for '{name}': no model folder at {spec.local_path}. Train the model first "
            "(medembed train) or set chunking.tokenizer to 'minilm'."
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
    except Exception as exc:  # noqa: BLE001 - transformers raises many kinds of errors for a cache miss
        raise ModelUnavailableError(
            f"Tokenizer of '{name}' is not available offline ({type(exc).__name__}: {exc}). Use a model on disk "
            "(chunking.tokenizer = 'minilm', or a folder path), or download it into the Hugging Face cache."
        ) from exc
    logger.info("Loaded tokenizer of %s from %s", name, source)
    return HFTokenCounter(tokenizer)


def _type_of(component: dict[str, Any] | None) -> str | None:
    return component.get("type") if isinstance(component, dict) else None


def count_many(counter: TokenCounter, texts: Sequence[str]) -> list[int]:
    many = getattr(counter, "count_many", None)
    return list(many(texts)) if many is not None else [counter.count(text) for text in texts]
