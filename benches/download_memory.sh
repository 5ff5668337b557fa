#!/usr/bin/env bash
# Streams a generated video (default 1 GiB) from the Sora simulator through the real
# OpenAI client — once discarding, once into the local object store as the
# download-to-s3 step does — verifying every byte by SHA-256, and prints throughput
# and peak RSS. Flat memory means peak RSS stays a few MiB whatever the size.
# Usage: benches/download_memory.sh [BYTES]
set -euo pipefail
cd "$(dirname "$0")/.."
bytes=${1:-1073741824}
cargo build --quiet --profile measure -p vidgen-shared --example stream_download
bin=target/measure/examples/stream_download
"$bin" "$bytes"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$bin" "$bytes" --store "$dir"
