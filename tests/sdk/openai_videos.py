"""The official `openai` Python SDK, pinned, against our Sora simulator.

Every call the seed made (and the rest of `client.videos`) goes through the real SDK
over HTTP; every response body is also validated against the SDK's own pydantic model
of it, strictly: a field the SDK does not know, or one it needs and we left out, fails.
Run by the Rust test `tests/sdk.rs` with the simulator's base URL:

    python3 tests/sdk/openai_videos.py http://127.0.0.1:PORT/v1
"""

import sys

import openai
from openai import OpenAI
from openai.types import Video, VideoDeleteResponse

FAILURES = []


def check(what, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + what + (f": {detail}" if detail and not ok else ""))
    if not ok:
        FAILURES.append(what)


def strict(model, raw, what):
    """`raw` validates as `model`, and carries no field the SDK's model lacks."""
    try:
        model.model_validate(raw, strict=False)
    except Exception as e:  # pydantic.ValidationError
        check(f"{what} validates as {model.__name__}", False, str(e))
        return
    unknown = sorted(set(raw) - set(model.model_fields))
    check(f"{what} validates as {model.__name__}", not unknown, f"unknown fields {unknown}")


def main(base_url):
    client = OpenAI(api_key="sk-sim", base_url=base_url, max_retries=4)

    # create: the seed's one render request.
    raw = client.videos.with_raw_response.create(
        model="sora-2", prompt="A red fox trots through fresh snow at dawn", seconds="4",
        size="720x1280",
    )
    strict(Video, raw.http_response.json(), "create")
    video = raw.parse()
    check("create answers queued or in_progress", video.status in ("queued", "in_progress"), video.status)
    check("create echoes model, seconds and size",
          (video.model, video.seconds, video.size) == ("sora-2", "4", "720x1280"),
          f"{video.model} {video.seconds} {video.size}")

    # poll (the SDK's own loop over retrieve) to the end.
    done = client.videos.poll(video.id, poll_interval_ms=100)
    check("poll ends completed", done.status == "completed", f"{done.status} {done.error}")
    check("completed progress is 100", done.progress == 100, str(done.progress))
    check("completed_at and expires_at are set", bool(done.completed_at and done.expires_at))
    raw = client.videos.with_raw_response.retrieve(video.id)
    strict(Video, raw.http_response.json(), "retrieve")

    # download_content for each variant: the right kind of bytes.
    magic = {
        "video": lambda b: b[4:8] == b"ftyp",
        "thumbnail": lambda b: b[:4] == b"RIFF" and b[8:12] == b"WEBP",
        "spritesheet": lambda b: b[:3] == b"\xff\xd8\xff",
    }
    for variant, is_kind in magic.items():
        content = client.videos.download_content(video.id, variant=variant)
        body = content.read()
        check(f"download_content({variant}) is a {variant}", len(body) > 0 and is_kind(body),
              f"{len(body)} bytes, starts {body[:12]!r}")

    # remix: a new video from the completed one.
    raw = client.videos.with_raw_response.remix(video.id, prompt="The same fox, at dusk")
    strict(Video, raw.http_response.json(), "remix")
    remix = raw.parse()
    check("remix names its source", remix.remixed_from_video_id == video.id, str(remix.remixed_from_video_id))
    remixed = client.videos.poll(remix.id, poll_interval_ms=100)
    check("remix completes", remixed.status == "completed", remixed.status)

    # list: both, newest first, every page entry a Video; paging with `after`.
    raw = client.videos.with_raw_response.list(limit=1)
    page_json = raw.http_response.json()
    check("list is an object list", page_json.get("object") == "list", str(page_json.get("object")))
    for i, item in enumerate(page_json.get("data", [])):
        strict(Video, item, f"list data[{i}]")
    ids = [v.id for v in client.videos.list(limit=1)]  # the SDK follows the cursor
    check("list pages through every video (auto-pagination)", {video.id, remix.id} <= set(ids), str(ids))
    check("list is newest first", ids.index(remix.id) < ids.index(video.id), str(ids))

    # delete: the SDK's response type, then the video is gone.
    raw = client.videos.with_raw_response.delete(remix.id)
    strict(VideoDeleteResponse, raw.http_response.json(), "delete")
    deleted = raw.parse()
    check("delete says deleted", deleted.deleted is True and deleted.id == remix.id, str(deleted))
    try:
        client.videos.retrieve(remix.id)
        check("a deleted video is not found", False, "retrieve succeeded")
    except openai.NotFoundError:
        check("a deleted video is not found", True)

    # Errors the SDK maps to its exceptions, with the error body it expects.
    try:
        client.videos.create(model="sora-2", prompt="x", seconds="5")
        check("a bad seconds is a 400", False, "accepted")
    except openai.BadRequestError as e:
        body = e.body if isinstance(e.body, dict) else {}
        check("a bad seconds is a 400 naming its param", body.get("param") == "seconds", str(e.body))
    bad = OpenAI(api_key="sk-wrong", base_url=base_url, max_retries=0)
    try:
        bad.videos.list()
        check("a wrong key is a 401", False, "accepted")
    except openai.AuthenticationError:
        check("a wrong key is a 401", True)

    # A render the provider's moderation stops: failed, with the error the SDK models.
    blocked = client.videos.create_and_poll(
        model="sora-2", prompt="[sim:moderation_end] a storm", poll_interval_ms=100,
    )
    check("a moderated render ends failed", blocked.status == "failed", blocked.status)
    check("its error has a code and a message",
          bool(blocked.error and blocked.error.code and blocked.error.message), str(blocked.error))

    # A rate limit: the SDK honours retry-after and retries by itself.
    limited = client.videos.create(model="sora-2", prompt="[sim:rate_limit=1] a calm sea")
    check("a 429 is retried by the SDK", limited.id.startswith("video_"), limited.id)

    print(f"openai {openai.__version__}: {len(FAILURES)} failures")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
