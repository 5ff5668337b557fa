#!/usr/bin/env bash
# Build the Lambda bootstraps (every `Binary` in template.yaml) for arm64 (Graviton) with cargo-lambda, the way
# `sam build` does (template.yaml: BuildMethod rust-cargolambda).
# Needs: pip install cargo-lambda ziglang (zig is the cross linker).
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add aarch64-unknown-linux-gnu >/dev/null
cargo lambda build --release --arm64 --bin api --bin submit --bin check-status --bin download-to-s3 --bin sweeper --bin webhook-sender --bin ws-authorizer --bin ws-events --bin ws-notifier
for f in api submit check-status download-to-s3 sweeper webhook-sender ws-authorizer ws-events ws-notifier; do
  ls -l "target/lambda/$f/bootstrap"
done
