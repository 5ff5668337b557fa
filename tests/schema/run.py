#!/usr/bin/env python3
"""Schema fuzzing of vidgen's public API with Schemathesis, driven by the API's own
OpenAPI document, against a running server that knows two tokens.

It makes one completed job per owner and an uploaded image for the first owner (so routes about a finished job have one to
work on, and the cross-owner check knows both owners' ids), then runs
`schemathesis run` with every check (no 5xx, responses and their content types and
status codes as documented, schema-valid requests accepted and invalid ones refused,
`object_level_authorization` across the two owners, and this project's
`no_other_owners_data` from hooks.py). It fails when Schemathesis reports any failure
or generated fewer than MIN_REQUESTS test cases.

Usage: run.py BASE_URL OWNER:TOKEN OWNER:TOKEN [--max-examples N] [--min-requests N]
              [--seed N] [--workers N] [-- SCHEMATHESIS RUN OPTIONS…]
"""
import argparse
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def call(base, token, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def completed_job(base, token):
    job = call(base, token, "POST", "/v1/videos", {"script": "A lighthouse at dusk", "style": "calm"})
    deadline = time.monotonic() + 120
    while job["status"] not in ("completed", "failed", "canceled", "timed_out"):
        if time.monotonic() > deadline:
            sys.exit(f"seed job {job['id']} did not finish within 120 s")
        time.sleep(0.2)
        job = call(base, token, "GET", f"/v1/videos/{job['id']}")
    if job["status"] != "completed":
        sys.exit(f"seed job {job['id']} ended {job['status']}: {job.get('error')}")
    return job["id"]


def png():
    """A 1x1 PNG, made here so the runner needs no image files."""
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x80\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def uploaded_image(base, token):
    image = png()
    up = call(base, token, "POST", "/v1/uploads", {"content_type": "image/png", "bytes": len(image)})
    put = urllib.request.Request(up["url"], data=image, method="PUT")
    put.add_header("Content-Type", "image/png")
    with urllib.request.urlopen(put, timeout=30):
        pass
    return up["upload_id"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("base")
    parser.add_argument("owners", nargs=2, help="OWNER:TOKEN")
    parser.add_argument("--max-examples", type=int, default=10)
    parser.add_argument("--min-requests", type=int, default=0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--schemathesis", default="schemathesis")
    argv = sys.argv[1:]
    # Everything after `--` goes to `schemathesis run` as it is.
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    base = args.base.rstrip("/")
    owners = [tuple(o.split(":", 1)) for o in args.owners]

    seeded = {owner: completed_job(base, token) for owner, token in owners}
    upload = uploaded_image(base, owners[0][1])
    with tempfile.TemporaryDirectory() as work:
        auth = os.path.join(work, "auth.json")
        with open(auth, "w") as f:
            json.dump(
                {
                    "auth": [
                        {"name": owner, "fixedHeaders": [{"name": "Authorization", "value": f"Bearer {token}"}]}
                        for owner, token in owners
                    ]
                },
                f,
            )
        env = dict(os.environ)
        env.update(
            {
                "VIDGEN_ST_AUTH": auth,
                "VIDGEN_ST_BASE": base,
                "VIDGEN_ST_TOKENS": ",".join(f"{o}:{t}" for o, t in owners),
                "VIDGEN_ST_SEEDED": ",".join(f"{o}:{i}" for o, i in seeded.items()),
                # The first owner's finished job, for routes that need one.
                "VIDGEN_ST_JOB": seeded[owners[0][0]],
                # The first owner's uploaded reference image, for schema-valid creates.
                "VIDGEN_ST_UPLOAD": upload,
                "SCHEMATHESIS_HOOKS": "hooks",
                "PYTHONPATH": HERE + os.pathsep + env.get("PYTHONPATH", ""),
                "NO_COLOR": "1",
            }
        )
        command = [
            args.schemathesis,
            "--config-file",
            os.path.join(HERE, "schemathesis.toml"),
            "run",
            f"{base}/v1/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            str(args.max_examples),
            "--workers",
            str(args.workers),
            "--no-color",
        ]
        command += extra
        if args.seed is not None:
            command += ["--seed", str(args.seed)]
        print("$", " ".join(command), flush=True)
        started = time.monotonic()
        run = subprocess.run(command, env=env, cwd=work, capture_output=True, text=True)
        print(run.stdout)
        print(run.stderr, file=sys.stderr)
        took = time.monotonic() - started
    generated = re.search(r"(\d+) generated", run.stdout)
    count = int(generated.group(1)) if generated else 0
    print(f"schemathesis: exit {run.returncode}, {count} test cases generated in {took:.0f} s")
    if run.returncode != 0:
        sys.exit("schemathesis found failures (above)")
    if count < args.min_requests:
        sys.exit(f"only {count} test cases generated; at least {args.min_requests} were asked for")


if __name__ == "__main__":
    main()
