#!/usr/bin/env bash
# The recipe of models/medembed-small, rerunnable by anyone with ../shared/data (or MEDEMBED_DATA):
#   1. triplets: NFCorpus train (up to NF_PER_QUERY judged documents per query, most relevant first) and MedQuAD train (one answer per
#      question), each with a BM25-mined hard negative (the likely false negatives skipped; `medembed generate`);
#      extra triplet files (e.g. LLM triplets of your own library from `medembed generate`) can be named as arguments
#   2. `medembed train`: MiniLM, MNRL on (query, positive) pairs with in-batch negatives (the mined negative is
#      not used unless HARD_NEGATIVES=1: pairs train 3.2x faster per example on a CPU, and NFCorpus's mined negatives
#      are often unjudged relevant documents), batches that never pit a query against its own known positives,
#      bf16 autocast where the CPU has native bf16, queries cut at 64 tokens and passages at MAX_LEN, length-grouped
#      batches, checkpoints every 100 steps (rerun to resume); on a GPU (when torch sees one) 2 epochs
#   3. `medembed merge`: LM-Cocktail average with the base, the fine-tune's weight chosen on the dev splits; with
#      MERGE_WITH="DIR ...", then averaged with earlier runs' models (LM-Cocktail of several fine-tunes: each keeps
#      what its run learned), this run's weight chosen on the same dev set from MIX_WEIGHTS
#   4. `medembed eval` on NFCorpus test and MedQuAD dev: dense and hybrid of the new model, dense MiniLM, BM25
# Everything lands in $WORK (default .cache/train-medembed-small); the model in $MODEL (default models/medembed-small).
# Run it in the background with its log:  nohup bash scripts/train_medembed_small.sh > train.log 2>&1 &
# models/medembed-small as committed is two runs of this recipe averaged (its card lists both); from scratch:
#   WORK=.cache/run1 MODEL=.cache/run1/model PRECISION=fp32 MAX_LEN=192 MAX_STEPS=420 WEIGHTS=0.8 EVAL=0 bash <this>
#   WORK=.cache/run2 PRECISION=bf16 MAX_LEN=256 EPOCHS=1 MAX_STEPS=-1 MERGE_WITH=.cache/run1/model bash <this>
#   (run 2: one bf16 epoch, which needs a CPU with native bf16 or a GPU; then the two averaged)
# A new run needs a new WORK: in the same WORK a rerun resumes the run that is there.
# Settings (environment): TRIPLETS (train on a seeded sample of this many; 0, the default: all), NF_PER_QUERY (20),
# EPOCHS (1; 2 on a GPU), MAX_STEPS (-1, the epochs, on a GPU and on a CPU with native bf16; 420 on a CPU without
# it, sized to finish in a session on 2 cores; the learning rate decays to 0 there, also when a run is resumed with a
# new MAX_STEPS), BATCH (64), MAX_LEN (passages cut at 256 tokens in training; 192 on a CPU without native bf16, the
# model still indexes 256), LR (5e-5), WEIGHTS ("0.6 0.8 0.9"),
# PRECISION (auto: bf16 autocast where the CPU has native bf16, else fp32), HARD_NEGATIVES (0), DEV_QUERIES/DEV_CORPUS
# (dev set per dataset: 200 queries, 2000 distractors), MERGE_WITH (none), MIX_WEIGHTS ("0.3 0.5 0.7"), EVAL (1).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
DATA=${MEDEMBED_DATA:-../shared/data}
WORK=${WORK:-.cache/train-medembed-small}
MODEL=${MODEL:-models/medembed-small}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
medembed() { "$PY" -m cli "$@"; }
log() { echo "train_medembed_small: $(date -u +%H:%M:%S) $*" >&2; }
[ -d "$DATA/nfcorpus" ] && [ -d "$DATA/medquad" ] \
  || { echo "train_medembed_small: needs $DATA/nfcorpus and $DATA/medquad (set MEDEMBED_DATA)" >&2; exit 2; }
mkdir -p "$WORK"

if "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  GPU=1; : "${EPOCHS:=2}" "${MAX_STEPS:=-1}" "${MAX_LEN:=256}"
elif "$PY" -c "import sys; from medcore.cpu import native_bf16; sys.exit(0 if native_bf16() else 1)"; then
  # bf16 autocast on a CPU with native bf16: 9 pairs/s at 256 tokens on 2 AMD EPYC cores, one epoch in ~75 min
  GPU=0; : "${EPOCHS:=1}" "${MAX_STEPS:=-1}" "${MAX_LEN:=256}"
else
  # fp32 on a CPU without native bf16: about 13 s per batch of 64 at 192 tokens on 2 AMD EPYC cores
  GPU=0; : "${EPOCHS:=1}" "${MAX_STEPS:=420}" "${MAX_LEN:=192}"
fi
: "${BATCH:=64}" "${TRIPLETS:=0}"   # TRIPLETS=0: all of them
log "GPU=$GPU BATCH=$BATCH TRIPLETS=$TRIPLETS EPOCHS=$EPOCHS MAX_LEN=$MAX_LEN MAX_STEPS=$MAX_STEPS"

