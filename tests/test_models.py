"""The model registry: names, prefixes, offline loading, and clear errors for what cannot be loaded."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from indexer.encode.embedder import Embedder
from medcore.config import Settings
from medcore.errors import ModelUnavailableError
from medcore.models import BGE_QUERY_INSTRUCTION, registry, resolve


def test_registry_names_and_query_instructions() -> None:
    specs = registry()
    assert {"minilm", "medembed-small", "bge-small", "bge-base", "bge-large", "medembed-small-v0.1",
            "medembed-base-v0.1", "medembed-large-v0.1"} <= set(specs)
    assert specs["bge-base"].hub_id == "BAAI/bge-base-en-v1.5"
    assert specs["bge-small"].query_prefix == BGE_QUERY_INSTRUCTION == (
        "Represent this sentence for searching relevant passages: ")
    assert specs["minilm"].query_prefix == "" and specs["minilm"].local_path.is_dir()
    assert resolve("BAAI/bge-large-en-v1.5").query_prefix == BGE_QUERY_INSTRUCTION, "hub ids keep registry prefixes"
    assert resolve("someone/other-model").hub_id == "someone/other-model"


def test_the_packaged_minilm_embeds_offline(minilm: Embedder) -> None:
    vectors = minilm.encode_passages(["Metformin lowers blood glucose.", "Aspirin inhibits platelets."])
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    query = minilm.encode_queries(["diabetes drug"])
    assert float(query[0] @ vectors[0]) > float(query[0] @ vectors[1])


def test_a_local_folder_loads_by_path(minilm: Embedder) -> None:
    path = str(registry()["minilm"].local_path)
    assert resolve(path).local_path == Path(path).resolve()
    assert Embedder.load(path).dimension == 384


@pytest.mark.parametrize("name", ["bge-small", "medembed-base-v0.1", "someone/not-cached"])
def test_hub_models_not_cached_fail_at_once_with_instructions(name: str, tmp_path: Path) -> None:
    settings = Settings.from_dict({"models": {"cache_dir": str(tmp_path)}})
    with pytest.raises(ModelUnavailableError, match=re.escape(f"Model '{name}' is not available")) as info:
        Embedder.load(name, settings)
    assert "MEDEMBED_MODELS_ALLOW_DOWNLOAD=1" in str(info.value) and "--model /path/to/" in str(info.value)


def test_missing_fine_tune_says_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("medcore.models.REPO_MODELS_DIR", tmp_path)
    with pytest.raises(ModelUnavailableError, match=re.escape("Model 'medembed-small' is not available: no model")):
        Embedder.load("medembed-small")


def test_our_shipped_model_is_a_minilm_fine_tune() -> None:
    import json

    from medcore.models import OUR_MODEL, REPO_MODELS_DIR

    folder = REPO_MODELS_DIR / OUR_MODEL
    weights = folder / "model.safetensors"
    assert weights.is_file() and weights.stat().st_size < 50_000_000, "shipped in fp16, under 50 MB"
    info = json.loads((folder / "medembed.json").read_text())
    assert info["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert "MiniLM" in (folder / "README.md").read_text() and "MiniLM" in registry()[OUR_MODEL].description
    model = Embedder.load(OUR_MODEL)
    vectors = model.encode_passages(["Metformin lowers blood glucose.", "Aspirin inhibits platelets."])
    query = model.encode_queries(["diabetes drug"])
    assert vectors.shape == (2, 384) and float(query[0] @ vectors[0]) > float(query[0] @ vectors[1])


@pytest.mark.parametrize(("ours", "base", "expected"), [(0.61, 0.58, "medembed-small"), (0.55, 0.58, "minilm"),
                                                        (0.6, None, "minilm")])
def test_our_model_is_the_default_only_where_its_card_shows_it_beat_minilm(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ours: float, base: float | None, expected: str) -> None:
    import json

    from medcore.models import default_model_choice, default_rerank_choice

    folder = tmp_path / "medembed-small"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    candidates = [{"weights": "0.5,0.5", "scores": {"ndcg@10": ours}}]
    if base is not None:
        candidates.append({"weights": "minilm alone", "scores": {"ndcg@10": base}})
    (folder / "medembed.json").write_text(json.dumps({"merge": {
        "chosen": "0.5,0.5", "metric": "ndcg@10", "candidates": candidates, "dev_set": "300 queries (nfcorpus 50)"}}))
    monkeypatch.setattr("medcore.models.REPO_MODELS_DIR", tmp_path)
    default_model_choice.cache_clear()
    default_rerank_choice.cache_clear()  # Settings() reads it too, here from a folder without the reranker
    try:
        name, why = default_model_choice()
        assert name == expected and Settings().index.model == expected
        assert ("0.580" in why and "breadth dev set" in why) if base is not None else "no comparison" in why
    finally:
        default_model_choice.cache_clear()
        default_rerank_choice.cache_clear()


@pytest.mark.parametrize(("shipped", "bf16", "expected"), [(True, True, True), (True, False, False),
                                                          (False, True, False)])
def test_the_reranker_is_on_by_default_only_where_it_is_shipped_and_the_cpu_computes_bf16(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shipped: bool, bf16: bool, expected: bool) -> None:
    from medcore.models import OUR_RERANKER, default_rerank_choice

    if shipped:
        (tmp_path / OUR_RERANKER).mkdir()
        (tmp_path / OUR_RERANKER / "config.json").write_text("{}")
    monkeypatch.setattr("medcore.models.REPO_MODELS_DIR", tmp_path)
    monkeypatch.setattr("medcore.cpu.native_bf16", lambda: bf16)
    monkeypatch.delenv("MEDEMBED_SEARCH_RERANK", raising=False)  # the suite turns it off; this test reads the default
    default_rerank_choice.cache_clear()
    try:
        on, why = default_rerank_choice()
        assert on is expected and Settings.load().search.rerank is expected
        assert ("not shipped" in why) if not shipped else ("bf16" in why and "search.rerank" in why)
    finally:
        default_rerank_choice.cache_clear()
