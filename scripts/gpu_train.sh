#!/usr/bin/env bash
# On the GPU machine: fine-tune MiniLM on the bundle from scripts/make_train_bundle.sh, merge it with its base
# (LM-Cocktail; the weight chosen on the NFCorpus + MedQuAD dev set) and pack models/medembed-small into $OUT
# as <=15 MiB parts. Needs torch, sentence-transformers, transformers (and click, carried in the bundle if absent).
#   run: carry [".device/train"], command "bash scripts/gpu_train.sh"
#   then here: cat FILES_AT/medembed-small.tgz.part-* | tar xzf - -C models/
# Settings: EPOCHS (1), BATCH (64), LR (2e-5), MAX_STEPS (-1: all), WEIGHTS ("0.3 0.5 0.7 1"),
# DEV_QUERIES (200 per dev dataset), DEV_CORPUS (2000 distractors per dev dataset).
set -euo pipefail
cd "$(dirname "$0")/.."
B=${BUNDLE:-.device/train}
W=${WORK:-/tmp/medembed-train}
OUT=${OUT:-$W/out}
PY=${PYTHON:-python3}
mkdir -p "$W" "$OUT"
for wheel in "$B"/pylib/*.whl; do [ -e "$wheel" ] && PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$PWD/$wheel"; done
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
"$PY" -c "import sys, torch, sentence_transformers as st, transformers, click; print('python', sys.version.split()[0], \
'torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'st', st.__version__, 'transformers', \
transformers.__version__)"
DEV=(--dev "$B/data/nfcorpus" --dev "$B/data/medquad" --dev-queries "${DEV_QUERIES:-200}" --dev-corpus "${DEV_CORPUS:-2000}")
GRID=(); for w in ${WEIGHTS:-0.3 0.5 0.7 1}; do GRID+=(--weights "$w"); done

start=$(date +%s)
"$PY" -m cli -q train "$B"/triplets/*.jsonl.xz -o "$W/ft" --base-model "$B/minilm-fp16" "${DEV[@]}" \
  --batch-size "${BATCH:-64}" --epochs "${EPOCHS:-1}" --lr "${LR:-2e-5}" --max-steps "${MAX_STEPS:--1}" \
  --max-seq-length 256 --backend torch --save-steps 100000 --overwrite --json | tee "$OUT/train.json"
"$PY" -m cli -q merge "$W/ft" "$B/minilm-fp16" -o "$W/medembed-small" "${DEV[@]}" "${GRID[@]}" --fp16 \
  --overwrite --json | tee "$OUT/merge.json"
tar czf - -C "$W" medembed-small | split -b 15M - "$OUT/medembed-small.tgz.part-"
echo "gpu_train: done in $(( $(date +%s) - start ))s; $(ls "$OUT" | wc -l) files in $OUT" >&2
