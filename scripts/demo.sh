#!/usr/bin/env bash
# Set up (if needed), index the sample library, and open the MedEmbed app on http://localhost:8501.
set -euo pipefail
cd "$(dirname "$0")/.."
MEDEMBED_BROWSER=0 bash scripts/setup.sh
. .venv/bin/activate
export MEDEMBED_HOME="${MEDEMBED_HOME:-$PWD/medembed-data}" HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
medembed ingest samples/pdfs || true   # already-stored papers are skipped; a failure is reported, not fatal
medembed index --model minilm
if [ -d models/medembed-small ]; then
  # our model, and the fusion chosen for it on NFCorpus and MedQuAD dev (BENCHMARKS.md), unless told otherwise
  export MEDEMBED_INDEX_MODEL="${MEDEMBED_INDEX_MODEL:-medembed-small}" \
    MEDEMBED_SEARCH_FUSION="${MEDEMBED_SEARCH_FUSION:-convex}" MEDEMBED_SEARCH_ALPHA="${MEDEMBED_SEARCH_ALPHA:-0.7}"
  medembed index --model medembed-small
fi
exec medembed ui --port "${PORT:-8501}" --address "${ADDRESS:-127.0.0.1}"
