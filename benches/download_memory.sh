#!/usr/bin/env bash
# Streams a generated video (default 1 GiB) from the Sora simulator through the real
# OpenAI client — once discarding, once into the local object store as the
# download-to-s3 step does — verifying every byte by SHA-256, and prints throughput
# and peak RSS. Flat memory means peak RSS stays a few MiB whatever the size.
# When s3s-fs is installed (scripts/setup-test-tools.sh), a third run streams into it
# through the S3 adapter's multipart upload, the download-to-s3 path.
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

if command -v s3s-fs >/dev/null 2>&1; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
  mkdir -p "$dir/s3"
  s3s-fs --host 127.0.0.1 --port "$port" --access-key bench --secret-key bench-secret "$dir/s3" >/dev/null 2>&1 &
  s3s_pid=$!
  trap 'kill $s3s_pid 2>/dev/null; rm -rf "$dir"' EXIT
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
  "$bin" "$bytes" --s3 "http://127.0.0.1:$port" bench bench-secret
fi
