"""Fit the relevance calibration of one embedding model: P(relevant | dense cosine) and the floor below which a
search shows no result. Writes its entry into search_app/relevance_calibration.json, keyed by the model's weights
hash (a retrained model gets no calibration until this is rerun, and searches then say so and show every result).

Dev data only (the dev splits of NFCorpus, MedQuAD and the sets in ../shared/data/train):

- positives: a dev query and the closest of its judged-relevant documents (the hit a search should show);
- off-topic negatives: the same query against another set's small library (that set's judged documents for its
  own dev queries plus random documents of its corpus), i.e. a library that does not hold the answer, closest
  document taken;
- nonsense negatives: letter strings, word salad and everyday non-medical questions against all libraries.

With ``--reranker NAME`` the feature is the reranker's logit instead (``search_app.rerank``): the best logit among
the RERANK_DEPTH documents of the library that the dense model ranks highest (the candidates a search would give the
reranker); the entry is keyed ``rerank:NAME@weights``.

Each set's "library" is about two hundred documents, so a run embeds about 1,500 short texts; vectors are cached
under .cache/relevance-calibration/ by model weights and text, so a rerun after a weights change costs one encoding
pass and a rerun without one costs seconds. The floor maximises balanced accuracy on half of the dev pairs (the fit
half); precision and recall are reported on the other half and on all of them.

Usage::

    python benchmarks/relevance_calibration.py --model medembed-small
    python benchmarks/relevance_calibration.py --model minilm
    python benchmarks/relevance_calibration.py --reranker medembed-rerank
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import random
import string
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.machine import offline_defaults  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"
SETS = ("nfcorpus", "medquad", "train/pubmedqa-pqal", "train/bioasq-b7-11", "train/covid-qa", "train/medicationqa")
SEED = 20261202
QUERIES_PER_SET = 40
RELEVANT_PER_QUERY = 3  # NFCorpus judges dozens per query; three keep the libraries small
RANDOM_DOCS = 100
CACHE = REPO / ".cache" / "relevance-calibration"
RERANK_DEPTH = 30
logger = logging.getLogger("relevance_calibration")

_EVERYDAY = [
    "what is the capital of france", "best pizza recipe with mozzarella", "how to change a car tyre",
    "football world cup winners list", "cheap flights to barcelona in may", "how do I learn to play the guitar",
    "stock market prices today", "who wrote the lord of the rings", "weather forecast for tomorrow",
    "how to bake sourdough bread", "python list comprehension syntax", "best hiking trails in colorado",
    "history of the roman empire", "how to knit a scarf for beginners", "lyrics of yesterday by the beatles",
    "install a ceiling fan", "train timetable london to paris", "how many planets are in the solar system",
    "tips for a job interview", "what is the speed of light", "how to paint a bedroom wall",
    "rules of chess castling", "birthday party ideas for kids", "how to repair a bicycle puncture",
    "jazz festivals in europe this summer", "how to grow tomatoes on a balcony", "best laptop for video editing",
    "translate good morning into japanese", "how to file a tax return", "when was the eiffel tower built",
]
_SALAD = ("table window river purple guitar engine cloud ticket garden velvet marble pencil ocean ladder violin "
          "carpet lantern orbit saddle rocket harbor tulip canyon jigsaw meadow").split()


def nonsense(n: int, rng: random.Random) -> list[str]:
    """Letter strings ("zzqx blorf"), word salad and everyday non-medical questions, ``n`` of each kind at most."""
    letters = [" ".join("".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(3, 8)))
                        for _ in range(rng.randint(1, 3))) for _ in range(n)]
    salad = [" ".join(rng.sample(_SALAD, rng.randint(2, 5))) for _ in range(n)]
    return letters + salad + _EVERYDAY[:n]


def read_set(folder: Path, rng: random.Random) -> tuple[dict[str, str], dict[str, list[str]], dict[str, str]]:
    """``(queries, {query: relevant doc ids}, {doc id: text})`` for up to QUERIES_PER_SET dev queries and a small
    library: up to RELEVANT_PER_QUERY of each one's judged-relevant documents plus RANDOM_DOCS others."""
    from medcore.beir import load_qrels, load_queries, read_jsonl

    qrels = load_qrels(folder, "dev")
    queries = load_queries(folder)
    judged = sorted(q for q, docs in qrels.items() if q in queries and any(g > 0 for g in docs.values()))
    chosen = rng.sample(judged, min(QUERIES_PER_SET, len(judged)))
    relevant = {q: sorted(d for d, g in qrels[q].items() if g > 0)[:RELEVANT_PER_QUERY] for q in chosen}
    wanted = {d for docs in relevant.values() for d in docs}
    corpus = {}
    others = []
    for row in read_jsonl(folder / "corpus.jsonl"):
        text = f"{row.get('title') or ''}\n{row.get('text') or ''}".strip()
        if row["_id"] in wanted:
            corpus[row["_id"]] = text
        else:
            others.append((row["_id"], text))
    corpus |= dict(rng.sample(others, min(RANDOM_DOCS, len(others))))
    relevant = {q: [d for d in docs if d in corpus] for q, docs in relevant.items()}
    return {q: queries[q] for q in chosen if relevant[q]}, {q: d for q, d in relevant.items() if d}, corpus


