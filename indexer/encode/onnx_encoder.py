"""Fast CPU encoders: the embedding model exported to ONNX, run by ONNX Runtime or OpenVINO.

The export is made locally from the loaded sentence-transformers model (never downloaded): the transformer, its
pooling (mean or CLS) and L2 normalisation in one graph, ``(input_ids, attention_mask) -> (batch, dim)``. It is
cached under ``index.export_dir`` keyed by a fingerprint of the model's files, so it is made once per model.

Encoders (``index.encoder`` / ``index.query_encoder``):

- ``onnx``: ONNX Runtime, fp32; the same vectors as torch to ~1e-6.
- ``onnx-int8``: ONNX Runtime, weights of the dense layers quantised to int8 (dynamic quantisation, attention
  matmuls kept in fp32); faster, slightly different vectors (check quality with ``medembed eval``).
- ``openvino``: OpenVINO in fp32 (``INFERENCE_PRECISION_HINT=f32``): the same vectors as torch to ~1e-6.
- ``openvino-bf16``: OpenVINO with its default CPU precision (lower-precision matmuls where the CPU has
  AVX512-BF16/AMX, else fp32); vectors differ from torch at about 1e-5 in cosine.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from medcore.cpu import cpu_name
from medcore.errors import ModelUnavailableError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

EncoderKind = Literal["torch", "onnx", "onnx-int8", "openvino", "openvino-bf16"]
FAST_KINDS: tuple[str, ...] = ("onnx", "onnx-int8", "openvino", "openvino-bf16")
_EXPORT_VERSION = "1"  # bump when the exported graph changes


def default_export_dir(cache_dir: Path | None) -> Path:
    """``<models.cache_dir>/medembed-exports``, else ``$XDG_CACHE_HOME/medembed/exports`` (``~/.cache``)."""
    if cache_dir is not None:
        return Path(cache_dir) / "medembed-exports"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "medembed" / "exports"


def pooling_mode(model: SentenceTransformer) -> str:
    """``mean`` or ``cls``: the pooling of a Transformer + Pooling (+ Normalize) model; else raise."""
    names = [type(m).__name__ for m in model]
    if len(names) < 2 or names[0] != "Transformer" or names[1] != "Pooling" or set(names[2:]) - {"Normalize"}:
        raise ModelUnavailableError(f"Only Transformer + Pooling (+ Normalize) models export to ONNX, not {names}; "
                                    "use index.encoder = torch for this model.")
    pooling = model[1]
    mode = getattr(pooling, "pooling_mode", None) or next(
        (m for m in ("mean", "cls") if getattr(pooling, f"pooling_mode_{m}_tokens", False)), None)
    if mode not in ("mean", "cls"):
        raise ModelUnavailableError(f"Pooling '{mode}' does not export to ONNX; use index.encoder = torch.")
    return mode


def fingerprint(model_dir: Path | None, name: str, kind: str) -> str:
    """A short key of the model's weight files (name, size, mtime), the export version and the kind."""
    digest = hashlib.sha256(f"{_EXPORT_VERSION}:{name}:{kind}".encode())
    if model_dir is not None and model_dir.is_dir():
        for f in sorted(model_dir.rglob("*")):
            if f.is_file() and f.suffix in (".safetensors", ".bin", ".json"):
                st = f.stat()
                digest.update(f"{f.relative_to(model_dir)}:{st.st_size}:{int(st.st_mtime)}".encode())
    return digest.hexdigest()[:16]


def _export_fp32(model: SentenceTransformer, out: Path) -> None:
    import torch

    mode = pooling_mode(model)
    bert = model[0].auto_model.eval()

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (b, s, dim)
            if mode == "cls":
                pooled = hidden[:, 0]
            else:
                mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (b, s, 1)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1)  # (b, dim)

    ids = torch.ones(2, 16, dtype=torch.long)
    axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}, "embedding": {0: "batch"}}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about shapes: the axes above are dynamic
        torch.onnx.export(Pooled(), (ids, torch.ones_like(ids)), str(out), input_names=["input_ids", "attention_mask"],
                          output_names=["embedding"], dynamic_axes=axes, opset_version=17, dynamo=False)


