"""The ``qdrant`` backend: BM25 (sparse vectors, IDF applied by the engine) and dense vectors in Qdrant.

Collections (per store; ``<key>`` is a hash of the store URL, so eval stores and the library never mix on a shared
server or ``qdrant.path``; in the default local-mode folder ``<home>/qdrant``, one per store, there is no key):

- ``<prefix>-<key>-bm25``: the ``bm25`` sparse vector only (the ``bm25`` retriever);
- ``<prefix>-<key>-<model>``: ``bm25`` and ``dense`` (that model's vectors), so hybrid search is one Query API
  call fused by the engine (RRF).

Each name is an alias of a physical collection ``<alias>-<stamp>``. A first build, ``--rebuild`` or changed BM25
settings write a new physical collection and switch the alias atomically (readers see the old or the new one;
a crash leaves an orphan, removed by the next sync). Incremental syncs upsert new chunks and delete removed ones
in place; ids are diffed against the store on every sync, so a crashed sync is completed by the next one.

Payload per point: ``dl`` (BM25 length), ``collection``, ``journal``, ``year`` (filtered in the engine).
Collection metadata: the settings it was built with, the ``avgdl`` its BM25 weights use, and a ``generation``
bumped by every change (what :meth:`QdrantReader.refresh` watches).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

from indexer.index.backend import SyncResult
from indexer.index.layout import chunk_texts
from indexer.index.qdrant.conn import QdrantCollections, models
from indexer.index.qdrant.reader import QdrantReader
from indexer.index.qdrant.sparse import analyse, doc_weights
from indexer.index.qdrant.vector_reuse import local_vectors
from medcore.errors import IndexMismatchError
from medcore.models import weights_digest
from medcore.progress import show_progress

if TYPE_CHECKING:
    from indexer.encode.embedder import Embedder
    from medcore.models import ModelSpec
    from medcore.types import Mode
    from store import Store

logger = logging.getLogger(__name__)

STEP = 2048  # chunks per embedding and upsert batch


class QdrantBackend(QdrantCollections):
    """BM25 + dense search in Qdrant: embedded local mode (``qdrant.url`` unset) or a server/cluster."""

    name = "qdrant"

    def has_index(self, spec: ModelSpec | None) -> bool:
        return self.live(spec) is not None

    def reader(self, mode: Mode, spec: ModelSpec | None) -> QdrantReader:
        return QdrantReader(self, mode, spec)

    # -- writing -------------------------------------------------------------------------------------------
    def sync(self, store: Store, store_ids: np.ndarray, spec: ModelSpec | None, rebuild: bool,
             show_progress_bar: bool | None, embedder: Embedder | None) -> SyncResult:
        bm25_changed, *_ = self._sync(store, store_ids, None, rebuild, show_progress_bar, None)
        if spec is None:
            return SyncResult(bm25_changed)
        _, added, removed, total = self._sync(store, store_ids, spec, rebuild, show_progress_bar, embedder)
        return SyncResult(bm25_changed, added, removed, total)

    def _params(self, spec: ModelSpec | None) -> dict[str, Any]:
        ix = self.settings.index
        return {"kind": "bm25" if spec is None else "dense", "model": None if spec is None else spec.name,
                "weights": None if spec is None else weights_digest(spec),  # retrained: re-embed everything
                "k1": ix.bm25_k1, "b": ix.bm25_b, "title_in_text": ix.title_in_text}

    def _sync(self, store: Store, store_ids: np.ndarray, spec: ModelSpec | None, rebuild: bool,
              show_progress_bar: bool | None, embedder: Embedder | None) -> tuple[bool, int, int, int]:
        """``(changed, added, removed, total)`` for one collection."""
        live = self.live(spec)
        meta = self._meta(live) if live else {}
        if live and spec is not None and meta.get("model") != spec.name:
            raise IndexMismatchError(
                f"Qdrant collection {live} was built with model '{meta.get('model')}', not '{spec.name}'; "
                f"rebuild it: medembed index --model {spec.name} --rebuild."
            )
        params = self._params(spec)
        fresh = live is None or rebuild or any(meta.get(k) != v for k, v in params.items())
        lengths = {} if fresh else self._lengths(live)
        have = np.fromiter(lengths, dtype=np.int64, count=len(lengths))
        new_ids = np.setdiff1d(store_ids, have)
        gone_ids = np.setdiff1d(have, store_ids)
        if not fresh and len(new_ids) == 0 and len(gone_ids) == 0:
            return False, 0, 0, len(have)
        if spec is not None and embedder is None:
            from indexer.encode.embedder import Embedder

            embedder = Embedder.load(spec.name, self.settings)
        target = self._create(spec, embedder) if fresh else live
        assert target is not None  # noqa: S101 - live is set when not fresh
        docs = analyse(chunk_texts(store, self.settings, new_ids)) if len(new_ids) else []
        total_len = sum(lengths.values()) - sum(lengths[int(i)] for i in gone_ids) + sum(d.length for d in docs)
        n = len(store_ids)
        avgdl = total_len / n if n else 1.0
        kept_avgdl = meta.get("avgdl") if not fresh else None
        tolerance = self.settings.qdrant.bm25_avgdl_tolerance
        if kept_avgdl and abs(avgdl / kept_avgdl - 1) <= tolerance:
            avgdl = kept_avgdl  # new points use the weights' avgdl; within tolerance of the exact one
        if len(gone_ids):
            self.client.delete(target, points_selector=models.PointIdsList(points=gone_ids.tolist()), wait=True)
        self._upsert(store, target, new_ids, docs, avgdl, embedder, show_progress_bar)
        if kept_avgdl and avgdl != kept_avgdl:
            self._reweight(store, target, np.setdiff1d(have, gone_ids), avgdl, show_progress_bar)
        self.client.update_collection(target, metadata={
            **params, "avgdl": avgdl, "n_chunks": n, "generation": int(meta.get("generation", 0)) + 1,
            "dimension": embedder.dimension if embedder is not None and spec is not None else None,
            "built_at": datetime.now(UTC).isoformat()})
        if fresh:
            self._switch(spec, target, live)
        return True, len(new_ids), len(gone_ids), n

    def _meta(self, collection: str) -> dict[str, Any]:
        return dict(self.client.get_collection(collection).config.metadata or {})

    def _lengths(self, collection: str) -> dict[int, int]:
        """``{chunk_id: BM25 length}`` of every point (scrolled with only the ``dl`` payload)."""
        out: dict[int, int] = {}
        offset = None
        while True:
            points, offset = self.client.scroll(collection, limit=10_000, offset=offset, with_payload=["dl"],
                                                with_vectors=False)
            out.update({int(p.id): int((p.payload or {}).get("dl", 0)) for p in points})
            if offset is None:
                return out

    def _create(self, spec: ModelSpec | None, embedder: Embedder | None) -> str:
        q = self.settings.qdrant
        name = f"{self.alias(spec)}-{datetime.now(UTC).strftime('%Y%m%dt%H%M%S%f')}"
        vectors: dict[str, models.VectorParams] = {}
        if spec is not None and embedder is not None:
            vectors["dense"] = models.VectorParams(size=embedder.dimension, distance=models.Distance.DOT,
                                                   on_disk=q.on_disk or None)
        quant = {"scalar": models.ScalarQuantization(scalar=models.ScalarQuantizationConfig(
                     type=models.ScalarType.INT8, always_ram=True)),
                 "binary": models.BinaryQuantization(binary=models.BinaryQuantizationConfig(always_ram=True))}
        server = {"shard_number": q.shards, "replication_factor": q.replicas,
                  "write_consistency_factor": q.write_consistency, "on_disk_payload": q.on_disk} if q.url else {}
        self.client.create_collection(
            name, vectors_config=vectors,
            sparse_vectors_config={"bm25": models.SparseVectorParams(modifier=models.Modifier.IDF)},
            quantization_config=quant.get(q.quantization) if vectors else None, **server,
        )
        if q.url:  # payload indexes make filters fast on a server; local mode scans and would only warn
            for field, schema in (("collection", "keyword"), ("journal", "keyword"), ("year", "integer")):
                self.client.create_payload_index(name, field, field_schema=schema, wait=True)
        logger.info("Created Qdrant collection %s", name)
        return name

    def _upsert(self, store: Store, collection: str, ids: np.ndarray, docs: list, avgdl: float,
                embedder: Embedder | None, show_progress_bar: bool | None) -> None:
        if len(ids) == 0:
            return
        show_progress_bar = show_progress(show_progress_bar, logger)
        ix = self.settings.index
        desc = f"Indexing in Qdrant ({embedder.spec.name if embedder else 'bm25'})"
        reused = local_vectors(self.settings, embedder.spec) if embedder is not None else None
        with tqdm(total=len(ids), desc=desc, unit="chunk", disable=not show_progress_bar) as bar:
            for start, part in _batches(ids):
                rows = store.get_chunks(part.tolist())
                vectors = None
                if embedder is not None:  # (len(part), dim)
                    vectors = reused(part) if reused is not None else None
                    if vectors is None:
                        vectors = embedder.encode_passages(chunk_texts(store, self.settings, part), False)
                points = []
                for j, cid in enumerate(part.tolist()):
                    doc = docs[start + j]
                    indices, values = doc_weights(doc, ix.bm25_k1, ix.bm25_b, avgdl)
                    vector: dict[str, Any] = {"bm25": models.SparseVector(indices=indices, values=values)}
                    if vectors is not None:
                        vector["dense"] = vectors[j].tolist()
                    meta = rows[cid][1] if cid in rows else None
                    payload = {"dl": doc.length, "collection": meta.collection if meta else None,
                               "journal": meta.journal if meta else None, "year": meta.year if meta else None}
                    points.append(models.PointStruct(id=cid, vector=vector, payload=payload))
                self.client.upsert(collection, points=points, wait=True)
                bar.update(len(part))

    def _reweight(self, store: Store, collection: str, ids: np.ndarray, avgdl: float,
                  show_progress_bar: bool | None) -> None:
        """Rewrite the BM25 weights of ``ids`` for a new ``avgdl`` (dense vectors stay)."""
        ix = self.settings.index
        logger.info("Average chunk length moved past qdrant.bm25_avgdl_tolerance; reweighting %d chunks", len(ids))
        for _, part in _batches(ids):
            docs = analyse(chunk_texts(store, self.settings, part))
            points = []
            for cid, doc in zip(part.tolist(), docs, strict=True):
                indices, values = doc_weights(doc, ix.bm25_k1, ix.bm25_b, avgdl)
                points.append(models.PointVectors(id=cid, vector={"bm25": models.SparseVector(indices=indices,
                                                                                              values=values)}))
            self.client.update_vectors(collection, points=points, wait=True)

    def _switch(self, spec: ModelSpec | None, target: str, old: str | None) -> None:
        """Point the alias at ``target`` in one atomic request, then drop the old and any orphaned collection."""
        alias = self.alias(spec)
        ops: list[Any] = []
        if old:
            ops.append(models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias)))
        ops.append(models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name=target,
                                                                               alias_name=alias)))
        self.client.update_collection_aliases(change_aliases_operations=ops)
        pattern = alias + "-"
        for c in self.client.get_collections().collections:
            if c.name.startswith(pattern) and c.name != target and _is_stamp(c.name[len(pattern):]):
                self.client.delete_collection(c.name)


def _batches(ids: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    for start in range(0, len(ids), STEP):
        yield start, ids[start : start + STEP]


def _is_stamp(suffix: str) -> bool:
    """Whether ``suffix`` is a ``_create`` stamp (``20261126t071636521931``)."""
    return re.fullmatch(r"\d{8}t\d{12}", suffix) is not None

