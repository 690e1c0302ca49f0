"""``medembed merge``: LM-Cocktail-style weighted averages of a fine-tune with its base (or of several fine-tunes).

``merged = sum_i w_i * model_i``, parameter by parameter, for models of one architecture. A fine-tune averaged with
its base keeps most of the gain on the target domain and loses less elsewhere; the weight is chosen on the dev set.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medcore.config import Settings
from medcore.errors import TrainingError
from trainer.card import RUN_KEYS, combined_data, read_info, write_card
from trainer.devset import DevSet, evaluate
from trainer.models import load_model
from trainer.train import base_name, check_output_dir

if TYPE_CHECKING:
    import torch
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

DEFAULT_GRID = (0.3, 0.5, 0.7)
MERGE_FILE = "merge.json"


def weight_vectors(spec: Sequence[str], n_models: int) -> list[tuple[float, ...]]:
    """Candidate weight vectors from ``--weights`` values: ``"0.7"`` gives the first model 0.7 and shares the rest
    equally; ``"0.5,0.3,0.2"`` is explicit. None given: the grid 0.3/0.5/0.7 for the first model."""
    out = []
    for text in spec or [str(w) for w in DEFAULT_GRID]:
        try:
            values = [float(v) for v in str(text).split(",") if v.strip()]
        except ValueError:
            raise TrainingError(f"--weights {text!r} is not a number or a comma-separated list of numbers.") from None
        if len(values) == 1 and n_models > 1:
            # rounded: 1 - 0.7 is 0.30000000000000004, which would be shown and recorded as such
            values = [values[0]] + [round((1.0 - values[0]) / (n_models - 1), 12)] * (n_models - 1)
        if len(values) != n_models:
            raise TrainingError(f"--weights {text!r} has {len(values)} values for {n_models} models.")
        if abs(sum(values) - 1.0) > 1e-6 or any(v < 0 for v in values):
            raise TrainingError(f"--weights {text!r}: weights must be >= 0 and sum to 1 (they sum to {sum(values)}).")
        out.append(tuple(values))
    return out


def check_same_architecture(models: Sequence[SentenceTransformer], names: Sequence[str]) -> None:
    """Raise :class:`TrainingError` unless every model has the first one's modules, parameter names and shapes."""
    ref_modules = [type(m).__name__ for m in models[0]]
    ref = {k: tuple(v.shape) for k, v in models[0].state_dict().items()}
    for model, name in zip(models[1:], names[1:], strict=True):
        modules = [type(m).__name__ for m in model]
        if modules != ref_modules:
            raise TrainingError(f"Cannot merge {names[0]} and {name}: different module stacks ({ref_modules} vs "
                                f"{modules}). Merge only fine-tunes of the same base model.")
        shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        if shapes != ref:
            missing = sorted(set(ref) ^ set(shapes))[:3]
            differ = sorted(k for k in set(ref) & set(shapes) if ref[k] != shapes[k])[:3]
            raise TrainingError(f"Cannot merge {names[0]} and {name}: different architectures (parameters only in "
                                f"one: {missing or 'none'}; different shapes: {differ or 'none'}). Merge only "
                                "fine-tunes of the same base model.")


def average_state_dicts(states: Sequence[dict[str, torch.Tensor]], weights: Sequence[float]) -> dict[str, Any]:
    """``sum_i weights[i] * states[i]`` for floating tensors (computed in float32, cast back); other tensors
    (integer buffers such as position ids) come from the most-weighted model."""
    import torch

    heaviest = max(range(len(weights)), key=lambda i: weights[i])
    out = {}
    for key, first in states[0].items():
        if not torch.is_floating_point(first):
            out[key] = states[heaviest][key].clone()
            continue
        total = torch.zeros_like(first, dtype=torch.float32)
        for state, weight in zip(states, weights, strict=True):
            if weight:
                total += weight * state[key].to(torch.float32)
        out[key] = total.to(first.dtype)
    return out


def merge_models(models: Sequence[SentenceTransformer], weights: Sequence[float]) -> SentenceTransformer:
    """A new model (a copy of the first) holding the weighted average of ``models``."""
    merged = copy.deepcopy(models[0])
    merged.load_state_dict(average_state_dicts([m.state_dict() for m in models], weights))
    return merged


def load_as_float32(folder: Path) -> None:
    """Keep float16 weights on disk but declare float32 in ``config.json``, so loaders upcast them (exactly) instead
    of running float16 on CPU, which transformers 5 would otherwise do and which is slower there."""
    for config in Path(folder).glob("config.json"):
        data = json.loads(config.read_text(encoding="utf-8"))
        for key in ("dtype", "torch_dtype"):
            if key in data:
                data[key] = "float32"
        config.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


#: Card keys that belong to one folder, not to a merge made from it: its paragraph, its test scores and its own
#: lineage (the merge records a new one).
_FOLDER_KEYS = ("about", "evaluation", "parts")


def part_info(name: str, weight: float, info: dict[str, Any]) -> dict[str, Any]:
    """One row of a merged model's lineage: its weight and, for a model we made (``info``: its card), how it was
    made, with its own parts when it is itself a merge, so a merge of merges still says which runs it holds."""
    part: dict[str, Any] = {"model": name, "weight": weight}
    # a merge's own run keys repeat those of its trained part, which its parts already hold
    part.update({k: info[k] for k in (("name", "parts") if "parts" in info else ("name", *RUN_KEYS)) if k in info})
    if "merge" in info and "parts" not in info:
        # a merge written before parts were recorded: its run keys are its first model's (`medembed merge FT BASE`);
        # had that first model been a merge itself, such a card could not tell
        run = {k: part.pop(k) for k in RUN_KEYS if k in part}
        weights = [float(w) for w in str(info["merge"]["chosen"]).split(",")]
        part["parts"] = [{"model": m, "weight": w, **(run if i == 0 else {})}
                         for i, (m, w) in enumerate(zip(info["merge"]["models"], weights, strict=True))]
    return part