# The models to average this run with are checked now, not after the training. The model this run replaces is read
# from a copy taken once per $WORK: a rerun resumes this run, and by then $MODEL may hold its average already.
EARLIER=()
for m in ${MERGE_WITH:-}; do
  [ -f "$m/config.json" ] || { echo "train_medembed_small: MERGE_WITH: $m is not a model folder (no config.json);" \
    "name folders, e.g. MERGE_WITH=models/medembed-small" >&2; exit 2; }
  if [ "$(realpath -m "$m")" = "$(realpath -m "$MODEL")" ]; then
    kept=$(ls -d "$WORK/earlier/$(basename "$MODEL")@"* 2>/dev/null | head -n1 || true)
    if [ -z "$kept" ]; then
      tag=$(git log -1 --format=%h -- "$MODEL" 2>/dev/null || true)
      [ -n "$(git status --porcelain -- "$MODEL" 2>/dev/null)" ] && tag=""   # uncommitted: not that commit's model
      kept="$WORK/earlier/$(basename "$MODEL")@${tag:-$(date -u +%Y%m%dT%H%M)}"
      # -L: a symlinked model is copied, not linked; the rename: an interrupted copy is never taken for a whole one
      mkdir -p "$WORK/earlier" && rm -rf "$kept.tmp" && cp -rL "$m" "$kept.tmp" && mv "$kept.tmp" "$kept"
    fi
    m=$kept
  fi
  EARLIER+=("$m")
done

# 1. triplets (resumable: generate skips queries already written)
medembed -q generate --from-qrels "$DATA/nfcorpus" --split train --max-per-query "${NF_PER_QUERY:-20}" --mine bm25 \
  -o "$WORK/nfcorpus-train.jsonl" --json > "$WORK/generate-nfcorpus.json"
medembed -q generate --from-qrels "$DATA/medquad" --split train --max-per-query 1 --mine bm25 \
  -o "$WORK/medquad-train.jsonl" --json > "$WORK/generate-medquad.json"
log "triplets: $(wc -l < "$WORK/nfcorpus-train.jsonl") NFCorpus, $(wc -l < "$WORK/medquad-train.jsonl") MedQuAD, $# extra files"

# 2. fine-tune
DEV=(--dev "$DATA/nfcorpus" --dev "$DATA/medquad" --dev-queries "${DEV_QUERIES:-200}" --dev-corpus "${DEV_CORPUS:-2000}")
LIMIT=(); [ "$TRIPLETS" != 0 ] && LIMIT=(--limit "$TRIPLETS")
NEG=(--no-hard-negatives); [ "${HARD_NEGATIVES:-0}" = 1 ] && NEG=(--hard-negatives)
RESUME=(); ls -d "$WORK/ft-checkpoints"/checkpoint-* >/dev/null 2>&1 && RESUME=(--resume)
start=$(date +%s)
# On a CPU, glibc hands PyTorch's large activation buffers back to the kernel after every step and the next step
# page-faults them in again (a third of the CPU time went to the kernel here); jemalloc (Debian: libjemalloc2), told
# to keep what it frees, reuses them. Without it, the run is the same, only slower.
TRAIN_ENV=()
JEMALLOC=$(ls /usr/lib/*/libjemalloc.so.2 2>/dev/null | head -n1 || true)
if [ "$GPU" = 0 ] && [ -n "$JEMALLOC" ]; then
  TRAIN_ENV=(env LD_PRELOAD="$JEMALLOC" MALLOC_CONF="dirty_decay_ms:-1,muzzy_decay_ms:-1,background_thread:false")
fi
# no --dev here: step 3 scores the base and the fine-tune alone on the same dev set, beside the merges
"${TRAIN_ENV[@]}" "$PY" -m cli train "$WORK/nfcorpus-train.jsonl" "$WORK/medquad-train.jsonl" "$@" -o "$WORK/ft" "${LIMIT[@]}" \
  --batch-size "$BATCH" --epochs "$EPOCHS" --max-steps "$MAX_STEPS" --lr "${LR:-5e-5}" \
  --max-seq-length "$MAX_LEN" --query-max-length 64 --group-by-length "${NEG[@]}" --backend torch \
  --precision "${PRECISION:-auto}" \
  --save-steps 100 "${RESUME[@]}" --overwrite --json > "$WORK/train.json"
log "trained in $(( $(date +%s) - start )) s: $(cat "$WORK/train.json")"

# 3. merge with the base; the weight of the fine-tune chosen on dev
GRID=(); for w in ${WEIGHTS:-0.6 0.8 0.9}; do GRID+=(--weights "$w"); done
MERGED=$MODEL; [ ${#EARLIER[@]} -gt 0 ] && MERGED=$WORK/merged
medembed merge "$WORK/ft" minilm -o "$MERGED" "${DEV[@]}" "${GRID[@]}" --fp16 --overwrite --json > "$WORK/merge.json"
log "merged: $(cat "$WORK/merge.json")"
if [ ${#EARLIER[@]} -gt 0 ]; then
  GRID=(); for w in ${MIX_WEIGHTS:-0.3 0.5 0.7}; do GRID+=(--weights "$w"); done
  medembed merge "$MERGED" "${EARLIER[@]}" -o "$MODEL" "${DEV[@]}" "${GRID[@]}" --fp16 --overwrite --json \
    > "$WORK/merge-runs.json"
  log "averaged with ${EARLIER[*]}: $(cat "$WORK/merge-runs.json")"
fi

# 4. evaluate on the test split of NFCorpus (never used to choose anything above) and the dev split of MedQuAD (its
#    target split, which has no test split here: the dev set of step 3 is a seeded sample of it and of NFCorpus dev)
if [ "${EVAL:-1}" = 1 ]; then
  name=$(basename "$MODEL")
  for spec in "nfcorpus test" "medquad dev"; do
    set -- $spec
    medembed -q eval "$DATA/$1" --split "$2" --retriever bm25 --retriever dense:minilm --retriever "dense:$name" \
      --retriever "hybrid:$name" --json > "$WORK/eval-$1-$2.jsonl"
    log "eval $1 $2: $(cat "$WORK/eval-$1-$2.jsonl" | tr '\n' ' ')"
  done
fi
log "done: $MODEL"
