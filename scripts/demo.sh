#!/usr/bin/env bash
# Set up (if needed), index the sample library, and open the MedEmbed app on http://localhost:8501.
set -euo pipefail
cd "$(dirname "$0")/.."
MEDEMBED_BROWSER=0 bash scripts/setup.sh
. .venv/bin/activate
export MEDEMBED_HOME="${MEDEMBED_HOME:-$PWD/medembed-data}" HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
# The benchmark data of a development checkout, beside the repository; without it the app offers its sample.
if [[ -z "${MEDEMBED_BENCHMARKS_DIR:-}" && -d ../shared/data ]]; then
    export MEDEMBED_BENCHMARKS_DIR="$(cd ../shared/data && pwd)"
fi
medembed ingest samples/pdfs || true   # already-stored papers are skipped; a failure is reported, not fatal
medembed index --model minilm   # the base model, for the Compare page
medembed index --model medembed-small   # our model, for the Compare page (ours where it is shipped)
medembed index                  # the default model (MiniLM until ours wins on the breadth dev set: medembed models)
exec medembed ui --port "${PORT:-8501}" --address "${ADDRESS:-127.0.0.1}"
