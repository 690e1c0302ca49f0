"""Distillation from a teacher (``trainer.distill``): the real MiniLM as student and as teacher, and ``medembed train
--distill-from``."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from trainer_fixtures import tiny_beir, tiny_triplets, train_cli  # noqa: F401 - fixtures

from medcore.config import TrainSettings
from medcore.errors import ModelUnavailableError, TrainingError
from medcore.models import load_sentence_transformer, registry, resolve
from trainer.data import Triplet
from trainer.distill import TEACHER_FILE, Teacher, check_teacher, distilled_ranking_loss
from trainer.loop import tokenize

ROWS = [
    Triplet("statins and liver enzymes", "Statins raise liver enzymes in a few patients.", "Bananas are yellow.",
            "q1", "p1", "n1", "qrels", "test"),
    Triplet("aspirin and stomach bleeding", "Aspirin increases the risk of gastrointestinal bleeding.",
            "Rain falls mainly on the plain.", "q2", "p2", "n2", "qrels", "test"),
    Triplet("vitamin D and bone density", "Vitamin D supports bone mineral density in older adults.",
            "Cars have four wheels.", "q3", "p3", "n3", "qrels", "test"),
]


@pytest.fixture(scope="module")
def minilm():  # noqa: ANN201 - a SentenceTransformer
    return load_sentence_transformer(resolve("minilm"), "cpu")


def _features(model, rows: list[Triplet]) -> list[dict]:  # noqa: ANN001
    return [tokenize(model, [getattr(t, column) for t in rows], 64) for column in ("query", "pos", "neg")]


def test_a_teacher_that_agrees_adds_nothing_and_one_that_disagrees_pulls_the_student(minilm) -> None:  # noqa: ANN001
    import torch

    teacher = Teacher(load_sentence_transformer(resolve("minilm"), "cpu"))
    agreeing = teacher(ROWS)
    assert agreeing.shape == (3, 3) and agreeing.argmax(dim=1).tolist() == [0, 1, 2]
    loss = distilled_ranking_loss(minilm, weight=1.0)
    features = _features(minilm, ROWS)
    with torch.no_grad():
        plain, agreed = loss(features, None).item(), loss(features, teacher(ROWS)).item()
        # a teacher that ranks the second query's positive first for the first query, and so on
        disagreeing = torch.roll(torch.eye(3), 1, dims=1)
        assert loss(features, disagreeing).item() > plain + 1.0
    assert agreed == pytest.approx(plain, abs=1e-4)

    def first_query_prefers_second_positive() -> float:
        with torch.no_grad():
            vectors = minilm.encode([ROWS[0].query, ROWS[0].pos, ROWS[1].pos], convert_to_tensor=True,
                                    normalize_embeddings=True)
        return float(vectors[0] @ vectors[2] - vectors[0] @ vectors[1])

    before = first_query_prefers_second_positive()
    state = {k: v.clone() for k, v in minilm.state_dict().items()}
    optimizer = torch.optim.AdamW(minilm.parameters(), lr=1e-4)
    minilm.train()
    strong = distilled_ranking_loss(minilm, weight=20.0)
    for _ in range(5):
        strong(_features(minilm, ROWS), disagreeing).backward()
        optimizer.step()
        optimizer.zero_grad()
    minilm.eval()
    after = first_query_prefers_second_positive()
    minilm.load_state_dict(state)  # the module-scoped model goes back as it was
    assert after > before + 0.05, (before, after)


def test_agree_rows_learn_the_teacher_only_where_it_ranks_the_labelled_positive_first(minilm) -> None:  # noqa: ANN001
    import torch
    from torch.nn import functional

    features = _features(minilm, ROWS)
    agree = distilled_ranking_loss(minilm, weight=1.0, rows="agree")
    every = distilled_ranking_loss(minilm, weight=1.0, rows="all")
    wrong = torch.roll(torch.eye(3), 1, dims=1)  # ranks another query's positive first for every query
    half = wrong.clone()
    half[0] = torch.tensor([0.3, 0.25, 0.25])  # right for the first query only, and far less sure than the student
    with torch.no_grad():
        base = agree(features, None).item()
        assert agree(features, wrong).item() == pytest.approx(base, abs=1e-5)
        assert every(features, wrong).item() > base + 1.0
        one_row = agree(features, half).item()
        assert one_row < every(features, half).item() - 1.0  # the two disagreeing rows do not pull
        # the agreeing row does, by its KL over the whole batch's size
        queries, positives = (functional.normalize(minilm(f)["sentence_embedding"], dim=-1) for f in features[:2])
        student = functional.log_softmax(20.0 * queries @ positives.T, dim=-1)
        kl = functional.kl_div(student, functional.softmax(20.0 * half, dim=-1), reduction="none").sum(dim=-1)
        assert kl[0].item() > 1e-2
        assert one_row - base == pytest.approx(kl[0].item() / 3, rel=1e-3)
        # and "all" is the batch-mean KL of every row, as before rows could be chosen
        assert every(features, half).item() - base == pytest.approx(
            functional.kl_div(student, functional.softmax(20.0 * half, dim=-1), reduction="batchmean").item(),
            rel=1e-3)


def test_the_teacher_reads_text_without_the_students_prefixes() -> None:
    import torch

    model = load_sentence_transformer(resolve("minilm"), "cpu")
    plain = Teacher(model)(ROWS)
    prefixed = [replace(t, query="query: " + t.query, pos="passage: " + t.pos) for t in ROWS]
    stripped = Teacher(model, student_prefixes=("query: ", "passage: "))(prefixed)
    assert torch.allclose(plain, stripped, atol=1e-5)
    assert not torch.allclose(plain, Teacher(model)(prefixed), atol=1e-3)  # the prefixes do change the vectors


def test_train_with_a_teacher_scores_every_batch_records_it_and_refuses_what_cannot_distill(
        tiny_triplets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    batches: list[int] = []
    scores = Teacher.__call__

    def counted(self: Teacher, rows: list[Triplet]):  # noqa: ANN202 - a tensor
        batches.append(len(rows))
        return scores(self, rows)

    monkeypatch.setattr(Teacher, "__call__", counted)
    out = tmp_path / "kd"
    code, output, result = train_cli(str(tiny_triplets), "-o", str(out), "--max-steps", "2", "--backend", "torch",
                                     "--distill-from", "minilm", "--distill-weight", "0.5")
    assert code == 0, output
    assert result["steps"] == 2 and len(batches) == 2 and sum(batches) == result["examples"]
    hyper = json.loads((out / "medembed.json").read_text())["hyperparameters"]
    assert (hyper["distill_from"], hyper["distill_weight"], hyper["distill_rows"]) == ("minilm", 0.5, "all")
    for refused in (["--backend", "trainer"], ["--loss", "cached_mnrl"], ["--distill-weight", "0"]):
        code, output, _ = train_cli(str(tiny_triplets), "-o", str(tmp_path / "x"), "--distill-from", "minilm",
                                    *refused)
        assert code == 1 and "runs in the plain torch loop with the mnrl loss" in output, refused
    code, output, _ = train_cli(str(tiny_triplets), "-o", str(tmp_path / "w"), "--distill-from", "minilm",
                                "--distill-weight", "-1")
    assert code == 2 and "-1" in output


def test_checkpoints_recorded_before_rows_could_be_chosen_resume_as_all(tmp_path: Path) -> None:
    (tmp_path / "checkpoint-1").mkdir()
    (tmp_path / TEACHER_FILE).write_text('{"distill_from": "minilm", "distill_weight": 1.0}\n')
    check_teacher(tmp_path, TrainSettings(distill_from="minilm"), resume=True)  # the same teacher: no error
    with pytest.raises(TrainingError, match="were trained with teacher"):
        check_teacher(tmp_path, TrainSettings(distill_from="minilm", distill_rows="agree"), resume=True)


def test_mpnet_says_how_to_put_it_on_disk_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = replace(registry()["mpnet"], local_path=None, hub_id="sentence-transformers/not-in-any-cache-here")
    with pytest.raises(ModelUnavailableError, match=r"scripts/fetch_mpnet\.sh"):
        load_sentence_transformer(spec, "cpu")


def test_resuming_with_another_teacher_is_refused(tiny_triplets: Path, tmp_path: Path) -> None:  # noqa: F811
    out, checkpoints = tmp_path / "kd", tmp_path / "ck"
    common = (str(tiny_triplets), "-o", str(out), "--backend", "torch", "--save-steps", "1", "--checkpoint-dir",
              str(checkpoints))
    code, output, _ = train_cli(*common, "--max-steps", "1")
    assert code == 0, output
    code, output, _ = train_cli(*common, "--max-steps", "2", "--resume", "--overwrite", "--distill-from", "minilm")
    assert code == 1 and "were trained with teacher" in output and "delete that folder" in output
    code, output, result = train_cli(*common, "--max-steps", "2", "--resume", "--overwrite")
    assert code == 0 and result["steps"] == 1, output  # the same (no) teacher resumes
    taught = (str(tiny_triplets), "-o", str(tmp_path / "kd2"), "--backend", "torch", "--save-steps", "1",
              "--checkpoint-dir", str(tmp_path / "ck2"), "--distill-from", "minilm")
    code, output, _ = train_cli(*taught, "--max-steps", "1")
    assert code == 0, output
    for other in (["--distill-weight", "0.5"], ["--distill-rows", "agree"]):
        code, output, _ = train_cli(*taught, "--max-steps", "2", "--resume", "--overwrite", *other)
        assert code == 1 and "were trained with teacher" in output, other
    code, output, result = train_cli(*taught, "--max-steps", "2", "--resume", "--overwrite")
    assert code == 0 and result["steps"] == 1, output
