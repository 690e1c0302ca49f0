"""Fuzzing PDF ingestion: hypothesis mutates real PDFs (bytes, numbers, truncation, splices) and the parser child
must turn every input into a document or a clear PDF error: never an unexpected exception, a crash or a hang.

Bounded in CI (``MEDEMBED_FUZZ_SECONDS``, default 20 s, at most ``MEDEMBED_FUZZ_EXAMPLES`` inputs, default 1500);
a longer run by hand: ``MEDEMBED_FUZZ_SECONDS=1800 MEDEMBED_FUZZ_EXAMPLES=100000 pytest -s tests/test_fuzz_pdf.py``.
"""

from __future__ import annotations

import os
import time
from collections import Counter

import pytest
from figures import figures_dir, record
from hostile_pdfs import MUTATIONS, fuzz_seeds, mutate
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from indexer.parse.worker import ParseWorker
from medcore.errors import IngestError

SECONDS = float(os.environ.get("MEDEMBED_FUZZ_SECONDS", "20"))
EXAMPLES = int(os.environ.get("MEDEMBED_FUZZ_EXAMPLES", "1500"))
SEEDS = fuzz_seeds()
FINDINGS = ("unexpected parser error", "parser crashed", "longer than")

OPS = st.lists(st.tuples(st.sampled_from(MUTATIONS), st.floats(0, 1), st.integers(0, 1000),
                         st.binary(min_size=0, max_size=64)), min_size=1, max_size=6)


@pytest.fixture(scope="module")
def fuzz_state(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201 - (worker, folder, counters)
    worker = ParseWorker(timeout_s=30, max_memory_mb=2048)
    stats: Counter = Counter()
    stats["deadline"] = time.monotonic() + SECONDS  # type: ignore[assignment]
    yield worker, tmp_path_factory.mktemp("fuzz"), stats
    worker.close()
    record("fuzz_pdf", {"inputs": stats["inputs"], "parsed": stats["parsed"], "refused": stats["refused"],
                        "parser_processes": worker.started, "budget_s": SECONDS,
                        "reasons": {k[7:]: v for k, v in stats.items() if k.startswith("reason:")}})


@settings(max_examples=EXAMPLES, deadline=None, derandomize=SECONDS <= 60, database=None,
          suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, len(SEEDS) - 1), ops=OPS)
@example(seed=4, ops=[("delete", 0.5, 84, b""), ("number", 0.1875, 0, b"\x01")])  # found: a broken page count
def test_mutated_pdfs_parse_or_fail_cleanly(fuzz_state, seed: int, ops) -> None:  # noqa: ANN001
    worker, folder, stats = fuzz_state
    if time.monotonic() > stats["deadline"]:
        return  # the time budget is spent: the remaining examples pass through
    path = folder / "input.pdf"
    path.write_bytes(mutate(SEEDS[seed], ops))
    stats["inputs"] += 1
    try:
        parsed = worker.parse(path, "library")
    except IngestError as exc:
        message = str(exc)
        kept = figures_dir() / "fuzz-findings" / f"finding-{time.time_ns()}.pdf"
        if any(f in message for f in FINDINGS):
            kept.parent.mkdir(parents=True, exist_ok=True)
            kept.write_bytes(path.read_bytes())
        assert not any(f in message for f in FINDINGS), f"{message} (input kept at {kept})"
        assert message.startswith("input.pdf: ") and ("; " in message or "re-download" in message), message
        stats["refused"] += 1
        stats["reason:" + message.split(": ", 1)[1].split(" (")[0].split(";")[0][:60]] += 1
        return
    stats["parsed"] += 1
    assert parsed.segments and all(s.text.strip() for s in parsed.segments)
    assert parsed.n_pages and all(1 <= s.page <= parsed.n_pages for s in parsed.segments)
