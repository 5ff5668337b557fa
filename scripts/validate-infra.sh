#!/usr/bin/env bash
# Validate the deployment definitions:
#  - the state machine with asl-validator (cfn-lint and `sam validate` do not look
#    inside SAM state-machine definitions),
#  - template.yaml with `sam validate --lint`.
set -euo pipefail
cd "$(dirname "$0")/.."
export SAM_CLI_TELEMETRY=0
if [ ! -x node_modules/.bin/asl-validator ]; then
  echo "validate-infra: node_modules/.bin/asl-validator is missing; run scripts/setup-test-tools.sh (npm ci) first" >&2
  exit 1
fi
node_modules/.bin/asl-validator --json-path infra/state-machine.asl.json
sam validate --lint --template template.yaml --region us-east-1
