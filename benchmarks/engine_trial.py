"""Brief engine trial (docs/backends.md): N NFCorpus texts (repeated), random 384-d unit vectors; insert time and
hybrid (BM25 + dense, RRF in the engine) query p50/p95, for Qdrant local mode or Milvus Lite.

    python benchmarks/engine_trial.py qdrant 20000          # in .venv (qdrant-client)
    /tmp/milvus-venv/bin/python benchmarks/engine_trial.py milvus 20000   # a venv with pymilvus + milvus-lite

Its crude tokenizer (lower-case words) is for the trial only; the qdrant backend uses medcore.analysis.tokenize.
"""
# ruff: noqa
import json, sys, time, re, shutil, hashlib
import numpy as np
import os
DATA = os.environ.get("NFCORPUS", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "nfcorpus"))
os.makedirs("/tmp/engine-trial", exist_ok=True)
N = int(sys.argv[2]); engine = sys.argv[1]
docs = [json.loads(l) for l in open(DATA + "/corpus.jsonl")]
texts = [(docs[i % len(docs)]["title"] + " " + docs[i % len(docs)]["text"])[:1500] for i in range(N)]
queries = [json.loads(l)["text"] for l in open(DATA + "/queries.jsonl")][:50]
rng = np.random.default_rng(0)
vecs = rng.standard_normal((N, 384)).astype(np.float32); vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
qv = rng.standard_normal((len(queries), 384)).astype(np.float32); qv /= np.linalg.norm(qv, axis=1, keepdims=True)
tok = lambda t: re.findall(r"[a-z0-9]+", t.lower())
def h(w): return int.from_bytes(hashlib.blake2b(w.encode(), digest_size=4).digest(), "little")
def sparse(t):
    c = {}
    for w in tok(t): c[h(w)] = c.get(h(w), 0) + 1
    return list(c), [float(v) for v in c.values()]
lat = []
if engine == "qdrant":
    from qdrant_client import QdrantClient, models as m
    shutil.rmtree("/tmp/engine-trial/q", ignore_errors=True)
    c = QdrantClient(path="/tmp/engine-trial/q")
    c.create_collection("t", vectors_config={"dense": m.VectorParams(size=384, distance=m.Distance.DOT)},
                        sparse_vectors_config={"bm25": m.SparseVectorParams(modifier=m.Modifier.IDF)})
    t0 = time.perf_counter()
    for s in range(0, N, 1000):
        pts = []
        for i in range(s, min(N, s + 1000)):
            idx, val = sparse(texts[i])
            pts.append(m.PointStruct(id=i + 1, vector={"dense": vecs[i].tolist(), "bm25": m.SparseVector(indices=idx, values=val)}, payload={"year": 2000 + i % 20}))
        c.upsert("t", pts)
    ins = time.perf_counter() - t0
    for q, v in zip(queries, qv):
        idx, val = sparse(q)
        t0 = time.perf_counter()
        c.query_points("t", prefetch=[m.Prefetch(query=m.SparseVector(indices=idx, values=val), using="bm25", limit=100),
                                      m.Prefetch(query=v.tolist(), using="dense", limit=100)],
                       query=m.RrfQuery(rrf=m.Rrf(k=61)), limit=10)
        lat.append(time.perf_counter() - t0)
else:
    from pymilvus import MilvusClient, DataType, Function, FunctionType, AnnSearchRequest, RRFRanker
    shutil.rmtree("/tmp/engine-trial/mv.db", ignore_errors=True)
    import os
    if os.path.exists("/tmp/engine-trial/mv.db"): os.remove("/tmp/engine-trial/mv.db")
    c = MilvusClient("/tmp/engine-trial/mv.db")
    s = c.create_schema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("text", DataType.VARCHAR, max_length=4000, enable_analyzer=True)
    s.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    s.add_field("dense", DataType.FLOAT_VECTOR, dim=384)
    s.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["text"], output_field_names=["sparse"]))
    ip = c.prepare_index_params()
    ip.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    ip.add_index("dense", index_type="FLAT", metric_type="IP")
    c.create_collection("t", schema=s, index_params=ip)
    t0 = time.perf_counter()
    for st in range(0, N, 1000):
        c.insert("t", [{"id": i + 1, "text": texts[i], "dense": vecs[i].tolist()} for i in range(st, min(N, st + 1000))])
    c.flush("t")
    ins = time.perf_counter() - t0
    for q, v in zip(queries, qv):
        t0 = time.perf_counter()
        c.hybrid_search("t", [AnnSearchRequest([q], "sparse", {"metric_type": "BM25"}, 100),
                              AnnSearchRequest([v.tolist()], "dense", {"metric_type": "IP"}, 100)], RRFRanker(60), limit=10)
        lat.append(time.perf_counter() - t0)
lat = np.array(lat[5:]) * 1000
print(json.dumps({"engine": engine, "n": N, "insert_s": round(ins, 1), "p50_ms": round(float(np.percentile(lat, 50)), 1), "p95_ms": round(float(np.percentile(lat, 95)), 1)}))
