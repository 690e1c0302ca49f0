#!/usr/bin/env bash
# The recipe of models/medembed-small, rerunnable by anyone with ../shared/data (or MEDEMBED_DATA):
#   1. training pairs (`medembed generate`), by MIX:
#      broad (the default): the train splits of NFCorpus (NF_PER_QUERY judged documents per query, default 3),
#        MedQuAD (5,000 questions), BioASQ (4 snippets per question), PubMedQA, COVID-QA and MedicationQA (these
#        three twice: they are small; COPIES changes a set's copies),
#        and the Curai question pairs; plus the LLM-written queries in GENERATED (`medembed generate`'s files, e.g.
#        "data/generated/*.jsonl.gz"; the queries of a fifth of their passages are held apart as one more dev set)
#        and any triplet files named as arguments;
#      nfcorpus-medquad: NFCorpus (NF_PER_QUERY judged documents per query, default 20) and MedQuAD train, as runs 1
#        and 2 were;
#      each with a hard negative mined by MINE (BM25 by default; the likely false negatives skipped; a random
#      document not judged relevant for the small sets where none passes), or a random one for the sets in MINE_RANDOM
#   2. `medembed train`: MiniLM, MNRL on (query, positive) pairs with in-batch negatives (the mined negative is
#      not used unless HARD_NEGATIVES=1: pairs train 3.2x faster per example on a CPU, and NFCorpus's mined negatives
#      are often unjudged relevant documents), batches that never pit a query against its own known positives,
#      bf16 autocast where the CPU has native bf16, queries cut at 64 tokens and passages at MAX_LEN, length-grouped
#      batches, checkpoints every 50 steps (rerun to resume); on a GPU (when torch sees one) 2 epochs; with TEACHER
#      (e.g. mpnet) the in-batch ranking of a stronger model is learnt too (weight DISTILL_WEIGHT, default 1.0; with
#      DISTILL_ROWS=agree only for the queries whose labelled positive the teacher ranks first)
#   3. `medembed merge`: LM-Cocktail average of the fine-tune, the models in MERGE_WITH (earlier runs, e.g. the
#      current models/medembed-small) and the base, the weights chosen on the dev set from WEIGHTS; the dev set is
#      DEV_QUERIES dev queries of every set of the mix over their judged documents and DEV_CORPUS distractors each
#      (the breadth dev set: every set weighs about the same)
#   4. `medembed eval` on the test splits (NFCorpus, BioASQ, PubMedQA, COVID-QA, MedicationQA) and MedQuAD dev
# Everything lands in $WORK (default .cache/train-medembed-small); the model in $MODEL (default models/medembed-small).
# Run it in the background with its log:  nohup bash scripts/train_medembed_small.sh > train.log 2>&1 &
# A new run needs a new WORK: in the same WORK a rerun resumes the run that is there.
# Settings (environment): MIX (broad), TRIPLETS (train on a seeded sample of this many; 0, the default: all),
# NF_PER_QUERY (3 in broad, 20 in nfcorpus-medquad), COPIES (copies in the mix of the sets with judgements, by folder
# name, e.g. "medicationqa=3 nfcorpus=2"; the defaults are in step 1), EPOCHS (1; 2 on a GPU), MAX_STEPS (-1: the
# epochs; on a CPU without native bf16 420, sized to finish in a session on 2 cores; the learning rate decays to 0
# there, also when a run is resumed with a new MAX_STEPS), BATCH (64), MAX_LEN (passages cut at 256 tokens in training;
# 192 on a CPU without native bf16, the model still indexes 256), LR (5e-5), WEIGHTS (weight vectors, one per model:
# fine-tune, each MERGE_WITH model, base; default "0.5,0.5 0.7,0.3" without MERGE_WITH, "0.5,0.25,0.25 0.4,0.3,0.3
# 0.6,0.2,0.2" with one), PRECISION (auto: bf16 autocast where the CPU has native bf16, else fp32), HARD_NEGATIVES (0),
# DEV_QUERIES/DEV_CORPUS (dev set per dataset: 50 queries, 300 distractors for broad; 200 and 2000 otherwise),
# MERGE_WITH (none), EVAL (1), GENERATED (none), GENERATED_TRAIN (1; 0: hold the generated queries apart as dev only,
# for the ablation), MINE (bm25; hybrid or dense also rank with MINE_MODEL, default index.model: harder negatives for
# HARD_NEGATIVES=1), MINE_RANDOM (sets, by folder name, whose negative is a random document of their own corpus
# instead, e.g. "nfcorpus medicationqa": no mined negative where they hurt).
# models/medembed-small as committed: see its card (README.md) and BENCHMARKS.md for the exact commands.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
DATA=${MEDEMBED_DATA:-../shared/data}
WORK=${WORK:-.cache/train-medembed-small}
QRELS_SETS="nfcorpus medquad bioasq-b7-11 pubmedqa-pqal covid-qa medicationqa"  # the names COPIES takes
declare -A COPY=()  # COPIES, checked before any work: set name -> copies in the mix
for c in ${COPIES:-}; do
  if ! [[ $c =~ ^([a-z0-9-]+)=([0-9]+)$ ]] || [[ " $QRELS_SETS " != *" ${BASH_REMATCH[1]} "* ]]; then
    echo "train_medembed_small: COPIES takes NAME=COUNT entries (NAME one of: $QRELS_SETS), not '$c'" >&2
    exit 2
  fi
  COPY[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
done
case "${DISTILL_ROWS:-all}" in all|agree) ;;
  *) echo "train_medembed_small: DISTILL_ROWS is all or agree, not '$DISTILL_ROWS'" >&2; exit 2 ;;
