//! HTTP routes of the simulated Runway task API.

use super::state::{new_task_id, Fault, Phase, RunwayState, Task};
use super::validate::{self, Route};
use super::{assets, RUNWAY_VERSION};
use crate::content;
use crate::inspect;
use crate::stream::{Source, Stream};
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{SecondsFormat, Utc};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

type St = State<Arc<RunwayState>>;

pub(crate) fn router(state: Arc<RunwayState>) -> Router {
    Router::new()
        .route("/v1/text_to_video", post(text_to_video))
        .route("/v1/image_to_video", post(image_to_video))
        .route("/v1/video_to_video", post(video_to_video))
        .route("/v1/tasks/{id}", get(retrieve).delete(delete))
        .route("/_sim/runway/output/{file}", get(output))
        .route("/_sim/renders", get(renders))
        .method_not_allowed_fallback(|| async {
            error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed.")
        })
        .fallback(|| async { error(StatusCode::NOT_FOUND, "Not found.") })
        .with_state(state)
}

/// Runway's error body.
fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// Authentication, the version header, then run-wide and per-job faults.
fn gate(state: &RunwayState, headers: &HeaderMap, prompt: Option<&str>) -> Option<Response> {
    if let Some(key) = &state.config.api_key {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if given != Some(format!("Bearer {key}").as_str()) {
            // Never echo what was sent: it may be a real secret.
            return Some(error(
                StatusCode::UNAUTHORIZED,
                "Invalid API secret: send 'Authorization: Bearer <your API secret>'.",
            ));
        }
    }
    match headers.get("x-runway-version").map(|v| v.to_str()) {
        Some(Ok(RUNWAY_VERSION)) => {}
        None => {
            return Some(error(
                StatusCode::BAD_REQUEST,
                &format!("The X-Runway-Version header is required; the supported version is {RUNWAY_VERSION}."),
            ))
        }
        Some(v) => {
            let shown = v.unwrap_or("(not text)");
            return Some(error(
                StatusCode::BAD_REQUEST,
                &format!("Unsupported X-Runway-Version '{shown}': the supported version is {RUNWAY_VERSION}."),
            ));
        }
    }
    match state.take_fault(prompt)? {
        // Runway documents no Retry-After: none is sent.
        Fault::RateLimited => Some(error(
            StatusCode::TOO_MANY_REQUESTS,
            "You have exceeded the rate limit or daily task limit. Retry later, with backoff.",
        )),
        Fault::ServerError(code) => Some(error(
            StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            "The service is temporarily overloaded. Please retry.",
        )),
    }
}

async fn text_to_video(state: St, headers: HeaderMap, body: Bytes) -> Response {
    create(state, headers, body, Route::TextToVideo).await
}

async fn image_to_video(state: St, headers: HeaderMap, body: Bytes) -> Response {
    create(state, headers, body, Route::ImageToVideo).await
}

async fn video_to_video(state: St, headers: HeaderMap, body: Bytes) -> Response {
    create(state, headers, body, Route::VideoToVideo).await
}

async fn create(State(state): St, headers: HeaderMap, body: Bytes, route: Route) -> Response {
    let parsed: Result<Value, _> = serde_json::from_slice(&body);
    let prompt = parsed
        .as_ref()
        .ok()
        .and_then(|v| v.get("promptText"))
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(r) = gate(&state, &headers, prompt.as_deref()) {
        return r;
    }
    let counter = match route {
        Route::TextToVideo => &state.stats.text_to_video,
        Route::ImageToVideo => &state.stats.image_to_video,
        Route::VideoToVideo => &state.stats.video_to_video,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    let body = match parsed {
        Ok(v) => v,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("The request body is not valid JSON: {e}"),
            )
        }
    };
    state.record_create(route, body.clone());
    let valid = match validate::create(route, &body) {
        Ok(v) => v,
        Err(e) => return invalid(&e.path, &e.message),
    };
    // Runway reads the inputs when it accepts the task, and answers 400 naming the field
    // when one cannot be used.
    let rules = assets::Rules {
        allow_http: state.config.allow_http_assets,
        require_head: state.config.require_head,
    };
    let mut fetched = Vec::new();
    for asset in &valid.assets {
        match assets::read(&state.client, asset, rules).await {
            Ok(f) => fetched.push(f),
            Err(why) => return invalid(&asset.field, &why),
        }
    }
    let markers = crate::markers::parse(valid.prompt_text.as_deref().unwrap_or_default());
    let config = &state.config;
    let task = Task {
        id: new_task_id(),
        render: markers
            .render_ms
            .map(Duration::from_millis)
            .unwrap_or(config.render_time),
        throttled: config.throttled_time + Duration::from_millis(markers.throttled_ms.unwrap_or(0)),
        pending: config.pending_time,
        markers,
        created_at: Utc::now(),
        started: Instant::now(),
        fetched,
        cancelled_at: None,
        deleted: false,
        gets: 0,
        last_get: None,
        min_get_gap: None,
        create: valid,
    };
    // `estimatedCost.credits` is a float in Runway's schema, `cost.credits` an integer.
    let answer = json!({"id": task.id, "estimatedCost": {"credits": task.create.credits as f64}});
    tracing::info!(task_id = %task.id, model = task.create.model, route = route.path(), "runway task created");
    state.tasks().push(task);
    Json(answer).into_response()
}

