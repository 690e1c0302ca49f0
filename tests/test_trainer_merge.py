"""``medembed merge``: weighted state-dict averages of the real MiniLM and a perturbed copy of it."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from trainer_fixtures import tiny_beir  # noqa: F401 - the fixture

from cli.main import cli
from medcore.models import resolve
from trainer.card import annotate_card, read_info, write_card
from trainer.merge import better_alone, part_info

BASE = str(resolve("minilm").local_path)


def _load(path: str | Path):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(path), device="cpu")


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stand-in fine-tune: MiniLM with every float weight nudged (seeded)."""
    model = _load(BASE)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.01 * torch.randn(param.shape, generator=generator))
    out = tmp_path_factory.mktemp("tuned") / "ft"
    model.save(str(out))
    return out


def _merge(*args: str) -> tuple[int, str, dict]:
    result = CliRunner().invoke(cli, ["-q", "merge", "--json", *args])
    lines = [line for line in result.stdout.splitlines() if line.startswith('{"')]
    return result.exit_code, result.output, (json.loads(lines[-1]) if lines else {})


def _floats(path: Path) -> dict[str, torch.Tensor]:
    return {k: v for k, v in _load(path).state_dict().items() if torch.is_floating_point(v)}


@pytest.mark.parametrize(("weight", "same_as"), [("1", "tuned"), ("0", "base")])
def test_weights_one_and_zero_reproduce_the_inputs_exactly(tuned: Path, tmp_path: Path, weight: str,
                                                           same_as: str) -> None:
    code, output, _ = _merge(str(tuned), BASE, "-o", str(tmp_path / "m"), "--weights", weight)
    assert code == 0, output
    merged, expected = _floats(tmp_path / "m"), _floats(tuned if same_as == "tuned" else Path(BASE))
    assert merged.keys() == expected.keys()
    assert all(torch.equal(merged[k], expected[k]) for k in merged)


def test_half_is_the_average_and_fp16_halves_the_size(tuned: Path, tmp_path: Path) -> None:
    code, output, result = _merge(str(tuned), BASE, "-o", str(tmp_path / "m"), "--weights", "0.5", "--fp16")
    assert code == 0, output
    assert result["chosen"] == [0.5, 0.5]
    merged, a, b = _floats(tmp_path / "m"), _floats(tuned), _floats(Path(BASE))
    for key in merged:
        assert torch.allclose(merged[key].float(), (a[key] + b[key]) / 2, atol=2e-3, rtol=1e-3)
    size = (tmp_path / "m" / "model.safetensors").stat().st_size
    assert size < 50_000_000 and size < 0.6 * (tuned / "model.safetensors").stat().st_size
    assert json.loads((tmp_path / "m" / "merge.json").read_text())["dtype"] == "float16"
    from safetensors import safe_open

    with safe_open(str(tmp_path / "m" / "model.safetensors"), "pt") as fh:
        assert fh.get_tensor(next(iter(fh.keys()))).dtype == torch.float16
    assert next(_load(tmp_path / "m").parameters()).dtype == torch.float32  # loads upcast, not as fp16 on CPU


def test_grid_chooses_on_the_dev_set_and_records_every_candidate(tuned: Path, tiny_beir: Path,  # noqa: F811
                                                                 tmp_path: Path) -> None:
    out = tmp_path / "m"
    code, output, result = _merge(str(tuned), BASE, "-o", str(out), "--dev", str(tiny_beir), "--dev-corpus", "16",
                                  "--weights", "0.3", "--weights", "0.7")
    assert code == 0, output
    record = json.loads((out / "merge.json").read_text())
    names = [c["weights"] for c in record["candidates"]]
    assert names == [f"{tuned} alone", f"{BASE} alone", "0.3,0.7", "0.7,0.3"]
    best = max(record["candidates"][2:], key=lambda c: c["scores"]["ndcg@10"])
    assert record["chosen"] == best["weights"] and result["chosen"] == [float(w) for w in best["weights"].split(",")]
    card = (out / "README.md").read_text()
    assert f"Chosen weights: {record['chosen']} (by dev ndcg@10)" in card and "| 0.3,0.7 |" in card


