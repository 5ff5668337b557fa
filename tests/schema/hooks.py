"""Schemathesis hooks for vidgen's public API (loaded through SCHEMATHESIS_HOOKS).

- `no_other_owners_data`: a check that no response to one owner carries an id of a job
  or upload another owner made. It learns who owns what from every response that
  creates something (and from VIDGEN_ST_SEEDED, the jobs the runner made beforehand),
  and who asked from the request's bearer token (VIDGEN_ST_TOKENS, `owner:token,…`).
  A fifth of the requests about one job are pointed at another owner's job.
  Schemathesis's own `object_level_authorization` check replays one owner's reads as
  the other; this one also covers lists, creates and errors.
- Positive (schema-valid) cases are kept valid where the document cannot say what is
  valid: a list `cursor` is opaque (only one the API returned is valid), so a generated
  one is swapped for a cursor a real page returned; a request's `seconds` and `size` are
  each in the document's enum (every value some model takes), but the combination must
  be one the request's model offers (GET /v1/models), so a generated pair is moved to the
  model's; an `input_reference` names the image run.py uploaded (an upload id is valid
  only when the owner uploaded it), or is dropped when a model of the request takes no
  reference image. Negative cases are left exactly as generated.
"""

import json
import os
import random
import re
import urllib.request

import schemathesis
from schemathesis import GenerationMode

TOKENS = {}
for pair in os.environ.get("VIDGEN_ST_TOKENS", "").split(","):
    if ":" in pair:
        owner, token = pair.split(":", 1)
        TOKENS[token] = owner

# id -> owner, for every job and upload made during the run.
OWNER_OF = {}
for pair in os.environ.get("VIDGEN_ST_SEEDED", "").split(","):
    if ":" in pair:
        owner, ident = pair.split(":", 1)
        OWNER_OF[ident] = owner

# Seeded by run.py from Schemathesis's seed, so a run's choices here repeat with it.
random.seed(os.environ.get("VIDGEN_ST_SEED"))

IDS = re.compile(r"\b(?:vid|up)_[0-9A-Z]{26}\b")
CURSORS = []
CATALOG = {}
DEFAULT_MODEL = os.environ.get("VIDGEN_ST_DEFAULT_MODEL", "sora-2")


def owner_of_request(headers):
    auth = headers.get("Authorization") or headers.get("authorization") or ""
    return TOKENS.get(auth.removeprefix("Bearer ").strip())


def catalog():
    """Model id -> its entry in GET /v1/models, read once from the server under test."""
    if not CATALOG:
        token = next(iter(TOKENS), "")
        request = urllib.request.Request(
            os.environ["VIDGEN_ST_BASE"] + "/v1/models", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = json.load(response)
        for model in body["data"]:
            CATALOG[model["id"]] = model
    return CATALOG


JOB_MODELS = {}


def model_of_job(job_id):
    """The model of an existing job (a variant without one keeps its primary's)."""
    if job_id not in JOB_MODELS:
        token = next(iter(TOKENS), "")
        request = urllib.request.Request(
            f"{os.environ['VIDGEN_ST_BASE']}/v1/videos/{job_id}",
            headers={"Authorization": f"Bearer {token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                JOB_MODELS[job_id] = json.load(response).get("model")
        except Exception:
            JOB_MODELS[job_id] = None
    return JOB_MODELS[job_id]


def fit_to_model(choice, model, models):
    """Move `seconds` and `size` to values `model` offers, when they are not."""
    if model not in models:
        return
    seconds, sizes = models[model]["seconds"], models[model]["sizes"]
    if isinstance(choice.get("seconds"), (int, float)) and choice["seconds"] not in seconds:
        choice["seconds"] = random.choice(seconds)
    if isinstance(choice.get("size"), str) and choice["size"] not in sizes:
        choice["size"] = random.choice(sizes)


# The other owners' jobs, which requests (made as the first owner) are pointed at now
# and then: each must answer 404 and carry nothing of theirs.
FIRST_OWNER = next(iter(TOKENS.values()), None)
FOREIGN_JOBS = [i for i, o in OWNER_OF.items() if o != FIRST_OWNER and i.startswith("vid_")]


@schemathesis.hook
def map_case(ctx, case):
    if FOREIGN_JOBS and isinstance(case.path_parameters, dict) and "id" in case.path_parameters:
        if random.random() < 0.2:
            case.path_parameters["id"] = random.choice(FOREIGN_JOBS)
    if case.meta is None or case.meta.generation.mode != GenerationMode.POSITIVE:
        return case
    label = f"{case.method.upper()} {case.path}"
    if label == "GET /v1/videos" and isinstance(case.query, dict) and "cursor" in case.query:
        if CURSORS:
            case.query["cursor"] = random.choice(CURSORS)
        else:
            del case.query["cursor"]
    elif label in ("POST /v1/videos", "POST /v1/videos/{id}/variants") and isinstance(case.body, dict):
        models = catalog()
        primary = case.body.get("model") or DEFAULT_MODEL
        if label == "POST /v1/videos":
            fit_to_model(case.body, primary, models)
            used = [primary]
            for variant in case.body.get("variants") or []:
                if isinstance(variant, dict):
                    fit_to_model(variant, variant.get("model") or primary, models)
                    used.append(variant.get("model") or primary)
            # An upload id is valid only when it names an image this owner uploaded, for
            # a request whose every model takes a reference image.
            if isinstance(case.body.get("input_reference"), dict):
                if all(models.get(m, {}).get("input_reference") for m in used):
                    case.body["input_reference"] = {"upload_id": os.environ["VIDGEN_ST_UPLOAD"]}
                else:
                    case.body["input_reference"] = None
        else:
            # A variant naming no model keeps its primary's.
            primary = case.body.get("model") or model_of_job(case.path_parameters.get("id"))
            fit_to_model(case.body, primary, models)
    return case


@schemathesis.hook
def after_call(ctx, case, response):
    if not 200 <= response.status_code < 300:
        return
    try:
        body = response.json()
    except Exception:
        return
    if not isinstance(body, dict):
        return
    if isinstance(body.get("next_cursor"), str):
        CURSORS.append(body["next_cursor"])
    owner = owner_of_request(response.request.headers)
    if owner is None or case.method.upper() != "POST":
        return
    for key in ("id", "upload_id"):
        ident = body.get(key)
        if isinstance(ident, str) and ident not in OWNER_OF:
            OWNER_OF[ident] = owner
    for variant in body.get("variants") or []:
        if isinstance(variant, dict) and isinstance(variant.get("id"), str):
            OWNER_OF.setdefault(variant["id"], owner)


@schemathesis.check
def no_other_owners_data(ctx, response, case):
    asker = owner_of_request(response.request.headers)
    if asker is None:
        return None
    text = response.text or ""
    # Uploads' presigned URLs carry the owner, hex-encoded, in the key.
    for other, in_url in ((o, o.encode().hex()) for o in set(TOKENS.values()) if o != asker):
        if f"/{in_url}/" in text:
            raise AssertionError(f"the response to {asker} carries a key of {other}'s")
    for ident in IDS.findall(text):
        owner = OWNER_OF.get(ident)
        if owner is not None and owner != asker:
            raise AssertionError(f"the response to {asker} carries {owner}'s {ident}")
    return None