/// A validation error: the field named in the text and in `issues`.
fn invalid(path: &str, message: &str) -> Response {
    let text = if path.is_empty() {
        format!("Invalid request body: {message}")
    } else {
        format!("Invalid field '{path}': {message}")
    };
    let issues = json!([{"path": path_segments(path), "message": message}]);
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": text, "issues": issues})),
    )
        .into_response()
}

/// `promptImage[1].uri` → `["promptImage", 1, "uri"]`, as Runway's issues list paths.
fn path_segments(path: &str) -> Value {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let mut pieces = part.split('[');
        if let Some(name) = pieces.next().filter(|n| !n.is_empty()) {
            out.push(json!(name));
        }
        for index in pieces {
            let index = index.trim_end_matches(']');
            match index.parse::<u64>() {
                Ok(i) => out.push(json!(i)),
                Err(_) => out.push(json!(index)),
            }
        }
    }
    Value::Array(out)
}

fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "Task not found.")
}

/// A task's prompt, for per-job faults, even before we know whether it exists.
fn prompt_of(state: &RunwayState, id: &str) -> Option<String> {
    state.find(id).map(|t| t.prompt().to_string())
}

async fn retrieve(State(state): St, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let now = Instant::now();
    state.note_get(&id, now);
    if let Some(r) = gate(&state, &headers, prompt_of(&state, &id).as_deref()) {
        return r;
    }
    state.stats.retrieves.fetch_add(1, Ordering::Relaxed);
    let Some(task) = state.find(&id) else {
        return not_found();
    };
    Json(task_json(&state, &task, now)).into_response()
}

fn task_json(state: &RunwayState, task: &Task, now: Instant) -> Value {
    let phase = task.phase(&state.config.faults, now);
    let ended = phase.ended();
    let charged = phase.charged();
    let mut body = json!({
        "id": task.id,
        "createdAt": task.created_at.to_rfc3339_opts(SecondsFormat::Millis, true),
    });
    let credits = task.create.credits;
    let fields: Vec<(&str, Value)> = match phase {
        Phase::Pending => vec![("status", json!("PENDING"))],
        Phase::Throttled => vec![("status", json!("THROTTLED"))],
        Phase::Running(p) => vec![
            ("status", json!("RUNNING")),
            // Two decimals, like the real API's progress values.
            ("progress", json!((p * 100.0).floor() / 100.0)),
        ],
        Phase::Succeeded => vec![
            ("status", json!("SUCCEEDED")),
            ("output", json!([output_url(state, &task.id)])),
        ],
        Phase::Failed { code, message } => vec![
            ("status", json!("FAILED")),
            ("failure", json!(message)),
            ("failureCode", json!(code)),
        ],
        Phase::Cancelled => vec![("status", json!("CANCELLED"))],
    };
    for (k, v) in fields {
        body[k] = v;
    }
    let cost_field = if ended {
        (
            "cost",
            json!({ "credits": if charged { credits } else { 0 } }),
        )
    } else {
        ("estimatedCost", json!({ "credits": credits as f64 }))
    };
    body[cost_field.0] = cost_field.1;
    body
}

/// A fresh signed link to a task's output, valid for the configured TTL.
fn output_url(state: &RunwayState, task_id: &str) -> String {
    let ttl = i64::try_from(state.config.output_url_ttl.as_millis()).unwrap_or(i64::MAX / 2);
    let expires = Utc::now().timestamp_millis().saturating_add(ttl);
    let nonce = hex::encode(rand::random::<[u8; 8]>());
    let sig = state.sign(task_id, expires, &nonce);
    let host = state
        .addr
        .get()
        .map(|a| a.to_string())
        .unwrap_or_else(|| "127.0.0.1".into());
    format!(
        "http://{host}/_sim/runway/output/{task_id}.mp4?expires={expires}&nonce={nonce}&sig={sig}"
    )
}

