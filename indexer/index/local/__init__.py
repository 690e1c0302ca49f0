"""The ``faiss`` backend: BM25 in bm25s and dense vectors in FAISS (exact, then IVF/HNSW)."""