esac
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

# 1. training pairs (resumable: generate skips queries already written)
FILES=()
MINING=(--mine "${MINE:-bm25}"); [ -n "${MINE_MODEL:-}" ] && MINING+=(--mine-model "$MINE_MODEL")
qrels_set() {  # folder under $DATA, positives per query, copies in the mix, more generate options
  local folder=$1 per=$2 copies=$3; shift 3
  local name mining=("${MINING[@]}"); name=$(basename "$folder")
  copies=${COPY[$name]:-$copies}
  [[ " ${MINE_RANDOM:-} " == *" $name "* ]] && mining=(--mine random)
  medembed -q generate --from-qrels "$DATA/$folder" --split train --max-per-query "$per" "${mining[@]}" "$@" \
    -o "$WORK/$name.jsonl" --json > "$WORK/generate-$name.json"
  for _ in $(seq "$copies"); do FILES+=("$WORK/$name.jsonl"); done
}
if [ "${MIX:-broad}" = broad ]; then
  qrels_set train/bioasq-b7-11 4 1
  qrels_set train/pubmedqa-pqal 1 2
  qrels_set train/covid-qa 1 2 --random-negatives
  qrels_set train/medicationqa 2 2 --random-negatives
  medembed -q generate --from-pairs "$DATA/train/curai-mqp/pairs.jsonl" -o "$WORK/curai-mqp.jsonl" --json \
    > "$WORK/generate-curai-mqp.json"
  FILES+=("$WORK/curai-mqp.jsonl")
  qrels_set nfcorpus "${NF_PER_QUERY:-3}" 1
  qrels_set medquad 1 1 --max-queries 5000
  DEV_SETS=(nfcorpus medquad train/bioasq-b7-11 train/pubmedqa-pqal train/covid-qa train/medicationqa)
  : "${DEV_QUERIES:=50}" "${DEV_CORPUS:=300}"
else
  qrels_set nfcorpus "${NF_PER_QUERY:-20}" 1
  qrels_set medquad 1 1
  DEV_SETS=(nfcorpus medquad)
  : "${DEV_QUERIES:=200}" "${DEV_CORPUS:=2000}"
fi
# LLM-written queries (GENERATED: files of `medembed generate`, e.g. data/generated/*.jsonl.gz): the queries of a
# fifth of their passages (stable hash) are held apart as one more dev set, on text that is not trained on
if [ -n "${GENERATED:-}" ]; then
  # shellcheck disable=SC2086 - GENERATED is a list of paths (globs expanded here)
  "$PY" -m trainer.heldapart $GENERATED --train "$WORK/generated-train.jsonl" --dev-folder "$WORK/generated-heldapart"
  # GENERATED_TRAIN=0 is the ablation: the same held-apart dev set, none of the LLM-written queries trained on
  if [ "${GENERATED_TRAIN:-1}" = 1 ]; then FILES+=("$WORK/generated-train.jsonl"); fi
  DEV_SETS+=("$WORK/generated-heldapart")