def test_a_merge_of_merges_says_which_runs_it_holds_and_with_what_share(tuned: Path, tmp_path: Path) -> None:
    releases = []
    for steps in (420, 612):
        ft, release = tmp_path / f"ft{steps}", tmp_path / f"release{steps}"
        shutil.copytree(tuned, ft)
        write_card(ft, {"name": ft.name,
                        "hyperparameters": {"batch_size": 64, "max_seq_length": 256, "precision": "bf16"},
                        "training": {"steps": steps, "triplets_per_second": 7.0, "seconds_this_run": 600,
                                     "device": "cpu"}})
        code, output, _ = _merge(str(ft), BASE, "-o", str(release), "--weights", "0.8")
        assert code == 0, output
        assert read_info(release)["training"]["steps"] == steps  # one run inside: the card describes it
        annotate_card(release, about=f"release of {steps} steps", evaluation=[
            {"dataset": "d", "split": "test", "retriever": "dense:x", "n_queries": 1, "metrics": {"ndcg@10": 0.5}}])
        releases.append(release)
    out = tmp_path / "both"
    code, output, _ = _merge(str(releases[1]), str(releases[0]), "-o", str(out), "--weights", "0.5")
    assert code == 0, output
    info = read_info(out)
    # neither release's paragraph, test scores or training describe the average
    assert not {"about", "evaluation", "training", "hyperparameters"} & info.keys()
    assert [[(q["weight"], q.get("training", {}).get("steps")) for q in p["parts"]] for p in info["parts"]] == [
        [(0.8, 612), (0.2, None)], [(0.8, 420), (0.2, None)]]
    card = (out / "README.md").read_text()
    assert card.count("| 0.8 | 0.4 | ") == 2 and card.count("| 0.2 | 0.1 | used as is |") == 2
    assert "612 steps of 64, 256 tokens, bf16, 7.0 pairs/s, on cpu" in card
    assert f"### Run `{releases[1]}` > `{tmp_path / 'ft612'}`" in card and card.count("#### Training run") == 2


def test_a_merge_recorded_before_parts_existed_is_read_as_its_fine_tune_and_base(tmp_path: Path) -> None:
    write_card(tmp_path, {"training": {"steps": 420}, "about": "old release",
                          "merge": {"models": ["ft", "minilm"], "chosen": "0.8,0.2"}})
    assert part_info("old", 0.5, read_info(tmp_path)) == {"model": "old", "weight": 0.5, "parts": [
        {"model": "ft", "weight": 0.8, "training": {"steps": 420}}, {"model": "minilm", "weight": 0.2}]}


def test_a_model_named_from_the_registry_brings_its_lineage(tmp_path: Path) -> None:
    code, output, _ = _merge("medembed-small", BASE, "-o", str(tmp_path / "m"), "--weights", "0.5")
    assert code == 0, output
    part = read_info(tmp_path / "m")["parts"][0]
    assert part["model"] == "medembed-small"
    assert part["parts"] == read_info(resolve("medembed-small").local_path)["parts"] != []


def test_several_candidates_without_dev_and_mismatched_models_are_refused(tuned: Path, tmp_path: Path) -> None:
    code, output, _ = _merge(str(tuned), BASE, "-o", str(tmp_path / "m"))
    assert code == 1 and "3 weight candidates need a dev set" in output
    small = _load(BASE)
    small[0].auto_model.encoder.layer = small[0].auto_model.encoder.layer[:3]
    small[0].auto_model.config.num_hidden_layers = 3
    small.save(str(tmp_path / "small"))
    code, output, _ = _merge(str(tmp_path / "small"), BASE, "-o", str(tmp_path / "m"), "--weights", "0.5")
    assert code == 1
    assert re.search(r"Cannot merge .*small and .*: different architectures \(parameters only in one: \[", output)
    assert not (tmp_path / "m").exists()


def test_better_alone_names_the_input_that_beats_every_merge() -> None:
    alone = {"ft": 0.74, "run4": 0.76}
    assert better_alone(alone, 0.75) == "run4"
    assert better_alone(alone, 0.76) is None  # a tie keeps the merge
    assert better_alone({}, 0.75) is None


def test_a_merge_worse_than_an_input_alone_is_saved_with_a_warning(tiny_beir: Path, tmp_path: Path) -> None:  # noqa: F811
    """A fine-tune that lost what its base knew (weights scrambled) merged at 0.9: the base alone wins on dev."""
    broken = _load(BASE)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for param in broken.parameters():
            param.add_(0.5 * torch.randn(param.shape, generator=generator))
    broken.save(str(tmp_path / "broken"))
    out = tmp_path / "m"
    result = CliRunner().invoke(cli, ["-q", "merge", str(tmp_path / "broken"), BASE, "-o", str(out), "--dev",
                                      str(tiny_beir), "--dev-corpus", "16", "--weights", "0.9", "--weights", "0.8"])
    assert result.exit_code == 0, result.output
    assert f"WARNING trainer.merge: {BASE} alone scores higher on the dev set (ndcg@10) than every merge tried" \
        in result.stderr
    assert json.loads((out / "merge.json").read_text())["better_alone"] == BASE
