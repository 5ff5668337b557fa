#!/usr/bin/env bash
# The whole test suite, on a fresh machine or a used one:
#   1. installs the tools the tests need (scripts/setup-test-tools.sh; Chromium too),
#   2. validates the state machine and the SAM template,
#   3. checks formatting and lints,
#   4. starts local AWS wire-protocol servers (moto, s3s-fs) on 127.0.0.1,
#   5. runs every Rust test in the workspace (the console's browser test included),
#      then stops the servers.
set -euo pipefail
cd "$(dirname "$0")/.."
export SAM_CLI_TELEMETRY=0

scripts/setup-test-tools.sh
scripts/validate-infra.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

env_file=target/aws-test-servers.env
mkdir -p target
scripts/aws-test-servers.sh start "$env_file"
trap 'scripts/aws-test-servers.sh stop "$env_file"' EXIT
set -a
# shellcheck disable=SC1090
. "$env_file"
set +a
# The servers are up: a test that cannot find them is a failure here, never a skip.
export VIDGEN_REQUIRE_AWS_TESTS=1
# The official provider SDKs are installed: their conformance tests run, never skip.
export VIDGEN_REQUIRE_SDK_TESTS=1
# Schemathesis is installed above: the schema fuzzing runs, never skips.
export VIDGEN_REQUIRE_SCHEMA_TESTS=1
# Chromium and playwright-core are installed above: the browser test must run, not skip.
export VIDGEN_REQUIRE_BROWSER_TESTS=1

cargo test --workspace --locked