fi
log "training pairs: $(cat "${FILES[@]}" | wc -l) (${#FILES[@]} files with repeats), $# extra files"

# 2. fine-tune
DEV=(--dev-queries "$DEV_QUERIES" --dev-corpus "$DEV_CORPUS")
for d in "${DEV_SETS[@]}"; do [ -d "$d" ] || d="$DATA/$d"; DEV+=(--dev "$d"); done
LIMIT=(); [ "$TRIPLETS" != 0 ] && LIMIT=(--limit "$TRIPLETS")
NEG=(--no-hard-negatives); [ "${HARD_NEGATIVES:-0}" = 1 ] && NEG=(--hard-negatives)
# TEACHER (e.g. mpnet, after scripts/fetch_mpnet.sh): the fine-tune also learns the teacher's in-batch ranking
DISTILL=(); [ -n "${TEACHER:-}" ] && DISTILL=(--distill-from "$TEACHER" --distill-weight "${DISTILL_WEIGHT:-1.0}" \
  --distill-rows "${DISTILL_ROWS:-all}")
[ -n "${DISTILL_WEIGHT:-}${DISTILL_ROWS:-}" ] && [ -z "${TEACHER:-}" ] && \
  log "DISTILL_WEIGHT and DISTILL_ROWS are ignored without TEACHER (e.g. TEACHER=mpnet)"
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
"${TRAIN_ENV[@]}" "$PY" -m cli train "${FILES[@]}" "$@" -o "$WORK/ft" "${LIMIT[@]}" \
  --batch-size "$BATCH" --epochs "$EPOCHS" --max-steps "$MAX_STEPS" --lr "${LR:-5e-5}" \
  --max-seq-length "$MAX_LEN" --query-max-length 64 --group-by-length "${NEG[@]}" --backend torch \
  --precision "${PRECISION:-auto}" "${DISTILL[@]}" \
  --save-steps 50 "${RESUME[@]}" --overwrite --json > "$WORK/train.json"
log "trained in $(( $(date +%s) - start )) s: $(cat "$WORK/train.json")"

# 3. merge: the fine-tune, the earlier runs (MERGE_WITH) and the base, the weights chosen on the dev set
if [ -z "${WEIGHTS:-}" ]; then
  case ${#EARLIER[@]} in
    0) WEIGHTS="0.5,0.5 0.7,0.3" ;;
    1) WEIGHTS="0.5,0.25,0.25 0.4,0.3,0.3 0.6,0.2,0.2" ;;
    *) echo "train_medembed_small: with ${#EARLIER[@]} MERGE_WITH models, give WEIGHTS (one weight per model)" >&2
       exit 2 ;;
  esac
fi
GRID=(); for w in $WEIGHTS; do GRID+=(--weights "$w"); done
medembed merge "$WORK/ft" "${EARLIER[@]}" minilm -o "$MODEL" "${DEV[@]}" "${GRID[@]}" --fp16 --overwrite --json \
  > "$WORK/merge.json"
log "merged: $(cat "$WORK/merge.json")"

# 4. evaluate on the test splits (never used to choose anything above) and MedQuAD dev (it has no test split here;
#    the dev set of step 3 is a seeded sample of 50 of its 1,000 dev queries). EVAL_BASELINES=1 adds BM25 and MiniLM.
if [ "${EVAL:-1}" = 1 ]; then
  name=$(basename "$MODEL")
  RETRIEVERS=(--retriever "dense:$name" --retriever "hybrid:$name")
  [ "${EVAL_BASELINES:-0}" = 1 ] && RETRIEVERS+=(--retriever bm25 --retriever dense:minilm)
  for spec in "nfcorpus test" "medquad dev" "train/bioasq-b7-11 test" "train/pubmedqa-pqal test" \
              "train/covid-qa test" "train/medicationqa test"; do
    set -- $spec
    out="$WORK/eval-$(basename "$1")-$2.jsonl"
    medembed -q eval "$DATA/$1" --split "$2" "${RETRIEVERS[@]}" --json > "$out"
    log "eval $1 $2: $(tr '\n' ' ' < "$out")"
  done
fi
log "done: $MODEL"
