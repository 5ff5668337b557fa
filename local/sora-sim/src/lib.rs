//! Faithful local simulators of three video providers: the OpenAI Videos API (Sora 2,
//! [`Simulator`]), Runway's task API ([`runway::RunwaySimulator`]) and fal's queue API
//! with its signed webhooks ([`fal::FalSimulator`]). They share the content
//! ([`content`]), the prompt markers ([`markers`]), the run-wide [`Faults`], and the
//! serving and streaming code.
//!
//! The Sora simulator:
//!
//! Same routes, fields, errors, progress and content variants as the reference
//! (`shared/reference/openai-videos-api.md`), over real HTTP, so the real client is
//! what gets tested. Faults are switchable for a whole run ([`Faults`]) or per job by
//! markers inside the prompt (see [`markers`]), so one simulator can serve good and
//! bad jobs side by side.
//!
//! Job state is computed from the time since creation, which keeps the simulator
//! deterministic under test. The one background task: with a webhook endpoint
//! configured ([`SimConfig::webhook`], as in OpenAI's dashboard), each job pushes
//! `video.completed` / `video.failed` when it ends, signed the Standard Webhooks way
//! and retried with backoff ([`webhook`]), with fal's switchable webhook faults.

pub mod content;
pub mod fal;
mod inspect;
pub mod markers;
mod routes;
pub mod runway;
mod server;
mod state;
mod stream;
mod validate;
pub mod webhook;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

pub use content::{expected_content, expected_digest, png_header};
pub use state::SimStats;

/// Run-wide faults, for every simulator; all off by default. Where Runway differs it
/// is said on the field.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// The first N requests (any route) answer 429 with `retry-after` (Runway: without).
    pub rate_limit_first: u32,
    /// Seconds in the 429's `retry-after` header (run-wide and marker faults). Runway
    /// ignores it: it documents no Retry-After.
    pub retry_after_secs: u64,
    /// The next N requests answer 500 (odd) / 503 (even) with an error body (Runway:
    /// 502, 503, 504 in turn).
    pub server_error_first: u32,
    /// Throttle content downloads to this many bytes per second.
    pub slow_download_bytes_per_sec: Option<u64>,
    /// Cut content downloads after this many body bytes (the connection is dropped).
    pub reset_download_after: Option<u64>,
    /// Refuse every create with a 400 moderation error (Runway: every task ends
    /// `FAILED` with `SAFETY.INPUT.TEXT`, as Runway moderates inputs after accepting).
    pub moderation_at_create: bool,
    /// Every job ends `failed` with `moderation_blocked` (Runway: `SAFETY.OUTPUT.VIDEO`).
    pub moderation_at_end: bool,
    /// Jobs stay `in_progress` forever.
    pub never_finish: bool,
}

#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Time from create to `completed`; progress rises over it.
    pub render_time: Duration,
    /// When set, every request must carry `Authorization: Bearer <key>`.
    pub api_key: Option<String>,
    pub faults: Faults,
    /// When set, the `video` variant is this many bytes of generated content instead of
    /// the small real MP4.
    pub video_bytes: Option<u64>,
    /// When set, retrieve answers carry `openai-poll-after-ms`.
    pub poll_after_ms: Option<u64>,
    /// Body chunk size when streaming content.
    pub download_chunk: usize,
    /// The project's webhook endpoint, as set in OpenAI's dashboard: when set, every
    /// video that ends pushes `video.completed` / `video.failed` to it ([`webhook`]).
    pub webhook: Option<WebhookEndpoint>,
    /// Never send webhooks (for the polling fallback).
    pub withhold_webhooks: bool,
    /// Wait this long after a video ends before its webhook.
    pub webhook_delay: Duration,
    /// Sign webhooks with a secret the endpoint does not hold.
    pub forge_signature: bool,
    /// Stamp webhooks [`webhook::STALE_BY_SECS`] in the past.
    pub stale_timestamp: bool,
    /// Send each webhook delivery twice.
    pub duplicate_webhooks: bool,
    /// Deliveries tried per webhook before giving up (OpenAI retries for up to 72 h).
    pub webhook_attempts: u32,
    /// Wait after the first refused delivery; doubles each time up to `webhook_retry_max`.
    pub webhook_retry_base: Duration,
    pub webhook_retry_max: Duration,
    /// Time a receiver has to answer one delivery.
    pub webhook_timeout: Duration,
}

/// A webhook endpoint configured for the project (OpenAI: dashboard → webhooks).
#[derive(Clone)]
pub struct WebhookEndpoint {
    /// Where deliveries are POSTed (`http` or `https`).
    pub url: String,
    /// The signing secret the dashboard shows once: `whsec_<base64>` (a secret without
    /// the prefix is used as its raw bytes, as OpenAI's SDK does).
    pub secret: String,
}

impl std::fmt::Debug for WebhookEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookEndpoint")
            .field("url", &self.url)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            render_time: Duration::from_secs(3),
            api_key: None,
            faults: Faults {
                retry_after_secs: 1,
                ..Faults::default()
            },
            video_bytes: None,
            poll_after_ms: None,
            download_chunk: 64 * 1024,
            webhook: None,
            withhold_webhooks: false,
            webhook_delay: Duration::ZERO,
            forge_signature: false,
            stale_timestamp: false,
            duplicate_webhooks: false,
            // Exponential backoff as OpenAI's: a few quick tries, then hours apart.
            webhook_attempts: 10,
            webhook_retry_base: Duration::from_secs(5),
            webhook_retry_max: Duration::from_secs(60 * 60),
            webhook_timeout: Duration::from_secs(15),
        }
    }
}

/// A running simulator.
pub struct Simulator {
    serving: server::Serving,
    state: Arc<state::SimState>,
    _deliveries: webhook::StopDeliveries,
}

impl Simulator {
    /// Bind `addr` (port 0 picks a free one) and serve on the current tokio runtime.
    /// A webhook endpoint whose URL or secret is unusable is refused (`InvalidInput`).
    pub async fn start(addr: SocketAddr, config: SimConfig) -> std::io::Result<Simulator> {
        let signer = match &config.webhook {
            Some(endpoint) => Some(
                webhook::Signer::new(endpoint)
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?,
            ),
            None => None,
        };
        let state = Arc::new(state::SimState::new(config, signer));
        let serving = server::Serving::start(addr, routes::router(state.clone())).await?;
        Ok(Simulator {
            serving,
            _deliveries: webhook::StopDeliveries(state.clone()),
            state,
        })
    }

    /// Base URL including `/v1`, like `https://api.openai.com/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.serving.addr)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.serving.addr
    }

    pub fn config(&self) -> &SimConfig {
        &self.state.config
    }

    pub fn stats(&self) -> SimStats {
        let s = &self.state.stats;
        SimStats {
            creates: s.creates.load(Ordering::Relaxed),
            retrieves: s.retrieves.load(Ordering::Relaxed),
            downloads: s.downloads.load(Ordering::Relaxed),
            remixes: s.remixes.load(Ordering::Relaxed),
            deletes: s.deletes.load(Ordering::Relaxed),
            faults_served: s.faults_served.load(Ordering::Relaxed),
            webhooks_sent: s.webhooks_sent.load(Ordering::Relaxed),
            webhooks_acknowledged: s.webhooks_acknowledged.load(Ordering::Relaxed),
            webhooks_withheld: s.webhooks_withheld.load(Ordering::Relaxed),
        }
    }

    /// Stop serving and drop every pending webhook delivery.
    pub async fn shutdown(self) {
        self._deliveries.stop();
        self.serving.shutdown().await;
    }
}
