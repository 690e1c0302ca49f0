from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from medcore import models
from medcore.config import Settings
from medcore.errors import ConfigError


def test_defaults_and_store_url(tmp_path: Path) -> None:
    s = Settings().with_home(tmp_path)
    assert s.search.rrf_k == 60 and s.search.per_doc_cap == 2
    # our shipped model's card records its win over MiniLM on the breadth dev set, so it is the default
    assert s.index.model == "medembed-small" and (s.search.fusion, s.search.alpha) == ("convex", 0.6)
    assert "breadth dev set" in models.default_model_choice()[1]
    assert s.paths.store_url == f"sqlite:///{(tmp_path / 'medembed.db').resolve()}"


def test_default_model_falls_back_to_minilm_without_ours(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models, "REPO_MODELS_DIR", tmp_path)
    models.default_model_choice.cache_clear()  # read once per process: another test may have read ours already
    models.default_rerank_choice.cache_clear()  # Settings() reads it too, here from the empty folder
    try:
        assert Settings().index.model == "minilm"
    finally:
        models.default_model_choice.cache_clear()
        models.default_rerank_choice.cache_clear()


def test_toml_then_environment_overrides(tmp_path: Path) -> None:
    path = tmp_path / "medembed.toml"
    path.write_text('[search]\nrrf_k = 30\nfusion = "convex"\n[paths]\nhome = "/data/x"\n')
    env = {"MEDEMBED_SEARCH_ALPHA": "0.3", "MEDEMBED_DATABASE_URL": "postgresql+psycopg://db/medembed",
           "MEDEMBED_MODELS_ALLOW_DOWNLOAD": "yes", "UNRELATED": "1"}
    s = Settings.from_toml(path, environ=env)
    assert (s.search.rrf_k, s.search.fusion, s.search.alpha) == (30, "convex", 0.3)
    assert s.paths.home == Path("/data/x") and s.paths.store_url == "postgresql+psycopg://db/medembed"
    assert s.models.allow_download is True


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"serch": {}}, "Unknown settings section [serch]"),
        ({"search": {"rrf": 3}}, "Unknown key(s) ['rrf'] in [search]"),
        ({"search": {"fusion": "max"}}, "search.fusion='max' is not one of ['rrf', 'convex']."),
        ({"search": {"alpha": "high"}}, "search.alpha='high' is not a valid float."),
        ({"search": {"alpha": 2}}, "search.alpha=2.0 must be between 0 and 1."),
        ({"chunking": {"overlap_tokens": 150}}, "chunking.overlap_tokens=150 must be >= 0"),
    ],
)
def test_bad_settings_say_what_is_wrong(data: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        Settings.from_dict(data)


def test_bad_env_value_is_an_error() -> None:
    with pytest.raises(ConfigError, match=re.escape("index.batch_size='many' is not a valid int.")):
        Settings.from_toml(None, environ={"MEDEMBED_INDEX_BATCH_SIZE": "many"})


def test_settings_output_masks_every_secret() -> None:
    """to_dict() feeds the Settings page, the logs and settings.json beside trained models: no password, token or key
    of any URL or secret-named field may be in it."""
    environ = {
        "MEDEMBED_DATABASE_URL": "postgresql+psycopg://db:5432/medembed?user=medembed&password=db-s3cret",
        "MEDEMBED_LLM_BASE_URL": "https://llm-user:llm-s3cret@llm.example/v1?api_key=llm-k3y",
        "MEDEMBED_QDRANT_URL": "https://qd-t0ken@qdrant.example:6333",
    }
    settings = Settings.from_toml(None, environ=environ)
    shown = json.dumps(settings.to_dict())
    for secret in ("db-s3cret", "llm-s3cret", "llm-k3y", "qd-t0ken"):
        assert secret not in shown, secret
    data = settings.to_dict()
    assert data["paths"]["database_url"] == "postgresql+psycopg://db:5432/medembed?user=medembed&password=***"
    assert data["llm"]["base_url"] == "https://llm-user:***@llm.example/v1?api_key=***"
    assert data["qdrant"]["url"] == "https://***@qdrant.example:6333"
    assert data["llm"]["api_key_env"] == settings.llm.api_key_env, "the name of a variable is not a secret"
    from medcore.config import redact_secrets

    assert redact_secrets({"client_secret": "x", "oidc": {"password": "y", "tokenizer": "bert"}}) == {
        "client_secret": "***", "oidc": {"password": "***", "tokenizer": "bert"}}


def test_a_misspelt_medembed_variable_is_an_error_naming_it() -> None:
    with pytest.raises(ConfigError, match=re.escape("MEDEMBED_SERCH_MODE (did you mean MEDEMBED_SEARCH_MODE?)")):
        Settings.from_toml(None, environ={"MEDEMBED_SERCH_MODE": "bm25"})
    with pytest.raises(ConfigError, match="MEDEMBED_NONSENSE"):
        Settings.from_toml(None, environ={"MEDEMBED_NONSENSE": "1", "MEDEMBED_SEARCH_MODE": "bm25"})
    # not settings, yet known: the deployment's and the tests' variables, and the secret a *_env setting names
    fine = {"MEDEMBED_PORT": "8501", "MEDEMBED_COOKIE_SECRET": "x" * 32, "MEDEMBED_SEARCH_MODE": "bm25",
            "MEDEMBED_AUTH_COOKIE_SECRET_ENV": "MEDEMBED_SESSION_KEY", "MEDEMBED_SESSION_KEY": "k" * 32}
    assert Settings.from_toml(None, environ=fine).search.mode == "bm25"
