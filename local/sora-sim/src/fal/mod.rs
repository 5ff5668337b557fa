//! A faithful local simulator of fal's queue API (`https://queue.fal.run`) and its signed
//! webhooks.
//!
//! Facts come from the official `fal-client` Python package and fal's docs
//! (`shared/reference/fal-api.md`); where they disagree the client wins (see "Verified").
//!
//! # Routes
//! | route | answer |
//! | --- | --- |
//! | `POST /{model id}[?fal_webhook=URL]` | 200 `{status: "IN_QUEUE", request_id, gateway_request_id, response_url, status_url, cancel_url, queue_position}`; the input is checked per model ([`models`]): 422 `{"detail": [{loc: ["body", field], msg, type, input}]}`; an unknown model is a 404 |
//! | `GET /{owner}/{app}/requests/{id}/status[?logs=1]` | 202 `{status: "IN_QUEUE", queue_position}` / 202 `IN_PROGRESS` / 200 `COMPLETED` (with `error`, `error_type` when it failed); `logs` always present, a list only when asked for |
//! | `GET /{owner}/{app}/requests/{id}` | the model's output `{"video": {url, content_type, file_name, file_size}}`; a failed request answers as its model did (moderation 422 with a `detail` list, failure 500), with `X-Fal-Error-Type`; 400 while still running |
//! | `PUT /{owner}/{app}/requests/{id}/cancel` | 200 `{"status": "OK"}` (queued: removed) / 202 `CANCELLATION_REQUESTED` (running) / 400 `ALREADY_COMPLETED` / 404 `NOT_FOUND` |
//! | `GET /_sim/fal/files/{id}/output.mp4` | the output video, no auth (fal's CDN) |
//! | `GET /.well-known/jwks.json` | `{"keys": [{kty: "OKP", crv: "Ed25519", x, kid, use, alg}]}`: the webhook key |
//!
//! Status, result and cancel URLs use the owner/app part of the model id only (with its
//! `workflows/` or `comfy/` namespace), so `fal-ai/veo3.1/fast` is read back under
//! `/fal-ai/veo3.1/requests/{id}`. When a key is configured every queue route needs
//! `Authorization: Key <key>` (else 401); the CDN and the JWKS need none.
//!
//! # Lifecycle
//! Computed from the time since submit: `IN_QUEUE` for [`FalConfig::queue_time`],
//! `IN_PROGRESS` for the render time, then `COMPLETED`. A request submitted with
//! `fal_webhook` gets a delivery task at submit that sleeps until the request ends and
//! POSTs the signed body ([`webhook`]); nothing else runs in the background.
//!
//! # Webhooks
//! Body (keys sorted, Python's `json.dumps` separators — receivers must hash the raw
//! bytes): `{"error", "gateway_request_id", "payload", "payload_error", "request_id",
//! "status"}`; `status` `OK` with the result as `payload`, or `ERROR` with `error`
//! `"Invalid status code: N"` and the model's error body as `payload`. Headers
//! `X-Fal-Webhook-Request-Id`, `-User-Id`, `-Timestamp` (unix s), `-Signature` (hex
//! Ed25519 over `request_id\nuser_id\ntimestamp\nhex(sha256(body))`, [`signing`]).
//! Anything but a 2xx is retried: [`FalConfig::webhook_attempts`] attempts with doubling
//! backoff from [`FalConfig::webhook_retry_base`]. Switches for a run and markers per job:
//! withhold (`withhold_webhooks`, `[sim:webhook_withhold]`), delay (`webhook_delay`,
//! `[sim:webhook_delay_ms=N]`), forged signature (`forge_signature`,
//! `[sim:webhook_forge]`), stale timestamp (`stale_timestamp`, `[sim:webhook_stale]`),
//! each delivery sent twice (`duplicate_webhooks`, `[sim:webhook_duplicate]`).
//!
//! # Faults
//! The shared markers ([`crate::markers`]) and [`crate::Faults`]: `moderation_create` /
//! `moderation_input` / `moderation_at_create` (fal refuses nothing at submit: the model's
//! checker fails the request when it starts), `moderation_end` / `moderation_at_end`,
//! `fail` (500 `{"detail": "Internal Server Error"}`), `never_finish`, `rate_limit=N`
//! (429 with `Retry-After`), `server_error=N` (500, 503 in turn), `slow_download`,
//! `reset_download`, `video_bytes`, `render_ms`.
//!
//! # Verified
//! Read in `fal-ai/fal`, `projects/fal_client/src/fal_client/client.py` and `auth.py`
//! (fal_client 1.0.1, the newest tag in the snapshot of 2026-08-21):
//! - the client submits to `QUEUE_URL_FORMAT + application` (`https://queue.fal.run/`,
//!   host overridable by `FAL_QUEUE_RUN_HOST`), adding `?fal_webhook=<url>`, and then
//!   uses only the returned `status_url`, `response_url`, `cancel_url`;
//! - ids split as `AppId.from_endpoint_id`: `owner/alias[/path]`, with a leading
//!   `workflows`/`comfy` namespace segment kept; request URLs are
//!   `{ns/}{owner}/{alias}/requests/{id}` + `/status`, `/cancel`;
//! - auth is `Authorization: {scheme} {token}` with scheme `Key` for `FAL_KEY`;
//! - status is `GET status_url` with `params={"logs": with_logs}`, which httpx sends as
//!   `logs=true`/`logs=false` (the reference says `logs=1`): both are accepted;
//! - the client reads `queue_position` for `IN_QUEUE` and `logs` *unconditionally* for
//!   `IN_PROGRESS` and `COMPLETED` (a missing key raises), `metrics`, `error`,
//!   `error_type` optionally: so `logs` is always sent, `null` unless asked for;
//! - cancel is `PUT cancel_url`; any non-2xx raises `FalClientHTTPError` with `detail`
//!   from the body (else the text) and `error_type` from the body or `x-fal-error-type`;
//! - fal apps answer unhandled errors `{"detail": "Internal Server Error"}` with 500
//!   (`projects/fal/src/fal/api/api.py`) and validation with a pydantic `detail` list
//!   (`projects/fal/tests/unit/test_request_validation_errors.py`).
//!
//! From fal's docs (queue cancel page; webhooks page): cancel answers `OK`,
//! `CANCELLATION_REQUESTED`, `ALREADY_COMPLETED`, `NOT_FOUND`; a queued request is
//! removed, a running one only signalled. Webhook signing and the JWKS shape follow the
//! reference (H/M there), matched by independent receivers' code (headers, message
//! `request_id\nuser_id\ntimestamp\nsha256hex(body)`, ±300 s, JWKS cached 24 h).
//!
//! # Simplified
//! Model input schemas are the documented fields only (Veo 3.1 as the reference lists
//! them; Kling v2.1 master and Wan 2.2 A14B from their published pages, ranges for
//! `num_frames`, `frames_per_second` and `num_inference_steps` are stand-ins). HTTP
//! codes of the cancel answers, the moderation text and `error_type` values, the
//! cancelled request's result (400 `Request was cancelled`) and webhook (`ERROR`,
//! `payload` null), and running requests finishing despite a cancel are assumptions
//! no source fixes. No SSE status stream (501); `X-Fal-Object-Lifecycle-Preference` is
//! checked to be JSON (else 422 naming the header) and recorded, but outputs never
//! expire; no non-ASCII escaping in webhook bodies; one `gateway_request_id` per request.

