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
//! Job state is computed from the time since creation — no background tasks — which
//! keeps the simulator deterministic under test.

pub mod content;
pub mod fal;
pub mod markers;
mod routes;
pub mod runway;
mod server;
mod state;
mod stream;
mod validate;

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
        }
    }
}

/// A running simulator.
pub struct Simulator {
    serving: server::Serving,
    state: Arc<state::SimState>,
}

impl Simulator {
    /// Bind `addr` (port 0 picks a free one) and serve on the current tokio runtime.
    pub async fn start(addr: SocketAddr, config: SimConfig) -> std::io::Result<Simulator> {
        let state = Arc::new(state::SimState::new(config));
        let serving = server::Serving::start(addr, routes::router(state.clone())).await?;
        Ok(Simulator { serving, state })
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
        }
    }

    pub async fn shutdown(self) {
        self.serving.shutdown().await;
    }
}
