//! A faithful local simulator of Runway's task API (`https://api.dev.runwayml.com`).
//!
//! Facts come from the official `runwayml` SDK's types and Runway's docs
//! (`shared/reference/runway-api.md`); the real client is what gets tested, over HTTP.
//!
//! # Routes
//! | route | answer |
//! | --- | --- |
//! | `POST /v1/text_to_video` | `{id, estimatedCost: {credits}}`; body checked per model ([`validate`]) |
//! | `POST /v1/image_to_video` | likewise; `promptImage` is read ([`assets`]): one that cannot be used is a 400 naming the field |
//! | `POST /v1/video_to_video` | likewise; `videoUri` / `promptVideo` is fetched |
//! | `GET /v1/tasks/{id}` | the task: `id`, `createdAt` (RFC 3339), `status`, then `progress` (0..1, running), `output` (succeeded), `failure` + `failureCode` (failed), `estimatedCost` until ended, `cost` once ended |
//! | `DELETE /v1/tasks/{id}` | 204: cancels a pending/throttled/running task (→ `CANCELLED`), deletes an ended one (→ later 404) |
//! | `GET /_sim/runway/output/{id}.mp4?expires=&nonce=&sig=` | the output video, no auth; 403 once expired or tampered with |
//!
//! Every `/v1` request needs `X-Runway-Version: 2024-11-06` (else 400) and, when a key
//! is configured, `Authorization: Bearer <key>` (else 401). Errors are
//! `{"error": "<human readable>"}`; validation errors add `issues: [{path, message}]`.
//!
//! # Lifecycle
//! Computed from the time since create, no background work: `PENDING` for
//! [`RunwayConfig::pending_time`], then `THROTTLED` for [`RunwayConfig::throttled_time`] or
//! the `[sim:throttled_ms=N]` marker, then `RUNNING` over the render time, then
//! `SUCCEEDED` (or `FAILED`). Cost: credits per second of the model × duration
//! (see [`validate::MODELS`]), `estimatedCost.credits` a float, `cost.credits` an
//! integer; `cost` is charged for successes and moderation failures (Runway charges
//! moderated generations), 0 for other failures and cancels.
//!
//! # Faults
//! Per job by prompt markers (see [`crate::markers`]): `moderation_input`,
//! `moderation_create` (an alias: Runway refuses nothing at create for moderation),
//! `moderation_end`, `fail`, `never_finish`, `throttled_ms=N`, `rate_limit=N` (429, no
//! `Retry-After`: Runway documents none), `server_error=N` (502/503/504 in turn),
//! `slow_download=BPS`, `reset_download=BYTES`, `video_bytes=N`, `render_ms=N`.
//! Run-wide by [`crate::Faults`]: `rate_limit_first`, `server_error_first`,
//! `never_finish`, `moderation_at_create` (every task fails `SAFETY.INPUT.TEXT`),
//! `moderation_at_end` (`SAFETY.OUTPUT.VIDEO`), slow and reset downloads;
//! `retry_after_secs` is ignored.
//!
//! # Simplified
//! `runway://` uploads do not exist (a 400 naming the field); assets are read once, at
//! create, and their bytes are only checked to be an image/video; nested reference lists
//! (`references`, `referenceAudio`, `referenceVideos`, `keyframes`) are checked for shape
//! only; `output` holds one URL; there are no usage tiers, daily caps or concurrency
//! limits beyond the faults above; credits for models Runway publishes no figure for
//! are stand-ins.

pub mod assets;
mod routes;
mod state;
pub mod validate;

use crate::content;
use crate::server::Serving;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

pub use assets::FetchedAsset;
pub use validate::Route;

/// The API version every request must name.
pub const RUNWAY_VERSION: &str = "2024-11-06";

#[derive(Debug, Clone)]
pub struct RunwayConfig {
    /// Time spent `RUNNING`; progress rises over it.
    pub render_time: Duration,
    /// Time spent `PENDING` before anything else.
    pub pending_time: Duration,
    /// Time spent `THROTTLED` after `PENDING`, for every task (markers add per task).
    pub throttled_time: Duration,
    /// When set, every `/v1` request must carry `Authorization: Bearer <key>`.
    pub api_key: Option<String>,
    pub faults: crate::Faults,
    /// When set, the output is this many bytes of generated content instead of the
    /// small real MP4.
    pub video_bytes: Option<u64>,
    /// How long an output URL stays valid after the GET that minted it.
    pub output_url_ttl: Duration,
    /// Accept `http://127.0.0.1` / `localhost` asset URLs (everything here is local).
    pub allow_http_assets: bool,
    /// Asset URLs must answer a HEAD request, as Runway documents. Note that an S3 link
    /// presigned for GET answers HEAD with 403 (the method is signed).
    pub require_head: bool,
    /// Body chunk size when streaming output.
    pub download_chunk: usize,
}