pub mod models;
mod result;
mod routes;
pub mod signing;
mod state;
mod webhook;

use crate::content;
use crate::server::Serving;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

pub use result::MODERATION_MESSAGE;
pub use webhook::STALE_BY_SECS;

#[derive(Debug, Clone)]
pub struct FalConfig {
    /// Time each request spends `IN_QUEUE`.
    pub queue_time: Duration,
    /// Time spent `IN_PROGRESS` (the `[sim:render_ms=N]` marker overrides it).
    pub render_time: Duration,
    /// When set, every queue request must carry `Authorization: Key <key>`.
    pub api_key: Option<String>,
    pub faults: crate::Faults,
    /// When set, the output is this many bytes of generated content instead of the small
    /// real MP4.
    pub video_bytes: Option<u64>,
    /// Body chunk size when streaming output.
    pub download_chunk: usize,
    /// The `X-Fal-Webhook-User-Id` sent (and signed).
    pub user_id: String,
    /// Never send webhooks (for the polling fallback).
    pub withhold_webhooks: bool,
    /// Wait this long after a request ends before its webhook.
    pub webhook_delay: Duration,
    /// Sign webhooks with a key the JWKS does not publish.
    pub forge_signature: bool,
    /// Stamp webhooks [`STALE_BY_SECS`] in the past.
    pub stale_timestamp: bool,
    /// Send each webhook delivery twice.
    pub duplicate_webhooks: bool,
    /// Deliveries tried per webhook before giving up (fal: 10, over 2 hours).
    pub webhook_attempts: u32,
    /// Wait after the first refused delivery; doubles each time up to `webhook_retry_max`.
    pub webhook_retry_base: Duration,
    pub webhook_retry_max: Duration,
    /// Time a receiver has to answer one delivery (fal: 15 s).
    pub webhook_timeout: Duration,
}

