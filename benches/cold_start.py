#!/usr/bin/env python3
"""Cold start of every Lambda binary in template.yaml, against the same function written
the seed's way (Python + boto3), measured in the same run by the same stand-in.

A local stand-in for the Lambda Runtime API (and for Secrets Manager's GetSecretValue,
which the step functions and the webhook sender call at init) listens on 127.0.0.1.
Each function starts RUNS times, fresh each time, with the environment template.yaml
gives it (values from VALUES below, every provider keyed, so the step functions read
three secrets at init); init is the time from starting the process to its first
GET /2018-06-01/runtime/invocation/next. One start before the RUNS warms the page cache.

The baseline (benches/cold_start_boto3.py) is a small Python Lambda on the Runtime API
loop that imports boto3, creates the same SDK clients at init (DynamoDB, S3, Step
Functions, Secrets Manager, SQS; none for the authorizer) and reads the same secrets.

Prints, per function: binary size, median and p90 init of both, and the ratio of
medians. Exits 1 when a Rust binary's median init is over TARGET_MS (20 ms).

With --before OLD_DIR, each function's binary from OLD_DIR (an older build) is started
too, alternately with the new one, and the line gains both medians and new ÷ old: a
before/after comparison that the machine's drift during the run cannot skew.

Usage: benches/cold_start.py BIN_DIR PYTHON [--runs N] [--only NAME...] [--before OLD_DIR]
(benches/cold_start.sh builds the binaries and the venv and calls this.)
"""
import argparse
import base64
import http.server
import json
import os
import statistics
import subprocess
import sys
import threading
import time

import yaml

TARGET_MS = 20.0
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ACCOUNT = "123456789012"

WHSEC = "whsec_" + base64.b64encode(b"bench-webhook-signing-key-32byte").decode()
# One secret value for every ARN: the functions pick their field from the JSON.
SECRET = json.dumps({
    "OPENAI_API_KEY": "sk-bench",
    "RUNWAYML_API_SECRET": "key_bench",
    "FAL_KEY": "bench-id:bench-secret",
    "WEBHOOK_SECRET": WHSEC,
    "OPENAI_WEBHOOK_SECRET": WHSEC,
})


def arn(name):
    return f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{name}"


# A value for every variable template.yaml sets (a deployment with every provider keyed).
VALUES = {
    "RUST_LOG": "info",
    "TABLE_NAME": "jobs",
    "BUCKET_NAME": "videos",
    "STATE_MACHINE_ARN": f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:jobs",
    "VIDGEN_DEFAULT_MODEL": "runway/gen4.5",
    "SORA_MODEL": "sora-2",
    "VIDGEN_PROVIDERS": "openai,runway,fal",
    "URL_TTL_SECS": "3600",
    "VIDGEN_EVENTS_URL": "wss://events.example.com/prod",
    "VIDGEN_MAX_ACTIVE_JOBS": "10",
    "VIDGEN_DAILY_BUDGET_USD": "50",
    "WEBHOOK_QUEUE_URL": f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/webhooks",
    "WEBHOOK_SECRET_ARN": arn("webhook"),
    "OPENAI_SECRET_ARN": arn("openai"),
    "OPENAI_WEBHOOK_SECRET_ARN": arn("openai-webhook"),
    "OPENAI_WEBHOOKS": "1",
    "VIDGEN_PUBLIC_URL": "https://api.example.com",
    "OPENAI_BASE_URL": "https://api.openai.com/v1",
    "RUNWAYML_SECRET_ARN": arn("runway"),
    "RUNWAYML_BASE_URL": "https://api.dev.runwayml.com",
    "FAL_SECRET_ARN": arn("fal"),
    "FAL_QUEUE_URL": "https://queue.fal.run",
    "FAL_JWKS_URL": "https://rest.alpha.fal.ai/.well-known/jwks.json",
    "VIDGEN_BUDGET_SORA2_SECS": "1200",
    "VIDGEN_BUDGET_SORA2_PRO_SECS": "2700",
    "VIDGEN_MAX_POLLS": "240",
    "VIDGEN_MIN_WAIT_SECS": "5",
    "VIDGEN_MAX_WAIT_SECS": "30",
    "JWT_ISSUER": "https://issuer.example.com/",
    "JWT_AUDIENCE": "vidgen",
    "CONNECTIONS_TABLE": "connections",
    "VIDGEN_METRICS_EMF": "1",
}


class Loader(yaml.SafeLoader):
    pass


# CloudFormation's short tags (!Ref, !If, …): only the variable names matter here.
Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


def functions_from_template():
    """{binary: [variable names]} for every function in template.yaml."""
    with open(os.path.join(ROOT, "template.yaml")) as f:
        doc = yaml.load(f, Loader=Loader)
    common = list(doc["Globals"]["Function"].get("Environment", {}).get("Variables", {}))
    out = {}
    for resource in doc["Resources"].values():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        binary = resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
        if not binary:
            continue
        own = resource["Properties"].get("Environment", {}).get("Variables", {})
        out[binary] = common + [v for v in own if v not in common]
    return out