async fn delete(State(state): St, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if let Some(r) = gate(&state, &headers, prompt_of(&state, &id).as_deref()) {
        return r;
    }
    let now = Instant::now();
    let mut tasks = state.tasks();
    let Some(task) = tasks.iter_mut().find(|t| t.id == id && !t.deleted) else {
        return not_found();
    };
    if task.phase(&state.config.faults, now).ended() {
        task.deleted = true;
        state.stats.deletes.fetch_add(1, Ordering::Relaxed);
        tracing::info!(task_id = %id, "runway task deleted");
    } else {
        task.cancelled_at = Some(now);
        state.stats.cancels.fetch_add(1, Ordering::Relaxed);
        tracing::info!(task_id = %id, "runway task cancelled");
    }
    StatusCode::NO_CONTENT.into_response()
}

/// The output link: no auth header (it is a signed URL), 403 once expired.
async fn output(
    State(state): St,
    Path(file): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(id) = file.strip_suffix(".mp4") else {
        return denied("The link is malformed.");
    };
    let (Some(expires), Some(nonce), Some(sig)) = (
        q.get("expires").and_then(|e| e.parse::<i64>().ok()),
        q.get("nonce"),
        q.get("sig"),
    ) else {
        return denied("The link is malformed.");
    };
    if state.sign(id, expires, nonce) != *sig {
        return denied("The link's signature does not match.");
    }
    if Utc::now().timestamp_millis() >= expires {
        state
            .stats
            .expired_downloads
            .fetch_add(1, Ordering::Relaxed);
        return denied("Request has expired.");
    }
    let Some(task) = state.find(id) else {
        return not_found();
    };
    if task.phase(&state.config.faults, Instant::now()) != Phase::Succeeded {
        return not_found();
    }
    state.stats.downloads.fetch_add(1, Ordering::Relaxed);
    let (len, source) = match task.markers.video_bytes.or(state.config.video_bytes) {
        Some(n) => (n, Source::Generated(content::seed(&task.id))),
        None => (
            content::SAMPLE_MP4.len() as u64,
            Source::Static(content::SAMPLE_MP4),
        ),
    };
    let faults = &state.config.faults;
    let plan = Stream {
        source,
        len,
        chunk: state.config.download_chunk,
        rate: task
            .markers
            .slow_download
            .or(faults.slow_download_bytes_per_sec),
        cut_after: task.markers.reset_download.or(faults.reset_download_after),
    };
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "video/mp4")
        .header(header::CONTENT_LENGTH, len)
        .body(Body::from_stream(plan.into_stream()))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// What a storage CDN answers for a bad or expired signed link.
fn denied(message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Message>{message}</Message></Error>"
    );
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "application/xml")],
        body,
    )
        .into_response()
}

/// `GET /_sim/renders` (test-only, see [`crate::inspect`]): every task made, deleted
/// ones too.
async fn renders(State(state): St) -> Response {
    let now = Instant::now();
    let tasks = state.tasks().clone();
    let entries = tasks
        .iter()
        .map(|t| {
            let phase = t.phase(&state.config.faults, now);
            let status = match phase {
                Phase::Pending => "PENDING",
                Phase::Throttled => "THROTTLED",
                Phase::Running(_) => "RUNNING",
                Phase::Succeeded => "SUCCEEDED",
                Phase::Failed { .. } => "FAILED",
                Phase::Cancelled => "CANCELLED",
            };
            let video = (phase == Phase::Succeeded).then(|| {
                match t.markers.video_bytes.or(state.config.video_bytes) {
                    Some(n) => inspect::VideoBytes::Generated(n),
                    None => inspect::VideoBytes::Exact(content::SAMPLE_MP4.to_vec()),
                }
            });
            let prompt = t.create.prompt_text.as_deref().unwrap_or_default();
            inspect::entry(&t.id, prompt, status, video)
        })
        .collect();
    Json(inspect::listing(entries)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_paths_split_into_segments() {
        assert_eq!(
            path_segments("promptImage[1].uri"),
            json!(["promptImage", 1, "uri"])
        );
        assert_eq!(path_segments("ratio"), json!(["ratio"]));
        assert_eq!(path_segments(""), json!([]));
    }
}
