//! HTTP routes of the simulated Videos API.

// Error responses travel in Result::Err; they are built once per request, so their size is no concern.
#![allow(clippy::result_large_err)]

use crate::content;
use crate::inspect;
use crate::state::{new_video_id, unix_now, Fault, Phase, SimState, Video};
use crate::stream::{Source, Stream};
use crate::validate::{self, Raw, RawCreate, RawReference};
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

type St = State<Arc<SimState>>;
/// Parsers answer with a whole error response early; boxing it would only add noise.
type Answer<T> = Result<T, Response>;

pub(crate) fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/v1/videos", post(create).get(list))
        .route("/v1/videos/{id}", get(retrieve).delete(delete))
        .route("/v1/videos/{id}/remix", post(remix))
        .route("/v1/videos/{id}/content", get(download))
        .route("/_sim/renders", get(renders))
        .fallback(|| async {
            error(
                StatusCode::NOT_FOUND,
                "Unknown route.",
                "invalid_request_error",
                None,
                None,
            )
        })
        .with_state(state)
}

/// The provider's error body.
fn error(
    status: StatusCode,
    message: &str,
    kind: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> Response {
    let body = json!({"error": {"message": message, "type": kind, "param": param, "code": code}});
    (status, Json(body)).into_response()
}

fn invalid(e: validate::Invalid) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        &e.message,
        "invalid_request_error",
        e.param,
        e.code,
    )
}

fn not_found(id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        &format!("Video with id '{id}' not found."),
        "invalid_request_error",
        Some("video_id"),
        None,
    )
}

/// Authentication, then run-wide and per-job faults.
fn gate(state: &SimState, headers: &HeaderMap, prompt: Option<&str>) -> Option<Response> {
    if let Some(key) = &state.config.api_key {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if given != Some(format!("Bearer {key}").as_str()) {
            return Some(error(
                StatusCode::UNAUTHORIZED,
                "Incorrect API key provided.",
                "invalid_request_error",
                None,
                Some("invalid_api_key"),
            ));
        }
    }
    match state.take_fault(prompt)? {
        Fault::RateLimited => {
            let mut r = error(
                StatusCode::TOO_MANY_REQUESTS,
                "Rate limit reached for requests. Please try again later.",
                "requests",
                None,
                Some("rate_limit_exceeded"),
            );
            let secs = state.config.faults.retry_after_secs.to_string();
            if let Ok(v) = HeaderValue::from_str(&secs) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            Some(r)
        }
        Fault::ServerError(code) => Some(error(
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            None,
            None,
        )),
    }
}

/// The Video resource: all 13 fields, nulls included.
fn video_json(state: &SimState, v: &Video) -> Value {
    let phase = v.phase(&state.config.faults, Instant::now());
    let (status, progress, completed_at, error) = match phase {
        Phase::Queued => ("queued", 0, None, Value::Null),
        Phase::InProgress(p) => ("in_progress", p, None, Value::Null),
        Phase::Completed => ("completed", 100, Some(v.completed_at()), Value::Null),
        Phase::Failed(code, message) => (
            "failed",
            100,
            Some(v.completed_at()),
            json!({"code": code, "message": message}),
        ),
    };
    json!({
        "id": v.id, "object": "video", "model": v.model, "status": status,
        "progress": progress, "created_at": v.created_at, "completed_at": completed_at,
        "expires_at": completed_at.map(|c| c + 3600), "prompt": v.prompt, "size": v.size,
        "seconds": v.seconds, "remixed_from_video_id": v.remixed_from, "error": error,
    })
}

fn new_video(state: &SimState, c: validate::Create, remixed_from: Option<String>) -> Video {
    let markers = crate::markers::parse(&c.prompt);
    let render = markers
        .render_ms
        .map(Duration::from_millis)
        .unwrap_or(state.config.render_time);
    Video {
        id: new_video_id(),
        model: c.model,
        size: c.size,
        seconds: c.seconds,
        prompt: c.prompt,
        created_at: unix_now(),
        started: Instant::now(),
        render,
        markers,
        remixed_from,
    }
}

fn moderated(state: &SimState, prompt: &str) -> bool {
    state.config.faults.moderation_at_create || crate::markers::parse(prompt).moderation_create
}

