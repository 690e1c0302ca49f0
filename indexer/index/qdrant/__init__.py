"""The ``qdrant`` backend: BM25 as sparse vectors and dense vectors in Qdrant."""
