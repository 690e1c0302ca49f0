"""``medembed generate`` against a real OpenAI-compatible server (llama.cpp, Qwen2.5-Coder-0.5B-Instruct)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from llm_server import LLMServer, free_port, llm_server  # noqa: F401 - the fixture

from cli.main import cli
from medcore.errors import LLMError
from tests.conftest import suite_settings
from trainer.data import Passage, read_triplets, sample_passages
from trainer.generate import GenerateConfig, GenerateSummary, TripletSink, _triplets_for_reply, generate_triplets
from trainer.mining import MiningConfig, NegativeMiner

TEST_PDFS = Path(__file__).resolve().parent / "data" / "pdfs"
FIELDS = {"query", "pos", "neg", "query_id", "pos_id", "neg_id", "kind", "source", "neg_source"}


@pytest.fixture(scope="module")
def pdf_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data home with the three committed PDFs ingested (no indexes: generate mines on its own)."""
    from indexer.ingest import Ingestor
    from store import Store

    settings = suite_settings().with_home(tmp_path_factory.mktemp("gen_home"))
    report = Ingestor(Store.from_settings(settings), settings).ingest([TEST_PDFS])
    assert report.count("added") == 3
    return settings.paths.home


def _generate(home: Path, out: Path, *args: str) -> tuple[int, str, dict]:
    result = CliRunner().invoke(cli, ["-q", "generate", "-o", str(out), "--mine", "bm25", "--json", "--timeout", "600",
                                      *args],
                                env={"MEDEMBED_HOME": str(home)})
    lines = [line for line in result.stdout.splitlines() if line.startswith('{"')]
    return result.exit_code, result.output, (json.loads(lines[-1]) if lines else {})


@pytest.fixture(scope="module")
def first_run(pdf_home: Path, llm_server: LLMServer, tmp_path_factory: pytest.TempPathFactory):  # noqa: F811
    out = tmp_path_factory.mktemp("gen") / "triplets.jsonl"
    code, output, summary = _generate(pdf_home, out, "-n", "3", "--base-url", llm_server.base_url, "--llm-model",
                                      llm_server.model, "--temperature", "0", "--concurrency", "2")
    assert code == 0, output
    return out, summary


def test_generate_writes_valid_triplets_and_a_summary(first_run, pdf_home: Path) -> None:
    from store import Store

    out, summary = first_run
    assert summary["units"] == 3 and summary["requests"] >= 3 and summary["failed_requests"] == 0
    # the server's own token counts, what a CPU-bound run is paid in
    assert summary["prompt_tokens"] > 100 * summary["units"] and summary["completion_tokens"] >= 10 * summary["units"]
    assert summary["generated"] == summary["kept_queries"] + sum(
        n for reason, n in summary["dropped"].items() if reason != "malformed_reply")
    triplets = read_triplets(out)
    assert len(triplets) == summary["triplets"] >= 1, summary
    store = Store.from_settings(suite_settings().with_home(pdf_home))
    chunks = store.get_chunks(int(t.pos_id) for t in triplets)
    for t in triplets:
        assert FIELDS <= set(t.to_json()) and t.kind in ("keyword", "question", "clinical")
        assert t.source == "llm:test-llm" and t.neg_source == "bm25" and t.neg_id != t.pos_id
        assert chunks[int(t.pos_id)][0].text in t.pos and t.query not in t.pos
    assert len({t.query for t in triplets}) == len(triplets)  # one negative each, no duplicate queries
    done = [json.loads(line) for line in out.with_name(out.name + ".done").read_text().splitlines()]
    assert len(done) == 3 and {d["status"] for d in done} <= {"ok", "malformed"}


def test_rerun_skips_done_passages(first_run, pdf_home: Path, llm_server: LLMServer) -> None:  # noqa: F811
    out, _ = first_run
    before = out.read_bytes()
    code, output, summary = _generate(pdf_home, out, "-n", "3", "--base-url", llm_server.base_url, "--llm-model",
                                      llm_server.model, "--temperature", "0")
    assert code == 0, output
    assert (summary["skipped_done"], summary["units"], summary["requests"]) == (3, 0, 0)
    assert out.read_bytes() == before


