"""Atomic index versions, the writer lock and the FAISS wrapper."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from indexer.index.local.dense import DenseIndex
from indexer.index.versioned import current_version, new_version, read_manifest, writer_lock
from medcore.errors import IndexNotFoundError, LockedError


def test_a_new_version_replaces_the_old_only_when_complete(tmp_path: Path) -> None:
    root = tmp_path / "idx"
    with pytest.raises(IndexNotFoundError, match="build it with `medembed index`"):
        read_manifest(root)
    with new_version(root, {"n": 1}) as out:
        (out / "data").write_text("one")
    first = current_version(root)
    assert first is not None and (first / "data").read_text() == "one"

    with pytest.raises(RuntimeError), new_version(root, {"n": 2}) as out:
        (out / "data").write_text("half")
        raise RuntimeError("crash while writing")
    assert current_version(root) == first, "a failed build must leave the live index alone"
    assert [p.name for p in root.glob("v-*")] == [first.name], "the half-written folder is removed"

    with new_version(root, {"n": 3}) as out:
        (out / "data").write_text("three")
    version, manifest = read_manifest(root)
    assert manifest["n"] == 3 and "built_at" in manifest and (version / "data").read_text() == "three"
    assert json.loads((version / "manifest.json").read_text())["n"] == 3


def test_second_writer_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    with writer_lock(tmp_path):
        with pytest.raises(LockedError, match=re.escape("Another indexer (pid")), writer_lock(tmp_path):
            pass
    with writer_lock(tmp_path):  # released after use
        pass


def test_dense_index_add_search_remove_roundtrip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(50, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = DenseIndex(8)
    index.add(np.arange(100, 150), vectors)
    (run,) = index.search(vectors[3:4], k=5)
    assert next(iter(run)) == 103 and run[103] == pytest.approx(1.0, abs=1e-5)
    assert index.remove(np.array([103, 104])) == 2 and len(index) == 48
    index.save(tmp_path)
    loaded = DenseIndex.load(tmp_path, 8)
    (run,) = loaded.search(vectors[3:4], k=5)
    assert 103 not in run and len(run) == 5
    assert sorted(loaded.ids().tolist()) == [i for i in range(100, 150) if i not in (103, 104)]
    assert DenseIndex(8).search(vectors[:2], k=3) == [{}, {}]
