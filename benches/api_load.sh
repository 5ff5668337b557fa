#!/usr/bin/env bash
# The public API under load: requests/s and p50/p99 latency, from `hey` (Debian's
# package, installed here with apt-get if missing; every request's time and status from
# its CSV output), on `vidgen serve` (`measure` build, embedded store, in-process Sora
# simulator, single-user mode), for
#   GET  /v1/health        the server's floor: the baseline, measured in the same run
#   GET  /v1/videos/{id}   one job's record (a store read and the job's JSON)
#   POST /v1/videos        a new job (validation, limits, a store write, the workflow's
#                          start); the per-owner limits are raised out of the way
#                          (VIDGEN_MAX_ACTIVE_JOBS, VIDGEN_DAILY_BUDGET_USD), and every
#                          prompt carries [sim:never_finish] so the jobs' renders never
#                          finish and no downloads compete with the load. POST runs last,
#                          a fixed number of requests, so its jobs' polling (every 5 s or
#                          more) does not load the GET runs.
# hey runs on the same machine as the server (2 cores here): both compete for the CPU.
# Prints each route's figures and its ratio to the health floor; fails when any answer
# is not the route's success status (200, or 202 for POST) or a request is missing.
# Usage: benches/api_load.sh [SECONDS] [CONCURRENCY] [POSTS]   (defaults: 10 s, 32, 4000)
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh
secs=${1:-10}
conc=${2:-32}
posts=${3:-4000}

if ! command -v hey >/dev/null 2>&1; then
  sudo_cmd=""
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends hey
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
echo "hey $(dpkg-query -W -f='${Version}' hey 2>/dev/null), $conc connections; GETs for $secs s each, then $posts POSTs"
timed() { # name, hey arguments...: hey's CSV and its wall time
  local name=$1 start end
  shift
  start=$(date +%s.%N)
  hey -o csv -c "$conc" "$@" >"$dir/$name.csv"
  end=$(date +%s.%N)
  echo "$start $end" >"$dir/$name.time"
}
timed health -z "${secs}s" "$base/health"
timed get -z "${secs}s" "$base/videos/$id"
timed post -n "$posts" -m POST -T application/json -d "$body" "$base/videos"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$dir" "$posts" <<'PY'
import csv, sys
d, posts = sys.argv[1], int(sys.argv[2])
runs = [("GET /v1/health (floor)", "health", "200", None),
        ("GET /v1/videos/{id}", "get", "200", None),
        ("POST /v1/videos", "post", "202", posts)]
figures, failed = {}, False
print(f"{'route':<24} {'requests':>9} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
      f"{'req/s ÷ floor':>13} {'p50 ÷ floor':>11} {'p99 ÷ floor':>11}")
def percentile(sorted_values, q):
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]

for label, name, ok, expected in runs:
    rows = list(csv.DictReader(open(f"{d}/{name}.csv")))
    start, end = map(float, open(f"{d}/{name}.time").read().split())
    times = sorted(float(r["response-time"]) for r in rows)
    codes = {}
    for r in rows:
        codes[r["status-code"]] = codes.get(r["status-code"], 0) + 1
    total = len(rows)
    if total == 0:
        print(f"  FAILED: {label}: no answers")
        failed = True
        continue
    f = (total, total / (end - start), percentile(times, 0.50) * 1000, percentile(times, 0.99) * 1000)
    figures[name] = f
    floor = figures["health"]
    print(f"{label:<24} {f[0]:>9} {f[1]:>8.0f} {f[2]:>7.2f} {f[3]:>7.2f} "
          f"{f[1] / floor[1]:>12.2f}x {f[2] / floor[2]:>10.2f}x {f[3] / floor[3]:>10.2f}x")
    bad = {c: n for c, n in codes.items() if c != ok}
    if bad or (expected is not None and total != expected):
        print(f"  FAILED: {label}: other statuses {bad}, {total} answers of {expected or total}")
        failed = True
sys.exit(1 if failed else 0)
PY
