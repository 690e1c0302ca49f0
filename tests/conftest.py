"""Shared fixtures: benchmark data beside the repo, a real PostgreSQL database, the real packaged model."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from medcore.config import Settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The suite's libraries are indexed with the packaged MiniLM, and its ranking expectations were written for RRF; the
# product's defaults (our model where it is shipped, convex fusion at 0.7) are tested in test_config. Set in the
# environment so that the CLI, the UI and worker processes the tests start see the same.
# the reranker is off in the suite (a few hundred ms per search); its tests ask for it by name (+rerank)
SUITE_ENV = {"MEDEMBED_INDEX_MODEL": "minilm", "MEDEMBED_SEARCH_FUSION": "rrf", "MEDEMBED_SEARCH_ALPHA": "0.5",
             "MEDEMBED_SEARCH_RERANK": "false"}
os.environ.update(SUITE_ENV)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
TEST_DATA = Path(__file__).resolve().parent / "data"
PG_ADMIN_URL = os.environ.get("MEDEMBED_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("needs ../shared/data (benchmark data beside the repo)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    """The admin URL of the local PostgreSQL server, or skip when none answers."""
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"needs PostgreSQL on 127.0.0.1:5432 ({type(exc).__name__})")
    finally:
        engine.dispose()
    return PG_ADMIN_URL


@pytest.fixture
def pg_url(pg_server_url: str):
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    from sqlalchemy import create_engine, text

    name = f"medembed_test_{secrets.token_hex(4)}"
    admin = create_engine(pg_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield pg_server_url.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("pg_url")


def suite_settings() -> Settings:
    """The defaults with the suite's model and fusion (:data:`SUITE_ENV`)."""
    return Settings.from_toml(None, environ=SUITE_ENV)


