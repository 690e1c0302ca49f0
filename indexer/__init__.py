"""From files to searchable indexes: parsing, chunking, the SQL store, FAISS and BM25 indexes."""