fn moderation_refusal() -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "Your request was blocked by our moderation system.",
        "invalid_request_error",
        None,
        Some("moderation_blocked"),
    )
}

async fn create(State(state): St, request: Request) -> Response {
    let headers = request.headers().clone();
    let is_multipart = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("multipart/form-data"));
    let raw = if is_multipart {
        match Multipart::from_request(request, &()).await {
            Ok(form) => read_multipart(form).await,
            Err(e) => Err(error(
                StatusCode::BAD_REQUEST,
                &e.body_text(),
                "invalid_request_error",
                None,
                None,
            )),
        }
    } else {
        match Bytes::from_request(request, &()).await {
            Ok(body) => read_json(&body),
            Err(e) => Err(error(
                StatusCode::BAD_REQUEST,
                &e.body_text(),
                "invalid_request_error",
                None,
                None,
            )),
        }
    };
    let raw = match raw {
        Ok(raw) => raw,
        Err(r) => return r,
    };
    let prompt = match &raw.prompt {
        Some(Raw::Str(p)) => Some(p.clone()),
        _ => None,
    };
    if let Some(r) = gate(&state, &headers, prompt.as_deref()) {
        return r;
    }
    state.stats.creates.fetch_add(1, Ordering::Relaxed);
    let valid = match validate::create(&raw) {
        Ok(v) => v,
        Err(e) => return invalid(e),
    };
    if moderated(&state, &valid.prompt) {
        return moderation_refusal();
    }
    let video = new_video(&state, valid, None);
    let body = video_json(&state, &video);
    let id = video.id.clone();
    state.lock().push(video);
    crate::webhook::spawn(&state, &id);
    Json(body).into_response()
}

fn read_json(body: &[u8]) -> Answer<RawCreate> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            &format!("We could not parse the JSON body of your request: {e}"),
            "invalid_request_error",
            None,
            None,
        )
    })?;
    let Value::Object(map) = value else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "The body must be a JSON object.",
            "invalid_request_error",
            None,
            None,
        ));
    };
    let mut raw = RawCreate::default();
    for (key, v) in map {
        let field = match v {
            Value::String(s) => Raw::Str(s),
            Value::Number(n) if n.is_i64() || n.is_u64() => Raw::Other("integer"),
            Value::Number(_) => Raw::Other("number"),
            Value::Bool(_) => Raw::Other("boolean"),
            Value::Null => Raw::Other("null"),
            Value::Array(_) => Raw::Other("array"),
            Value::Object(ref o) if key == "input_reference" => {
                if o.contains_key("image_url") || o.contains_key("file_id") {
                    raw.input_reference = Some(RawReference::Link);
                } else {
                    raw.input_reference = Some(RawReference::Text);
                }
                continue;
            }
            Value::Object(_) => Raw::Other("object"),
        };
        match key.as_str() {
            "prompt" => raw.prompt = Some(field),
            "model" => raw.model = Some(field),
            "seconds" => raw.seconds = Some(field),
            "size" => raw.size = Some(field),
            "input_reference" => raw.input_reference = Some(RawReference::Text),
            other => raw.unknown = Some(other.to_string()),
        }
    }
    Ok(raw)
}

async fn read_multipart(mut form: Multipart) -> Answer<RawCreate> {
    let mut raw = RawCreate::default();
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    &e.body_text(),
                    "invalid_request_error",
                    None,
                    None,
                ))
            }
        };
        let name = field.name().unwrap_or_default().to_string();
        let is_file = field.file_name().is_some();
        let content_type = field
            .content_type()
            .unwrap_or("application/octet-stream")
            .to_string();
        let data = field.bytes().await.map_err(|e| {
            error(
                StatusCode::BAD_REQUEST,
                &e.body_text(),
                "invalid_request_error",
                None,
                None,
            )
        })?;
        let text = || String::from_utf8_lossy(&data).into_owned();
        match name.as_str() {
            "input_reference" if is_file => {
                raw.input_reference = Some(RawReference::File {
                    content_type,
                    bytes: data.to_vec(),
                })
            }
            "input_reference" => raw.input_reference = Some(RawReference::Text),
            "input_reference[image_url]" | "input_reference[file_id]" => {
                raw.input_reference = Some(RawReference::Link)
            }
            "prompt" => raw.prompt = Some(Raw::Str(text())),
            "model" => raw.model = Some(Raw::Str(text())),
            "seconds" => raw.seconds = Some(Raw::Str(text())),
            "size" => raw.size = Some(Raw::Str(text())),
            other => raw.unknown = Some(other.to_string()),
        }
    }
    Ok(raw)
}

