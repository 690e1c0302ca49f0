#!/usr/bin/env bash
# Create .venv and install MedEmbed with its dev tools (idempotent). CPU torch comes from the pinned wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip >/dev/null
python -c "import torch" 2>/dev/null || python -m pip install -q "torch==2.13.0"
python -m pip install -q -e ".[dev]"
if [ "${MEDEMBED_BROWSER:-1}" = "1" ] && [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null; then
  # Debian's Chromium for the real-browser UI tests (never `playwright install`: no downloads here).
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "setup: could not install chromium; browser tests will be skipped" >&2
fi