def quantize_int8(src: Path, out: Path) -> None:
    """Int8 weights for the dense layers' MatMuls (per channel); attention's activation MatMuls stay fp32."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(src), load_external_data=False).graph
    attention = [n.name for n in graph.node if n.op_type == "MatMul" and "/attention/self/" in n.name]
    quantize_dynamic(str(src), str(out), weight_type=QuantType.QInt8, per_channel=True,
                     op_types_to_quantize=["MatMul"], nodes_to_exclude=attention)


def exported_model(model: SentenceTransformer, model_dir: Path | None, name: str, kind: str, export_dir: Path) -> Path:
    """The cached ONNX file for ``kind`` (fp32 or int8), exporting it first when missing (atomic rename)."""
    quantized = kind == "onnx-int8"
    target = export_dir / f"{Path(name).name}-{fingerprint(model_dir, name, 'int8' if quantized else 'fp32')}.onnx"
    if target.is_file():
        return target
    export_dir.mkdir(parents=True, exist_ok=True)
    tmp = export_dir / f".{target.stem}.{secrets.token_hex(4)}.onnx"
    try:
        if quantized:
            fp32 = exported_model(model, model_dir, name, "onnx", export_dir)
            logger.info("Quantising %s to int8 -> %s", fp32.name, target)
            quantize_int8(fp32, tmp)
        else:
            logger.info("Exporting %s to ONNX -> %s", name, target)
            _export_fp32(model, tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


class OnnxEncoder:
    """Encode texts with an exported model: tokenise, length-sorted batches, run, normalised ``(n, dim)`` float32."""

    def __init__(self, model: SentenceTransformer, onnx_path: Path, kind: str, threads: int = 0) -> None:
        self.kind = kind
        self.tokenizer = model.tokenizer
        self.max_seq_length = int(model.max_seq_length)
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.dimension = int(get_dim())
        self.path = onnx_path
        self._run = runner(onnx_path, kind, threads)

    def encode(self, texts: list[str], batch_size: int = 32, show_progress_bar: bool = False) -> np.ndarray:
        from tqdm.auto import tqdm

        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")  # longest first: batches of similar length
        for start in tqdm(range(0, len(texts), batch_size), disable=not show_progress_bar, desc="Batches"):
            rows = order[start : start + batch_size]
            enc = self.tokenizer([texts[i].strip() for i in rows], padding=True, truncation="longest_first",
                                 max_length=self.max_seq_length, return_tensors="np")
            out[rows] = self._run({"input_ids": enc["input_ids"].astype(np.int64),
                                   "attention_mask": enc["attention_mask"].astype(np.int64)})
        return out


def runner(path: Path, kind: str, threads: int):  # noqa: ANN201 - a closure
    """``run({input name: int64 array}) -> first output`` for the ONNX file at ``path``, by OpenVINO or ONNX
    Runtime as ``kind`` says."""
    return _openvino_runner(path, kind, threads) if kind.startswith("openvino") else _ort_runner(path, threads)


def _ort_runner(path: Path, threads: int):  # noqa: ANN202 - a closure
    try:
        import onnxruntime as ort
    except ImportError:
        raise ModelUnavailableError("onnxruntime is not installed; `pip install onnxruntime` or set "
                                    "index.encoder = torch.") from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def run(feeds: dict[str, np.ndarray]) -> np.ndarray:
        return session.run(None, feeds)[0]

    return run


def _openvino_runner(path: Path, kind: str, threads: int):  # noqa: ANN202 - a closure
    try:
        import openvino as ov
    except ImportError:
        raise ModelUnavailableError("openvino is not installed; `pip install openvino` or set "
                                    "index.encoder = onnx (or torch).") from None
    config: dict[str, object] = {"PERFORMANCE_HINT": "LATENCY"}
    if threads > 0:
        config["INFERENCE_NUM_THREADS"] = threads
    if kind == "openvino":
        config["INFERENCE_PRECISION_HINT"] = "f32"
    core = ov.Core()
    compiled = core.compile_model(str(path), "CPU", config)
    if kind == "openvino-bf16" and "BF16" not in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        logger.info("%s has no native bf16; OpenVINO encodes in %s.", cpu_name(),
                    compiled.get_property("INFERENCE_PRECISION_HINT"))
    request = compiled.create_infer_request()
    output = compiled.output(0)
    lock = threading.Lock()  # one infer request: callers from several threads take turns

    def run(feeds: dict[str, np.ndarray]) -> np.ndarray:
        with lock:
            return np.array(request.infer(feeds)[output])

    return run
