#!/usr/bin/env bash
# The long schema-fuzzing run (tests/schema.rs is the short one in the test suite):
# Schemathesis generates requests for every route of `vidgen serve` from its own
# openapi.json and runs every check, as two owners (tests/schema/run.py), with
# MAX_EXAMPLES per operation and phase (default 150). A debug build on purpose: integer
# overflow panics there too. Fails on any Schemathesis failure or when fewer than
# MIN_REQUESTS test cases were generated (default 2000).
# Usage: benches/schemathesis.sh [MAX_EXAMPLES] [MIN_REQUESTS] [SEED]
# Needs `schemathesis` on PATH (scripts/setup-test-tools.sh installs the pinned one).
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh
max_examples=${1:-150}
min_requests=${2:-2000}
seed=${3:-}

cargo build --quiet -p vidgen
dir=$(mktemp -d)
port=$(free_port)
VIDGEN_LOCAL_TOKENS=alice:st-tok-alice,bob:st-tok-bob \
VIDGEN_MAX_ACTIVE_JOBS=100000 VIDGEN_DAILY_BUDGET_USD=1000000 \
  "$target_dir/debug/vidgen" serve --addr "127.0.0.1:$port" --data-dir "$dir/data" --time-scale 0.05 \
  >"$dir/serve.log" 2>&1 &
serve=$!
trap 'kill $serve 2>/dev/null; wait $serve 2>/dev/null; rm -rf "$dir"' EXIT
wait_for "http://127.0.0.1:$port/v1/health"

args=("http://127.0.0.1:$port" alice:st-tok-alice bob:st-tok-bob
  --max-examples "$max_examples" --min-requests "$min_requests")
if [ -n "$seed" ]; then args+=(--seed "$seed"); fi
python3 tests/schema/run.py "${args[@]}"
