#!/usr/bin/env bash
# The recipe of models/medembed-rerank, rerunnable by anyone with ../shared/data (or MEDEMBED_DATA):
#   1. training groups (`medembed generate --from-qrels`): the train splits of BioASQ (2 snippets per question),
#      PubMedQA, COVID-QA, MedicationQA (2 answers per question), NFCorpus (3 judged documents per query) and MedQuAD
#      (4,000 questions), each positive with 7 BM25-mined negatives (the likely false negatives skipped; a random
#      unjudged document for the small sets where none passes). Never a dev or test query.
#   2. `medembed train-reranker`: medembed-small's encoder with a fresh one-logit head, localised contrastive loss
#      over groups of GROUP passages (one positive), BATCH queries per step, STEPS steps, passages cut so that query
#      and passage fit MAX_LEN tokens; bf16 autocast where the CPU has native bf16; resumable (checkpoints every 100
#      steps: rerun the script).
# Everything lands in $WORK (default .cache/train-reranker); the model in $MODEL (default models/medembed-rerank).
# Then: `medembed eval DATASET --split dev --retriever hybrid:medembed-small --retriever hybrid:medembed-small+rerank`
# and `python benchmarks/relevance_calibration.py --reranker medembed-rerank` (BENCHMARKS.md, "The reranker").
# Run it in the background with its log:  nohup bash scripts/train_reranker.sh > rerank.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
DATA=${MEDEMBED_DATA:-../shared/data}
WORK=${WORK:-.cache/train-reranker}
MODEL=${MODEL:-models/medembed-rerank}
: "${STEPS:=800}" "${GROUP:=8}" "${BATCH:=4}" "${MAX_LEN:=192}" "${LR:=8e-5}" "${HEAD_LR:=1e-3}"
: "${BASE:=medembed-small}"  # or a reranker folder to train on (its head kept; then lower LR and HEAD_LR)
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
log() { echo "train_reranker: $(date -u +%H:%M:%S) $*" >&2; }
[ -d "$DATA/nfcorpus" ] || { echo "train_reranker: needs $DATA/nfcorpus and $DATA/train (set MEDEMBED_DATA)" >&2; exit 2; }
mkdir -p "$WORK"

FILES=()
groups() {  # folder under $DATA, positives per query, more generate options
  local folder=$1 per=$2; shift 2
  local name; name=$(basename "$folder")
  "$PY" -m cli -q generate --from-qrels "$DATA/$folder" --split train --max-per-query "$per" --mine bm25 \
    --negatives 7 --range-max 40 "$@" -o "$WORK/$name.jsonl" --json > "$WORK/generate-$name.json"
  FILES+=("$WORK/$name.jsonl")
}
groups train/bioasq-b7-11 2
groups train/pubmedqa-pqal 1 --random-negatives
groups train/covid-qa 1 --random-negatives
groups train/medicationqa 2 --random-negatives
groups nfcorpus 3
groups medquad 1 --max-queries 4000
log "training triplets: $(cat "${FILES[@]}" | wc -l)"

JEMALLOC=$(ls /usr/lib/*/libjemalloc.so.2 2>/dev/null | head -n1 || true)
TRAIN_ENV=()  # jemalloc keeps the activation buffers between steps (see train_medembed_small.sh)
[ -n "$JEMALLOC" ] && TRAIN_ENV=(env LD_PRELOAD="$JEMALLOC" MALLOC_CONF="dirty_decay_ms:-1,muzzy_decay_ms:-1")
start=$(date +%s)
"${TRAIN_ENV[@]}" "$PY" -m cli train-reranker "${FILES[@]}" -o "$WORK/model" --base-model "$BASE" --steps "$STEPS" --group-size "$GROUP" \
  --batch-queries "$BATCH" --max-length "$MAX_LEN" --lr "$LR" --head-lr "$HEAD_LR" --json > "$WORK/train.json"
log "trained in $(( $(date +%s) - start )) s: $(cat "$WORK/train.json")"
rm -rf "$MODEL.tmp" && cp -r "$WORK/model" "$MODEL.tmp" && rm -rf "$MODEL" && mv "$MODEL.tmp" "$MODEL"
log "done: $MODEL"