impl Default for FalConfig {
    fn default() -> Self {
        FalConfig {
            queue_time: Duration::from_millis(300),
            render_time: Duration::from_secs(3),
            api_key: None,
            faults: crate::Faults {
                retry_after_secs: 1,
                ..crate::Faults::default()
            },
            video_bytes: None,
            download_chunk: 64 * 1024,
            user_id: "sim-user".into(),
            withhold_webhooks: false,
            webhook_delay: Duration::ZERO,
            forge_signature: false,
            stale_timestamp: false,
            duplicate_webhooks: false,
            // 10 attempts spread over about two hours, as fal documents.
            webhook_attempts: 10,
            webhook_retry_base: Duration::from_secs(15),
            webhook_retry_max: Duration::from_secs(30 * 60),
            webhook_timeout: Duration::from_secs(15),
        }
    }
}

/// Request counts, for tests that assert what the client did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FalStats {
    /// Submits past auth and faults (valid or not).
    pub submits: u64,
    /// Status GETs past auth and faults. A webhook-driven client makes none.
    pub status_requests: u64,
    /// Result GETs past auth and faults.
    pub result_fetches: u64,
    /// Cancel PUTs past auth and faults.
    pub cancels: u64,
    /// Output downloads started.
    pub downloads: u64,
    /// Webhook POSTs made (each retry and duplicate counts).
    pub webhooks_sent: u64,
    /// Webhook POSTs answered 2xx.
    pub webhooks_acknowledged: u64,
    /// 429 and 5xx answers served by faults.
    pub faults_served: u64,
}

/// What the simulator knows about one request, for tests.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestInfo {
    pub request_id: String,
    pub gateway_request_id: String,
    pub model_id: String,
    /// The input exactly as submitted.
    pub input: serde_json::Value,
    pub webhook_url: Option<String>,
    pub status_requests: u64,
    pub result_fetches: u64,
    pub downloads: u64,
    pub webhooks_sent: u64,
    pub webhooks_acknowledged: u64,
    /// The webhook was due and withheld.
    pub webhook_withheld: bool,
    /// Removed from the queue by a cancel.
    pub cancelled: bool,
    /// A cancel arrived while it ran.
    pub cancel_requested: bool,
    /// The `X-Fal-Object-Lifecycle-Preference` sent at submit (output retention), parsed.
    pub object_lifecycle: Option<serde_json::Value>,
    /// When the request ended (or is due to), on the wall clock; `None` if it never
    /// ends. Benchmarks measure from it to the job's `completed_at`.
    pub ended_at: Option<std::time::SystemTime>,
}

/// A running fal simulator.
pub struct FalSimulator {
    serving: Serving,
    state: Arc<state::FalState>,
    _deliveries: StopDeliveries,
}

