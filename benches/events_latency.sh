#!/usr/bin/env bash
# From a job's change recorded (its updated_at) to a watching client holding it: over
# the events WebSocket (GET /v1/events) and, as the baseline in the same run, polling
# GET /v1/videos/{id} every 500 ms. p50/p99 over every status and progress change of
# JOBS jobs run in waves of WAVE on the local stack (Sora simulator, 2 s renders).
# Fails when the events p99 is 100 ms or more, or a job's end never arrived.
# Usage: benches/events_latency.sh [JOBS] [WAVE]   (defaults: 100 jobs, waves of 10)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet -p vidgen --example events_latency -- "${1:-100}" "${2:-10}"
