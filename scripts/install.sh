#!/usr/bin/env bash
# Install MedEmbed into the current Python environment. The one install path: CI and developers run it through
# scripts/setup.sh (inside .venv), and both Docker images run it too, so an image installs what CI tested.
#
#   bash scripts/install.sh                  # torch, then pip install -e ".[dev]"   (scripts/setup.sh)
#   bash scripts/install.sh -e .             # torch, then the package alone          (Dockerfile)
#   bash scripts/install.sh --torch-only     # torch only (the Dockerfiles cache it in a layer of its own)
#
# TORCH_INDEX_URL  where the pinned torch comes from; unset: pip's own configuration (PyPI, or a local wheel
#                  folder). The CPU image sets the CPU wheel index; PyPI's Linux torch is the CUDA build.
# MEDEMBED_GPU=1   keep faiss-gpu instead of faiss-cpu (both install the same `faiss` module); the GPU image.
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH_VERSION=2.13.0
PY=python  # the current environment (an activated venv, or the image's /opt/venv)

installed=$("$PY" -c "import torch; print(torch.__version__.split('+')[0])" 2>/dev/null || true)
if [ "$installed" != "$TORCH_VERSION" ]; then
  "$PY" -m pip install -q "torch==$TORCH_VERSION" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
fi
if [ "${1:-}" = "--torch-only" ]; then
  exit 0
fi
[ $# -gt 0 ] || set -- -e ".[dev]"
"$PY" -m pip install -q "$@"

if [ "${MEDEMBED_GPU:-0}" = "1" ]; then
  version=$("$PY" -m pip show faiss-gpu 2>/dev/null | sed -n 's/^Version: //p')
  "$PY" -m pip uninstall -q -y faiss-cpu faiss-gpu
  "$PY" -m pip install -q --no-deps "faiss-gpu${version:+==$version}"
fi
