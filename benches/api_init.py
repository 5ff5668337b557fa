#!/usr/bin/env python3
"""Cold-start init time of the api Lambda binary, measured as Lambda sees it.

A fake Lambda Runtime API on 127.0.0.1 records when the binary first asks for an
invocation (GET /2018-06-01/runtime/invocation/next): everything before that is init
(settings, SDK clients, logging). Each binary starts RUNS times, fresh each time; the
script prints the median and p90 per binary and, with a baseline, the ratio of medians
(baseline first, measured in the same run on the same machine).

Usage: benches/api_init.py CANDIDATE [BASELINE] [--runs N]
"""
import argparse
import http.server
import os
import statistics
import subprocess
import threading
import time


class Runtime(http.server.BaseHTTPRequestHandler):
    first_poll = None
    event = threading.Event()

    def do_GET(self):
        if self.path.endswith("/runtime/invocation/next") and not Runtime.event.is_set():
            Runtime.first_poll = time.perf_counter()
            Runtime.event.set()
        # Never answer an invocation: the process is killed once init is timed.
        time.sleep(5)

    def log_message(self, *args):
        pass


def start_runtime():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Runtime)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def one_start(binary, port):
    Runtime.event.clear()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "AWS_LAMBDA_FUNCTION_NAME": "api",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "1",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_EC2_METADATA_DISABLED": "true",
        "TABLE_NAME": "jobs",
        "BUCKET_NAME": "videos",
        "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:jobs",
        "RUST_LOG": "warn",
    }
    started = time.perf_counter()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not Runtime.event.wait(10):
            raise SystemExit(f"{binary} never asked for an invocation (init failed?)")
        return (Runtime.first_poll - started) * 1000
    finally:
        proc.kill()
        proc.wait()


def measure(binary, port, runs):
    one_start(binary, port)  # warm the page cache
    return [one_start(binary, port) for _ in range(runs)]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("candidate")
    p.add_argument("baseline", nargs="?")
    p.add_argument("--runs", type=int, default=30)
    a = p.parse_args()
    server = start_runtime()
    port = server.server_address[1]
    results = {}
    for name in [b for b in (a.baseline, a.candidate) if b]:
        ms = measure(name, port, a.runs)
        q = statistics.quantiles(ms, n=10)
        size = os.path.getsize(name) / (1024 * 1024)
        results[name] = statistics.median(ms)
        print(f"{name}: {size:.1f} MiB, init median {statistics.median(ms):.1f} ms, p90 {q[-1]:.1f} ms ({a.runs} starts)")
    if a.baseline:
        ratio = results[a.candidate] / results[a.baseline]
        print(f"init ratio candidate/baseline (medians): {ratio:.3f}")
    server.shutdown()


if __name__ == "__main__":
    main()
