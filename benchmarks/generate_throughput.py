"""Query generation on a CPU: how many kept queries a second each way of asking gives, in one run.

Each condition is ``medembed generate``'s own path (:func:`trainer.generate.generate_triplets`: prompt, parse,
validation, round-trip check, mining) on the same passages, against an OpenAI-compatible server that is already
running. Conditions take turns on a round of passages (the order rotates every round), so a noisy machine's load
falls on all of them alike. A condition is ``name=style:max_passage_chars:max_tokens:concurrency[:base_url]``;
the defaults compare the span prompt (each query quotes its supporting words) with the brief prompt (queries only),
and the brief prompt on passages cut to 800 characters.

Usage (a server first, e.g. the test LLM of scripts/prepare_test_llm.sh)::

    python -m llama_cpp.server --model .cache/test-llm/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf \\
        --model_alias test-llm --port 8000 --n_threads 2 --n_ctx 4096 &
    python benchmarks/generate_throughput.py --passages ../shared/data/text/cord19-covidqa-paragraphs/corpus.jsonl \\
        --base-url http://127.0.0.1:8000/v1 --llm-model test-llm --passages-per-round 4 --rounds 3 \\
        --out /tmp/bench/generate_throughput.json
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.machine import machine_info, offline_defaults, save_results  # noqa: E402

logger = logging.getLogger(__name__)

DEFAULT_CONDITIONS = ("span=span:2000:300:1", "brief=brief:2000:120:1", "brief-800=brief:800:120:1")


@dataclass(frozen=True)
class Condition:
    name: str
    style: str
    max_passage_chars: int
    max_tokens: int
    concurrency: int
    base_url: str | None = None

    @classmethod
    def parse(cls, spec: str) -> Condition:
        try:
            name, rest = spec.split("=", 1)
            style, chars, tokens, concurrency, *url = rest.split(":", 4)
            return cls(name, style, int(chars), int(tokens), int(concurrency), ":".join(url) or None)
        except ValueError:
            raise SystemExit(f"--condition {spec!r}: write name=style:max_passage_chars:max_tokens:concurrency"
                             "[:base_url], e.g. brief=brief:800:120:1") from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=Path, required=True, help="JSONL of {id|_id, text, title?} (a BEIR "
                        "corpus works); the round trip ranks against all of it.")
    parser.add_argument("--base-url", default="http://127.0.0.1:8000/v1")
    parser.add_argument("--llm-model", default="test-llm")
    parser.add_argument("--condition", action="append", default=None, help=f"default: {DEFAULT_CONDITIONS}")
    parser.add_argument("--passages-per-round", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mine-model", default="minilm")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench/generate_throughput.json"))
    args = parser.parse_args(argv)
    offline_defaults()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from medcore.llm import LLMClient
    from trainer.data import read_passages, sample_passages
    from trainer.generate import GenerateConfig, generate_triplets
    from trainer.llm import ValidationConfig
    from trainer.mining import MiningConfig, NegativeMiner
    from trainer.models import load_model

    conditions = [Condition.parse(c) for c in (args.condition or DEFAULT_CONDITIONS)]
    pool = read_passages(args.passages)
    chosen = sample_passages(pool, args.passages_per_round * args.rounds, args.seed)
    miner = NegativeMiner(pool, load_model(args.mine_model)[1], MiningConfig(method="hybrid"))
    totals = {c.name: {"passages": 0, "seconds": 0.0, "generated": 0, "kept_queries": 0, "prompt_tokens": 0,
                       "completion_tokens": 0, "dropped": {}} for c in conditions}
    kept_examples: dict[str, list[str]] = {c.name: [] for c in conditions}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            batch = chosen[r * args.passages_per_round:(r + 1) * args.passages_per_round]
            order = conditions[r % len(conditions):] + conditions[:r % len(conditions)]
            for c in order:
                client = LLMClient(c.base_url or args.base_url, args.llm_model, timeout_s=600, max_retries=1,
                                   max_tokens=c.max_tokens, seed=args.seed)
                config = GenerateConfig(concurrency=c.concurrency, style=c.style,  # type: ignore[arg-type]
                                        max_passage_chars=c.max_passage_chars,
                                        validation=ValidationConfig(require_span=c.style == "span"))
                out = Path(tmp) / f"{c.name}-{r}.jsonl"
                s = generate_triplets(batch, client, miner, out, config, show_progress_bar=False)
                t = totals[c.name]
                t["passages"] += len(batch)
                for key in ("seconds", "generated", "kept_queries", "prompt_tokens", "completion_tokens"):
                    t[key] += getattr(s, key)
                for reason, n in s.dropped.items():
                    t["dropped"][reason] = t["dropped"].get(reason, 0) + n
                if out.is_file():
                    kept_examples[c.name] += [json.loads(line)["query"] for line in out.open()]
                logger.info("round %d %s: %s", r + 1, c.name, s)
    base = totals[conditions[0].name]
    results = []
    for c in conditions:
        t = totals[c.name]
        row = {"condition": c.name, **c.__dict__, **t,
               "passages_per_s": t["passages"] / t["seconds"], "kept_queries_per_s": t["kept_queries"] / t["seconds"],
               "completion_tokens_per_s": t["completion_tokens"] / t["seconds"],
               "seconds_per_passage": t["seconds"] / t["passages"],
               f"kept_per_s_vs_{conditions[0].name}": (t["kept_queries"] / t["seconds"])
               / max(base["kept_queries"] / base["seconds"], 1e-9),
               "kept_examples": kept_examples[c.name][:12]}
        results.append(row)
        print(f"{c.name:>10}: {row['seconds_per_passage']:.1f} s/passage, {row['kept_queries_per_s']:.3f} kept "
              f"queries/s ({t['kept_queries']} of {t['generated']}), {row['completion_tokens_per_s']:.1f} "
              f"completion tokens/s, prompt {t['prompt_tokens'] / t['passages']:.0f} tokens/passage")
    save_results(args.out, {"machine": machine_info(), "args": {k: str(v) for k, v in vars(args).items()},
                            "results": results})


if __name__ == "__main__":
    main()
