"""Dense pseudo-relevance feedback (Rocchio) measured on a BEIR split, outside the product's search path.

    python benchmarks/dense_prf.py ../shared/data/nfcorpus dev OUT_DIR

The query vector moves towards the mean vector of the top k documents (of the hybrid run or of the dense run),
``q' = q + beta * mean``, is searched again, and is fused with BM25 (convex, min-max: the default alpha, and 0.7).
The corpus is encoded once with ``models/medembed-small`` (256 tokens; cached in OUT_DIR by its weights) and BM25 is
the product's (:class:`indexer.index.local.bm25.BM25Index`: its analysis and k1/b); documents are ``title. text``
(one vector per document, not per chunk), so the baseline is close to, not equal to, ``medembed eval``'s. A grid
over k, beta and the source of the feedback is printed and written as ``OUT_DIR/<set>_<split>_prf.json``. Results:
BENCHMARKS.md, "Dense pseudo-relevance feedback".
"""
import json
import sys
import time
from pathlib import Path

import numpy as np
from sentence_transformers import SentenceTransformer

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from indexer.index.local.bm25 import BM25Index  # noqa: E402
from medcore.beir import data_file, load_qrels, load_queries, read_jsonl  # noqa: E402 - after the repo is on the path
from medcore.config import SearchSettings  # noqa: E402
from medcore.fusion import convex  # noqa: E402
from medcore.models import resolve, weights_digest  # noqa: E402
from search_app.evaluation.metrics import ndcg_at_k, rank_ids  # noqa: E402

DEPTH = 100


def encode_corpus(model: SentenceTransformer, texts: list[str], cache: Path) -> np.ndarray:
    if cache.exists():
        return np.load(cache)
    start, order = time.time(), np.argsort([len(x) for x in texts])  # similar lengths batch together
    vectors = np.zeros((len(texts), model.get_sentence_embedding_dimension()), dtype=np.float32)
    vectors[order] = model.encode([texts[i] for i in order], batch_size=64, normalize_embeddings=True)
    np.save(cache, vectors)
    print("encoded", len(texts), "documents in", round(time.time() - start), "s", flush=True)
    return vectors


def main() -> None:
    dataset, split, out = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    out.mkdir(parents=True, exist_ok=True)
    docs = list(read_jsonl(data_file(dataset, "corpus.jsonl")))
    ids = [d["_id"] for d in docs]
    texts = [f"{d['title']}. {d['text']}" if d.get("title") else d["text"] for d in docs]
    queries, qrels = load_queries(dataset), load_qrels(dataset, split)
    qids = [q for q in qrels if q in queries]
    spec = resolve("medembed-small")
    model = SentenceTransformer(str(spec.local_path), device="cpu")
    model.max_seq_length = 256
    # keyed by the weights too: vectors of a retrained medembed-small must not be read back as this one's
    corpus = encode_corpus(model, texts, out / f"{dataset.name}_{weights_digest(spec)}_emb.npy")
    model.max_seq_length = 64
    query_vectors = model.encode([queries[q] for q in qids], batch_size=64, normalize_embeddings=True)
    bm25 = BM25Index.build(range(len(ids)), texts)
    bm = [{ids[j]: s for j, s in run.items()} for run in bm25.search([queries[q] for q in qids], DEPTH)]
    position = {d: i for i, d in enumerate(ids)}

    def dense_run(vectors: np.ndarray) -> list[dict[str, float]]:
        sims = vectors @ corpus.T
        top = np.argpartition(-sims, DEPTH, axis=1)[:, :DEPTH]
        return [{ids[j]: float(sims[i, j]) for j in sorted(top[i], key=lambda j: -sims[i, j])}
                for i in range(len(qids))]

    def score(runs: list[dict[str, float]]) -> float:
        return float(np.mean([ndcg_at_k(rank_ids(r)[:10], qrels[q], 10) for q, r in zip(qids, runs, strict=True)]))

    def hybrid(dense: list[dict[str, float]], alpha: float) -> list[dict[str, float]]:
        return [convex([d, b], alpha=alpha) for d, b in zip(dense, bm, strict=True)]

    default_alpha = SearchSettings().alpha
    dense = dense_run(query_vectors)
    first = hybrid(dense, default_alpha)
    result: dict = {"dense": score(dense), "bm25": score(bm), f"hybrid{default_alpha}": score(first)}
    for source, feedback in (("hybrid", first), ("dense", dense)):
        for k in (3, 5, 10):
            centroid = np.stack([corpus[[position[d] for d in list(run)[:k]]].mean(0) for run in feedback])
            for beta in (0.25, 0.5, 1.0):
                moved = query_vectors + beta * centroid
                again = dense_run(moved / np.linalg.norm(moved, axis=1, keepdims=True))
                for alpha in (default_alpha, 0.7):
                    result[f"prf[{source},k{k},b{beta}] dense/hy{alpha}"] = (round(score(again), 4),
                                                                            round(score(hybrid(again, alpha)), 4))
    for name, value in result.items():
        print(name, value)
    (out / f"{dataset.name}_{split}_prf.json").write_text(json.dumps(result, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