def reloaded(settings: Settings, monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    """``settings``'s data home loaded again as a process would, with ``MEDEMBED_<KEY>`` set for each keyword (e.g.
    ``SEARCH_EXPAND_DRUG_NAMES="false"``); the variables stay set for the rest of the test (a CLI run sees them)."""
    monkeypatch.setenv("MEDEMBED_HOME", str(settings.paths.home))
    for key, value in env.items():
        monkeypatch.setenv(f"MEDEMBED_{key}", value)
    return Settings.load()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return suite_settings().with_home(tmp_path / "home")


@pytest.fixture(scope="session")
def minilm():
    """The real packaged all-MiniLM-L6-v2, loaded once per session."""
    from indexer.encode.embedder import Embedder

    return Embedder.load("minilm")


def make_bad_pdfs(folder: Path) -> list[Path]:
    """A corrupt (truncated), an encrypted, an empty and a non-PDF file, made from a committed real PDF."""
    import pymupdf

    folder.mkdir(parents=True, exist_ok=True)
    real = TEST_DATA / "pdfs" / "PMC4736312.pdf"
    truncated = folder / "truncated.pdf"
    truncated.write_bytes(real.read_bytes()[:20_000])
    encrypted = folder / "encrypted.pdf"
    with pymupdf.open(real) as doc:
        doc.save(encrypted, encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="secret", owner_pw="owner")
    empty = folder / "empty.pdf"
    empty.write_bytes(b"")
    fake = folder / "notes.pdf"
    fake.write_text("these are my notes, not a PDF\n")
    return [truncated, encrypted, empty, fake]


@pytest.fixture(scope="session")
def library_home(tmp_path_factory: pytest.TempPathFactory, minilm):
    """A data home with the three committed PDFs ingested and indexed with the real MiniLM (built once)."""
    from indexer.index.build import build_indexes
    from indexer.ingest import Ingestor
    from store import Store

    settings = suite_settings().with_home(tmp_path_factory.mktemp("library"))
    store = Store.from_settings(settings)
    report = Ingestor(store, settings).ingest([TEST_DATA / "pdfs"])
    assert report.count("added") == 3, report.results
    build_indexes(store, settings, model="minilm", embedder=minilm)
    return settings


@pytest.fixture(scope="session")
def seventeen_home(tmp_path_factory: pytest.TempPathFactory, shared_data: Path, minilm) -> Settings:
    """A data home with the 17 PDFs of ../shared/data/pdfs ingested and indexed with the real MiniLM (built once)."""
    from indexer.index.build import build_indexes
    from indexer.ingest import Ingestor
    from store import Store

    settings = suite_settings().with_home(tmp_path_factory.mktemp("seventeen"))
    store = Store.from_settings(settings)
    Ingestor(store, settings).ingest([shared_data / "pdfs"])
    build_indexes(store, settings, embedder=minilm)
    return settings


BACKENDS = ("faiss", "qdrant")


def with_backend(settings: Settings, backend: str, **qdrant) -> Settings:
    """``settings`` on another index backend (``faiss`` or ``qdrant``; qdrant in embedded local mode)."""
    from dataclasses import replace

    return replace(settings, index=replace(settings.index, backend=backend),
                   qdrant=replace(settings.qdrant, **qdrant))


@pytest.fixture(scope="session")
def qdrant_home(tmp_path_factory: pytest.TempPathFactory, library_home: Settings, minilm) -> Settings:
    """``library_home``'s store (copied, without its FAISS indexes) indexed in embedded Qdrant, encoding anew."""
    import shutil

    from indexer.index.build import build_indexes
    from store import Store

    home = tmp_path_factory.mktemp("library-qdrant")
    shutil.copytree(library_home.paths.home, home, dirs_exist_ok=True, ignore=shutil.ignore_patterns("indexes"))
    settings = with_backend(library_home.with_home(home), "qdrant", reuse_local_vectors=False)
    build_indexes(Store.from_settings(settings), settings, model="minilm", embedder=minilm)
    return settings


@pytest.fixture(params=BACKENDS)
def search_home(request: pytest.FixtureRequest) -> Settings:
    """The indexed three-paper library on each index backend in turn (for tests that must hold on both)."""
    return request.getfixturevalue("library_home" if request.param == "faiss" else "qdrant_home")


# -- what a green CI means ------------------------------------------------------------------------------------------
# CI (CI=true) installs everything the suite uses: PostgreSQL, Chromium, docker-compose, the test LLM and
# ../shared/data beside the clone. A skip there means a part silently did not run, so under CI a skip is a failure
# that quotes the skip's reason. Outside CI, tests that need a missing service or tool still skip with that reason.
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that talk to the real test LLM carry the ``llm`` marker, so the quick tier can leave them out."""
    for item in items:
        if "llm_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.llm)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):  # noqa: ANN201 - hook wrapper
    outcome = yield
    report = outcome.get_result()
    if report.failed and (server := getattr(item, "funcargs", {}).get("llm_server")) is not None:
        if (death := server.death()) is not None:
            report.sections.append(("test LLM server died", death))
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = (f"Skipped under CI=true, where every service and tool the suite needs is installed by "
                           f"scripts/test.sh: {reason}")


# -- the demo library -------------------------------------------------------------------------------------------------
DEMO_SCRIPT = REPO / "scripts" / "demo.sh"


def product_env(home: Path) -> dict[str, str]:
    """The environment a new user's commands run in: no MEDEMBED_* setting but the data home (so the product's
    defaults, not :data:`SUITE_ENV`), offline, this checkout's code first on the import path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDEMBED_")}
    path = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env | {"MEDEMBED_HOME": str(home), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                  "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": path}


def demo_commands() -> list[list[str]]:
    """The ``medembed`` commands scripts/demo.sh runs to build the demo library (all but the final ``exec ...
    ui``), as argument lists without ``medembed``; a shell ``||`` tail is dropped."""
    import shlex

    commands = []
    for line in DEMO_SCRIPT.read_text(encoding="utf-8").splitlines():
        words = shlex.split(line, comments=True)
        if words[:1] == ["medembed"]:
            commands.append(words[1 : words.index("||") if "||" in words else None])
    return commands


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo library as scripts/demo.sh builds it (the 8 papers of samples/pdfs, indexed with MiniLM and the
    default model), with the product's defaults; built once. Tests that change it work on a copy."""
    import subprocess
    import sys

    home = tmp_path_factory.mktemp("demo") / "medembed-data"
    for args in demo_commands():
        done = subprocess.run([sys.executable, "-m", "cli", "-q", *args], cwd=REPO, env=product_env(home),
                              capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"demo.sh step `medembed {' '.join(args)}` failed:\n{done.stderr[-3000:]}"
    return home
