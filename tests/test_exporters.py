"""Export formats come from one registry: a format registered there alone is offered by the CLI and the app."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import pytest
from click.testing import CliRunner

from cli.main import cli
from library import reading_list
from medcore.types import Document
from search_app import exporters
from store import Store
from tests.test_reading_list import ANN, _library


def _toy(docs: Sequence[Document], notes: Mapping[int, str] | None = None) -> str:
    return "".join(f"TOY {d.pmcid} {(notes or {}).get(d.id, '-')}\n" for d in docs)


@pytest.fixture
def toy() -> Iterator[exporters.Exporter]:
    exporter = exporters.register_exporter(exporters.Exporter("toy", "Toy", "toy", "text/plain", _toy))
    yield exporter
    del exporters.EXPORTERS["toy"]


def test_a_format_registered_alone_is_offered_by_the_cli_and_the_app(toy, tmp_path, monkeypatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("MEDEMBED_HOME", str(home))
    home.mkdir()
    store = Store(f"sqlite:///{home / 'medembed.db'}")
    first, _ = _library(store)
    assert reading_list.add(store, ANN, first) and reading_list.note(store, ANN, first, "journal club")
    out = CliRunner().invoke(cli, ["reading-list", "show", "--user", "ann", "--export", "toy"])
    assert out.exit_code == 0, out.output
    assert out.output == "TOY PMC1000 journal club\n"
    assert "toy" in CliRunner().invoke(cli, ["search", "--help"]).output
    assert [e.name for e in exporters.downloads()] == ["ris", "bibtex", "csv", "toy"]  # the app's buttons
    store.close()


def test_an_unknown_format_is_refused_naming_the_registered_ones() -> None:
    out = CliRunner().invoke(cli, ["reading-list", "show", "--export", "toy"])
    assert out.exit_code == 2 and "'ris', 'bibtex', 'csv', 'vancouver', 'json'" in out.output