async fn retrieve(State(state): St, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let video = state.find(&id);
    if let Some(r) = gate(&state, &headers, video.as_ref().map(|v| v.prompt.as_str())) {
        return r;
    }
    state.stats.retrieves.fetch_add(1, Ordering::Relaxed);
    let Some(video) = video else {
        return not_found(&id);
    };
    let mut response = Json(video_json(&state, &video)).into_response();
    if let Some(ms) = state.config.poll_after_ms {
        if let Ok(v) = HeaderValue::from_str(&ms.to_string()) {
            response.headers_mut().insert("openai-poll-after-ms", v);
        }
    }
    response
}

async fn list(
    State(state): St,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = gate(&state, &headers, None) {
        return r;
    }
    let limit = match q.get("limit").map(|l| l.parse::<usize>()) {
        None => 20,
        Some(Ok(l)) if l <= 100 => l,
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "Invalid 'limit': must be an integer from 0 to 100.",
                "invalid_request_error",
                Some("limit"),
                None,
            )
        }
    };
    let ascending = match q.get("order").map(String::as_str) {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "Invalid 'order': must be 'asc' or 'desc'.",
                "invalid_request_error",
                Some("order"),
                None,
            )
        }
    };
    let mut all: Vec<Video> = state.lock().clone();
    if !ascending {
        all.reverse();
    }
    let start = match q.get("after") {
        Some(after) => match all.iter().position(|v| &v.id == after) {
            Some(i) => i + 1,
            None => return not_found(after),
        },
        None => 0,
    };
    let page: Vec<Value> = all
        .iter()
        .skip(start)
        .take(limit)
        .map(|v| video_json(&state, v))
        .collect();
    let has_more = all.len() > start + page.len();
    let id_at = |i: usize| {
        page.get(i)
            .and_then(|v| v.get("id"))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let last = page.len().checked_sub(1).map(id_at).unwrap_or(Value::Null);
    Json(json!({"object": "list", "data": page, "first_id": id_at(0), "last_id": last, "has_more": has_more})).into_response()
}

async fn delete(State(state): St, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let video = state.find(&id);
    if let Some(r) = gate(&state, &headers, video.as_ref().map(|v| v.prompt.as_str())) {
        return r;
    }
    state.stats.deletes.fetch_add(1, Ordering::Relaxed);
    let Some(video) = video else {
        return not_found(&id);
    };
    match video.phase(&state.config.faults, Instant::now()) {
        Phase::Completed | Phase::Failed(..) => {
            let mut videos = state.lock();
            let (gone, kept): (Vec<Video>, Vec<Video>) = videos.drain(..).partition(|v| v.id == id);
            *videos = kept;
            drop(videos);
            state.deleted().extend(gone);
            Json(json!({"id": id, "object": "video.deleted", "deleted": true})).into_response()
        }
        _ => error(
            StatusCode::BAD_REQUEST,
            "Video is still being generated; only completed or failed videos can be deleted.",
            "invalid_request_error",
            Some("video_id"),
            None,
        ),
    }
}

