"""Model cards: ``README.md`` (for people) and ``medembed.json`` (for programs) in every model folder we write."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from trainer.data import Triplet

INFO_FILE = "medembed.json"
#: The columns of a card's evaluation table.
EVAL_METRICS = ("ndcg@10", "recall@10", "mrr@10")
#: The keys of a card that describe one training run (``scores``: its dev scores before and after, on ``dev_set``).
RUN_KEYS = ("data", "hyperparameters", "training", "scores", "dev_set")


#: Licence lines of the data sets the trainer knows by name (the dataset part of a triplet's source,
#: ``qrels:bioasq-b7-11/train``); BioASQ's terms require saying so wherever a model trained on it is described.
DATA_LICENCES = {
    "nfcorpus": "NFCorpus (Boteva et al. 2016): research use; NutritionFacts.org queries, PubMed abstracts",
    "medquad": "MedQuAD (Ben Abacha & Demner-Fushman 2019): CC BY 4.0; answers from NIH web sites",
    "bioasq-b7-11": "BioASQ Task B golden data: distributed to registered participants under the BioASQ terms of "
                    "use; this model was trained on them",
    "pubmedqa-pqal": "PubMedQA (Jin et al. 2019): MIT; PubMed abstracts distributed by the NLM",
    "covid-qa": "COVID-QA (deepset, Möller et al. 2020): Apache-2.0; CORD-19 papers under CC BY",
    "medicationqa": "MedicationQA (Ben Abacha et al. 2019): no licence stated, research use; cite the paper",
    "curai-mqp": "Curai medical question pairs (McCreery et al. 2020): no licence stated, research use",
}


def _dataset_of(source: str) -> str:
    """``qrels:nfcorpus/train`` or ``pairs:curai-mqp`` -> the dataset name; ``llm:model`` -> ``llm``."""
    kind, _, rest = source.partition(":")
    return "llm" if kind == "llm" else rest.split("/")[0]


def generated_share(by_source_kind: dict[str, int]) -> float:
    """The fraction of training pairs whose query an LLM wrote (their source is ``llm:<model>``)."""
    total = sum(by_source_kind.values())
    return round(sum(n for key, n in by_source_kind.items() if key.startswith("llm:")) / total, 4) if total else 0.0


def data_counts(triplets: Sequence[Triplet]) -> dict[str, Any]:
    """``{"triplets": n, "queries": n, "by_source_kind": {"llm:x / keyword": n}, "by_negative": {"bm25": n},
    "generated_share": 0.12}``."""
    by_source_kind = dict(sorted(Counter(f"{t.source} / {t.kind}" for t in triplets).items()))
    return {
        "triplets": len(triplets),
        "queries": len({t.query for t in triplets}),
        "by_source_kind": by_source_kind,
        "by_negative": dict(sorted(Counter(t.neg_source or "unknown" for t in triplets).items())),
        "generated_share": generated_share(by_source_kind),
    }


def combined_data(parts: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The training data of every trained part of a merge (nested merges included), added up: what a merged
    model learned from, with its ``generated_share``. ``None`` when no part was trained by us."""
    runs = [part["data"] for _, _, _, part in _walk(parts) if "data" in part]
    if not runs:
        return None
    by_source_kind: Counter = Counter()
    by_negative: Counter = Counter()
    for data in runs:
        by_source_kind.update(data.get("by_source_kind", {}))
        by_negative.update(data.get("by_negative", {}))
    return {"triplets": sum(d.get("triplets", 0) for d in runs), "queries": sum(d.get("queries", 0) for d in runs),
            "by_source_kind": dict(sorted(by_source_kind.items())), "by_negative": dict(sorted(by_negative.items())),
            "generated_share": generated_share(dict(by_source_kind)), "runs": len(runs)}


