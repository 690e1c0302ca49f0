"""The reranker's model: a cross-encoder that reads a query and a passage together and returns one relevance logit.

It is trained by ``medembed train-reranker`` (:mod:`trainer.rerank`) and shipped in ``models/medembed-rerank``; any
one-logit sequence-classification model folder works, and hub ids (``cross-encoder/ms-marco-MiniLM-L-6-v2``) load
from the local Hugging Face cache, or download where ``models.allow_download`` lets them. On a CPU it runs exported
to ONNX like the embedding model (:mod:`indexer.encode.onnx_encoder`: the same runtimes, kinds and export cache,
keyed by the weights), so that reranking 30 candidates fits in a search's time budget.
"""

from __future__ import annotations

import functools
import logging
import os
import secrets
import warnings
from pathlib import Path

import numpy as np

from indexer.encode.onnx_encoder import FAST_KINDS, default_export_dir, fingerprint, quantize_int8, runner
from medcore.config import Settings
from medcore.errors import ModelUnavailableError
from medcore.models import OUR_RERANKER, REPO_MODELS_DIR, pick_device


def reranker_source(name: str) -> tuple[str, Path | None]:
    """``(what to load, local folder or None)`` for a reranker name: ``medembed-rerank`` (``models/``), a folder,
    or a hub id (``org/name``)."""
    for folder in (REPO_MODELS_DIR / name, Path(name).expanduser()):
        if (folder / "config.json").is_file():
            return str(folder), folder
    if "/" in name and not Path(name).expanduser().exists():
        return name, None
    raise ModelUnavailableError(
        f"Reranker '{name}' is not a model folder (no config.json there) nor a hub id: use {OUR_RERANKER} (shipped "
        "in models/), a folder written by `medembed train-reranker`, or a hub id such as "
        "cross-encoder/ms-marco-MiniLM-L-6-v2; or search without it (--no-rerank, search.rerank = false).")


def reranker_reason(name: str) -> str:
    """Why reranker ``name`` cannot run here, or "" when it can (a folder with a config, or a hub id to try)."""
    try:
        reranker_source(name)
    except ModelUnavailableError as exc:
        return str(exc)
    return ""


class CrossEncoder:
    """``score(query, passages) -> logits``: higher is more relevant. Batches are length-sorted; the passage is cut
    to fit ``max_length`` tokens together with the query, as in training."""

    def __init__(self, name: str, tokenizer, run, kind: str, max_length: int) -> None:  # noqa: ANN001
        self.name = name
        self.tokenizer = tokenizer
        self._run = run
        self.kind = kind
        self.max_length = max_length

    @classmethod
    def load(cls, name: str, settings: Settings | None = None) -> CrossEncoder:
        """Load ``name`` (see :func:`reranker_source`) for ``settings.search`` (its encoder kind and threads)."""
        settings = settings or Settings()
        search = settings.search
        export_dir = settings.index.export_dir or default_export_dir(settings.models.cache_dir)
        return _load(name, search.rerank_encoder, search.rerank_threads, search.rerank_max_length,
                     settings.models.allow_download, str(settings.models.cache_dir or ""), Path(export_dir),
                     pick_device(settings.index.device))

    def score(self, query: str, passages: list[str], batch_size: int = 16) -> np.ndarray:
        """One float32 logit per passage, in the given order."""
        out = np.empty(len(passages), dtype=np.float32)
        order = np.argsort([-len(p) for p in passages], kind="stable")
        for start in range(0, len(passages), batch_size):
            rows = order[start : start + batch_size]
            enc = self.tokenizer([query] * len(rows), [passages[i] for i in rows], padding=True,
                                 truncation="only_second", max_length=self.max_length, return_tensors="np")
            feeds = {k: enc[k].astype(np.int64) for k in ("input_ids", "attention_mask")}
            feeds["token_type_ids"] = enc["token_type_ids"].astype(np.int64) if "token_type_ids" in enc else (
                np.zeros_like(feeds["input_ids"]))  # models without segments (RoBERTa) take zeros
            out[rows] = np.asarray(self._run(feeds)).reshape(-1)
        return out


@functools.lru_cache(maxsize=4)
def _load(name: str, kind: str, threads: int, max_length: int, allow_download: bool, cache_dir: str,
          export_dir: Path, device: str) -> CrossEncoder:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    source, folder = reranker_source(name)
    options = {"local_files_only": not allow_download, "cache_dir": cache_dir or None}
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **options)
        model = AutoModelForSequenceClassification.from_pretrained(source, dtype="float32", **options).eval()
    except OSError as exc:
        raise ModelUnavailableError(
            f"Cannot load reranker '{name}' ({exc.__class__.__name__}): it is not cached here"
            f"{'' if allow_download else ' and downloads are off (models.allow_download)'}. Use {OUR_RERANKER}, or "
            "search without reranking (--no-rerank, search.rerank = false).") from None
    if model.config.num_labels != 1:
        raise ModelUnavailableError(f"Reranker '{name}' has {model.config.num_labels} outputs; a reranker has one "
                                    "relevance logit (a cross-encoder trained by `medembed train-reranker`).")
    if kind in FAST_KINDS and device == "cpu":
        try:
            path = _exported(model, folder, name, export_dir, int8=kind == "onnx-int8")
            return CrossEncoder(name, tokenizer, runner(path, kind, threads), kind, max_length)
        except (ModelUnavailableError, OSError, RuntimeError) as exc:
            logging.getLogger(__name__).warning("Cannot run reranker %s with %s (%s); using torch.", name, kind, exc)
    return CrossEncoder(name, tokenizer, _torch_runner(model.to(device)), "torch", max_length)


def _torch_runner(model):  # noqa: ANN001, ANN202 - a closure over a transformers model
    import torch

    def run(feeds: dict[str, np.ndarray]) -> np.ndarray:
        with torch.inference_mode():
            inputs = {k: torch.from_numpy(v).to(model.device) for k, v in feeds.items()}
            return model(**inputs).logits.float().cpu().numpy()

    return run


def _exported(model, folder: Path | None, name: str, export_dir: Path, int8: bool = False) -> Path:  # noqa: ANN001
    """The cached ONNX file of ``model``: ``(input_ids, attention_mask, token_type_ids) -> logits``; with ``int8``,
    its dense layers' MatMuls quantised to int8 (dynamic, per channel; the attention MatMuls stay fp32, as for the
    embedding model), cached beside the fp32 file and keyed by the weights and the quantisation."""
    import torch

    tag = "rerank-int8" if int8 else "rerank-fp32"
    target = export_dir / f"rerank-{Path(name).name}-{fingerprint(folder, name, tag)}.onnx"
    if target.is_file():
        return target
    fp32 = _exported(model, folder, name, export_dir) if int8 else None
    export_dir.mkdir(parents=True, exist_ok=True)
    tmp = export_dir / f".{target.stem}.{secrets.token_hex(4)}.onnx"
    ids = torch.ones(2, 16, dtype=torch.long)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {n: {0: "batch", 1: "seq"} for n in names} | {"logits": {0: "batch"}}
    try:
        if fp32 is not None:
            logging.getLogger(__name__).info("Quantising reranker %s to int8 -> %s", name, target)
            quantize_int8(fp32, tmp)
        else:
            logging.getLogger(__name__).info("Exporting reranker %s to ONNX -> %s", name, target)
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # tracer warnings about shapes: the axes above are dynamic
                torch.onnx.export(model, (ids, torch.ones_like(ids), torch.zeros_like(ids)), str(tmp),
                                  input_names=names, output_names=["logits"], dynamic_axes=axes, opset_version=17,
                                  dynamo=False)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