class Standin(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    first_poll = None
    polled = threading.Event()
    secret_reads = 0

    def do_GET(self):
        if self.path.endswith("/runtime/invocation/next"):
            if not Standin.polled.is_set():
                Standin.first_poll = time.perf_counter()
                Standin.polled.set()
            # Never answer an invocation: the process is killed once init is timed.
            time.sleep(3)
            return
        self.send_error(404)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.headers.get("X-Amz-Target") == "secretsmanager.GetSecretValue":
            Standin.secret_reads += 1
            answer = json.dumps({
                "ARN": body.get("SecretId", ""),
                "Name": "bench",
                "SecretString": SECRET,
                "VersionId": "v1",
                "VersionStages": ["AWSCURRENT"],
                "CreatedDate": 1.7e9,
            }).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
            return
        self.send_error(404)

    def log_message(self, *args):
        pass


def environment(function, variables, port):
    missing = [v for v in variables if v not in VALUES]
    if missing:
        raise SystemExit(f"template.yaml gives {function} {missing}: add a value to VALUES")
    env = {v: VALUES[v] for v in variables}
    env.update({
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "AWS_LAMBDA_FUNCTION_NAME": function,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "1",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench-secret",
        "AWS_SESSION_TOKEN": "bench-session",
        "AWS_EC2_METADATA_DISABLED": "true",
        # Secrets Manager's answers come from the stand-in; no other call happens at init.
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
    })
    return env


def one_start(argv, env):
    Standin.polled.clear()
    reads = Standin.secret_reads
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        if not Standin.polled.wait(20):
            proc.kill()
            err = proc.communicate()[1].decode(errors="replace")[-2000:]
            raise SystemExit(f"{argv} never asked for an invocation; stderr:\n{err}")
        return (Standin.first_poll - started) * 1000, Standin.secret_reads - reads
    finally:
        proc.kill()
        proc.wait()


def measure(argv, env, runs):
    one_start(argv, env)  # warms the page cache
    results = [one_start(argv, env) for _ in range(runs)]
    return [ms for ms, _ in results], results[0][1]


def measure_pair(old, new, env, runs):
    """Init times of two binaries, started alternately."""
    one_start(old, env)
    one_start(new, env)
    olds, news = [], []
    for _ in range(runs):
        olds.append(one_start(old, env)[0])
        news.append(one_start(new, env)[0])
    return olds, news


def p90(ms):
    return statistics.quantiles(ms, n=10)[-1] if len(ms) > 1 else ms[0]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("bin_dir")
    p.add_argument("python")
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--only", nargs="*")
    p.add_argument("--before", help="a directory of older builds to compare with")
    a = p.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Standin)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    functions = functions_from_template()
    names = a.only or list(functions)
    print(f"{a.runs} starts each (after one warm-up); init = process start to first "
          f"GET /runtime/invocation/next; target: Rust median <= {TARGET_MS:.0f} ms")
    header = (f"{'function':<15} {'size MiB':>8} {'rust median':>11} {'p90':>6} "
              f"{'boto3 median':>12} {'p90':>6} {'rust/boto3':>10} {'secrets':>7}")
    print(header)
    failed = []
    for name in names:
        env = environment(name, functions[name], port)
        binary = os.path.join(a.bin_dir, name)
        rust, rust_secrets = measure([binary], env, a.runs)
        if a.before:
            old = os.path.join(a.before, name)
            if os.path.exists(old):
                olds, news = measure_pair([old], [binary], env, a.runs)
                om, nm = statistics.median(olds), statistics.median(news)
                print(f"  {name}, alternating with {old}: before {om:.1f} ms "
                      f"(p90 {p90(olds):.1f}), after {nm:.1f} ms (p90 {p90(news):.1f}), "
                      f"after/before {nm / om:.2f}x", flush=True)
            else:
                print(f"  {name}: no {old} to compare with", flush=True)
        py, py_secrets = measure(
            [a.python, os.path.join(HERE, "cold_start_boto3.py"), name], env, a.runs)
        if rust_secrets != py_secrets:
            raise SystemExit(f"{name}: the binary read {rust_secrets} secrets at init, "
                             f"the baseline {py_secrets}: not the same work")
        size = os.path.getsize(binary) / (1024 * 1024)
        rm, pm = statistics.median(rust), statistics.median(py)
        print(f"{name:<15} {size:>8.1f} {rm:>8.1f} ms {p90(rust):>6.1f} {pm:>9.1f} ms "
              f"{p90(py):>6.1f} {rm / pm:>9.3f}x {rust_secrets:>7}", flush=True)
        if rm > TARGET_MS:
            failed.append(f"{name} {rm:.1f} ms")
    server.shutdown()
    if failed:
        print(f"MISSED: median init over {TARGET_MS:.0f} ms: {', '.join(failed)}")
        sys.exit(1)
    print(f"target met: every binary's median init <= {TARGET_MS:.0f} ms")


if __name__ == "__main__":
    main()
