#!/usr/bin/env python3
"""The cold-start baseline (benches/cold_start.py): a Lambda function written the seed's
way, Python + boto3 on the Runtime API loop, doing at init what our binary FUNCTION does:
the same SDK clients (DynamoDB, S3, Step Functions, Secrets Manager, SQS; none for the
WebSocket authorizer) and the same secrets read (every *_SECRET_ARN it is given). It never
handles an invocation: the benchmark kills it at its first request for work.

Usage: cold_start_boto3.py FUNCTION   (with AWS_LAMBDA_RUNTIME_API and the env set)
"""
import json
import os
import sys
import urllib.request

import boto3

FUNCTION = sys.argv[1]
FIELDS = {
    "OPENAI_SECRET_ARN": "OPENAI_API_KEY",
    "RUNWAYML_SECRET_ARN": "RUNWAYML_API_SECRET",
    "FAL_SECRET_ARN": "FAL_KEY",
    "WEBHOOK_SECRET_ARN": "WEBHOOK_SECRET",
}
# The secrets each binary reads at init (the api reads its OpenAI webhook secret too).
READS = {
    "submit": ["OPENAI_SECRET_ARN", "RUNWAYML_SECRET_ARN", "FAL_SECRET_ARN"],
    "check-status": ["OPENAI_SECRET_ARN", "RUNWAYML_SECRET_ARN", "FAL_SECRET_ARN"],
    "download-to-s3": ["OPENAI_SECRET_ARN", "RUNWAYML_SECRET_ARN", "FAL_SECRET_ARN"],
    "webhook-sender": ["WEBHOOK_SECRET_ARN"],
    "api": ["OPENAI_WEBHOOK_SECRET_ARN"],
}

clients = {}
if FUNCTION != "ws-authorizer":
    session = boto3.session.Session()
    for service in ("dynamodb", "s3", "stepfunctions", "secretsmanager", "sqs"):
        clients[service] = session.client(service)
secrets = {}
for var in READS.get(FUNCTION, []):
    if os.environ.get(var):
        raw = clients["secretsmanager"].get_secret_value(SecretId=os.environ[var])["SecretString"]
        secrets[var] = json.loads(raw).get(FIELDS.get(var, "OPENAI_WEBHOOK_SECRET"), raw)

api = os.environ["AWS_LAMBDA_RUNTIME_API"]
while True:
    with urllib.request.urlopen(f"http://{api}/2018-06-01/runtime/invocation/next") as r:
        request_id = r.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.loads(r.read())
    body = json.dumps({"function": FUNCTION}).encode()
    urllib.request.urlopen(urllib.request.Request(
        f"http://{api}/2018-06-01/runtime/invocation/{request_id}/response", data=body,
        method="POST"))
