"""``medembed train``: a few CPU steps of the real MiniLM on the tiny triplets, with both backends, and resuming."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from trainer_fixtures import tiny_beir, tiny_triplets  # noqa: F401 - fixtures

from search_app.cli import cli
from trainer.data import read_triplets

TINY = ["--batch-size", "4", "--max-seq-length", "32"]


def _train(*args: str) -> tuple[int, str, dict]:
    result = CliRunner().invoke(cli, ["-q", "train", *TINY, "--json", *args])
    lines = [line for line in result.stdout.splitlines() if line.startswith('{"')]
    return result.exit_code, result.output, (json.loads(lines[-1]) if lines else {})


def _changed_from_base(folder: Path) -> bool:
    from sentence_transformers import SentenceTransformer

    from medcore.models import resolve

    tuned = SentenceTransformer(str(folder), device="cpu")
    base = SentenceTransformer(str(resolve("minilm").local_path), device="cpu")
    assert tuned.encode(["statins and liver enzymes"]).shape == (1, 384)
    key = next(k for k in base.state_dict() if k.endswith("encoder.layer.0.attention.self.query.weight"))
    return not bool((tuned.state_dict()[key] == base.state_dict()[key]).all())


def test_trainer_backend_checkpoints_card_scores_and_resume(tiny_triplets: Path, tiny_beir: Path,  # noqa: F811
                                                            tmp_path: Path) -> None:
    pytest.importorskip("datasets", reason="the trainer backend needs datasets (pip install -e '.[train]')")
    out = tmp_path / "ft"
    code, output, result = _train(str(tiny_triplets), "-o", str(out), "--dev", str(tiny_beir), "--dev-corpus", "16",
                                  "--max-steps", "3", "--save-steps", "2", "--backend", "trainer")
    assert code == 0, output
    assert (result["backend"], result["steps"]) == ("trainer", 3) and result["triplets_per_second"] > 0
    checkpoints = out.with_name("ft-checkpoints")
    assert {p.name for p in checkpoints.iterdir()} >= {"checkpoint-2", "checkpoint-3"}
    n = len(read_triplets(tiny_triplets))
    info = json.loads((out / "medembed.json").read_text())
    assert info["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert info["data"]["triplets"] == n and info["data"]["by_source_kind"] == {"qrels:tinymed/train / qrels": n}
    assert info["hyperparameters"]["batch_size"] == 4 and info["hyperparameters"]["precision"] == "fp32"
    assert set(info["scores"]) == {"base", "fine-tuned"} and "ndcg@10" in info["scores"]["base"]
    assert info["dev_set"] == "8 queries (tinymed 8) over 16 documents"
    card = (out / "README.md").read_text()
    for needle in ("base_model: sentence-transformers/all-MiniLM-L6-v2", f"{n} triplets",
                   "| qrels:tinymed/train / qrels |", "| batch_size | 4 |", "## Dev scores", "| fine-tuned |"):
        assert needle in card
    assert (out / "settings.json").is_file() and _changed_from_base(out)

    code, output, _ = _train(str(tiny_triplets), "-o", str(out), "--max-steps", "4")
    assert code == 1 and "is not empty" in output and "--overwrite" in output
    code, output, resumed = _train(str(tiny_triplets), "-o", str(out), "--max-steps", "4", "--save-steps", "2",
                                   "--backend", "trainer", "--resume", "--overwrite")
    assert code == 0, output
    assert resumed["steps"] == 1 and (checkpoints / "checkpoint-4").is_dir()
    assert json.loads((out / "medembed.json").read_text())["training"]["steps"] == 4


def test_plain_torch_loop_checkpoints_and_resumes(tiny_triplets: Path, tmp_path: Path) -> None:  # noqa: F811
    out = tmp_path / "loop"
    code, output, result = _train(str(tiny_triplets), "-o", str(out), "--max-steps", "2", "--save-steps", "1",
                                  "--backend", "torch", "--checkpoint-dir", str(tmp_path / "ck"))
    assert code == 0, output
    assert (result["backend"], result["steps"], result["examples"]) == ("torch", 2, 8)
    assert {p.name for p in (tmp_path / "ck").iterdir()} == {"checkpoint-1", "checkpoint-2"}
    assert (tmp_path / "ck" / "checkpoint-2" / "loop_state.pt").is_file() and _changed_from_base(out)
    code, output, resumed = _train(str(tiny_triplets), "-o", str(out), "--max-steps", "3", "--save-steps", "1",
                                   "--backend", "torch", "--checkpoint-dir", str(tmp_path / "ck"), "--resume",
                                   "--overwrite")
    assert code == 0, output
    assert resumed["steps"] == 1 and json.loads((out / "medembed.json").read_text())["training"]["steps"] == 3
    assert {p.name for p in (tmp_path / "ck").iterdir()} == {"checkpoint-2", "checkpoint-3"}  # keeps the last two


def test_cached_mnrl_runs_one_step(tiny_triplets: Path, tmp_path: Path) -> None:  # noqa: F811
    code, output, result = _train(str(tiny_triplets), "-o", str(tmp_path / "c"), "--max-steps", "1", "--backend",
                                  "torch", "--loss", "cached_mnrl", "--mini-batch-size", "2")
    assert code == 0, output
    assert result["steps"] == 1


def test_too_few_triplets_and_bad_settings_are_refused(tmp_path: Path) -> None:
    empty = tmp_path / "none.jsonl"
    empty.write_text("")
    code, output, _ = _train(str(empty), "-o", str(tmp_path / "x"))
    assert code == 1 and re.search(r"needs at least 2 triplets, got 0", output)
    code, output, _ = _train(str(empty), "-o", str(tmp_path / "x"), "--warmup-ratio", "1.5")
    assert code == 1 and "train.warmup_ratio=1.5 must be in [0, 1)" in output