/// Aborts pending webhook deliveries when the simulator goes, however it goes: they hold
/// the state alive and would otherwise POST after the test that made them.
struct StopDeliveries(Arc<state::FalState>);

impl StopDeliveries {
    fn stop(&self) {
        for task in state::lock(&self.0.deliveries).drain(..) {
            task.abort();
        }
    }
}

impl Drop for StopDeliveries {
    fn drop(&mut self) {
        self.stop();
    }
}

impl FalSimulator {
    /// Bind `addr` (port 0 picks a free one) and serve on the current tokio runtime.
    pub async fn start(addr: SocketAddr, config: FalConfig) -> std::io::Result<Self> {
        let state = Arc::new(state::FalState::new(config));
        let serving = Serving::start(addr, routes::router(state.clone())).await?;
        // Set once, before any request can need it to build URLs.
        let _ = state.addr.set(serving.addr);
        Ok(FalSimulator {
            serving,
            _deliveries: StopDeliveries(state.clone()),
            state,
        })
    }

    /// What `FAL_QUEUE_URL` points at, like `https://queue.fal.run` (no trailing slash).
    pub fn queue_url(&self) -> String {
        format!("http://{}", self.serving.addr)
    }

    /// What `FAL_JWKS_URL` points at: the simulator's own key set.
    pub fn jwks_url(&self) -> String {
        format!("http://{}/.well-known/jwks.json", self.serving.addr)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.serving.addr
    }

    pub fn config(&self) -> &FalConfig {
        &self.state.config
    }

    /// The key webhooks are verified with (the one the JWKS publishes).
    pub fn verifying_key(&self) -> ed25519_dalek::VerifyingKey {
        self.state.key.verifying_key()
    }

    pub fn stats(&self) -> FalStats {
        let s = &self.state.stats;
        let n = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        FalStats {
            submits: n(&s.submits),
            status_requests: n(&s.status_requests),
            result_fetches: n(&s.result_fetches),
            cancels: n(&s.cancels),
            downloads: n(&s.downloads),
            webhooks_sent: n(&s.webhooks_sent),
            webhooks_acknowledged: n(&s.webhooks_acknowledged),
            faults_served: n(&s.faults_served),
        }
    }

    /// One request.
    pub fn request(&self, id: &str) -> Option<RequestInfo> {
        let faults = &self.state.config.faults;
        self.state.find(id).map(|r| RequestInfo {
            ended_at: r.end(faults).map(wall_clock),
            request_id: r.id,
            gateway_request_id: r.gateway_id,
            model_id: r.model_id,
            input: r.input,
            webhook_url: r.webhook_url,
            status_requests: r.status_gets,
            result_fetches: r.result_gets,
            downloads: r.downloads,
            webhooks_sent: r.webhook_attempts,
            webhooks_acknowledged: r.webhook_acks,
            webhook_withheld: r.webhook_withheld,
            cancelled: r.cancelled_at.is_some(),
            cancel_requested: r.cancel_requested,
            object_lifecycle: r.object_lifecycle,
        })
    }

    /// Ids of every request submitted, oldest first.
    pub fn request_ids(&self) -> Vec<String> {
        self.state.requests().iter().map(|r| r.id.clone()).collect()
    }

    /// Stop serving and drop every pending webhook delivery.
    pub async fn shutdown(self) {
        self._deliveries.stop();
        self.serving.shutdown().await;
    }
}

/// The exact output bytes of a request made under `config` without a `video_bytes`
/// marker.
pub fn expected_output(config: &FalConfig, request_id: &str) -> Option<Vec<u8>> {
    Some(match config.video_bytes {
        Some(n) => content::generated_chunk(content::seed(request_id), 0, usize::try_from(n).ok()?)
            .to_vec(),
        None => content::SAMPLE_MP4.to_vec(),
    })
}

/// `at` on the wall clock.
fn wall_clock(at: std::time::Instant) -> std::time::SystemTime {
    let (now, wall) = (std::time::Instant::now(), std::time::SystemTime::now());
    if at <= now {
        wall - (now - at)
    } else {
        wall + (at - now)
    }
}
