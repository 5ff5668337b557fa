//! HTTP routes of the simulated fal queue, its CDN and its JWKS.
//!
//! Model ids have any number of path segments, so queue routes are matched by hand from
//! the path: `POST /{model id}` submits; `GET|PUT /[ns/]{owner}/{app}/requests/{id}[/…]`
//! reads or cancels.

use super::models;
use super::result::{answer, video_len};
use super::state::{new_request_id, FalState, Fault, Outcome, Phase, Request};
use super::webhook;
use crate::content;
use crate::inspect;
use crate::stream::{Source, Stream};
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

type St = State<Arc<FalState>>;

/// Namespaces whose ids carry one more leading segment (`workflows/owner/app`), as
/// `fal_client.client.APP_NAMESPACES` lists them.
const NAMESPACES: &[&str] = &["workflows", "comfy"];

pub(crate) fn router(state: Arc<FalState>) -> Router {
    Router::new()
        .route("/.well-known/jwks.json", get(jwks))
        .route("/_sim/fal/files/{id}/{file}", get(download))
        .route("/_sim/renders", get(renders))
        .fallback(dispatch)
        .with_state(state)
}

/// fal's error body.
fn detail(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "detail": message }))).into_response()
}

async fn jwks(State(state): St) -> Response {
    Json(json!({ "keys": [state.key.jwk()] })).into_response()
}

/// What a queue path names.
#[derive(Debug, PartialEq)]
enum Target<'a> {
    /// `POST /{model id}`: the whole path.
    Submit(&'a str),
    /// `/{app}/requests/{id}` plus what follows (`""`, `"status"`, `"cancel"`, …).
    Request {
        app: String,
        id: &'a str,
        rest: &'a str,
    },
}

fn parse_path(path: &str) -> Option<Target<'_>> {
    let path = path.trim_start_matches('/');
    let segments: Vec<&str> = path.split('/').collect();
    if segments.len() < 2 || segments.iter().any(|s| s.is_empty()) {
        return None;
    }
    let app_len = if NAMESPACES.contains(&segments[0]) {
        3
    } else {
        2
    };
    if segments.len() >= app_len + 2 && segments[app_len] == "requests" {
        let id = segments[app_len + 1];
        let rest_start = segments[..app_len + 2]
            .iter()
            .map(|s| s.len() + 1)
            .sum::<usize>();
        let rest = path.get(rest_start..).unwrap_or("");
        return Some(Target::Request {
            app: segments[..app_len].join("/"),
            id,
            rest,
        });
    }
    Some(Target::Submit(path))
}

/// The owner/app part of a model id that the returned URLs use.
fn app_of(model_id: &str) -> String {
    let segments: Vec<&str> = model_id.split('/').collect();
    let n = if NAMESPACES.contains(&segments[0]) {
        3
    } else {
        2
    };
    segments[..n.min(segments.len())].join("/")
}

