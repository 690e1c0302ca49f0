"""The deployment files: docker-compose validates, the images install the way CI does, .env.example is current.

There is no Docker engine here: Debian's ``docker-compose`` (1.29, installed by scripts/setup.sh) checks the compose
files with ``docker-compose config``, and the Dockerfiles are read as text.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from medcore.config import Settings

REPO = Path(__file__).resolve().parents[1]
DOCKERFILES = ["Dockerfile", "Dockerfile.gpu"]
COMPOSE_FILES = ["docker-compose.yml", "docker-compose.gpu.yml"]


def _generator():
    spec = importlib.util.spec_from_file_location("gen_env_example", REPO / "scripts" / "gen_env_example.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_steps(dockerfile: Path) -> list[str]:
    """The shell of each RUN instruction, continuation lines joined."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text(encoding="utf-8"))
    return [line[4:].strip() for line in text.splitlines() if line.startswith("RUN ")]


# -- docker-compose ---------------------------------------------------------------------------------------------------
@pytest.fixture
def compose(tmp_path: Path):
    """Run ``docker-compose ARGS config`` on a copy of the compose files with .env.example as .env."""
    if shutil.which("docker-compose") is None:
        pytest.skip("needs Debian's docker-compose (apt-get install docker-compose; scripts/setup.sh does)")
    yaml = pytest.importorskip("yaml")
    for name in [*COMPOSE_FILES, *DOCKERFILES]:
        shutil.copy(REPO / name, tmp_path / name)
    shutil.copy(REPO / ".env.example", tmp_path / ".env")

    def config(*args: str, password: str | None = "s3cret", **extra: str) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "MEDEMBED_", "COMPOSE_"))}
        env |= extra | ({"POSTGRES_PASSWORD": password} if password is not None else {})
        done = subprocess.run(["docker-compose", *args, "config"], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=60)
        if done.returncode != 0:
            raise AssertionError(done.stderr)
        return yaml.safe_load(done.stdout)

    return config


def test_compose_file_validates_with_app_db_and_indexer(compose) -> None:  # noqa: ANN001
    services = compose()["services"]

    assert {name for name, s in services.items() if not s.get("profiles")} == {"app", "db", "indexer"}
    app, db, indexer = services["app"], services["db"], services["indexer"]
    assert app["command"][:4] == ["medembed", "ui", "--address", "0.0.0.0"]
    assert "/_stcore/health" in " ".join(app["healthcheck"]["test"])
    assert indexer["command"][:3] == ["medembed", "watch", "/data/inbox"]
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert any(v.startswith("pgdata:/var/lib/postgresql/data") for v in db["volumes"])
    for service in (app, indexer):
        assert service["depends_on"] == {"db": {"condition": "service_healthy"}}
        env = service["environment"]
        assert env["MEDEMBED_DATABASE_URL"] == "postgresql+psycopg://medembed:s3cret@db:5432/medembed"
        assert env["MEDEMBED_HOME"] == "/data/home"
        assert env["MEDEMBED_LLM_BASE_URL"] == "http://llm:8000/v1"
        assert service["build"]["dockerfile"] == "Dockerfile"
        assert any(v.startswith("medembed-home:/data/home") for v in service["volumes"])
        assert any(v.startswith("medembed-models:/data/models") for v in service["volumes"])
    assert any(v.endswith(":/data/inbox:rw") for v in indexer["volumes"])


