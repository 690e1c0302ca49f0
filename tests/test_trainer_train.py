"""``medembed train``: a few CPU steps of the real MiniLM on the tiny triplets, with both backends, and resuming."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from trainer_fixtures import tiny_beir, tiny_triplets, train_cli  # noqa: F401 - fixtures

from cli.main import cli
from medcore.cpu import native_bf16
from trainer import train as train_module
from trainer.data import Triplet, read_triplets
from trainer.loop import contrastive_batches, no_duplicate_batches


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
    code, output, result = train_cli(str(tiny_triplets), "-o", str(out), "--dev", str(tiny_beir), "--dev-corpus", "16",
                                  "--max-steps", "3", "--save-steps", "2", "--backend", "trainer")
    assert code == 0, output
    assert (result["backend"], result["steps"]) == ("trainer", 3) and result["triplets_per_second"] > 0
    checkpoints = out.with_name("ft-checkpoints")
    assert {p.name for p in checkpoints.iterdir()} >= {"checkpoint-2", "checkpoint-3"}
    n = len(read_triplets(tiny_triplets))
    info = json.loads((out / "medembed.json").read_text())
    assert info["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert info["data"]["triplets"] == n and info["data"]["by_source_kind"] == {"qrels:tinymed/train / qrels": n}
    assert info["hyperparameters"]["batch_size"] == 4
    assert info["hyperparameters"]["precision"] == ("bf16" if native_bf16() else "fp32")
    assert set(info["scores"]) == {"base", "fine-tuned"} and "ndcg@10" in info["scores"]["base"]
    assert info["dev_set"] == "8 queries (tinymed 8) over 16 documents"
    card = (out / "README.md").read_text()
    for needle in ("base_model: sentence-transformers/all-MiniLM-L6-v2", f"{n} training pairs",
                   "| qrels:tinymed/train / qrels |", "| batch_size | 4 |", "## Dev scores", "| fine-tuned |"):
        assert needle in card
    assert (out / "settings.json").is_file() and _changed_from_base(out)

    code, output, _ = train_cli(str(tiny_triplets), "-o", str(out), "--max-steps", "4")
    assert code == 1 and "is not empty" in output and "--overwrite" in output
    code, output, resumed = train_cli(str(tiny_triplets), "-o", str(out), "--max-steps", "4", "--save-steps", "2",
                                   "--backend", "trainer", "--resume", "--overwrite")
    assert code == 0, output
    assert resumed["steps"] == 1 and (checkpoints / "checkpoint-4").is_dir()
    assert json.loads((out / "medembed.json").read_text())["training"]["steps"] == 4


def test_plain_torch_loop_checkpoints_and_resumes(tiny_triplets: Path, tmp_path: Path) -> None:  # noqa: F811
    out = tmp_path / "loop"
    code, output, result = train_cli(str(tiny_triplets), "-o", str(out), "--max-steps", "2", "--save-steps", "1",
                                  "--backend", "torch", "--checkpoint-dir", str(tmp_path / "ck"))
    assert code == 0, output
    first_two = no_duplicate_batches(read_triplets(tiny_triplets), 4, 42, 0, group_by_length=True)[:2]
    assert (result["backend"], result["steps"], result["examples"]) == ("torch", 2, sum(map(len, first_two)))
    assert {p.name for p in (tmp_path / "ck").iterdir()} == {"checkpoint-1", "checkpoint-2"}
    assert (tmp_path / "ck" / "checkpoint-2" / "loop_state.pt").is_file() and _changed_from_base(out)
    code, output, resumed = train_cli(str(tiny_triplets), "-o", str(out), "--max-steps", "3", "--save-steps", "1",
                                   "--backend", "torch", "--checkpoint-dir", str(tmp_path / "ck"), "--resume",
                                   "--overwrite")
    assert code == 0, output
    assert resumed["steps"] == 1 and json.loads((out / "medembed.json").read_text())["training"]["steps"] == 3
    assert {p.name for p in (tmp_path / "ck").iterdir()} == {"checkpoint-2", "checkpoint-3"}  # keeps the last two
    record = json.loads((out / "medembed.json").read_text())["training"]
    code, output, again = train_cli(str(tiny_triplets), "-o", str(out), "--max-steps", "3", "--save-steps", "1",
                                 "--backend", "torch", "--checkpoint-dir", str(tmp_path / "ck"), "--resume",
                                 "--overwrite")
    assert code == 0, output
    # a rerun of a finished run trains nothing and keeps the run's record (its speed is not 0)
    assert again["steps"] == 0 and json.loads((out / "medembed.json").read_text())["training"] == record
    assert record["triplets_per_second"] > 0


def test_cached_mnrl_runs_one_step(tiny_triplets: Path, tmp_path: Path) -> None:  # noqa: F811
    code, output, result = train_cli(str(tiny_triplets), "-o", str(tmp_path / "c"), "--max-steps", "1", "--backend",
                                  "torch", "--loss", "cached_mnrl", "--mini-batch-size", "2")
    assert code == 0, output
    assert result["steps"] == 1


def test_too_few_triplets_and_bad_settings_are_refused(tmp_path: Path) -> None:
    empty = tmp_path / "none.jsonl"
    empty.write_text("")
    code, output, _ = train_cli(str(empty), "-o", str(tmp_path / "x"))
    assert code == 1 and re.search(r"needs at least 2 triplets, got 0", output)
    code, output, _ = train_cli(str(empty), "-o", str(tmp_path / "x"), "--warmup-ratio", "1.5")
    assert code == 1 and "train.warmup_ratio=1.5 must be in [0, 1)" in output


def _rows(pairs: list[tuple[str, str]]) -> list[Triplet]:
    return [Triplet(q, p, f"neg of {q}/{p}", q, p, "n", "qrels", "test") for q, p in pairs]


def test_batches_never_pit_a_query_against_its_own_known_positives() -> None:
    # q1 and q2 share nothing, but d2 is a positive of both q1 and q3: q1's row and q3's row may not meet, and no
    # row whose positive is d2 may sit beside a q1 or q3 row.
    rows = _rows([("q1", "d1"), ("q1", "d2"), ("q2", "d3"), ("q3", "d2"), ("q3", "d4"), ("q4", "d5"),
                  ("q5", "d6"), ("q6", "d7")])
    positives = {q: {t.pos for t in rows if t.query == q} for q in {t.query for t in rows}}
    for seed in range(20):
        batches = no_duplicate_batches(rows, 4, seed, 0, with_negatives=False)
        assert sorted(i for b in batches for i in b) == list(range(len(rows)))
        for batch in batches:
            for i in batch:
                others = [rows[j] for j in batch if j != i]
                assert all(o.pos not in positives[rows[i].query] for o in others), (seed, batch)


def test_length_grouped_batches_hold_similar_lengths() -> None:
    import random

    rng = random.Random(0)
    rows = _rows([(f"q{i}", "x" * rng.randint(10, 2000) + f" {i}") for i in range(512)])
    plain = no_duplicate_batches(rows, 8, 1, 0, with_negatives=False)
    grouped = no_duplicate_batches(rows, 8, 1, 0, group_by_length=True, with_negatives=False)
    assert sorted(i for b in grouped for i in b) == list(range(512))

    def padding(batches: list[list[int]]) -> int:  # characters padded: what the batch's longest passage costs
        return sum(max(len(rows[i].pos) for i in b) * len(b) - sum(len(rows[i].pos) for i in b) for b in batches)

    assert padding(grouped) * 5 < padding(plain)
    assert grouped != sorted(grouped, key=lambda b: len(rows[b[0]].pos)), "batch order is shuffled, not by length"


def test_pairs_query_cap_and_frozen_layers(tiny_triplets: Path, tmp_path: Path) -> None:  # noqa: F811
    out = tmp_path / "pairs"
    code, output, result = train_cli(str(tiny_triplets), "-o", str(out), "--max-steps", "2", "--backend", "torch",
                                  "--no-hard-negatives", "--query-max-length", "8", "--group-by-length",
                                  "--freeze-embeddings", "--freeze-layers", "2")
    assert code == 0, output
    assert result["steps"] == 2
    info = json.loads((out / "medembed.json").read_text())
    hp = info["hyperparameters"]
    assert (hp["hard_negatives"], hp["query_max_length"], hp["freeze_layers"]) == (False, 8, 2)
    assert hp["frozen_parameters"] > 11_000_000  # the 30522 x 384 word embeddings and two layers
    from sentence_transformers import SentenceTransformer

    from medcore.models import resolve

    tuned = SentenceTransformer(str(out), device="cpu").state_dict()
    base = SentenceTransformer(str(resolve("minilm").local_path), device="cpu").state_dict()

    def same(suffix: str) -> bool:
        key = next(k for k in base if k.endswith(suffix))
        return bool((tuned[key] == base[key]).all())

    assert same("word_embeddings.weight") and same("encoder.layer.1.attention.self.query.weight")
    assert not same("encoder.layer.5.attention.self.query.weight")
    code, output, _ = train_cli(str(tiny_triplets), "-o", str(tmp_path / "x"), "--freeze-layers", "9",
                             "--max-steps", "1", "--backend", "torch")
    assert code == 1 and "train.freeze_layers=9 but the model has 6 layers" in output


def test_precision_on_a_cpu_follows_its_bf16_support(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(train_module, "native_bf16", lambda: True)
    assert [train_module.resolve_precision(p, "cpu") for p in ("auto", "bf16", "fp32", "fp16")] == \
        ["bf16", "bf16", "fp32", "fp32"]
    monkeypatch.setattr(train_module, "native_bf16", lambda: False)
    assert [train_module.resolve_precision(p, "cpu") for p in ("auto", "bf16", "fp32")] == ["fp32", "fp32", "fp32"]


def test_card_takes_a_description_and_eval_results(tmp_path: Path) -> None:
    from trainer.card import write_card

    write_card(tmp_path, {"name": "m", "base_model": "sentence-transformers/all-MiniLM-L6-v2"})
    rows = [{"dataset": "nfcorpus", "split": "test", "retriever": r, "n_queries": 323,
             "metrics": {"ndcg@10": v, "recall@10": 0.2, "mrr@10": 0.5}, "seconds": 1.0}
            for r, v in (("dense:m", 0.3312), ("bm25", 0.323))]
    results = tmp_path / "eval.jsonl"
    results.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = CliRunner().invoke(cli, ["card", str(tmp_path), "--about", "Not the published one.",
                                      "--eval-results", str(results)])
    assert result.exit_code == 0, result.output
    card = (tmp_path / "README.md").read_text()
    assert "Not the published one." in card and "| nfcorpus | test | dense:m | 323 | 0.3312 |" in card
    rows[0]["metrics"]["ndcg@10"] = 0.34  # a rerun replaces the same dataset/split/retriever
    results.write_text(json.dumps(rows[0]) + "\n")
    assert CliRunner().invoke(cli, ["card", str(tmp_path), "--eval-results", str(results)]).exit_code == 0
    info = json.loads((tmp_path / "medembed.json").read_text())
    assert [r["metrics"]["ndcg@10"] for r in info["evaluation"]] == [0.323, 0.34]
    assert CliRunner().invoke(cli, ["card", str(tmp_path.parent)]).exit_code == 1


def test_scrap_batches_are_skipped_but_a_small_dataset_still_trains() -> None:
    # one query with six positives: the sampler can only give it one row per batch
    rows = _rows([("q1", f"d{i}") for i in range(6)] + [(f"q{i}", f"e{i}") for i in range(2, 40)])
    batches = no_duplicate_batches(rows, 16, 3, 0, with_negatives=False)
    kept = contrastive_batches(batches, 16)
    assert any(len(b) < 4 for b in batches) and kept and all(len(b) >= 4 for b in kept)
    assert contrastive_batches([[0, 1, 2]], 64) == [[0, 1, 2]]  # fewer rows than a quarter batch in all
    assert contrastive_batches([[0], [1]], 64) == [[0], [1]]


def test_resuming_never_unpickles_code_from_a_checkpoint(tiny_triplets: Path, tmp_path: Path) -> None:  # noqa: F811
    """A loop_state.pt planted in the checkpoint folder (a shared disk, a copied run) holding an object that runs
    code when unpickled: --resume refuses it with a clear message, and the code never runs."""
    import torch

    marker = tmp_path / "code-ran"

    class Exploit:
        def __reduce__(self):  # noqa: ANN204
            return (open, (str(marker), "w"))

    planted = tmp_path / "ck" / "checkpoint-9"
    planted.mkdir(parents=True)
    torch.save({"model": Exploit(), "step": 9}, planted / "loop_state.pt")
    code, output, _ = train_cli(str(tiny_triplets), "-o", str(tmp_path / "out"), "--max-steps", "10",
                             "--backend", "torch", "--checkpoint-dir", str(tmp_path / "ck"), "--resume")
    assert not marker.exists(), "the planted checkpoint ran code"
    assert code != 0 and "holds more than a training state" in output, output