async fn dispatch(
    State(state): St,
    method: Method,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(target) = parse_path(uri.path()) else {
        return detail(StatusCode::NOT_FOUND, "Not Found");
    };
    match (method, target) {
        (Method::POST, Target::Submit(model)) => submit(&state, model, &query, &headers, &body),
        (
            Method::GET,
            Target::Request {
                app,
                id,
                rest: "status",
            },
        ) => status(&state, &app, id, &query, &headers),
        (Method::GET, Target::Request { app, id, rest: "" }) => result(&state, &app, id, &headers),
        (
            Method::PUT,
            Target::Request {
                app,
                id,
                rest: "cancel",
            },
        ) => cancel(&state, &app, id, &headers),
        (
            _,
            Target::Request {
                rest: "status/stream",
                ..
            },
        ) => detail(
            StatusCode::NOT_IMPLEMENTED,
            "The simulator does not stream status: poll the status URL.",
        ),
        _ => detail(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed"),
    }
}

/// Authentication, then run-wide and per-job faults.
fn gate(state: &FalState, headers: &HeaderMap, prompt: Option<&str>) -> Option<Response> {
    if let Some(key) = &state.config.api_key {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if given != Some(format!("Key {key}").as_str()) {
            // Never echo what was sent: it may be a real secret.
            return Some(detail(
                StatusCode::UNAUTHORIZED,
                "Authentication is required: send 'Authorization: Key <FAL_KEY>'.",
            ));
        }
    }
    match state.take_fault(prompt)? {
        Fault::RateLimited => Some(
            (
                StatusCode::TOO_MANY_REQUESTS,
                [(
                    header::RETRY_AFTER,
                    state.config.faults.retry_after_secs.to_string(),
                )],
                Json(json!({"detail": "Rate limit exceeded. Please retry later."})),
            )
                .into_response(),
        ),
        Fault::ServerError(code) => Some(detail(
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "Internal Server Error",
        )),
    }
}

fn submit(
    state: &Arc<FalState>,
    model_id: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let parsed: Result<Value, _> = serde_json::from_slice(body);
    let prompt = parsed.as_ref().ok().map(|v| models::prompt(v).to_string());
    if let Some(r) = gate(state, headers, prompt.as_deref()) {
        return r;
    }
    state.stats.submits.fetch_add(1, Ordering::Relaxed);
    if !models::is_known(model_id) {
        return detail(
            StatusCode::NOT_FOUND,
            &format!("Application '{model_id}' not found"),
        );
    }
    let input = match parsed {
        Ok(v) => v,
        Err(e) => {
            let problem = json!({"loc": ["body"], "msg": format!("JSON decode error: {e}"),
                "type": "json_invalid", "input": {}});
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({ "detail": [problem] })),
            )
                .into_response();
        }
    };
    if let Err(problems) = models::validate(model_id, &input) {
        let detail: Vec<Value> = problems.iter().map(|p| p.to_json()).collect();
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "detail": detail })),
        )
            .into_response();
    }
    let object_lifecycle = match headers.get("x-fal-object-lifecycle-preference") {
        None => None,
        Some(v) => match v
            .to_str()
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(t).ok())
        {
            Some(parsed) if parsed.is_object() => Some(parsed),
            _ => {
                let problem = json!({"loc": ["header", "x-fal-object-lifecycle-preference"],
                    "msg": "Input should be a JSON object such as {\"expiration_duration_seconds\": 3600}",
                    "type": "json_invalid", "input": v.to_str().unwrap_or("")});
                return (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Json(json!({ "detail": [problem] })),
                )
                    .into_response();
            }
        },
    };
    let webhook_url = match query.get("fal_webhook") {
        None => None,
        Some(u) => match url::Url::parse(u) {
            Ok(p) if matches!(p.scheme(), "http" | "https") => Some(u.clone()),
            _ => {
                return detail(
                    StatusCode::BAD_REQUEST,
                    "fal_webhook must be an absolute http(s) URL.",
                )
            }
        },
    };
    let markers = crate::markers::parse(models::prompt(&input));
    let config = &state.config;
    let req = Request {
        id: new_request_id(),
        gateway_id: new_request_id(),
        model_id: model_id.to_string(),
        app: app_of(model_id),
        render: markers
            .render_ms
            .map(Duration::from_millis)
            .unwrap_or(config.render_time),
        queue: config.queue_time,
        markers,
        input,
        submitted: Instant::now(),
        webhook_url,
        cancelled_at: None,
        cancel_requested: false,
        object_lifecycle,
        status_gets: 0,
        result_gets: 0,
        downloads: 0,
        webhook_attempts: 0,
        webhook_acks: 0,
        webhook_withheld: false,
        wake: Default::default(),
    };
    let base = format!("http://{}/{}/requests/{}", state.host(), req.app, req.id);
    let position = {
        let mut requests = state.requests();
        let now = Instant::now();
        let queued = requests
            .iter()
            .filter(|r| r.phase(&config.faults, now) == Phase::Queued)
            .count();
        requests.push(req.clone());
        queued
    };
    if req.webhook_url.is_some() {
        webhook::spawn(state.clone(), req.id.clone());
    }
    tracing::info!(request_id = %req.id, model = %req.model_id, webhook = req.webhook_url.is_some(), "fal request submitted");
    Json(json!({
        "status": "IN_QUEUE",
        "request_id": req.id,
        "gateway_request_id": req.gateway_id,
        "response_url": base,
        "status_url": format!("{base}/status"),
        "cancel_url": format!("{base}/cancel"),
        "queue_position": position,
    }))
    .into_response()
}

/// A request by id, if it was submitted under this app (fal's URLs are per app).
fn lookup(state: &FalState, app: &str, id: &str) -> Option<Request> {
    state.find(id).filter(|r| r.app == app)
}

