#!/usr/bin/env bash
# Cold start of every Lambda binary in template.yaml (process start to its first request
# for work under a local Lambda Runtime API stand-in), median and p90 over RUNS starts,
# and each binary's size, against the same function in Python + boto3 measured in the
# same run (see benches/cold_start.py). Binaries are host builds (x86_64 here) with the
# `measure` profile (release, thin LTO, unwinding); the deployed arm64 builds come from
# scripts/build-lambdas.sh (fat LTO, panic=abort: smaller). Fails when a binary's median
# init is over 20 ms.
# Usage: benches/cold_start.sh [RUNS] [FUNCTION...]   (default 20 starts, every function)
#        COLD_START_BEFORE=DIR benches/cold_start.sh …   also starts DIR's binaries (an
#        older commit's `measure` build) alternately with these, and prints before/after.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh
runs=${1:-20}
shift || true
cargo build --quiet --locked --profile measure -p api -p submit -p check-status \
  -p download-to-s3 -p sweeper -p webhook-sender -p ws-authorizer -p ws-events -p ws-notifier
python=$(bench_venv boto3==1.43.11 PyYAML==6.0.2)
machine
only=()
[ $# -gt 0 ] && only=(--only "$@")
[ -n "${COLD_START_BEFORE:-}" ] && only+=(--before "$COLD_START_BEFORE")
# The stand-in is a thread of this Python process, which ends with it.
"$python" benches/cold_start.py "$target_dir/measure" "$python" --runs "$runs" "${only[@]}"
