"""Hostile queries through the Searcher, the CLI and the UI: a result or a clear message, never a traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from figures import record

from cli.main import cli
from medcore.errors import MedEmbedError
from search_app.searcher import Searcher

REPO = Path(__file__).resolve().parents[1]
EMPTY = {"empty": "", "blanks": " \t\n  ", "controls only": "\x00\x01\x1b\x7f"}
QUERIES = {
    "100k characters": ("methemoglobinemia pregnancy " * 3600)[:100_000],
    "100k without spaces": "x" * 100_000,
    "punctuation only": "?!.,;:()[]{}<>'\"-_/\\|@#$%^&*~`+=",
    "Chinese": "\u9ad8\u94c1\u8840\u7ea2\u86cb\u767d\u8840\u75c7\u598a\u5a20",
    "Arabic (RTL)": "\u0639\u0644\u0627\u062c \u0627\u0644\u062d\u0645\u0649",
    "Russian": "\u043b\u0435\u0447\u0435\u043d\u0438\u0435 \u0442\u0443\u043b\u044f\u0440\u0435\u043c\u0438\u0438",
    "control characters": "methemo\x00globinemia\x1b[31m in \x07pregnancy\r\n",
    "bidi override and zero-width": "\u202etularemia\u202c coyote\u200b bite",
    "lone surrogate": "coyote \ud800 bite",
    "emoji": "\U0001f9ec\U0001f489 tularemia",
    "SQL-looking": "'; DROP TABLE chunks; --",
    "markup": "<script>alert(1)</script> [x](javascript:alert(1))",
}
MODES = ["bm25", "dense:minilm", "hybrid:minilm"]


@pytest.fixture(scope="module")
def searchers(library_home) -> dict[str, Searcher]:  # noqa: ANN001 - Settings
    return {mode: Searcher.from_settings(library_home, mode) for mode in MODES}


@pytest.mark.parametrize("mode", MODES)
def test_searcher_answers_every_hostile_query(searchers: dict[str, Searcher], mode: str) -> None:
    searcher = searchers[mode]
    for name, query in EMPTY.items():
        with pytest.raises(MedEmbedError, match="The query is empty; type a question or some keywords."):
            searcher.search(query, 5)
    found = {}
    for name, query in QUERIES.items():
        hits = searcher.search(query, 5)
        assert len(hits) <= 5 and all(h.chunk_id and h.text for h in hits), name
        found[name] = len(hits)
    assert found["100k characters"] and found["control characters"], "the real words still find the paper"
    assert searcher.search("tularemia coyote bite", 5)[0].title.startswith("First Pediatric Case of Tularemia")
    record(f"hostile_queries_{mode.replace(':', '_')}", {"queries": len(QUERIES) + len(EMPTY), "hits": found})


def test_cli_gives_results_or_a_one_line_error(library_home) -> None:  # noqa: ANN001 - Settings
    env = {"MEDEMBED_HOME": str(library_home.paths.home)}
    runner = CliRunner()
    for name, query in {**EMPTY, **QUERIES}.items():
        for mode in ("bm25", "hybrid"):
            result = runner.invoke(cli, ["-q", "search", "--mode", mode, "--", query], env=env)
            assert result.exception is None or isinstance(result.exception, SystemExit), (name, result.exception)
            assert "Traceback" not in result.output, (name, result.output)
            if name in EMPTY:
                assert result.exit_code == 1 and "Error: The query is empty" in result.output, (name, result.output)
            else:
                assert result.exit_code == 0, (name, result.output)


def test_ui_search_page_shows_results_or_a_message(library_home, tmp_path: Path,  # noqa: ANN001 - Settings
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.testing.v1 import AppTest

    home = tmp_path / "home"
    shutil.copytree(library_home.paths.home, home)
    monkeypatch.setenv("MEDEMBED_HOME", str(home))
    for key in ("MEDEMBED_CONFIG", "MEDEMBED_DATABASE_URL"):
        monkeypatch.delenv(key, raising=False)
    from streamlit import config as st_config

    previous = st_config.get_option("server.address")
    st_config.set_option("server.address", "127.0.0.1")  # as `medembed ui` serves: localhost, no accounts -> open
    try:
        _search_page_queries(AppTest.from_file(str(REPO / "ui" / "views" / "search.py"), default_timeout=120))
    finally:
        st_config.set_option("server.address", previous)


def _search_page_queries(at) -> None:  # noqa: ANN001 - an AppTest
    at.run()
    assert not at.exception and not at.error, ([e.value for e in at.exception], [e.value for e in at.error])
    # A lone surrogate cannot reach the server from a browser: its UTF-8 wire format has no way to carry one.
    sendable = {n: q for n, q in QUERIES.items() if n != "lone surrogate"}
    for name, query in {**sendable, "controls only": EMPTY["controls only"]}.items():
        # set_value, as a forged client would send it: input() stops at the box's max_chars as a browser does
        at.text_input(key="search_query").set_value(query).run()
        assert not at.exception, (name, [e.value for e in at.exception])
        shown = ([e.value for e in at.error] + [w.value for w in at.warning]
                 + [c.value for c in at.caption if " passages" in c.value or " papers" in c.value])
        assert shown, f"{name}: neither results nor a message"
        if name == "controls only":
            assert any("The query is empty" in str(v) for v in shown), shown