def test_truncated_replies_are_counted_as_malformed_not_fatal(pdf_home: Path, llm_server: LLMServer,  # noqa: F811
                                                              tmp_path: Path) -> None:
    """Real garbage: replies cut off after 50 tokens are not JSON."""
    code, output, summary = _generate(pdf_home, tmp_path / "t.jsonl", "-n", "1", "--seed", "7", "--base-url",
                                      llm_server.base_url, "--llm-model", llm_server.model, "--max-tokens", "50",
                                      "--temperature", "0")
    assert code == 0, output
    assert summary["dropped"] == {"malformed_reply": 1} and summary["triplets"] == 0 and summary["units"] == 1


def test_server_down_gives_a_clear_message(pdf_home: Path, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    code, output, _ = _generate(pdf_home, tmp_path / "t.jsonl", "-n", "1", "--base-url", url, "--retries", "0")
    assert code == 1
    assert f"Cannot reach the LLM server at {url}" in output and "--base-url" in output
    assert not (tmp_path / "t.jsonl").exists()


def test_a_model_the_server_does_not_serve_is_named(pdf_home: Path, llm_server: LLMServer,  # noqa: F811
                                                     tmp_path: Path) -> None:
    code, output, _ = _generate(pdf_home, tmp_path / "t.jsonl", "-n", "1", "--base-url", llm_server.base_url,
                                "--llm-model", "llama-70b")
    assert code == 1 and "serves ['test-llm'], not 'llama-70b'; pass --llm-model" in output


class _DeadClient:
    """Stands in for LLMClient when the server dies mid-run (every request fails)."""

    base_url, model, requests, retries = "http://127.0.0.1:9/v1", "m", 0, 0

    def check(self) -> list[str]:
        return ["m"]

    def chat(self, messages: list[dict[str, str]]) -> str:
        raise ConnectionError("Connection refused")


def _passages(n: int) -> list[Passage]:
    return [Passage(f"p{i}", f"d{i}", f"Passage {i} about statins and liver enzymes and muscle pain number {i}.")
            for i in range(n)]


def test_consecutive_failures_stop_the_run_with_a_resume_hint(tmp_path: Path) -> None:
    passages = _passages(5)
    miner = NegativeMiner(passages, None, MiningConfig(method="bm25"))
    with pytest.raises(LLMError, match=re.escape("3 requests in a row failed")) as info:
        generate_triplets(passages, _DeadClient(), miner, tmp_path / "t.jsonl", GenerateConfig(abort_after=3,
                          concurrency=1), show_progress_bar=False)
    assert "rerun the same command to resume" in str(info.value)


def test_llm_negative_becomes_an_extra_triplet(tmp_path: Path) -> None:
    passages = [Passage("p1", "d1", "Statin therapy lowered LDL cholesterol by 40% in adults. Liver enzymes are "
                        "checked at twelve weeks."), Passage("p2", "d2", "Statin muscle pain is common in adults.")]
    miner = NegativeMiner(passages, None, MiningConfig(method="bm25", relative_margin=0.0))
    reply = ('{"queries": [{"kind": "keyword", "query": "statin LDL reduction", "span": "lowered LDL cholesterol", '
             '"relevance": 5}], "negative": "Ezetimibe blocks cholesterol absorption."}')
    summary = GenerateSummary()
    triplets, status = _triplets_for_reply(reply, passages[0], "m", miner, TripletSink(tmp_path / "t.jsonl"),
                                           GenerateConfig(llm_negatives=True), summary)
    assert status == "ok" and [t.neg_source for t in triplets] == ["bm25", "llm"]
    assert triplets[1].neg == "Ezetimibe blocks cholesterol absorption." and triplets[1].neg_id == "llm-neg:p1"


def test_a_larger_sample_keeps_the_smaller_one_so_a_grown_run_resumes() -> None:
    pool = [Passage(f"p{i}", f"d{i}", "x" * 300) for i in range(500)]
    small, large = sample_passages(pool, 40, seed=7), sample_passages(pool, 120, seed=7)
    assert large[:40] == small and len({p.id for p in large}) == 120
    assert sample_passages(pool, 40, seed=8) != small