class VectorCache:
    """``{sha1(kind + text): vector}`` for one model's weights, saved as one .npz."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.items: dict[str, np.ndarray] = {}
        if path.is_file():
            with np.load(path) as data:
                self.items = dict(zip(data["keys"].tolist(), data["vectors"], strict=True))

    def encode(self, texts: list[str], kind: str, encode) -> np.ndarray:  # noqa: ANN001 - the embedder's method
        keys = [hashlib.sha1(f"{kind}\0{t}".encode()).hexdigest() for t in texts]
        missing = list(dict.fromkeys(k for k in keys if k not in self.items))
        if missing:
            by_key = dict(zip(keys, texts, strict=True))
            logger.info("Embedding %d %s texts (%d cached)", len(missing), kind, len(keys) - len(missing))
            for key, vector in zip(missing, encode([by_key[k] for k in missing]), strict=True):
                self.items[key] = vector
        return np.stack([self.items[k] for k in keys])

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = sorted(self.items)
        np.savez(self.path, keys=np.array(keys), vectors=np.stack([self.items[k] for k in keys]))


def fit_logistic(x: np.ndarray, y: np.ndarray, steps: int = 50) -> tuple[float, float]:
    """``(intercept, slope)`` of P(y=1 | x) = sigmoid(intercept + slope * x), classes weighted equally (Newton)."""
    w = np.where(y == 1, 0.5 / max(y.sum(), 1), 0.5 / max((1 - y).sum(), 1))
    design = np.stack([np.ones_like(x), x], axis=1)
    beta = np.zeros(2)
    for _ in range(steps):
        p = 1 / (1 + np.exp(-design @ beta))
        gradient = design.T @ (w * (y - p))
        hessian = (design * (w * p * (1 - p))[:, None]).T @ design + 1e-9 * np.eye(2)
        beta = beta + np.linalg.solve(hessian, gradient)
    return float(beta[0]), float(beta[1])


def scores_at(p: np.ndarray, y: np.ndarray, floor: float) -> dict[str, float]:
    shown = p >= floor
    tp = int((shown & (y == 1)).sum())
    return {"precision": round(tp / max(int(shown.sum()), 1), 4), "recall": round(tp / max(int(y.sum()), 1), 4),
            "off_topic_shown": round(float((shown & (y == 0)).sum() / max(int((y == 0).sum()), 1)), 4),
            "positives": int(y.sum()), "negatives": int((y == 0).sum())}


def auc(p: np.ndarray, y: np.ndarray) -> float:
    pos, neg = p[y == 1], p[y == 0]
    return float((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())


def cosine_score(query: str, vector: np.ndarray, docs: np.ndarray, texts: list[str]) -> float:
    """The best dense cosine of ``vector`` among ``docs``."""
    return float((docs @ vector).max())


def reranker_score(name: str):  # noqa: ANN201 - a scoring function like cosine_score
    """The best logit of reranker ``name`` among the RERANK_DEPTH documents closest to the query vector."""
    from indexer.encode.cross_encoder import CrossEncoder
    from medcore.config import Settings

    model = CrossEncoder.load(name, Settings.load())

    def score(query: str, vector: np.ndarray, docs: np.ndarray, texts: list[str]) -> float:
        top = np.argsort(-(docs @ vector))[:RERANK_DEPTH]
        return float(model.score(query, [texts[i] for i in top]).max())

    return score


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="medembed-small", help="The embedding model (with --reranker: the one that "
                                                                   "picks the reranker's candidates).")
    parser.add_argument("--reranker", default=None, help="Calibrate this reranker's logit instead of the cosine.")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=None, help="Default: search_app's relevance_calibration.json.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    offline_defaults()

    from indexer.encode.embedder import Embedder
    from medcore.config import Settings
    from medcore.models import resolve, weights_digest
    from search_app.relevance import CALIBRATION_FILE, calibration_key

    spec = resolve(args.model)
    digest = weights_digest(spec)
    embedder = Embedder.load(args.model, Settings.load())
    cache = VectorCache(CACHE / f"{spec.slug}-{digest or 'hub'}.npz")
    rng = random.Random(SEED)
    sets = {}
    for name in SETS:
        folder = args.data / name
        if not (folder / "qrels" / "dev.tsv").is_file():
            logger.warning("Skipping %s: no dev split under %s", name, folder)
            continue
        queries, relevant, corpus = read_set(folder, rng)
        ids = sorted(corpus)
        vectors = cache.encode([corpus[d] for d in ids], "passage", embedder.encode_passages)
        qids = sorted(queries)
        sets[name] = {"qids": qids, "q": cache.encode([queries[q] for q in qids], "query", embedder.encode_queries),
                      "relevant": relevant, "row": {d: i for i, d in enumerate(ids)}, "docs": vectors,
                      "texts": [corpus[d] for d in ids], "queries": [queries[q] for q in qids]}
        cache.save()  # per set: an interrupted run keeps what it embedded
    junk_texts = nonsense(30, rng)
    junk = cache.encode(junk_texts, "query", embedder.encode_queries)
    cache.save()
    score = cosine_score
    if args.reranker:
        score = reranker_score(args.reranker)

    cosine, label, fold = [], [], []
    names = list(sets)
    for s, name in enumerate(names):
        data = sets[name]
        for i, qid in enumerate(data["qids"]):
            rows = [data["row"][d] for d in data["relevant"][qid]]
            cosine.append(score(data["queries"][i], data["q"][i], data["docs"][rows],
                                [data["texts"][r] for r in rows]))
            label.append(1)
            fold.append(i % 2)
            for other in (names[(s + 1) % len(names)], names[(s + 2) % len(names)]):
                cosine.append(score(data["queries"][i], data["q"][i], sets[other]["docs"], sets[other]["texts"]))
                label.append(0)
                fold.append(i % 2)
    every_doc = np.concatenate([data["docs"] for data in sets.values()])
    every_text = [t for data in sets.values() for t in data["texts"]]
    for i, vector in enumerate(junk):
        cosine.append(score(junk_texts[i], vector, every_doc, every_text))
        label.append(0)
        fold.append(i % 2)
    x, y, f = np.array(cosine), np.array(label), np.array(fold)

    intercept, slope = fit_logistic(x[f == 0], y[f == 0])
    p = 1 / (1 + np.exp(-(intercept + slope * x)))
    fit = f == 0
    candidates = np.unique(np.round(p[fit], 3))
    balanced = [(scores_at(p[fit], y[fit], c)["recall"] + 1 - scores_at(p[fit], y[fit], c)["off_topic_shown"], c)
                for c in candidates]
    floor = float(max(balanced)[1])
    if args.reranker:
        from search_app.rerank import calibration_spec

        spec = calibration_spec(args.reranker)
        digest = weights_digest(spec)
    feature = (f"the reranker's logit, best of the {RERANK_DEPTH} candidates {args.model} ranks first" if args.reranker
               else "dense cosine of the hit (query vs chunk vector)")
    entry = {
        "model": spec.name, "weights": digest, "feature": feature,
        "intercept": round(intercept, 5), "slope": round(slope, 5), "floor": round(floor, 3),
        "dev": {"sets": names, "queries_per_set": QUERIES_PER_SET, "seed": SEED, "auc": round(auc(p, y), 4),
                "held_out_half": scores_at(p[~fit], y[~fit], floor), "all": scores_at(p, y, floor),
                "logit_at_floor" if args.reranker else "cosine_at_floor":
                    round(float((np.log(floor / (1 - floor)) - intercept) / slope), 4)},
    }
    out = args.out or CALIBRATION_FILE
    table = json.loads(out.read_text()) if out.is_file() else {"version": 1, "models": {}}
    table["models"][calibration_key(spec.name, digest)] = entry
    out.write_text(json.dumps(table, indent=2, sort_keys=True) + "\n")
    logger.info("Wrote %s: %s", out, json.dumps(entry))
    print(json.dumps(entry, indent=2))


if __name__ == "__main__":
    main()
