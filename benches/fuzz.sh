#!/usr/bin/env bash
# Property-based fuzzing on stable Rust (local/fuzzkit): every target that reads bytes
# from outside — request bodies and queries, list cursors, event frames, the MP4
# duration probe, the OpenAI and fal webhook verifiers and the JWKS parser, each
# provider's status, error and retry-header parsing, the ASL definition parser and its
# path, template, intrinsic and Choice evaluators — runs SECS seconds (default 30) and
# prints the inputs it tried. Any input that panics, hangs (> 2 s) or holds > 256 MiB of
# heap fails the run and prints the input and the VIDGEN_FUZZ_SEED that reproduces it.
# The test suite runs the same targets for 1 s each.
# Usage: benches/fuzz.sh [SECS]
set -euo pipefail
cd "$(dirname "$0")/.."
export VIDGEN_FUZZ_SECS="${1:-30}"
failed=0
for crate in vidgen-shared asl; do
  status=0
  out=$(cargo test --quiet -p "$crate" --lib fuzz_targets -- --nocapture --test-threads 1 2>&1) || status=$?
  grep -oE 'fuzz [a-z0-9_]+ +[0-9]+ inputs.*|fuzz target .*|panicked.*' <<<"$out" || true
  if [ "$status" -ne 0 ]; then
    echo "fuzzing $crate failed (exit $status): the input and VIDGEN_FUZZ_SEED are above"
    failed=1
  fi
done
exit "$failed"
