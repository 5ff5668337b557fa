#!/usr/bin/env bash
# Install everything the test suite needs beyond the Rust toolchain, pinned.
# Idempotent: a second run only checks. Used by scripts/test.sh (and so by CI).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*"; }

# Python: moto (local AWS wire protocols), the SAM CLI (template validation), the
# providers' SDKs and Schemathesis (scripts/requirements-test.txt).
if ! python3 -m pip install --quiet --disable-pip-version-check -r scripts/requirements-test.txt; then
  log "pip install failed"; exit 1
fi

# Chromium for the console's browser test (tests/browser.rs), from Debian.
if [ ! -x /usr/bin/chromium ]; then
  log "installing chromium (apt-get)"
  sudo_cmd=""
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends chromium
fi

# Node: asl-validator and playwright-core, pinned in package.json / package-lock.json.
if [ ! -x node_modules/.bin/asl-validator ] || [ ! -d node_modules/playwright-core ]; then
  log "installing node tools (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi

# Rust: s3s-fs, an S3 server that checks SigV4 signatures and expiry (moto does not).
# 0.14.1 is the newest release that builds with this toolchain.
if ! command -v s3s-fs >/dev/null 2>&1; then
  log "installing s3s-fs 0.14.1 (a few minutes, once)"
  cargo install s3s-fs@0.14.1 --features binary --locked --quiet
fi

for tool in moto_server sam schemathesis s3s-fs /usr/bin/chromium; do
  command -v "$tool" >/dev/null 2>&1 || { log "missing after install: $tool"; exit 1; }
done
log "tools ready"
