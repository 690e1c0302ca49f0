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
bash scripts/install.sh -e ".[dev]"   # pinned torch, then the package: the same script the Dockerfiles run
# Debian's Chromium for the real-browser UI tests (never `playwright install`: no downloads here), and Debian's
# docker-compose, which validates docker-compose.yml in the tests (no Docker engine needed). Only what is missing.
APT=()
if [ "${MEDEMBED_BROWSER:-1}" = "1" ] && [ ! -x /usr/bin/chromium ]; then APT+=(chromium); fi
if [ "${MEDEMBED_COMPOSE:-${MEDEMBED_BROWSER:-1}}" = "1" ] && ! command -v docker-compose >/dev/null; then
  APT+=(docker-compose)
fi
if [ ${#APT[@]} -gt 0 ] && command -v apt-get >/dev/null; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${APT[@]}" >/dev/null) \
    || echo "setup: could not install ${APT[*]}; the tests that need them will be skipped" >&2
fi
