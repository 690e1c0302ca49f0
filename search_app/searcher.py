"""The public search API: ``Searcher.search(query, k) -> list[Hit]`` over BM25, dense or hybrid retrieval, with the
reranker as a second stage where the retriever says ``+rerank``.

Size: the one class that runs a search end to end (runs, fusion, reranking, filters, papers, key sentences); what
each step computes lives in the modules it imports.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from itertools import islice

import numpy as np

from indexer.encode.embedder import Embedder
from indexer.index.backend import IndexReader, RetrieverRuns
from indexer.index.factory import open_backend
from indexer.index.layout import index_text
from indexer.index.sentence_vectors import SentenceVectors
from indexer.text import drug_names
from indexer.text.abbreviations import expand, library_table
from medcore.config import Settings
from medcore.errors import IndexNotFoundError, MedEmbedError
from medcore.fusion import cap_per_group, convex, ranks, rrf
from medcore.models import registry, resolve
from medcore.retrievers import RetrieverSpec
from medcore.types import Chunk, Document, Hit, PaperHit, SearchFilters
from search_app import key_sentence
from search_app.key_sentence import R
from search_app.papers import group_papers
from search_app.relevance import Calibration, calibration_for, hit_relevance
from search_app.rerank import Reranker, relevance_source
from store import Store

logger = logging.getLogger(__name__)

#: The most passage candidates a paper search fetches per retriever while looking for k distinct papers.
MAX_PAPER_DEPTH = 5000


class Searcher:
    """Searches one store's indexes with one retriever. Load once, search many times; ``refresh()`` picks up
    indexes rebuilt by another process."""

    def __init__(self, settings: Settings, store: Store, retriever: RetrieverSpec) -> None:
        self.settings = settings
        self.store = store
        self.retriever = retriever
        self.embedder: Embedder | None = None
        spec = resolve(retriever.model) if retriever.model else None
        self.index: IndexReader = open_backend(settings).reader(retriever.mode, spec)
        self.reranker: Reranker | None = Reranker.load(settings) if retriever.rerank else None
        self.calibration: Calibration | None = None  # read on the first refresh()
        self._cosine_index: IndexReader | None = None  # BM25 alone: index.model's dense index, for relevance only
        self._doc_keys: dict[int, str] | None = None
        self._sentence_embedder: Embedder | None = None
        self._query_vectors: dict[str, np.ndarray] = {}
        self._abbreviations: dict[str, str] | None = None
        try:
            self.refresh()
        except IndexNotFoundError as exc:
            raise IndexNotFoundError(self._missing_index(str(exc))) from None

    def _missing_index(self, backend_says: str) -> str:
        """What a person should do when an index is missing, from what the store holds: an empty library needs
        ``ingest`` first, an ingested one only ``index``, and a model name nobody knows is named as such."""
        backend = open_backend(self.settings)
        model = self.retriever.model
        if model is not None and not backend.has_index(resolve(model)):
            indexed = [name for name in registry() if backend.has_index(resolve(name))]
            here = f"models indexed here: {', '.join(indexed)}" if indexed else "no model is indexed here yet"
            spec = resolve(model)
            if spec.local_path is None and model not in registry() and "/" not in model:
                return (f"Unknown model '{model}': not a registry name, a local folder or a hub id (org/name); "
                        f"{here} (`medembed models` lists the names).")
            if backend.has_index(None) or indexed:
                return (f"Model {model} has no index for this library ({here}): run `medembed index --model "
                        f"{model}`, or pick an indexed one with --model.")
        documents = self.store.counts()[0]
        if not documents:
            return (f"The library under {self.settings.paths.home} is empty: run `medembed ingest PATH...` "
                    "(PDFs, PMC XML, BEIR folders), then `medembed index`.")
        option = f" --model {model}" if model and model != self.settings.index.model else ""
        logger.info("Index missing: %s", backend_says)
        return (f"The library has {documents} documents but no search index yet: run `medembed index{option}` "
                "(it builds BM25 and the model's dense index).")

    @classmethod
    def from_settings(cls, settings: Settings, retriever: str | RetrieverSpec | None = None,
                      store: Store | None = None) -> Searcher:
        if not isinstance(retriever, RetrieverSpec):
            retriever = (RetrieverSpec.parse(retriever, settings.index.model) if retriever
                         else RetrieverSpec.of(settings.search.mode, settings.index.model, settings.search.rerank))
        return cls(settings, store or Store.from_settings(settings), retriever)

    @property
    def floor(self) -> float | None:
        """The relevance under which a hit is not shown as a result; None (show all) without a calibration (the
        model's, or the reranker's where it tells topics apart better: :func:`search_app.rerank.relevance_source`)."""
        calibration = self._relevance_calibration()
        return calibration.floor if calibration is not None else None

    def _relevance_calibration(self) -> Calibration | None:
        if self.reranker is None:
            return self.calibration
        if self.retriever.mode == "bm25" and self.calibration is None:
            # no dense cosine for index.model here: BM25 hits carry no relevance, reranked or not (the reranker's
            # logit alone tells topics apart worse, AUC 0.747 against 0.906, and hid the malaria paper)
            return None
        return relevance_source(self.reranker.calibration, self.calibration)

    # -- loading -------------------------------------------------------------------------------------------
    def refresh(self) -> bool:
        """Reload any index whose live version changed (another process rebuilt it); True when one did."""
        changed = self.index.refresh()
        if self.retriever.mode != "bm25" and self.embedder is None:
            self.embedder = Embedder.load(self.retriever.model or self.settings.index.model, self.settings)
        if self.retriever.mode == "bm25":
            changed = self._refresh_cosine_index() or changed
        if changed:  # again on a rebuild: the model may have been retrained and re-embedded
            model = self.retriever.model or (self.settings.index.model if self._cosine_index is not None else None)
            self.calibration = calibration_for(resolve(model)) if model else None
            self._doc_keys = None
            self._abbreviations = None
            self._query_vectors = {}
        return changed

    def _refresh_cosine_index(self) -> bool:
        """BM25 alone has no cosine to read relevance from, so it reads ``index.model``'s dense index for that where
        the library has one: a keyword search then carries the same calibrated relevance and floor as the others
        (without one, BM25 hits carry no relevance and no floor hides any). True when that index was (re)loaded."""
        if self._cosine_index is None:
            backend, spec = open_backend(self.settings), resolve(self.settings.index.model)
            if not backend.has_index(spec):
                return False
            self._cosine_index = backend.reader("dense", spec)
        return self._cosine_index.refresh()

    # -- retrieval -----------------------------------------------------------------------------------------
    def _runs(self, queries: Sequence[str], depth: int, filters: SearchFilters | None = None) -> list[RetrieverRuns]:
        """Each retriever's chunk run per query: ``[{"bm25": {chunk_id: score}, "dense": {...}}]`` (plus
        ``"fused"`` where the backend fuses server-side)."""
        texts = [self.searched_text(q) for q in queries]
        vectors = self.embedder.encode_queries(texts) if self.embedder is not None else None
        if vectors is not None:  # kept for key sentences, which compare the same query vector with sentence vectors
            self._query_vectors = dict(zip(queries, vectors, strict=True))
        if self.settings.search.expand_abbreviations and self.retriever.mode != "dense":
            texts = [expand(t, self.abbreviations())[0] for t in texts]  # BM25's side only: a library's own forms
        return self.index.runs(texts, vectors, depth, filters)

    def searched_text(self, query: str) -> str:
        """What every retriever (and the reranker) reads for ``query``: the query with the generic names of the
        drugs it names by other names (:mod:`indexer.text.drug_names`) where ``search.expand_drug_names``."""
        return self._drug_expansion(query)[0]

    def _drug_expansion(self, query: str) -> tuple[str, list[tuple[str, str]]]:
        return drug_names.expand(query) if self.settings.search.expand_drug_names else (query, [])

    def abbreviations(self) -> dict[str, str]:
        """``{short form: long form}`` the library defines (each short form's most frequent long form)."""
        if self._abbreviations is None:
            self._abbreviations = library_table(self.store.abbreviation_pairs())
        return self._abbreviations

    def expansions(self, query: str) -> list[tuple[str, str]]:
        """``[(as found, what is also searched)]`` for ``query``: drug names (lower case, :meth:`searched_text`),
        then the abbreviations BM25 expands (empty where both are off)."""
        searched, drugs = self._drug_expansion(query)
        if not self.settings.search.expand_abbreviations or self.retriever.mode == "dense":
            return drugs
        return drugs + expand(searched, self.abbreviations())[1]  # as _runs expands them

    def _fuse(self, runs: Mapping[str, Mapping]) -> dict:
        if self.retriever.mode != "hybrid":
            return dict(runs.get(self.retriever.mode, {}))
        if "fused" in runs:
            return dict(runs["fused"])
        dense, bm25 = runs.get("dense", {}), runs.get("bm25", {})
        if self.settings.search.fusion == "convex":
            return convex([dense, bm25], alpha=self.settings.search.alpha)
        return rrf([dense, bm25], k=self.settings.search.rrf_k, weights=[self.settings.search.dense_weight, 1.0])

    def sentence_embedder(self) -> Embedder:
        """The model that picks key sentences: this retriever's, else (BM25) ``index.model``, loaded once."""
        if self.embedder is not None:
            return self.embedder
        if self._sentence_embedder is None:
            self._sentence_embedder = Embedder.load(self.settings.index.model, self.settings)
        return self._sentence_embedder

    def sentence_vectors(self) -> SentenceVectors | None:
        """The sentence vectors (made at index time) of the live dense index, for BM25 alone of ``index.model``'s
        (the one relevance is read from); None where there is no such index, it was built without them, or the
        backend keeps none (Qdrant)."""
        return getattr(self._cosine_index if self.retriever.mode == "bm25" else self.index, "sentences", None)

    def query_vector(self, query: str) -> np.ndarray:
        """``query``'s vector under this retriever's model: the one the last search encoded, else encoded now (and
        kept, so that BM25's relevance and its key sentences encode the query once)."""
        query = check_query(query)
        vector = self._query_vectors.get(query)
        if vector is None:
            vector = self.sentence_embedder().encode_queries([self.searched_text(query)])[0]
            self._query_vectors = {query: vector}
        return vector

    def search(self, query: str, k: int = 10, filters: SearchFilters | None = None) -> list[Hit]:
        """The best ``k`` chunks for ``query``, at most ``search.per_doc_cap`` per document."""
        return self.batch_search([query], k, filters)[0]

    def batch_search(self, queries: Sequence[str], k: int = 10,
                     filters: SearchFilters | None = None) -> list[list[Hit]]:
        queries = [check_query(q) for q in queries]
        cap = self.settings.search.per_doc_cap
        runs = self._runs(queries, self._depth(k * cap, filters), filters or None)
        return [self._hits(query, run, k, filters, cap) for query, run in zip(queries, runs, strict=True)]

    def search_papers(self, query: str, k: int = 10, filters: SearchFilters | None = None,
                      passages: int = 3) -> list[PaperHit]:
        """The best ``k`` papers for ``query``, each with up to ``passages`` of its best passages, ranked by the
        paper's best fused score (see :func:`search_app.papers.group_papers`)."""
        query = check_query(query)
        depth = self._depth(k * passages, filters)
        while True:
            (runs,) = self._runs([query], depth, filters or None)
            papers = group_papers(self._hits(query, runs, k * passages, filters, passages, max_docs=k), passages, k)
            # a retriever whose top candidates are passages of a few papers would list fewer than k papers while
            # others list k: look deeper while its runs were cut at the depth (deeper exist) and papers are missing
            cut = any(len(run) >= depth for name, run in runs.items() if name != "fused")
            if len(papers) >= k or not cut or depth >= MAX_PAPER_DEPTH:
                return papers
            depth = min(depth * 4, MAX_PAPER_DEPTH)

    def _depth(self, wanted: int, filters: SearchFilters | None) -> int:
        depth = max(self.settings.search.candidates, wanted)
        # the engine cannot apply every filter (study types never, the local backend none): fetch more, filter here
        if filters and (not self.index.filters_in_engine or filters.study_types):
            depth *= 5
        return depth

    def _hits(self, query: str, runs: RetrieverRuns, k: int, filters: SearchFilters | None, per_doc_cap: int,
              max_docs: int | None = None) -> list[Hit]:
        fused = self._fuse(runs)
        runs = {name: run for name, run in runs.items() if name != "fused"}
        rank_of = {name: ranks(run) for name, run in runs.items()}
        rows = self.store.get_chunks(list(fused)) if fused else {}
        found = {chunk_id: score for chunk_id, score in fused.items()
                 if chunk_id in rows  # else deleted from the store since the index was built
                 and (not filters or filters.matches(rows[chunk_id][1]))}
        doc_of = {chunk_id: rows[chunk_id][1].id for chunk_id in found}
        relevance: Mapping[int, float | None] | None = None
        if self.reranker is not None:  # it reads the candidates a page could show: filtered, capped per document
            pool = islice(cap_per_group(found, doc_of, per_doc_cap), self.reranker.depth)
            reranked = self.reranker.rerank(self.searched_text(query), found,
                                            {c: self._passage_text(*rows[c]) for c in pool})
            found = reranked.run
            if self._relevance_calibration() is self.reranker.calibration:
                relevance = reranked.relevance
            runs = {**runs, "rerank": reranked.logits}  # the hit's rank and logit under the reranker, for details
            rank_of["rerank"] = ranks(reranked.logits)
        cosines = self._cosines(query, runs, filters) if relevance is None and found else None
        hits: list[Hit] = []
        for chunk_id in cap_per_group(found, doc_of, per_doc_cap, max_docs):
            chunk, doc = rows[chunk_id]
            hit = _hit(chunk, doc, found[chunk_id], len(hits) + 1, rank_of, runs)
            hits.append(replace(hit, relevance=relevance.get(chunk_id) if relevance is not None
                                else hit_relevance(self.calibration, chunk_id, cosines)))
            if len(hits) == k:
                break
        return hits

    def _cosines(self, query: str, runs: RetrieverRuns, filters: SearchFilters | None) -> Mapping[int, float] | None:
        """The dense cosines relevance is read from: this search's own dense run, or for BM25 alone a dense run of
        ``index.model`` made only for that (one query encoding and one vector search)."""
        if self.retriever.mode != "bm25":
            return runs.get("dense")
        if self._cosine_index is None or self.calibration is None:
            return None
        (run,) = self._cosine_index.runs([query], self.query_vector(query)[None, :], self.settings.search.candidates,
                                         filters or None)
        return run.get("dense")

    def _passage_text(self, chunk: Chunk, doc: Document) -> str:
        """What the reranker reads for a chunk: its document's title, then its text (as the index embeds it)."""
        return index_text(chunk.text, doc.title, True)

    def batch_search_documents(self, queries: Sequence[str], k: int = 100) -> list[dict[str, float]]:
        """Document-level runs for evaluation: ``[{doc_key: score}]``, best first, a document's best chunk
        standing for it in each retriever before fusion. Keys are BEIR ``_id`` values where known."""
        if self._doc_keys is None:
            self._doc_keys = self.store.chunk_doc_keys()
        keys = self._doc_keys
        out = []
        queries = [q if q.strip() else "?" for q in queries]
        for query, runs in zip(queries, self._runs(queries, max(k, self.settings.search.candidates)), strict=True):
            doc_runs = {name: _best_per_doc(run, keys) for name, run in runs.items()}  # "fused" too, if any
            fused = self._fuse(doc_runs)
            if self.reranker is not None:
                fused = self.reranker.rerank(self.searched_text(query), fused,
                                             self._document_texts(fused, runs, keys)).run
            out.append(dict(list(fused.items())[:k]))
        return out

    def _document_texts(self, fused: Mapping[str, float], runs: RetrieverRuns,
                        keys: Mapping[int, str]) -> dict[str, str]:
        """``{doc key: text}`` for the reranker's depth of ``fused`` documents: each one's best chunk in the fused
        chunk run (a document's best passage, as a search would show it)."""
        best: dict[str, int] = {}
        for chunk_id in self._fuse(runs):
            key = keys.get(chunk_id)
            if key is not None:
                best.setdefault(key, chunk_id)
        top = [key for key in fused if key in best][: self.reranker.depth if self.reranker else 0]
        rows = self.store.get_chunks([best[key] for key in top])
        return {key: self._passage_text(*rows[best[key]]) for key in top if best[key] in rows}

    def mark_key_sentences(self, query: str, results: Sequence[R]) -> list[R]:
        """Results (passages or papers) with each passage's key sentence marked (:mod:`search_app.key_sentence`):
        from the index's sentence vectors where it has them (no encoding), else by embedding a bounded number of
        sentences. Callers mark what they show (after the relevance floor), not every candidate."""
        if not results:
            return list(results)
        query = check_query(query)  # as the search saw it: control characters and lone surrogates made spaces
        sentences = self.sentence_vectors()
        if sentences is None:
            embedder, searched = self.sentence_embedder(), self.searched_text(query)
            if isinstance(results[0], PaperHit):
                return key_sentence.mark_papers(embedder, searched, results)  # type: ignore[arg-type,return-value]
            return key_sentence.mark_hits(embedder, searched, results)  # type: ignore[arg-type,return-value]
        vector = self.query_vector(query)
        if isinstance(results[0], PaperHit):
            return [replace(p, passages=tuple(key_sentence.mark_indexed(sentences, vector, p.passages)))
                    for p in results]  # type: ignore[union-attr]
        return key_sentence.mark_indexed(sentences, vector, results)  # type: ignore[arg-type,return-value]


def check_query(query: str) -> str:
    cleaned = "".join(ch if ch.isprintable() else " " for ch in query).strip()
    if not cleaned:
        raise MedEmbedError("The query is empty; type a question or some keywords.")
    return cleaned[:10_000]


def _best_per_doc(run: Mapping[int, float], keys: Mapping[int, str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for chunk_id, score in run.items():
        key = keys.get(chunk_id)
        if key is not None and key not in out:
            out[key] = score
    return out


def _hit(chunk: Chunk, doc: Document, score: float, rank: int, rank_of: Mapping[str, Mapping[int, int]],
         runs: Mapping[str, Mapping[int, float]]) -> Hit:
    return Hit(
        chunk_id=chunk.id,
        doc_id=doc.id,
        score=float(score),
        text=chunk.text,
        title=doc.title,
        page=chunk.page,
        rank=rank,
        document=doc,
        ranks={name: r[chunk.id] for name, r in rank_of.items() if chunk.id in r},
        scores={name: float(run[chunk.id]) for name, run in runs.items() if chunk.id in run},
    )


def with_retriever(searcher: Searcher, retriever: str) -> Searcher:
    """Another retriever over the same store and settings."""
    return Searcher(searcher.settings, searcher.store, RetrieverSpec.parse(retriever, searcher.settings.index.model))