def read_info(folder: Path) -> dict[str, Any]:
    path = Path(folder) / INFO_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _table(header: tuple[str, ...], rows: list[tuple]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def _scores_table(scores: dict[str, dict[str, float]]) -> list[str]:
    metrics = sorted({m for s in scores.values() for m in s}, key=lambda m: (m.split("@")[0] != "ndcg", m))
    return _table(("model", *metrics), [(name, *(f"{s.get(m, float('nan')):.4f}" for m in metrics))
                                        for name, s in scores.items()])


def _how_made(part: dict[str, Any]) -> str:
    if "parts" in part:
        return "merge of the parts below"
    if not (run := part.get("training")):
        return "used as is"
    hp = part.get("hyperparameters") or {}
    facts = []
    if "steps" in run:
        facts.append(f"{run['steps']} steps" + (f" of {hp['batch_size']}" if "batch_size" in hp else ""))
    if "max_seq_length" in hp:
        facts.append(f"{hp['max_seq_length']} tokens")
    if "precision" in hp:
        facts.append(str(hp["precision"]))
    if "triplets_per_second" in run:
        facts.append(f"{run['triplets_per_second']} pairs/s")
    if "device" in run:
        facts.append(f"on {run['device']}")
    return ", ".join(facts) or "trained"


def _walk(parts: Sequence[dict[str, Any]], share: float = 1.0, depth: int = 0,
          above: str = "") -> Iterator[tuple[int, float, str, dict[str, Any]]]:
    """Every part of a merge, nested merges included: ``(depth, share of the final weights, "`a` > `ft`", part)``."""
    for part in parts:
        weight = share * float(part["weight"])
        where = f"{above} > `{part['model']}`" if above else f"`{part['model']}`"
        yield depth, weight, where, part
        yield from _walk(part.get("parts", []), weight, depth + 1, where)


def _read_by_steps(info: dict[str, Any]) -> str:
    """Where a step limit stopped a run before its epochs were done, how many of its pairs it read: the pairs file
    is what the tables count, and a card should not let them read as what the model saw."""
    hp, data = info.get("hyperparameters") or {}, info.get("data") or {}
    steps, batch = int(hp.get("max_steps") or 0), int(hp.get("batch_size") or 0)
    if steps <= 0 or not batch or data.get("runs", 1) > 1:
        return ""
    read = steps * batch
    if read >= data["triplets"] * float(hp.get("epochs") or 1):
        return ""
    return f" The run stopped at {steps} steps of {batch}: it read at most {read} of the {data['triplets']} pairs."


def _run_sections(info: dict[str, Any], level: str) -> list[str]:
    """The data, hyperparameters, training and dev score tables of one training run."""
    lines = []
    if data := info.get("data"):
        share = generated_share(data["by_source_kind"])
        runs = f" over {data['runs']} training runs" if data.get("runs", 1) > 1 else ""
        lines += [f"{level} Training data", "", f"{data['triplets']} training pairs{runs}, {data['queries']} distinct "
                  f"queries; {share:.1%} of the pairs have a query written by an LLM.{_read_by_steps(info)}", ""]
        lines += _table(("source / kind", "pairs"), list(data["by_source_kind"].items())) + [""]
        lines += _table(("negatives from", "pairs"), list(data["by_negative"].items())) + [""]
        licences = sorted({_dataset_of(key.split(" / ")[0]) for key in data["by_source_kind"]} & set(DATA_LICENCES))
        if licences:
            lines += [f"{level} Data licences", ""] + [f"- {DATA_LICENCES[name]}" for name in licences] + [""]
    if hp := info.get("hyperparameters"):
        lines += [f"{level} Hyperparameters", ""] + _table(("parameter", "value"), list(hp.items())) + [""]
    if training := info.get("training"):
        lines += [f"{level} Training run", ""] + _table(("", ""), list(training.items())) + [""]
    if scores := info.get("scores"):
        lines += [f"{level} Dev scores", "", f"Dev set: {info.get('dev_set', 'n/a')}. Cosine similarity.", ""]
        lines += _scores_table(scores) + [""]
    return lines


def render_card(info: dict[str, Any]) -> str:
    """Markdown with YAML front matter from an info dict (keys: name, base_model, about, data, hyperparameters,
    training, scores, dev_set, merge, parts, evaluation)."""
    base = info.get("base_model", "unknown")
    lines = ["---", "library_name: sentence-transformers", "pipeline_tag: sentence-similarity",
             f"base_model: {base}", "tags: [sentence-transformers, medical, retrieval, medembed]", "---", "",
             f"# {info.get('name', 'MedEmbed model')}", "",
             f"Fine-tuned from `{base}` for medical literature retrieval by `medembed train`"
             + (", then averaged with other models by `medembed merge`." if "merge" in info else "."), ""]
    if about := info.get("about"):
        lines += [str(about), ""]
    lines += _run_sections(info, "##")
    if merge := info.get("merge"):
        lines += ["## Merge (LM-Cocktail weighted average)", "", f"Models: {', '.join(merge['models'])}.",
                  f"Chosen weights: {merge['chosen']}"
                  + (f" (by dev {merge['metric']})" if merge.get("metric") else "") + ".", ""]
        if merge.get("candidates"):
            lines += _table(("weights", *merge.get("metrics", [])),
                            [(c["weights"], *(f"{c['scores'].get(m, float('nan')):.4f}" for m in merge["metrics"]))
                             for c in merge["candidates"]]) + [""]
        if parts := info.get("parts"):
            rows = [("&nbsp;" * 4 * depth + f"`{part['model']}`", f"{part['weight']:g}", f"{share:.3g}",
                     _how_made(part)) for depth, share, _, part in _walk(parts)]
            lines += _table(("part", "weight", "share of the result", "how it was made"), rows) + [""]
        lines += [f"Saved as {merge.get('dtype', 'float32')} safetensors"
                  + ("; it loads as float32 (config.json), exactly upcast." if merge.get("dtype") == "float16"
                     else "."), ""]
        if "training" not in info:  # a merge of several runs: each run's data and settings
            for _, _, where, part in _walk(info.get("parts", [])):
                if "training" in part:
                    lines += [f"### Run {where}", ""] + _run_sections(part, "####")
    if evaluation := info.get("evaluation"):
        lines += ["## Evaluation (`medembed eval`, document-level)", ""]
        lines += _table(("dataset", "split", "retriever", "queries", *EVAL_METRICS),
                        [(r["dataset"], r["split"], r["retriever"], r["n_queries"],
                          *(f"{r['metrics'].get(m, float('nan')):.4f}" for m in EVAL_METRICS)) for r in evaluation])
        lines += [""]
    lines += ["## Use", "", "```python", "from sentence_transformers import SentenceTransformer",
              "model = SentenceTransformer('path/to/this/folder')", "```", ""]
    return "\n".join(lines)


def write_card(folder: Path, info: dict[str, Any]) -> Path:
    """Write ``README.md`` and ``medembed.json`` into ``folder``; returns the README path."""
    folder = Path(folder)
    (folder / INFO_FILE).write_text(json.dumps(info, indent=2, default=str) + "\n", encoding="utf-8")
    readme = folder / "README.md"
    readme.write_text(render_card(info), encoding="utf-8")
    return readme


def annotate_card(folder: Path, about: str | None = None, evaluation: Sequence[dict[str, Any]] = ()) -> Path:
    """Add a paragraph (``about``) and/or ``medembed eval --json`` results to a model's card; rewrites both files.
    Results replace earlier ones of the same dataset, split and retriever."""
    info = read_info(folder)
    if not info:
        raise FileNotFoundError(f"{folder} has no {INFO_FILE}; annotate a folder written by medembed train or merge.")
    if about:
        info["about"] = about
    if evaluation:
        key = ("dataset", "split", "retriever")
        fresh = {tuple(r[k] for k in key) for r in evaluation}
        kept = [r for r in info.get("evaluation", []) if tuple(r[k] for k in key) not in fresh]
        info["evaluation"] = kept + [dict(r) for r in evaluation]
    return write_card(folder, info)
