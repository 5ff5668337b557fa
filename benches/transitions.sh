#!/usr/bin/env bash
# State transitions per job and the time from the provider finishing to the job being
# completed, for the same fal job polled (the baseline, measured in the same run) and
# ended by fal's signed webhook (callback mode), on the local stack against the fal
# simulator at `vidgen serve`'s own pace, with the provider requests each job made (submit,
# status polls, result fetches, downloads). Prints both and their ratios; fails when
# callback mode takes more than 6 transitions per job.
# Usage: benches/transitions.sh [JOBS] [RENDER_SECS]   (defaults: 3 jobs per mode, 3 s)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet -p vidgen --example transitions -- "${1:-3}" "${2:-3}"