impl Default for RunwayConfig {
    fn default() -> Self {
        RunwayConfig {
            render_time: Duration::from_secs(3),
            pending_time: Duration::from_millis(300),
            throttled_time: Duration::ZERO,
            api_key: None,
            faults: crate::Faults::default(),
            video_bytes: None,
            output_url_ttl: Duration::from_secs(24 * 3600),
            allow_http_assets: true,
            require_head: true,
            download_chunk: 64 * 1024,
        }
    }
}

/// Request counts, for tests that assert what the client did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunwayStats {
    /// Create requests past auth and faults, per route (valid or not).
    pub text_to_video: u64,
    pub image_to_video: u64,
    pub video_to_video: u64,
    /// `GET /v1/tasks/{id}` answered (not faults).
    pub retrieves: u64,
    /// Output downloads started.
    pub downloads: u64,
    /// Output downloads refused because the link had expired.
    pub expired_downloads: u64,
    /// DELETEs that cancelled a live task.
    pub cancels: u64,
    /// DELETEs that deleted an ended task.
    pub deletes: u64,
    /// 429 and 5xx answers served by faults.
    pub faults_served: u64,
}

impl RunwayStats {
    pub fn creates(&self) -> u64 {
        self.text_to_video + self.image_to_video + self.video_to_video
    }
}

/// What the simulator knows about one task, for tests.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskInfo {
    pub id: String,
    pub route: Route,
    pub model: String,
    pub prompt_text: Option<String>,
    pub ratio: Option<String>,
    pub duration: u64,
    /// Credits the task costs if it succeeds.
    pub credits: u64,
    /// Assets read at create, in request order.
    pub fetched: Vec<FetchedAsset>,
    /// `GET /v1/tasks/{id}` requests received (faulted ones included).
    pub gets: u64,
    /// The shortest time between a GET that found this task still going (a poll) and
    /// the next GET of it.
    pub min_get_gap: Option<Duration>,
    pub cancelled: bool,
    pub deleted: bool,
}

/// A running Runway simulator.
pub struct RunwaySimulator {
    serving: Serving,
    state: Arc<state::RunwayState>,
}

impl RunwaySimulator {
    /// Bind `addr` (port 0 picks a free one) and serve on the current tokio runtime.
    pub async fn start(addr: SocketAddr, config: RunwayConfig) -> std::io::Result<Self> {
        let state = Arc::new(state::RunwayState::new(config));
        let serving = Serving::start(addr, routes::router(state.clone())).await?;
        // Set once, before any request can need it to mint output links.
        let _ = state.addr.set(serving.addr);
        Ok(RunwaySimulator { serving, state })
    }

    /// The base URL, WITHOUT `/v1`: Runway's base is the host, routes are `/v1/...`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.serving.addr)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.serving.addr
    }

    pub fn config(&self) -> &RunwayConfig {
        &self.state.config
    }

    pub fn stats(&self) -> RunwayStats {
        let s = &self.state.stats;
        let n = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        RunwayStats {
            text_to_video: n(&s.text_to_video),
            image_to_video: n(&s.image_to_video),
            video_to_video: n(&s.video_to_video),
            retrieves: n(&s.retrieves),
            downloads: n(&s.downloads),
            expired_downloads: n(&s.expired_downloads),
            cancels: n(&s.cancels),
            deletes: n(&s.deletes),
            faults_served: n(&s.faults_served),
        }
    }

    /// One task, deleted ones included.
    pub fn task(&self, id: &str) -> Option<TaskInfo> {
        self.state
            .tasks()
            .iter()
            .find(|t| t.id == id)
            .map(|t| TaskInfo {
                id: t.id.clone(),
                route: t.create.route,
                model: t.create.model.to_string(),
                prompt_text: t.create.prompt_text.clone(),
                ratio: t.create.ratio.clone(),
                duration: t.create.duration,
                credits: t.create.credits,
                fetched: t.fetched.clone(),
                gets: t.gets,
                min_get_gap: t.min_get_gap,
                cancelled: t.cancelled_at.is_some(),
                deleted: t.deleted,
            })
    }

    /// Ids of every task created, oldest first.
    pub fn task_ids(&self) -> Vec<String> {
        self.state.tasks().iter().map(|t| t.id.clone()).collect()
    }

    /// The route and exact JSON body of the last create request received (valid or not).
    pub fn last_create(&self) -> Option<(Route, serde_json::Value)> {
        self.state.last_create()
    }

    pub async fn shutdown(self) {
        self.serving.shutdown().await;
    }
}

/// The exact output bytes of a task made under `config` without a `video_bytes` marker.
pub fn expected_output(config: &RunwayConfig, task_id: &str) -> Option<Vec<u8>> {
    Some(match config.video_bytes {
        Some(n) => {
            content::generated_chunk(content::seed(task_id), 0, usize::try_from(n).ok()?).to_vec()
        }
        None => content::SAMPLE_MP4.to_vec(),
    })
}