async fn remix(
    State(state): St,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let source = state.find(&id);
    if let Some(r) = gate(&state, &headers, source.as_ref().map(|v| v.prompt.as_str())) {
        return r;
    }
    state.stats.remixes.fetch_add(1, Ordering::Relaxed);
    let Some(source) = source else {
        return not_found(&id);
    };
    let prompt = match serde_json::from_slice::<Value>(&body) {
        Ok(v) => v.get("prompt").and_then(Value::as_str).map(str::to_string),
        Err(_) => None,
    };
    let Some(prompt) = prompt.filter(|p| !p.is_empty() && p.chars().count() <= 32_000) else {
        return error(
            StatusCode::BAD_REQUEST,
            "Missing required parameter: 'prompt'.",
            "invalid_request_error",
            Some("prompt"),
            Some("missing_required_parameter"),
        );
    };
    if source.phase(&state.config.faults, Instant::now()) != Phase::Completed {
        return error(
            StatusCode::BAD_REQUEST,
            "Only completed videos can be remixed.",
            "invalid_request_error",
            Some("video_id"),
            None,
        );
    }
    if moderated(&state, &prompt) {
        return moderation_refusal();
    }
    let create = validate::Create {
        prompt,
        model: source.model.clone(),
        seconds: source.seconds.clone(),
        size: source.size.clone(),
    };
    let video = new_video(&state, create, Some(source.id.clone()));
    let body = video_json(&state, &video);
    let id = video.id.clone();
    state.lock().push(video);
    crate::webhook::spawn(&state, &id);
    Json(body).into_response()
}

async fn download(
    State(state): St,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let video = state.find(&id);
    if let Some(r) = gate(&state, &headers, video.as_ref().map(|v| v.prompt.as_str())) {
        return r;
    }
    state.stats.downloads.fetch_add(1, Ordering::Relaxed);
    let Some(video) = video else {
        return not_found(&id);
    };
    let variant = q.get("variant").map(String::as_str).unwrap_or("video");
    if !["video", "thumbnail", "spritesheet"].contains(&variant) {
        return error(StatusCode::BAD_REQUEST, &format!("Invalid value: '{variant}'. Supported values are: 'video', 'thumbnail', and 'spritesheet'."), "invalid_request_error", Some("variant"), Some("invalid_value"));
    }
    if video.phase(&state.config.faults, Instant::now()) != Phase::Completed {
        return error(
            StatusCode::NOT_FOUND,
            "Video is not ready yet, use GET /v1/videos/{video_id} to check status.",
            "invalid_request_error",
            None,
            None,
        );
    }
    let generated = video.markers.video_bytes.or(state.config.video_bytes);
    let (len, source) = match (variant, generated) {
        ("video", Some(n)) => (n, Source::Generated(content::seed(&video.id))),
        ("video", None) => {
            let mp4 = content::sample_mp4_for(&video.seconds);
            (mp4.len() as u64, Source::Owned(Bytes::from(mp4)))
        }
        ("thumbnail", _) => (
            content::THUMBNAIL_WEBP.len() as u64,
            Source::Static(content::THUMBNAIL_WEBP),
        ),
        _ => (
            content::SPRITESHEET_JPEG.len() as u64,
            Source::Static(content::SPRITESHEET_JPEG),
        ),
    };
    let plan = Stream {
        source,
        len,
        chunk: state.config.download_chunk.max(1),
        rate: video
            .markers
            .slow_download
            .or(state.config.faults.slow_download_bytes_per_sec),
        cut_after: video
            .markers
            .reset_download
            .or(state.config.faults.reset_download_after),
    };
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content::content_type(variant))
        .header(header::CONTENT_LENGTH, len)
        .body(Body::from_stream(plan.into_stream()))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// `GET /_sim/renders` (test-only, see [`crate::inspect`]): every video made, deleted
/// ones too.
async fn renders(State(state): St) -> Response {
    let now = Instant::now();
    let mut all: Vec<Video> = state.deleted().clone();
    all.extend(state.lock().iter().cloned());
    let entries = all
        .iter()
        .map(|v| {
            let phase = v.phase(&state.config.faults, now);
            let status = match phase {
                Phase::Queued => "queued",
                Phase::InProgress(_) => "in_progress",
                Phase::Completed => "completed",
                Phase::Failed(..) => "failed",
            };
            let video = (phase == Phase::Completed).then(|| {
                match v.markers.video_bytes.or(state.config.video_bytes) {
                    Some(n) => inspect::VideoBytes::Generated(n),
                    None => inspect::VideoBytes::Exact(content::sample_mp4_for(&v.seconds)),
                }
            });
            inspect::entry(&v.id, &v.prompt, status, video)
        })
        .collect();
    Json(inspect::listing(entries)).into_response()
}
