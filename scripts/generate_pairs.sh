#!/usr/bin/env bash
# LLM-written training queries for medembed-small, the MedEmbed way, on a CPU: `medembed generate --prompt brief`
# over medical text from several sources, written to data/generated/<source>.jsonl.gz (committed, so that a
# passage is never paid for twice: machines are not kept). Resumable: a rerun skips the passages in each file's
# .done sidecar, so the same command, with a larger N, grows the set.
#
# Sources (text only: no query or judgement of any set is read):
#   cord19    ../shared/data/text/cord19-covidqa-paragraphs (CC BY CORD-19 papers; never score these on covid-qa)
#   nfcorpus  NFCorpus documents (NutritionFacts/PubMed abstracts)
#   bioasq    BioASQ snippets (PubMed; BioASQ terms)
#   medquad   MedQuAD answers (NIH consumer-health pages)
#   pubmedqa  PubMedQA abstracts
# Each source's passages come from a seeded pool of at most POOL passages (default 3,000): the round-trip check
# (the passage must rank in the top 20 of that pool for its own query, by BM25 or MiniLM) and the mined negative
# both use that pool, and the LLM is asked about N of them (default 40).
#
# The LLM: LLM_BASE_URL and LLM_MODEL if set (any OpenAI-compatible server); else this script starts the test LLM
# (scripts/prepare_test_llm.sh: Qwen2.5-Coder-0.5B-Instruct Q4_K_M) with llama.cpp's own server when LLAMA_SERVER
# names its binary or `BUILD_SERVER=1 bash scripts/prepare_test_llm.sh` built it (parallel slots: PARALLEL, default
# 4, continuous batching), else llama-cpp-python's server (one request at a time, 1.6 times slower per kept query).
# benchmarks/generate_throughput.py measured the choices (BENCHMARKS.md).
#
#   N=40 nohup bash scripts/generate_pairs.sh > generate.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
DATA=${MEDEMBED_DATA:-../shared/data}
OUT=${OUT:-data/generated}
WORK=${WORK:-.cache/generate-pairs}
N=${N:-40}
POOL=${POOL:-3000}
SOURCES=${SOURCES:-cord19 nfcorpus bioasq medquad pubmedqa}
THREADS=${THREADS:-2}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
log() { echo "generate_pairs: $(date -u +%H:%M:%S) $*" >&2; }
mkdir -p "$OUT" "$WORK"

corpus_of() {
  case $1 in
    cord19) echo "$DATA/text/cord19-covidqa-paragraphs/corpus.jsonl" ;;
    nfcorpus) echo "$DATA/nfcorpus/corpus.jsonl" ;;
    bioasq) echo "$DATA/train/bioasq-b7-11/corpus.jsonl" ;;
    medquad) echo "$DATA/medquad/corpus.jsonl" ;;
    pubmedqa) echo "$DATA/train/pubmedqa-pqal/corpus.jsonl" ;;
    *) echo "generate_pairs: unknown source '$1' (choose from cord19 nfcorpus bioasq medquad pubmedqa)" >&2; exit 2 ;;
  esac
}

SERVER_PID=""
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true; }
trap cleanup EXIT
if [ -z "${LLM_BASE_URL:-}" ]; then
  GGUF=${MEDEMBED_TEST_LLM_DIR:-.cache/test-llm}/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf
  [ -f "$GGUF" ] || { echo "generate_pairs: no LLM: run scripts/prepare_test_llm.sh, or set LLM_BASE_URL and" \
    "LLM_MODEL to an OpenAI-compatible server" >&2; exit 2; }
  PORT=${PORT:-8011}
  LLM_MODEL=test-llm
  LLAMA_SERVER=${LLAMA_SERVER:-$(ls "$(dirname "$GGUF")"/llama-server-*/llama-server 2>/dev/null | head -1 || true)}
  if [ -n "$LLAMA_SERVER" ]; then
    CONCURRENCY=${PARALLEL:-4}
    # -c is shared by the slots: 2,048 tokens each is room for the prompt (about 700) and the reply
    "$LLAMA_SERVER" -m "$GGUF" --alias "$LLM_MODEL" --host 127.0.0.1 --port "$PORT" -t "$THREADS" \
      -np "$CONCURRENCY" -c $((2048 * CONCURRENCY)) -cb --no-webui > "$WORK/server.log" 2>&1 &
  else
    CONCURRENCY=1
    "$PY" -m llama_cpp.server --model "$GGUF" --model_alias "$LLM_MODEL" --host 127.0.0.1 --port "$PORT" \
      --n_ctx 4096 --n_threads "$THREADS" --n_threads_batch "$THREADS" > "$WORK/server.log" 2>&1 &
  fi
  SERVER_PID=$!
  LLM_BASE_URL=http://127.0.0.1:$PORT/v1
  for _ in $(seq 120); do curl -sf "$LLM_BASE_URL/models" >/dev/null && break; sleep 1; done
  curl -sf "$LLM_BASE_URL/models" >/dev/null || { echo "generate_pairs: the LLM server did not start:" >&2;
    tail -20 "$WORK/server.log" >&2; exit 1; }
fi
: "${CONCURRENCY:=4}"
log "LLM $LLM_MODEL at $LLM_BASE_URL, concurrency $CONCURRENCY; $N passages per source from pools of $POOL"

for source in $SOURCES; do
  corpus=$(corpus_of "$source")
  pool="$WORK/pool-$source.jsonl"
  # a seeded pool, the same on every machine, so that a rerun asks about the same passages
  [ -s "$pool" ] || "$PY" - "$corpus" "$pool" "$POOL" <<'EOF'
import json, random, re, sys
rows = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8") if line.strip()]
rows = [r for r in rows if len(r.get("text") or "") >= 200]
for r in rows:  # paragraphs "<paper>:p<n>" belong to one paper: no negative from the positive's own paper
    m = re.fullmatch(r"(.+):p\d+", str(r.get("id", r.get("_id", ""))))
    if m and "doc_id" not in r:
        r["doc_id"] = m.group(1)
random.Random(20261203).shuffle(rows)
with open(sys.argv[2], "w", encoding="utf-8") as fh:
    fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows[: int(sys.argv[3])])
EOF
  "$PY" -m cli -q generate --passages "$pool" -n "$N" -o "$OUT/$source.jsonl.gz" --prompt brief \
    --max-passage-chars "${MAX_PASSAGE_CHARS:-1200}" --max-tokens 120 --base-url "$LLM_BASE_URL" \
    --llm-model "$LLM_MODEL" --concurrency "$CONCURRENCY" --temperature "${TEMPERATURE:-0.7}" --mine hybrid \
    --mine-model minilm --json > "$WORK/summary-$source.json"
  log "$source: $(cat "$WORK/summary-$source.json")"
done
log "done: $(for f in "$OUT"/*.jsonl.gz; do printf '%s %s; ' "$(basename "$f")" "$(zcat "$f" | wc -l)"; done)"