fn request_not_found() -> Response {
    detail(StatusCode::NOT_FOUND, "Request not found")
}

fn logs_wanted(query: &HashMap<String, String>) -> bool {
    // fal_client sends `logs=true`/`false` (httpx renders booleans so); the docs say `1`.
    query
        .get("logs")
        .is_some_and(|v| matches!(v.as_str(), "1" | "true" | "True"))
}

fn status(
    state: &FalState,
    app: &str,
    id: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Response {
    let prompt = state.find(id).map(|r| r.prompt().to_string());
    if let Some(r) = gate(state, headers, prompt.as_deref()) {
        return r;
    }
    state.stats.status_requests.fetch_add(1, Ordering::Relaxed);
    let Some(req) = lookup(state, app, id) else {
        return request_not_found();
    };
    state.update(id, |r| r.status_gets += 1);
    let now = Instant::now();
    let response_url = format!("http://{}/{}/requests/{}", state.host(), req.app, req.id);
    let logs = logs_wanted(query).then(|| {
        json!([{"message": "Generating video…", "level": "INFO", "source": "user",
            "timestamp": chrono::Utc::now().to_rfc3339()}])
    });
    match req.phase(&state.config.faults, now) {
        Phase::Queued => (
            StatusCode::ACCEPTED,
            Json(json!({
                "status": "IN_QUEUE",
                "request_id": req.id,
                "response_url": response_url,
                "queue_position": state.queue_position(id, now),
            })),
        )
            .into_response(),
        Phase::InProgress => (
            StatusCode::ACCEPTED,
            Json(json!({
                "status": "IN_PROGRESS",
                "request_id": req.id,
                "response_url": response_url,
                // fal_client reads `logs` unconditionally: it is always present.
                "logs": logs,
            })),
        )
            .into_response(),
        Phase::Done(outcome) => {
            let a = answer(state, &req, outcome);
            let took = req.render.as_secs_f64();
            Json(json!({
                "status": "COMPLETED",
                "request_id": req.id,
                "response_url": response_url,
                "logs": logs,
                "metrics": if outcome == Outcome::Ok { json!({"inference_time": took}) } else { json!({}) },
                "error": a.error,
                "error_type": a.error_type,
            }))
            .into_response()
        }
    }
}

fn result(state: &FalState, app: &str, id: &str, headers: &HeaderMap) -> Response {
    let prompt = state.find(id).map(|r| r.prompt().to_string());
    if let Some(r) = gate(state, headers, prompt.as_deref()) {
        return r;
    }
    state.stats.result_fetches.fetch_add(1, Ordering::Relaxed);
    let Some(req) = lookup(state, app, id) else {
        return request_not_found();
    };
    state.update(id, |r| r.result_gets += 1);
    let Phase::Done(outcome) = req.phase(&state.config.faults, Instant::now()) else {
        return detail(StatusCode::BAD_REQUEST, "Request is still in progress");
    };
    let a = answer(state, &req, outcome);
    let mut response = (
        StatusCode::from_u16(a.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        Json(a.body),
    )
        .into_response();
    if let Some(t) = a.error_type {
        response
            .headers_mut()
            .insert("x-fal-error-type", header::HeaderValue::from_static(t));
    }
    response
}

/// fal's answers: a queued request is removed (`OK`); a running one is signalled
/// (`CANCELLATION_REQUESTED`, 202); an ended one is left (`ALREADY_COMPLETED`, 400); an
/// unknown one is `NOT_FOUND` (404).
fn cancel(state: &FalState, app: &str, id: &str, headers: &HeaderMap) -> Response {
    let prompt = state.find(id).map(|r| r.prompt().to_string());
    if let Some(r) = gate(state, headers, prompt.as_deref()) {
        return r;
    }
    state.stats.cancels.fetch_add(1, Ordering::Relaxed);
    let shape =
        |code: StatusCode, status: &str| (code, Json(json!({ "status": status }))).into_response();
    if lookup(state, app, id).is_none() {
        return shape(StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    let now = Instant::now();
    let faults = state.config.faults.clone();
    let answer = state.update(id, |r| match r.phase(&faults, now) {
        Phase::Queued => {
            r.cancelled_at = Some(now);
            r.wake.notify_one();
            (StatusCode::OK, "OK")
        }
        Phase::InProgress => {
            r.cancel_requested = true;
            (StatusCode::ACCEPTED, "CANCELLATION_REQUESTED")
        }
        Phase::Done(_) => (StatusCode::BAD_REQUEST, "ALREADY_COMPLETED"),
    });
    let (code, status) = answer.unwrap_or((StatusCode::NOT_FOUND, "NOT_FOUND"));
    tracing::info!(request_id = %id, answer = status, "fal cancel");
    shape(code, status)
}

/// The output on the simulated CDN: no auth, like `v3.fal.media` links.
async fn download(State(state): St, Path((id, file)): Path<(String, String)>) -> Response {
    let Some(req) = state.find(&id).filter(|_| file == "output.mp4") else {
        return detail(StatusCode::NOT_FOUND, "File not found");
    };
    if req.phase(&state.config.faults, Instant::now()) != Phase::Done(Outcome::Ok) {
        return detail(StatusCode::NOT_FOUND, "File not found");
    }
    state.stats.downloads.fetch_add(1, Ordering::Relaxed);
    state.update(&id, |r| r.downloads += 1);
    let len = video_len(&state, &req);
    let source = if req
        .markers
        .video_bytes
        .or(state.config.video_bytes)
        .is_some()
    {
        Source::Generated(content::seed(&req.id))
    } else {
        Source::Static(content::SAMPLE_MP4)
    };
    let faults = &state.config.faults;
    let plan = Stream {
        source,
        len,
        chunk: state.config.download_chunk,
        rate: req
            .markers
            .slow_download
            .or(faults.slow_download_bytes_per_sec),
        cut_after: req.markers.reset_download.or(faults.reset_download_after),
    };
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "video/mp4")
        .header(header::CONTENT_LENGTH, len)
        .body(Body::from_stream(plan.into_stream()))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// `GET /_sim/renders` (test-only, see [`crate::inspect`]): every request submitted.
async fn renders(State(state): St) -> Response {
    let now = Instant::now();
    let requests = state.requests().clone();
    let entries = requests
        .iter()
        .map(|r| {
            let phase = r.phase(&state.config.faults, now);
            let status = match phase {
                Phase::Queued => "IN_QUEUE",
                Phase::InProgress => "IN_PROGRESS",
                Phase::Done(Outcome::Ok) => "OK",
                Phase::Done(Outcome::Moderated) => "MODERATED",
                Phase::Done(Outcome::Failed) => "FAILED",
                Phase::Done(Outcome::Cancelled) => "CANCELLED",
            };
            let video = (phase == Phase::Done(Outcome::Ok)).then(|| {
                if r.markers.video_bytes.or(state.config.video_bytes).is_some() {
                    inspect::VideoBytes::Generated(video_len(&state, r))
                } else {
                    inspect::VideoBytes::Exact(content::SAMPLE_MP4.to_vec())
                }
            });
            inspect::entry(&r.id, r.prompt(), status, video)
        })
        .collect();
    Json(inspect::listing(entries)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_submits_and_requests() {
        assert_eq!(
            parse_path("/fal-ai/veo3.1"),
            Some(Target::Submit("fal-ai/veo3.1"))
        );
        assert_eq!(
            parse_path("/fal-ai/kling-video/v2.1/master/text-to-video"),
            Some(Target::Submit(
                "fal-ai/kling-video/v2.1/master/text-to-video"
            ))
        );
        assert_eq!(
            parse_path("/fal-ai/veo3.1/requests/abc/status"),
            Some(Target::Request {
                app: "fal-ai/veo3.1".into(),
                id: "abc",
                rest: "status"
            })
        );
        assert_eq!(
            parse_path("/fal-ai/veo3.1/requests/abc"),
            Some(Target::Request {
                app: "fal-ai/veo3.1".into(),
                id: "abc",
                rest: ""
            })
        );
        assert_eq!(
            parse_path("/workflows/me/flow/requests/x/cancel"),
            Some(Target::Request {
                app: "workflows/me/flow".into(),
                id: "x",
                rest: "cancel"
            })
        );
        assert_eq!(parse_path("/veo3.1"), None);
        assert_eq!(parse_path("/fal-ai//veo"), None);
        assert_eq!(app_of("fal-ai/veo3.1/fast/image-to-video"), "fal-ai/veo3.1");
        assert_eq!(app_of("workflows/me/flow/x"), "workflows/me/flow");
    }
}
