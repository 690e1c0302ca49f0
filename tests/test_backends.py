"""The index backends side by side: the same evaluation on FAISS+bm25s and on embedded Qdrant, and Qdrant's own
index life cycle (atomic first build, crash recovery, BM25 weights kept exact as chunks come and go)."""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from indexer.index.build import build_indexes
from indexer.index.factory import open_backend
from indexer.index.qdrant.conn import client_for
from indexer.ingest import Ingestor
from medcore.config import Settings
from medcore.errors import ConfigError, IndexMismatchError, IndexNotFoundError
from medcore.models import resolve
from search_app.evaluation.runner import evaluate_dataset
from search_app.searcher import Searcher
from store import Store
from tests.conftest import TEST_DATA, suite_settings, with_backend
from tests.test_deploy import compose  # noqa: F401 - the docker-compose fixture
from tests.test_eval_runner import _mini_nfcorpus


def test_evaluation_agrees_across_backends(shared_data: Path, tmp_path: Path, minilm) -> None:
    """NFCorpus sample: Qdrant (vectors copied from the FAISS index of the same store) scores as FAISS does."""
    folder = _mini_nfcorpus(shared_data, tmp_path / "mini-nfcorpus", n_queries=30, n_docs=150)
    faiss = suite_settings().with_home(tmp_path / "home")
    qdrant = with_backend(faiss, "qdrant")
    scores = {}
    for settings in (faiss, qdrant):
        for retriever in ("bm25", "dense:minilm", "hybrid:minilm"):
            scores[settings.index.backend, retriever] = evaluate_dataset(folder, "test", retriever, settings).metrics
    for retriever in ("bm25", "dense:minilm", "hybrid:minilm"):
        a, b = scores["faiss", retriever], scores["qdrant", retriever]
        assert a["ndcg@10"] > 0.2, (retriever, a)
        assert abs(a["ndcg@10"] - b["ndcg@10"]) <= 0.005 and abs(a["recall@10"] - b["recall@10"]) <= 0.005, (
            retriever, a, b)


@pytest.fixture
def papers(tmp_path: Path) -> Settings:
    """A fresh home with the three committed papers stored (not indexed), on the qdrant backend."""
    settings = with_backend(suite_settings().with_home(tmp_path / "home"), "qdrant", bm25_avgdl_tolerance=0.0)
    Ingestor(Store.from_settings(settings), settings).ingest([TEST_DATA / "pdfs"])
    return settings