def test_llm_profile_adds_vllm_serving_llama_and_the_model_is_configurable(compose) -> None:  # noqa: ANN001
    llm = compose("--profile", "llm")["services"]["llm"]
    assert llm["profiles"] == ["llm"]  # started only with --profile llm (or COMPOSE_PROFILES=llm)
    assert llm["image"].startswith("vllm/vllm-openai")
    assert llm["command"][:2] == ["--model", "meta-llama/Llama-3.1-70B-Instruct"]
    assert llm["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]

    config = compose("--profile", "llm", MEDEMBED_LLM_MODEL="Qwen/Qwen2.5-7B-Instruct")
    assert config["services"]["llm"]["command"][:2] == ["--model", "Qwen/Qwen2.5-7B-Instruct"]
    assert config["services"]["app"]["environment"]["MEDEMBED_LLM_MODEL"] == "Qwen/Qwen2.5-7B-Instruct"


def test_gpu_override_builds_the_cuda_image_for_app_and_indexer(compose) -> None:  # noqa: ANN001
    services = compose("-f", "docker-compose.yml", "-f", "docker-compose.gpu.yml")["services"]
    assert {name for name, s in services.items() if not s.get("profiles")} == {"app", "db", "indexer"}  # replaced
    for name in ("app", "indexer"):
        assert services[name]["build"]["dockerfile"] == "Dockerfile.gpu"
        assert services[name]["deploy"]["resources"]["reservations"]["devices"][0]["driver"] == "nvidia"
    assert services["indexer"]["command"][:3] == ["medembed", "watch", "/data/inbox"]


def test_compose_refuses_to_start_without_a_database_password(compose) -> None:  # noqa: ANN001
    with pytest.raises(AssertionError, match="set POSTGRES_PASSWORD in .env"):
        compose(password=None)


# -- the images install exactly as CI does ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", DOCKERFILES)
def test_dockerfile_installs_only_through_the_script_ci_runs(name: str) -> None:
    steps = run_steps(REPO / name)
    installs = [s for s in steps if "scripts/install.sh" in s]
    assert any("install.sh --torch-only" in s for s in installs)
    assert any(re.search(r'install\.sh -e "?\.', s) for s in installs)
    assert not any(re.search(r"pip3? install|python3? -m pip", s) for s in steps), "install through the script"
    text = (REPO / name).read_text(encoding="utf-8")
    assert re.search(r"^USER medembed$", text, re.M) and "useradd" in text  # not root
    assert re.search(r'^CMD \["medembed", "ui", "--address", "0.0.0.0"', text, re.M)
    assert "resolve('minilm')" in text  # the packaged MiniLM is checked inside the image
    # CI (.ci/run -> scripts/test.sh -> scripts/setup.sh) runs the same script.
    assert "scripts/test.sh" in (REPO / ".ci" / "run").read_text()
    assert "scripts/setup.sh" in (REPO / "scripts" / "test.sh").read_text()
    assert re.search(r"^bash scripts/install.sh ", (REPO / "scripts" / "setup.sh").read_text(), re.M)


def test_gpu_image_uses_cuda_torch_and_faiss_gpu() -> None:
    text = (REPO / "Dockerfile.gpu").read_text(encoding="utf-8")
    assert re.search(r"^FROM nvidia/cuda:", text, re.M) and "MEDEMBED_GPU=1" in text
    assert any('install.sh -e ".[gpu]"' in s for s in run_steps(REPO / "Dockerfile.gpu"))
    assert "faiss-gpu" in (REPO / "scripts" / "install.sh").read_text()


def test_install_script_keeps_a_matching_torch(tmp_path: Path) -> None:
    """``--torch-only`` with torch 2.13.0 already there installs nothing (and the script runs under set -eu)."""
    done = subprocess.run(["bash", str(REPO / "scripts" / "install.sh"), "--torch-only"], capture_output=True,
                          text=True, timeout=120,
                          env=os.environ | {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
                                            "PIP_NO_INDEX": "1"})
    assert done.returncode == 0, done.stderr


def test_docker_context_keeps_models_and_leaves_out_local_state() -> None:
    ignored = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    assert {".venv", "medembed-data", ".git", ".env"} <= set(ignored)
    assert not any(p.strip("/").startswith("models") for p in ignored)


# -- .env.example -----------------------------------------------------------------------------------------------------
def test_env_example_is_generated_from_the_settings() -> None:
    gen = _generator()
    assert (REPO / ".env.example").read_text(encoding="utf-8") == gen.render(), (
        ".env.example is out of date: run python scripts/gen_env_example.py")


def test_env_example_lists_every_setting_with_a_default_that_loads() -> None:
    gen = _generator()
    text = (REPO / ".env.example").read_text(encoding="utf-8")
    settings_lines = text.split("# -- MedEmbed settings", 1)[1]
    listed = dict(re.findall(r"^# (MEDEMBED_[A-Z0-9_]+)=(.*)$", settings_lines, re.M))
    assert set(listed) == {name for _, name, _, _ in gen.settings_keys()}
    assert len(listed) == sum(len(s) for s in Settings().to_dict().values())
    # every default, as written, parses back; a default that depends on the CPU is written as one value
    machine = {name: listed[name] for name in gen.MACHINE_DEPENDENT}
    assert Settings.from_toml(None, environ=listed) == Settings.from_toml(None, environ=machine)


def test_compose_variables_are_not_mistaken_for_settings() -> None:
    """``${MEDEMBED_PORT}`` and friends configure compose; the Settings loader must ignore them."""
    text = "".join((REPO / name).read_text() for name in COMPOSE_FILES)
    names = set(re.findall(r"\$\{(MEDEMBED_[A-Z0-9_]+)", text))
    settings_keys = {name for _, name, _, _ in _generator().settings_keys()}
    assert {"MEDEMBED_PORT", "MEDEMBED_INBOX", "MEDEMBED_LLM_MODEL"} <= names
    for name in names - settings_keys:
        assert Settings.from_toml(None, environ={name: "x"}) == Settings(), name


def test_the_app_is_published_on_localhost_only_unless_told(compose) -> None:  # noqa: ANN001
    def published(**env: str) -> str:
        [port] = compose(**env)["services"]["app"]["ports"]  # "HOST_IP:PORT:TARGET/tcp", or the long form
        if isinstance(port, str):
            return port.removesuffix("/tcp")
        return f"{port.get('host_ip', '0.0.0.0')}:{port['published']}:{port['target']}"

    assert published() == "127.0.0.1:8501:8501"
    assert published(MEDEMBED_BIND="0.0.0.0", MEDEMBED_PORT="8080") == "0.0.0.0:8080:8501"


def test_installing_raises_no_setuptools_deprecation_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    """`pip install -e .` warned "`project.license` as a TOML table is deprecated": the licence is an SPDX string."""
    import warnings

    from setuptools.config.pyprojecttoml import apply_configuration
    from setuptools.dist import Distribution

    monkeypatch.chdir(REPO)  # pyproject.toml names README.md relative to itself
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dist = apply_configuration(Distribution(), str(REPO / "pyproject.toml"))
    assert [str(w.message).splitlines()[0] for w in caught] == []
    assert dist.metadata.license_expression == "Apache-2.0"


def test_the_documented_proxy_configurations_forbid_framing() -> None:
    """Both proxy examples in docs/deploy.md send ``frame-ancestors 'none'`` (and X-Frame-Options for old browsers):
    Streamlit's pages set neither, so another site could otherwise frame the signed-in app (clickjacking)."""
    text = (REPO / "docs" / "deploy.md").read_text(encoding="utf-8")
    caddy = re.search(r"Caddy \(automatic certificates\):\n\n```\n(.*?)```", text, re.DOTALL).group(1)
    nginx = re.search(r"```nginx\n(.*?)```", text, re.DOTALL).group(1)
    assert re.search(r"""header Content-Security-Policy "frame-ancestors 'none'\"""", caddy), caddy
    assert re.search(r"""add_header Content-Security-Policy "frame-ancestors 'none'" always;""", nginx), nginx
    assert 'X-Frame-Options "DENY"' in caddy and 'X-Frame-Options "DENY" always;' in nginx
