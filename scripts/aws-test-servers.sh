#!/usr/bin/env bash
# Start (or stop) local servers that speak the real AWS wire protocols, for the tests:
#   moto   DynamoDB, S3, Step Functions (records executions; does not check signatures)
#   s3s-fs S3 that checks SigV4 signatures and presigned-URL expiry
#   moto   a second one that enforces IAM (INITIAL_NO_AUTH_ACTION_COUNT): every request
#          must be signed with a key of an IAM user, and the user's policies must allow
#          the action (on Resource "*" only: moto's limit). An admin user is made here,
#          with exactly the requests moto lets through unchecked; the IAM tests make a
#          user per function with that function's actions from template.yaml.
# Usage: aws-test-servers.sh start ENV_FILE   -> writes a sourceable ENV_FILE
#        aws-test-servers.sh stop  ENV_FILE
set -euo pipefail
cmd=${1:-start}
env_file=${2:-target/aws-test-servers.env}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_for() { # url
  for _ in $(seq 1 100); do
    if curl -s -o /dev/null "$1"; then return 0; fi
    sleep 0.1
  done
  echo "[aws-test-servers] $1 did not come up" >&2
  return 1
}

case "$cmd" in
  start)
    mkdir -p "$(dirname "$env_file")"
    work=$(mktemp -d)
    moto_port=$(free_port)
    s3s_port=$(free_port)
    python3 "$(dirname "$0")/moto-serialized.py" -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 &
    moto_pid=$!
    iam_port=$(free_port)
    # CreateUser, PutUserPolicy, CreateAccessKey: the admin's set-up, then nothing unsigned.
    INITIAL_NO_AUTH_ACTION_COUNT=3 python3 "$(dirname "$0")/moto-serialized.py" -H 127.0.0.1 -p "$iam_port" >"$work/moto-iam.log" 2>&1 &
    iam_pid=$!
    mkdir -p "$work/s3s"
    s3s_key=vidgen-test-access
    s3s_secret=vidgen-test-secret-$(python3 -c 'import secrets; print(secrets.token_hex(8))')
    s3s-fs --host 127.0.0.1 --port "$s3s_port" --access-key "$s3s_key" --secret-key "$s3s_secret" "$work/s3s" >"$work/s3s.log" 2>&1 &
    s3s_pid=$!
    wait_for "http://127.0.0.1:$moto_port/moto-api/"
    wait_for "http://127.0.0.1:$s3s_port/"
    wait_for "http://127.0.0.1:$iam_port/moto-api/"
    admin=$(python3 - "http://127.0.0.1:$iam_port" <<'PY'
import json, sys
import boto3
iam = boto3.client("iam", endpoint_url=sys.argv[1], region_name="us-east-1",
                   aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
iam.create_user(UserName="vidgen-test-admin")
iam.put_user_policy(UserName="vidgen-test-admin", PolicyName="admin", PolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
key = iam.create_access_key(UserName="vidgen-test-admin")["AccessKey"]
print(key["AccessKeyId"], key["SecretAccessKey"])
PY
)
    read -r iam_admin_key iam_admin_secret <<<"$admin"
    # moto is left in its recording mode for Step Functions: its executing mode
    # (POST /moto-api/config {"stepfunctions":{"execute_state_machine":true}}) answers
    # 500 to every StartExecution in moto 5.2.1 ("cannot pickle '_thread.RLock'"), and
    # it could not run our Rust Lambdas anyway. The definition itself is executed by
    # the local interpreter in the end-to-end tests.
    cat >"$env_file" <<ENV
MOTO_ENDPOINT=http://127.0.0.1:$moto_port
S3S_ENDPOINT=http://127.0.0.1:$s3s_port
S3S_ACCESS_KEY=$s3s_key
S3S_SECRET_KEY=$s3s_secret
MOTO_IAM_ENDPOINT=http://127.0.0.1:$iam_port
MOTO_IAM_ADMIN_KEY=$iam_admin_key
MOTO_IAM_ADMIN_SECRET=$iam_admin_secret
AWS_REGION=us-east-1
AWS_ACCESS_KEY_ID=testing
AWS_SECRET_ACCESS_KEY=testing
AWS_EC2_METADATA_DISABLED=true
AWS_TEST_SERVERS_PIDS="$moto_pid $s3s_pid $iam_pid"
AWS_TEST_SERVERS_DIR=$work
ENV
    echo "[aws-test-servers] moto on :$moto_port, s3s-fs on :$s3s_port, moto with IAM on :$iam_port"
    ;;
  stop)
    [ -f "$env_file" ] || exit 0
    # shellcheck disable=SC1090
    . "$env_file"
    for pid in ${AWS_TEST_SERVERS_PIDS:-}; do kill "$pid" 2>/dev/null || true; done
    [ -n "${AWS_TEST_SERVERS_DIR:-}" ] && rm -rf "$AWS_TEST_SERVERS_DIR"
    rm -f "$env_file"
    ;;
  *) echo "usage: $0 start|stop ENV_FILE" >&2; exit 2 ;;
esac