def test_a_crashed_first_build_leaves_no_index_and_the_next_sync_completes(papers: Settings, minilm,
                                                                           monkeypatch) -> None:
    store, backend = Store.from_settings(papers), open_backend(papers)
    client = client_for(papers)
    real_upsert, calls = client.upsert, []

    def crash_on_second_batch(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - passes through
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed mid-build")
        return real_upsert(*args, **kwargs)

    monkeypatch.setattr("indexer.index.qdrant.backend.STEP", 20)
    monkeypatch.setattr(client, "upsert", crash_on_second_batch)
    with pytest.raises(KeyboardInterrupt):
        build_indexes(store, papers, model="minilm", embedder=minilm, dense=False)
    assert not backend.has_index(None), "a half-written collection is never made live"
    with pytest.raises(IndexNotFoundError, match="documents but no search index yet: run `medembed index`"):
        Searcher.from_settings(papers, "bm25", store=store)
    monkeypatch.setattr(client, "upsert", real_upsert)
    report = build_indexes(store, papers, model="minilm", embedder=minilm)
    assert report.bm25_rebuilt and report.added == report.total == len(store.chunk_ids())
    names = [c.name for c in client.get_collections().collections]
    assert len(names) == 2, f"the orphan of the crashed build is removed: {names}"
    assert Searcher.from_settings(papers, "hybrid:minilm", store=store).search("coyote bite tularemia", 1)


def test_incremental_sync_keeps_bm25_scores_equal_to_the_faiss_backend(papers: Settings, shared_data: Path,
                                                                       minilm) -> None:
    faiss = with_backend(papers, "faiss")
    store = Store.from_settings(papers)
    for settings in (papers, faiss):
        build_indexes(store, settings, model="minilm", embedder=minilm)
    added = Ingestor(store, papers).ingest_file(shared_data / "pdfs" / "PMC4737045.pdf")
    store.delete_document(next(d.id for d, _ in store.documents() if d.pmcid != "PMC4737045"))
    generation = open_backend(papers).reader("bm25", None)
    generation.refresh()
    for settings in (papers, faiss):
        report = build_indexes(store, settings, model="minilm", embedder=minilm)
        assert report.added == added.n_chunks and report.removed > 0
    assert generation.refresh(), "readers see that the collection changed"
    query = "rapid diagnostic test for malaria in children with fever"
    engine = Searcher.from_settings(papers, "bm25", store=store).search(query, 10)
    local = Searcher.from_settings(faiss, "bm25", store=store).search(query, 10)
    assert [h.chunk_id for h in engine] == [h.chunk_id for h in local]
    assert [h.score for h in engine] == pytest.approx([h.score for h in local], rel=1e-5)


def test_a_collection_of_another_model_is_refused(tmp_path: Path, qdrant_home: Settings) -> None:
    settings = qdrant_home.with_home(tmp_path / "home")
    shutil.copytree(qdrant_home.paths.home, settings.paths.home, ignore=shutil.ignore_patterns(".lock"))
    backend = open_backend(settings)
    backend.client.update_collection(backend.live(resolve("minilm")), metadata={"model": "bge-small"})
    with pytest.raises(IndexMismatchError, match=re.escape("was built with model 'bge-small', not 'minilm'")):
        Searcher.from_settings(settings, "dense:minilm")
    with pytest.raises(IndexMismatchError, match="--rebuild"):
        build_indexes(Store.from_settings(settings), settings, model="minilm")


def test_backend_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match=re.escape("index.backend='solr' is not one of ['faiss', 'qdrant']")):
        Settings.from_dict({"index": {"backend": "solr"}})
    with pytest.raises(ConfigError, match="write_consistency between 1 and qdrant.replicas"):
        Settings.from_dict({"qdrant": {"replicas": 2, "write_consistency": 3}})
    env = {"MEDEMBED_INDEX_BACKEND": "qdrant", "MEDEMBED_QDRANT_URL": "http://qdrant:6333",
           "MEDEMBED_QDRANT_SHARDS": "6", "MEDEMBED_QDRANT_REPLICAS": "2"}
    settings = Settings.from_toml(environ=env)
    assert (settings.index.backend, settings.qdrant.url, settings.qdrant.shards, settings.qdrant.replicas) == (
        "qdrant", "http://qdrant:6333", 6, 2)
    assert replace(settings.qdrant, quantization="scalar").quantization == "scalar"


def test_compose_qdrant_profile_adds_the_engine_and_the_app_points_at_it(compose) -> None:  # noqa: ANN001, F811
    default = compose()["services"]
    assert default["app"]["environment"]["MEDEMBED_INDEX_BACKEND"] == "faiss"
    assert "qdrant" not in {name for name, s in default.items() if not s.get("profiles")}, "only with the profile"
    config = compose("--profile", "qdrant", MEDEMBED_INDEX_BACKEND="qdrant", MEDEMBED_QDRANT_URL="http://qdrant:6333")
    qdrant = config["services"]["qdrant"]
    assert qdrant["profiles"] == ["qdrant"] and qdrant["image"].startswith("qdrant/qdrant")
    assert "qdrant-storage" in config["volumes"]
    for service in ("app", "indexer"):
        env = config["services"][service]["environment"]
        assert (env["MEDEMBED_INDEX_BACKEND"], env["MEDEMBED_QDRANT_URL"]) == ("qdrant", "http://qdrant:6333")
