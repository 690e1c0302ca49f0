"""``medembed adapt`` on the 17 PMC papers with the test LLM (llama.cpp, Qwen2.5-Coder-0.5B-Instruct): generated
queries, a held-apart share, a fine-tune within a small time budget, the merge, and the before/after report."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from llm_server import LLMServer, llm_server  # noqa: F401 - the fixture

from cli.main import cli
from tests.conftest import suite_settings
from trainer.adapt import held_apart, split
from trainer.card import read_info
from trainer.data import Triplet, read_triplets
from trainer.devset import build_dev_set
from trainer.heldapart import write_split


def test_held_apart_passages_are_stable_and_never_trained_on() -> None:
    rows = [Triplet(f"q{i}", "p", "n", f"q{i}", f"passage-{i % 40}", "x", "keyword", "llm:t") for i in range(200)]
    train_rows, held = split(rows, 0.25, 7)
    assert {t.pos_id for t in train_rows}.isdisjoint({t.pos_id for t in held})
    assert 0.1 < len({t.pos_id for t in held}) / 40 < 0.45
    assert [held_apart(f"passage-{i}", 0.25, 7) for i in range(40)] == [held_apart(f"passage-{i}", 0.25, 7)
                                                                        for i in range(40)]


def test_generated_queries_split_into_training_rows_and_a_beir_dev_folder_the_dev_set_reads(tmp_path: Path) -> None:
    rows = [Triplet(f"query {i}", f"passage text {i % 40}", f"other text {i % 7}", f"q{i}", f"passage-{i % 40}",
                    f"neg-{i % 7}", "keyword", "llm:t") for i in range(200)]
    source = tmp_path / "gen.jsonl"
    source.write_text("".join(json.dumps(t.to_json()) + "\n" for t in rows))
    trained, held = write_split([source], tmp_path / "train.jsonl", tmp_path / "dev", share=0.25, seed=7)
    train_rows = read_triplets(tmp_path / "train.jsonl")
    assert len(train_rows) == trained and trained + held == 200
    dev = build_dev_set([tmp_path / "dev"], max_queries=held, distractors=100)
    assert len(dev.queries) == held and set(dev.sources) == {"dev"}
    held_passages = {d.split("/", 1)[1] for docs in dev.relevant.values() for d in docs}
    assert held_passages and held_passages.isdisjoint(t.pos_id for t in train_rows), "held-apart text is never trained"
    assert len(dev.corpus) == 47, "every passage and mined negative the files name stands in the corpus"


def test_adapt_runs_the_recipe_on_the_seventeen_papers(shared_data: Path, llm_server: LLMServer,  # noqa: F811
                                                       tmp_path: Path) -> None:
    from indexer.ingest import Ingestor
    from store import Store

    settings = suite_settings().with_home(tmp_path / "home")
    report = Ingestor(Store.from_settings(settings), settings).ingest([shared_data / "pdfs"])
    assert report.count("added") == 17
    work = tmp_path / "adapt"
    result = CliRunner().invoke(cli, ["-q", "adapt", "-o", str(work), "-n", "12", "--held-out", "0.3", "--minutes",
                                      "0.5", "--weights", "0.5", "--base-url", llm_server.base_url, "--llm-model",
                                      llm_server.model, "--json"],
                                env={"MEDEMBED_HOME": str(settings.paths.home)})
    assert result.exit_code == 0, result.output
    out = json.loads([line for line in result.stdout.splitlines() if line.startswith("{")][-1])
    assert out["train_pairs"] > 0 and out["eval_queries"] > 0
    assert 0.0 <= out["before"] <= 1.0 and 0.0 <= out["after"] <= 1.0
    assert out["generate"]["units"] == 12 and out["generate"]["kept_queries"] == len(read_triplets(
        work / "generated.jsonl.gz"))
    assert json.loads((work / "report.json").read_text()) == out
    card = read_info(work / "model")
    assert card["data"]["generated_share"] == 1.0 and card["merge"]["chosen"] == "0.5,0.5"
    assert (work / "model" / "model.safetensors").is_file()
