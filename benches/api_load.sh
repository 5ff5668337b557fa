#!/usr/bin/env bash
# The public API under load: requests/s and p50/p99 latency, from `oha` (1.16.0 from
# crates.io, installed here if missing), on `vidgen serve` (`measure` build,
# embedded store, in-process Sora simulator, single-user mode), for
#   GET  /v1/health        the server's floor: the baseline, measured in the same run
#   GET  /v1/videos/{id}   one job's record (a store read and the job's JSON)
#   POST /v1/videos        a new job (validation, limits, a store write, the workflow's
#                          start); the per-owner limits are raised out of the way
#                          (VIDGEN_MAX_ACTIVE_JOBS, VIDGEN_DAILY_BUDGET_USD), and every
#                          prompt carries [sim:never_finish] so the jobs' renders never
#                          finish and no downloads compete with the load. POST runs last,
#                          a fixed number of requests, so its jobs' polling (every 5 s or
#                          more) does not load the GET runs.
# oha runs on the same machine as the server (2 cores here): both compete for the CPU.
# Prints each route's figures and its ratio to the health floor; fails when any answer
# is not the route's success status (200, or 201 for POST) or a request errors.
# Usage: benches/api_load.sh [SECONDS] [CONCURRENCY] [POSTS]   (defaults: 10 s, 32, 4000)
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh
secs=${1:-10}
conc=${2:-32}
posts=${3:-4000}
oha_version=1.16.0

if ! oha --version 2>/dev/null | grep -q "$oha_version"; then
  # Default features: 1.16.0 does not compile without a TLS backend (its rustls one
  # builds aws-lc's C code: several minutes, once).
  cargo install oha --version "$oha_version" --locked --quiet
fi
cargo build --quiet --locked --profile measure -p vidgen --bin vidgen

dir=$(mktemp -d)
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM

port=$(free_port)
base="http://127.0.0.1:$port/v1"
env -u OPENAI_API_KEY -u RUNWAYML_API_SECRET -u FAL_KEY -u VIDGEN_LOCAL_TOKENS \
  VIDGEN_MAX_ACTIVE_JOBS=4000000000 VIDGEN_DAILY_BUDGET_USD=100000000 RUST_LOG=warn \
  "$target_dir/measure/vidgen" serve --addr "127.0.0.1:$port" --data-dir "$dir/data" \
  >"$dir/serve.log" 2>&1 &
server=$!
wait_for "$base/health"

body='{"prompt":"[sim:never_finish] a fox in the snow","model":"sora-2","seconds":4}'
id=$(curl -sSf -H 'Content-Type: application/json' -d "$body" "$base/videos" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')

machine
echo "oha $oha_version, $conc connections; GETs for $secs s each, then $posts POSTs"
oha --no-tui --output-format json -c "$conc" -z "${secs}s" "$base/health" >"$dir/health.json"
oha --no-tui --output-format json -c "$conc" -z "${secs}s" "$base/videos/$id" >"$dir/get.json"
oha --no-tui --output-format json -c "$conc" -n "$posts" -m POST \
  -H 'Content-Type: application/json' -d "$body" "$base/videos" >"$dir/post.json"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$dir" <<'PY'
import json, sys
d = sys.argv[1]
runs = [("GET /v1/health (floor)", "health", "200"),
        ("GET /v1/videos/{id}", "get", "200"),
        ("POST /v1/videos", "post", "201")]
figures, failed = {}, False
print(f"{'route':<24} {'requests':>9} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
      f"{'req/s ÷ floor':>13} {'p50 ÷ floor':>11} {'p99 ÷ floor':>11}")
for label, name, ok in runs:
    r = json.load(open(f"{d}/{name}.json"))
    codes = r.get("statusCodeDistribution", {})
    errors = r.get("errorDistribution", {})
    total = sum(codes.values())
    lat = r["latencyPercentiles"]
    f = (total, r["summary"]["requestsPerSec"], lat["p50"] * 1000, lat["p99"] * 1000)
    figures[name] = f
    floor = figures["health"]
    print(f"{label:<24} {f[0]:>9} {f[1]:>8.0f} {f[2]:>7.2f} {f[3]:>7.2f} "
          f"{f[1] / floor[1]:>12.2f}x {f[2] / floor[2]:>10.2f}x {f[3] / floor[3]:>10.2f}x")
    bad = {c: n for c, n in codes.items() if c != ok}
    if bad or errors or total == 0:
        print(f"  FAILED: {label}: other statuses {bad}, errors {errors}")
        failed = True
sys.exit(1 if failed else 0)
PY
