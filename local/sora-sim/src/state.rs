//! The simulator's memory: videos, fault counters, stats.

use crate::markers::Markers;
use crate::SimConfig;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Request counts, for tests that assert retries happened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimStats {
    pub creates: u64,
    pub retrieves: u64,
    pub downloads: u64,
    pub remixes: u64,
    pub deletes: u64,
    pub faults_served: u64,
    /// Webhook POSTs made (each retry and duplicate counts).
    pub webhooks_sent: u64,
    /// Webhook POSTs answered 2xx.
    pub webhooks_acknowledged: u64,
    /// Webhooks that were due and withheld (a fault).
    pub webhooks_withheld: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub creates: AtomicU64,
    pub retrieves: AtomicU64,
    pub downloads: AtomicU64,
    pub remixes: AtomicU64,
    pub deletes: AtomicU64,
    pub faults_served: AtomicU64,
    pub webhooks_sent: AtomicU64,
    pub webhooks_acknowledged: AtomicU64,
    pub webhooks_withheld: AtomicU64,
}

#[derive(Debug, Clone)]
pub(crate) struct Video {
    pub id: String,
    pub model: String,
    pub size: String,
    pub seconds: String,
    pub prompt: String,
    pub created_at: u64,
    pub started: Instant,
    pub render: Duration,
    pub markers: Markers,
    pub remixed_from: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Queued,
    InProgress(u8),
    Completed,
    Failed(&'static str, &'static str),
}

impl Video {
    /// Where the job is, from the time since create.
    pub fn phase(&self, faults: &crate::Faults, now: Instant) -> Phase {
        let elapsed = now.saturating_duration_since(self.started);
        let render = self.render.max(Duration::from_millis(1));
        let fraction = elapsed.as_secs_f64() / render.as_secs_f64();
        if self.markers.never_finish || faults.never_finish {
            // Rises, then stalls below 100.
            return if fraction < 0.1 {
                Phase::Queued
            } else {
                Phase::InProgress(((fraction * 100.0) as u8).min(87))
            };
        }
        if fraction >= 1.0 {
            if self.markers.moderation_end || faults.moderation_at_end {
                return Phase::Failed(
                    "moderation_blocked",
                    "Your request was blocked by our moderation system.",
                );
            }
            if self.markers.fail {
                return Phase::Failed("video_generation_failed", "Video generation failed.");
            }
            return Phase::Completed;
        }
        if fraction < 0.1 {
            Phase::Queued
        } else {
            Phase::InProgress(((fraction * 100.0) as u8).min(99))
        }
    }

    /// When the job ends (completed or failed); `None` if it never does.
    pub fn end(&self, faults: &crate::Faults) -> Option<Instant> {
        if self.markers.never_finish || faults.never_finish {
            return None;
        }
        Some(self.started + self.render.max(Duration::from_millis(1)))
    }

    pub fn completed_at(&self) -> u64 {
        self.created_at + self.render.as_secs().max(1)
    }
}

pub(crate) struct SimState {
    pub config: SimConfig,
    pub stats: Counters,
    pub videos: Mutex<Vec<Video>>,
    /// Videos a DELETE removed, kept only for the inspection route (`/_sim/renders`).
    deleted: Mutex<Vec<Video>>,
    rate_limit_left: AtomicU32,
    server_error_left: AtomicU32,
    /// Marker faults left per job, keyed by prompt (the create has no id yet).
    job_faults: Mutex<HashMap<String, (u32, u32)>>,
    /// Signs webhooks, when an endpoint is configured.
    pub signer: Option<crate::webhook::Signer>,
    /// Posts webhooks.
    pub client: reqwest::Client,
    /// Webhook delivery tasks, stopped with the simulator.
    pub deliveries: Mutex<Vec<tokio::task::AbortHandle>>,
}

pub(crate) enum Fault {
    RateLimited,
    ServerError(u16),
}

impl SimState {
    pub fn new(config: SimConfig, signer: Option<crate::webhook::Signer>) -> SimState {
        // Redirects are not followed: a webhook goes to the configured URL only.
        let client = reqwest::Client::builder()
            .timeout(config.webhook_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        SimState {
            signer,
            client,
            deliveries: Mutex::new(Vec::new()),
            rate_limit_left: AtomicU32::new(config.faults.rate_limit_first),
            server_error_left: AtomicU32::new(config.faults.server_error_first),
            config,
            stats: Counters::default(),
            videos: Mutex::new(Vec::new()),
            deleted: Mutex::new(Vec::new()),
            job_faults: Mutex::new(HashMap::new()),
        }
    }

    /// The fault this request must answer with, if any: run-wide first, then the job's.
    pub fn take_fault(&self, prompt: Option<&str>) -> Option<Fault> {
        let take = |counter: &AtomicU32| {
            counter
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        };
        let fault = if take(&self.rate_limit_left) {
            Some(Fault::RateLimited)
        } else if let Ok(before) =
            self.server_error_left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        {
            Some(Fault::ServerError(if before % 2 == 0 { 503 } else { 500 }))
        } else if let Some(prompt) = prompt {
            let markers = crate::markers::parse(prompt);
            let mut left = self.job_faults.lock().unwrap_or_else(|p| p.into_inner());
            let entry = left
                .entry(prompt.to_string())
                .or_insert((markers.rate_limit, markers.server_error));
            if entry.0 > 0 {
                entry.0 -= 1;
                Some(Fault::RateLimited)
            } else if entry.1 > 0 {
                entry.1 -= 1;
                Some(Fault::ServerError(500))
            } else {
                None
            }
        } else {
            None
        };
        if fault.is_some() {
            self.stats.faults_served.fetch_add(1, Ordering::Relaxed);
        }
        fault
    }

    pub fn find(&self, id: &str) -> Option<Video> {
        self.lock().iter().find(|v| v.id == id).cloned()
    }

    pub fn deleted(&self) -> std::sync::MutexGuard<'_, Vec<Video>> {
        // Only ever extended: a panicked holder cannot leave it half-written.
        self.deleted.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Video>> {
        // A panicked handler cannot leave the list half-written: every change is one push/remove.
        self.videos.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `video_` + 48 hex characters, like the provider's ids.
pub(crate) fn new_video_id() -> String {
    let bytes: [u8; 24] = rand::random();
    format!("video_{}", hex::encode(bytes))
}
