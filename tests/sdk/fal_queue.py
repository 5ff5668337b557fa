"""The official `fal-client` Python SDK, pinned, against our fal queue simulator.

The SDK always speaks https to fal's queue host; the one change made to it here is its
queue base (`QUEUE_URL_FORMAT`), pointed at the simulator. Everything else — submit,
status and its events, result, cancel, the request URLs it derives itself from an app
id and a request id, errors — is the SDK's own code over HTTP. Run by `tests/sdk.rs`:

    python3 tests/sdk/fal_queue.py http://127.0.0.1:PORT
"""

import sys
import urllib.request

import fal_client
import fal_client.client as fal_client_module

FAILURES = []


def check(what, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + what + (f": {detail}" if detail and not ok else ""))
    if not ok:
        FAILURES.append(what)


def run(client, app, arguments, what):
    handle = client.submit(app, arguments=arguments)
    events = list(handle.iter_events(interval=0.05))
    kinds = [type(e).__name__ for e in events]
    check(f"{what}: status events end Completed", kinds[-1:] == ["Completed"], str(kinds))
    result = handle.get()
    url = (result.get("video") or {}).get("url")
    check(f"{what}: the result has video.url", bool(url), str(result))
    if url:
        with urllib.request.urlopen(url) as r:
            body = r.read()
        check(f"{what}: the video is an MP4", body[4:8] == b"ftyp", repr(body[:12]))
    # The URLs the SDK derives from (app, request id) reach the same request.
    again = client.status(app, handle.request_id)
    check(f"{what}: status by app and request id", isinstance(again, fal_client.Completed), str(again))
    check(f"{what}: result by app and request id", client.result(app, handle.request_id) == result)
    return handle


def main(base_url):
    fal_client_module.QUEUE_URL_FORMAT = base_url.rstrip("/") + "/"
    client = fal_client.SyncClient(key="sim-key", default_timeout=30)

    run(client, "fal-ai/veo3.1", {"prompt": "A red fox in fresh snow", "duration": "4s",
                                  "aspect_ratio": "16:9", "resolution": "720p"}, "veo3.1")
    run(client, "fal-ai/veo3.1/fast", {"prompt": "A red fox in fresh snow"}, "veo3.1/fast")
    run(client, "fal-ai/kling-video/v2.1/master/text-to-video",
        {"prompt": "A lighthouse at dawn", "duration": "5"}, "kling v2.1")

    # Cancel a request that never finishes: the SDK's cancel, then it reads cancelled.
    handle = client.submit("fal-ai/veo3.1", arguments={"prompt": "[sim:never_finish] a slow sea"})
    client.cancel("fal-ai/veo3.1", handle.request_id)
    try:
        handle.get()
        check("a cancelled request has no result", False, "got a result")
    except fal_client.client.FalClientHTTPError as e:
        check("a cancelled request has no result", True, str(e))

    # Validation: 422 with fal's detail list, raised by the SDK.
    try:
        client.submit("fal-ai/veo3.1", arguments={"prompt": "x", "duration": "5s"})
        check("a bad duration is a 422", False, "accepted")
    except fal_client.client.FalClientHTTPError as e:
        check("a bad duration is a 422", e.status_code == 422, f"{e.status_code} {e}")

    bad = fal_client.SyncClient(key="wrong-key", default_timeout=30)
    try:
        bad.submit("fal-ai/veo3.1", arguments={"prompt": "x"})
        check("a wrong key is refused", False, "accepted")
    except fal_client.client.FalClientHTTPError as e:
        check("a wrong key is a 401", e.status_code == 401, f"{e.status_code}")

    print(f"fal-client {fal_client.__version__ if hasattr(fal_client, '__version__') else '?'}: "
          f"{len(FAILURES)} failures")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
