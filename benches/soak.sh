#!/usr/bin/env bash
# Chaos soak: JOBS jobs (default 1000) through `vidgen serve` (debug build, time-scaled)
# against the three provider simulators run as separate processes (`sora-sim --provider
# sora|runway|fal`), 40% of them with an injected fault of every kind the simulators have;
# `vidgen serve` is SIGKILLed and restarted 3 times on the embedded store (phase 1, 80% of
# the jobs) and once more on the AWS stores (phase 2: moto + s3s-fs, which are themselves
# killed and restarted once, moto's state carried over by its request recorder).
# Checks and prints: jobs submitted, ends by status/error code, every end matching its
# fault, 0 lost, 0 duplicate provider creates, every completed job's bytes equal to the
# provider's. Exits non-zero on any loss, mismatch or duplicate.
# Usage: benches/soak.sh [JOBS]     (SOAK_PROFILE=measure: release builds)
# Needs: python3 with moto[server] (pip install 'moto[server]==5.2.1') and s3s-fs
# (cargo install s3s-fs@0.14.1 --features binary --locked); both are installed
# here if missing. The driver is local/vidgen/examples/soak.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${1:-1000}

if ! python3 -c 'import moto.server' 2>/dev/null; then
  echo "[soak] installing moto[server]==5.2.1" >&2
  python3 -m pip install --quiet 'moto[server]==5.2.1'
fi
if ! command -v s3s-fs >/dev/null; then
  echo "[soak] installing s3s-fs 0.14.1" >&2
  cargo install s3s-fs@0.14.1 --features binary --locked
fi

# Debug builds by default: this checks correctness, not speed, and debug builds also
# panic on integer overflow. SOAK_PROFILE=measure runs release builds.
profile=${SOAK_PROFILE:-dev}
cargo build --locked --quiet --profile "$profile" -p vidgen -p sora-sim --bins --example soak
dir=$profile; [ "$profile" = dev ] && dir=debug
target=${CARGO_TARGET_DIR:-target}/$dir

# The driver and everything it starts share one process group, ended on any exit.
setsid "$target/examples/soak" "$jobs" "$target/vidgen" "$target/sora-sim" scripts/moto-serialized.py &
driver=$!
trap 'kill -KILL -- -"$driver" 2>/dev/null || true' EXIT
trap 'exit 130' INT TERM
wait "$driver"
