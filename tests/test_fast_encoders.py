"""The ONNX Runtime / OpenVINO encoders give torch's vectors, and an index past the ANN threshold keeps working
through incremental adds and deletions in its version folders (real MiniLM, real PDFs, real SQLite store)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from indexer.encode.embedder import Embedder
from indexer.index.build import build_indexes
from indexer.index.layout import dense_dir
from indexer.index.local.ann import ANN_FILE
from indexer.ingest import Ingestor
from medcore.config import Settings
from medcore.models import resolve
from search_app.searcher import Searcher
from store import Store
from tests.conftest import suite_settings

TEST_PDFS = Path(__file__).resolve().parent / "data" / "pdfs"
TEXTS = ["Vitamin D supplementation and the risk of multiple sclerosis relapse in adults.",
         "Statin-associated muscle symptoms: a randomised trial of rechallenge in 200 patients with myalgia. " * 6]


@pytest.mark.parametrize(("kind", "min_cos"), [("onnx", 0.99999), ("openvino", 0.99999), ("openvino-bf16", 0.9995),
                                               ("onnx-int8", 0.97)])
def test_fast_encoder_vectors_match_torch(kind: str, min_cos: float, minilm: Embedder) -> None:
    settings = Settings.from_dict({"index": {"encoder": kind, "query_encoder": kind}})
    fast = Embedder.load("minilm", settings)
    torch_only = Embedder(minilm.spec, minilm.model)
    assert fast.encoder_name == kind and torch_only.encoder_name == "torch"
    for a, b in ((fast.encode_passages(TEXTS), torch_only.encode_passages(TEXTS)),
                 (fast.encode_queries(TEXTS[:1]), torch_only.encode_queries(TEXTS[:1]))):
        assert a.shape == b.shape and a.dtype == np.float32
        assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-3)
        assert (a * b).sum(1).min() >= min_cos
    assert fast.passage_encoder is not None and fast.passage_encoder.path.is_file()  # the cached local export


def test_index_past_the_ann_threshold_syncs_and_searches(tmp_path: Path, minilm: Embedder) -> None:
    base = suite_settings().with_home(tmp_path / "home")
    settings = replace(base, index=replace(base.index, ann="hnsw", ann_threshold=10))
    store = Store.from_settings(settings)
    try:
        results = Ingestor(store, settings).ingest([TEST_PDFS]).results
        build_indexes(store, settings, embedder=minilm)
        root = dense_dir(settings, resolve("minilm"))
        version = root / (root / "CURRENT").read_text().strip()
        manifest = json.loads((version / "manifest.json").read_text())
        assert manifest["search"]["approximate"]["kind"] == "hnsw" and (version / ANN_FILE).is_file()
        assert manifest["encoder"] == minilm.encoder_name
        exact = Searcher.from_settings(replace(settings, index=replace(settings.index, ann="none")), "dense:minilm",
                                       store=store)
        approx = Searcher.from_settings(settings, "dense:minilm", store=store)
        assert approx.index.dense.approximate and not exact.index.dense.approximate
        query = "rapid diagnostic test for malaria"
        assert [h.chunk_id for h in approx.search(query, 5)] == [h.chunk_id for h in exact.search(query, 5)]

        gone = results[0].doc_id
        store.delete_document(gone)
        assert build_indexes(store, settings, embedder=minilm).removed == results[0].n_chunks
        assert approx.refresh()
        assert len(approx.index.dense.ann) == len(approx.index.dense) == store.counts()[1]
        assert all(h.doc_id != gone for h in approx.search(query, 20))
    finally:
        store.close()
