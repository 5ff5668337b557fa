"""The official `runwayml` Python SDK, pinned, against our Runway simulator.

Real SDK calls over HTTP (with its own `X-Runway-Version` header and retries); every
response body is also validated against the SDK's own pydantic models. Run by the Rust
test `tests/sdk.rs`:

    python3 tests/sdk/runway_tasks.py http://127.0.0.1:PORT
"""

import base64
import sys
import time
import urllib.request

import runwayml
from runwayml import RunwayML
from runwayml.types import TaskRetrieveResponse, TextToVideoCreateResponse
from pydantic import TypeAdapter

FAILURES = []
TASK = TypeAdapter(TaskRetrieveResponse)


def check(what, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + what + (f": {detail}" if detail and not ok else ""))
    if not ok:
        FAILURES.append(what)


def wire_names(model):
    """The JSON names of a pydantic model's fields (Runway's are camelCase aliases)."""
    return {f.alias or name for name, f in model.model_fields.items()}


def strict_task(raw, what):
    """`raw` is one of the SDK's task shapes, with no field that shape lacks."""
    try:
        task = TASK.validate_python(raw)
    except Exception as e:
        check(f"{what} validates as a task", False, str(e))
        return None
    unknown = sorted(set(raw) - wire_names(type(task)))
    check(f"{what} validates as a {type(task).__name__}", not unknown, f"unknown fields {unknown}")
    return task


def wait(client, task_id, what):
    for _ in range(300):
        raw = client.tasks.with_raw_response.retrieve(task_id).http_response.json()
        task = strict_task(raw, what) if raw.get("status") in ("SUCCEEDED", "FAILED", "CANCELLED") else None
        if task is not None:
            return task
        if raw.get("status") not in ("PENDING", "THROTTLED", "RUNNING"):
            check(f"{what} status is one of Runway's", False, str(raw.get("status")))
            return None
        time.sleep(0.05)
    check(f"{what} ends", False, "still running after 15 s")
    return None


def main(base_url):
    client = RunwayML(api_key="key_sim", base_url=base_url, max_retries=4)

    raw = client.text_to_video.with_raw_response.create(
        model="gen4.5", prompt_text="A red fox trots through fresh snow at dawn",
        ratio="1280:720", duration=5,
    )
    created = raw.http_response.json()
    try:
        TextToVideoCreateResponse.model_validate(created)
        unknown = sorted(set(created) - wire_names(TextToVideoCreateResponse))
        check("text_to_video answers a TextToVideoCreateResponse", not unknown, f"unknown fields {unknown}")
    except Exception as e:
        check("text_to_video answers a TextToVideoCreateResponse", False, str(e))
    task = wait(client, created["id"], "a gen4.5 task")
    check("it succeeds with one output URL",
          task is not None and task.status == "SUCCEEDED" and len(task.output) == 1, str(task))
    if task is not None and task.status == "SUCCEEDED":
        with urllib.request.urlopen(task.output[0]) as r:
            body = r.read()
        check("the output is an MP4", body[4:8] == b"ftyp", repr(body[:12]))

    # image_to_video with a data-URI image, as the SDK documents.
    png = base64.b64encode(bytes.fromhex(
        "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
        "0000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")).decode()
    created = client.image_to_video.create(
        model="gen4.5", prompt_text="It comes alive", ratio="1280:720", duration=5,
        prompt_image=f"data:image/png;base64,{png}",
    )
    task = wait(client, created.id, "an image_to_video task")
    check("image_to_video succeeds", task is not None and task.status == "SUCCEEDED", str(task))

    # A task the provider's moderation stops: FAILED with a failure code.
    created = client.text_to_video.create(
        model="gen4.5", prompt_text="[sim:moderation_end] a storm", ratio="1280:720", duration=5,
    )
    task = wait(client, created.id, "a moderated task")
    check("a moderated task fails with a code",
          task is not None and task.status == "FAILED" and bool(task.failure_code), str(task))

    # Cancel (delete) a running task; it then reads as gone or cancelled.
    created = client.text_to_video.create(
        model="gen4.5", prompt_text="[sim:never_finish] a slow sea", ratio="1280:720", duration=5,
    )
    client.tasks.delete(created.id)
    try:
        after = client.tasks.retrieve(created.id)
        check("a deleted task is cancelled", after.status == "CANCELLED", after.status)
    except runwayml.NotFoundError:
        check("a deleted task is gone", True)

    # Errors the SDK maps to its exceptions.
    try:
        client.text_to_video.create(model="gen4.5", prompt_text="x", ratio="1:1", duration=5)
        check("a bad ratio is a 400", False, "accepted")
    except runwayml.BadRequestError:
        check("a bad ratio is a 400", True)
    bad = RunwayML(api_key="key_wrong", base_url=base_url, max_retries=0)
    try:
        bad.tasks.retrieve("00000000-0000-0000-0000-000000000000")
        check("a wrong key is a 401", False, "accepted")
    except runwayml.AuthenticationError:
        check("a wrong key is a 401", True)
    try:
        client.tasks.retrieve("00000000-0000-0000-0000-000000000000")
        check("an unknown task is a 404", False, "found")
    except runwayml.NotFoundError:
        check("an unknown task is a 404", True)

    # A 429 (Runway sends no Retry-After): the SDK backs off and retries by itself.
    created = client.text_to_video.create(
        model="gen4.5", prompt_text="[sim:rate_limit=1] a calm sea", ratio="1280:720", duration=5,
    )
    check("a 429 is retried by the SDK", bool(created.id), str(created))

    print(f"runwayml {runwayml.__version__}: {len(FAILURES)} failures")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
