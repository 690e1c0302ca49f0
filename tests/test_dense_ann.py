"""The approximate dense index: used past the threshold, kept in step with adds and removes, saved and reloaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexer.index.local.ann import ANN_FILE, AnnConfig
from indexer.index.local.dense import DenseIndex


@pytest.fixture(autouse=True)
def _one_faiss_thread():
    """OpenMP threads spin-wait on a loaded 2-core box (minutes for a tiny HNSW build); one thread is enough here."""
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


def _clustered(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    """Unit vectors around 20 fixed centres (``seed`` draws other points): a structure like real embeddings'."""
    centres = np.random.default_rng(42).normal(size=(20, dim))
    rng = np.random.default_rng(seed)
    vectors = centres[rng.integers(0, 20, n)] + 0.3 * rng.normal(size=(n, dim))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def _recall(approx: list[dict[int, float]], exact: list[dict[int, float]]) -> float:
    return float(np.mean([len(a.keys() & e.keys()) / len(e) for a, e in zip(approx, exact, strict=True)]))


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_approximate_past_threshold_matches_exact(kind: str, tmp_path: Path) -> None:
    vectors = _clustered(3000)
    ids = np.arange(1000, 4000, dtype=np.int64)
    config = AnnConfig(kind=kind, threshold=500, nprobe=8, ef_search=64)
    index = DenseIndex(32, ann=config)
    exact = DenseIndex(32, ann=AnnConfig(kind="none"))
    for target in (index, exact):
        target.add(ids, vectors)
    queries = _clustered(50, seed=1)
    assert index.approximate and not exact.approximate
    got, want = index.search(queries, 10), exact.search(queries, 10)
    assert index.ann is not None and len(index.ann) == 3000
    assert _recall(got, want) >= 0.9
    for g, w in zip(got, want, strict=True):  # scores are exact inner products of the vectors found
        for chunk in g.keys() & w.keys():
            assert g[chunk] == pytest.approx(w[chunk], abs=1e-5)

    index.remove(ids[:5])  # a few removals: in place (IVF) or tombstones (HNSW), no rebuild
    assert not index._ann_stale and len(index.ann) == len(index) == 2995
    assert not set(index.search(queries, 100)[0]) & set(ids[:5].tolist())
    (tmp_path / "small").mkdir()
    index.save(tmp_path / "small")
    assert len(DenseIndex.load(tmp_path / "small", 32, ann=config).ann) == 2995

    index.remove(ids[:1000])
    index.add(np.array([99], dtype=np.int64), queries[:1])
    assert index.search(queries[:1], 1)[0] == {99: pytest.approx(1.0, abs=1e-5)}
    assert not set(index.search(queries, 50)[0]) & set(ids[:1000].tolist())

    index.save(tmp_path)  # (tmp_path / "small" above holds the earlier version)
    assert (tmp_path / ANN_FILE).is_file()
    loaded = DenseIndex.load(tmp_path, 32, ann=config)
    assert loaded.ann is not None and len(loaded.ann) == len(loaded) == 2001
    assert loaded.search(queries[:5], 10) == index.search(queries[:5], 10)


def test_exact_below_threshold_and_no_ann_file(tmp_path: Path) -> None:
    index = DenseIndex(32, ann=AnnConfig(kind="ivf", threshold=5000))
    index.add(np.arange(100, dtype=np.int64), _clustered(100))
    index.save(tmp_path)
    assert not index.approximate and index.ann is None
    assert not (tmp_path / ANN_FILE).exists()
    assert index.info()["approximate"] is None


def test_ivf_lists_auto() -> None:
    assert AnnConfig().lists_for(1_000_000) == 2048
    assert AnnConfig().lists_for(200_001) == 1024
    assert AnnConfig(nlist=77).lists_for(10) == 77