@dataclass(frozen=True)
class MergeResult:
    output_dir: Path
    chosen: tuple[float, ...]
    candidates: list[dict[str, Any]] = field(default_factory=list)
    better_alone: str | None = None  # an input that alone scores above every merge on dev: keep it, not this one

    def to_json(self) -> dict[str, Any]:
        return {"output_dir": str(self.output_dir), "chosen": list(self.chosen), "candidates": self.candidates,
                "better_alone": self.better_alone}


def better_alone(alone: dict[str, float], best_score: float) -> str | None:
    """The input model that, alone (``alone``: its dev score by name), beats ``best_score`` (the best merge) by the
    most, or None."""
    name = max(alone, key=alone.__getitem__, default=None)
    return name if name is not None and alone[name] > best_score else None


def merge(model_names: Sequence[str], output_dir: Path, weights: Sequence[str] = (), dev: DevSet | None = None,
          fp16: bool = False, overwrite: bool = False, device: str = "cpu", metric: str = "ndcg@10",
          settings: Settings | None = None) -> MergeResult:
    """Merge ``model_names`` with each candidate weight vector, keep the best on ``dev`` (or the only candidate),
    and save it with a card recording the chosen mix and every candidate's scores.

    Raises:
        TrainingError: fewer than two models, bad weights, several candidates but no dev set, different
            architectures, or an occupied output folder without ``overwrite``.
    """
    if len(model_names) < 2:
        raise TrainingError("Merging needs at least two models, e.g. `medembed merge out/ft minilm`.")
    candidates = weight_vectors(weights, len(model_names))
    if len(candidates) > 1 and dev is None:
        raise TrainingError(f"{len(candidates)} weight candidates need a dev set to choose from: pass --dev "
                            "BEIR_FOLDER, or a single --weights value.")
    check_output_dir(output_dir, overwrite)
    loaded = [load_model(name, device) for name in model_names]
    models = [m for _, m in loaded]
    check_same_architecture(models, model_names)
    spec = loaded[0][0]
    scored: list[dict[str, Any]] = []
    alone: dict[str, float] = {}  # each input's own dev score, to warn when no merge beats it
    if dev is not None:
        for name, model in zip(model_names, models, strict=True):
            scores = evaluate(model, dev, spec.query_prefix, spec.passage_prefix)
            scored.append({"weights": f"{name} alone", "scores": scores})
            alone[name] = scores.get(metric, float("-inf"))
    best, best_score, best_model = candidates[0], float("-inf"), None
    for vector in candidates:
        merged = merge_models(models, vector)
        if dev is None:
            best_model = merged
            break
        scores = evaluate(merged, dev, spec.query_prefix, spec.passage_prefix)
        scored.append({"weights": ",".join(f"{w:g}" for w in vector), "scores": scores})
        logger.info("Weights %s: %s", vector, scores)
        if scores.get(metric, float("-inf")) > best_score:
            best, best_score, best_model = vector, scores.get(metric, float("-inf")), merged
    assert best_model is not None
    beaten = better_alone(alone, best_score)
    if beaten:
        # a merge is saved all the same (the caller asked for one), but a retrain must not ship it unread
        logger.warning("%s alone scores higher on the dev set (%s) than every merge tried; keep it rather than %s, "
                       "or try weights nearer to it", beaten, metric, output_dir)
    # read before saving: the output folder may be one of the inputs
    cards = [read_info(spec.local_path) if spec.local_path else {} for spec, _ in loaded]
    parts = [part_info(name, w, card) for name, w, card in zip(model_names, best, cards, strict=True)]
    info = {k: v for k, v in cards[0].items() if k not in _FOLDER_KEYS}
    if sum(1 for p in parts if "training" in p or "parts" in p) > 1:
        # several made models (e.g. two releases): the first one's run keys would describe only one part
        info = {k: v for k, v in info.items() if k not in RUN_KEYS}
    info.update(name=output_dir.name, base_model=info.get("base_model") or base_name(loaded[-1][0]), parts=parts)
    if (data := combined_data(parts)) is not None:
        info["data"] = data
    if fp16:
        best_model.half()
    output_dir.mkdir(parents=True, exist_ok=True)
    best_model.save(str(output_dir))
    if fp16:
        load_as_float32(output_dir)
    info["merge"] = {"models": list(model_names), "chosen": ",".join(f"{w:g}" for w in best),
                     "metric": metric if dev is not None else None, "candidates": scored,
                     "metrics": sorted({m for c in scored for m in c["scores"]},
                                       key=lambda m: (m.split("@")[0] != "ndcg", m)),
                     "dtype": "float16" if fp16 else "float32", "dev_set": dev.describe() if dev else None,
                     "better_alone": beaten}
    if fp16:
        info["merge"]["note"] = "float16 safetensors; config.json says float32, so it loads (upcast) as float32"
    write_card(output_dir, info)
    (output_dir / MERGE_FILE).write_text(json.dumps(info["merge"], indent=2) + "\n", encoding="utf-8")
    (output_dir / "settings.json").write_text(json.dumps((settings or Settings()).to_dict(), indent=2) + "\n",
                                              encoding="utf-8")
    return MergeResult(output_dir, best, scored, beaten)
