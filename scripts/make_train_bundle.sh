#!/usr/bin/env bash
# Build the bundle that scripts/gpu_train.sh needs on a GPU machine (torch + sentence-transformers + transformers;
# no datasets, faiss, bm25s or network): everything under $BUNDLE (default .device/train, git-ignored), < 64 MiB.
#
#   triplets/*.jsonl.xz   NFCorpus train and MedQuAD train with mined hard negatives, plus any triplet files given
#                         as arguments (e.g. LLM triplets from `medembed generate`); xz: passages repeat, ~10x smaller
#   data/{nfcorpus,medquad}/  corpus and queries (xz) and qrels/dev.tsv: the dev set is rebuilt there, same seed
#   minilm-fp16/          the base model, float16 on disk (45 MB), loading as float32
#   pylib/*.whl           click (pure Python), in case the GPU machine's Python lacks it
#
# MINE=hybrid (default; encodes the corpora with MiniLM: ~10 min NFCorpus, ~30 min MedQuAD on 2 idle cores) or
# MINE=bm25 (about 2 minutes). Generation resumes: rerun after an interruption.
# Usage: scripts/make_train_bundle.sh [EXTRA_TRIPLETS.jsonl ...]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
DATA=${MEDEMBED_DATA:-../shared/data}
B=${BUNDLE:-.device/train}
MINE=${MINE:-hybrid}
medembed() { "$PY" -m cli -q "$@"; }

WORK=${WORK:-.device/work}  # plain JSONL while generating (resumable), compressed in one xz stream at the end
mkdir -p "$B/triplets" "$B/data" "$B/pylib" "$WORK"
medembed generate --from-qrels "$DATA/nfcorpus" --split train --max-per-query 3 --mine "$MINE" \
  -o "$WORK/nfcorpus-train.jsonl"
medembed generate --from-qrels "$DATA/medquad" --split train --max-per-query 1 --mine "$MINE" \
  -o "$WORK/medquad-train.jsonl"
for name in nfcorpus-train medquad-train; do xz -9 -T2 -c "$WORK/$name.jsonl" > "$B/triplets/$name.jsonl.xz"; done
for extra in "$@"; do
  name=$(basename "$extra"); name=${name%.xz}; name=${name%.gz}
  case "$extra" in
    *.xz) xz -dc "$extra" | xz -9 -T2 -c > "$B/triplets/$name.xz" ;;
    *.gz) gzip -dc "$extra" | xz -9 -T2 -c > "$B/triplets/$name.xz" ;;
    *) xz -9 -T2 -c "$extra" > "$B/triplets/$name.xz" ;;
  esac
done

for name in nfcorpus medquad; do
  mkdir -p "$B/data/$name/qrels"
  for f in corpus.jsonl queries.jsonl; do xz -9 -T2 -c "$DATA/$name/$f" > "$B/data/$name/$f.xz"; done
  cp "$DATA/$name/qrels/dev.tsv" "$B/data/$name/qrels/dev.tsv"
done

medembed merge minilm minilm --weights 1,0 --fp16 --overwrite -o "$B/minilm-fp16" > /dev/null
"$PY" -m pip download -q --no-deps -d "$B/pylib" click

size=$(du -sb "$B" | cut -f1)
echo "make_train_bundle: $B is $((size / 1048576)) MiB ($(ls "$B"/triplets/*.jsonl.xz | wc -l) triplet files)" >&2
[ "$size" -lt $((64 * 1048576)) ] || { echo "make_train_bundle: over the 64 MiB carry limit" >&2; exit 1; }
