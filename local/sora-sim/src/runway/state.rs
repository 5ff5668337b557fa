//! The Runway simulator's memory: tasks, their lifecycle (computed from the time since
//! create), fault counters and stats.

use super::assets::FetchedAsset;
use super::validate::{Create, Route};
use super::RunwayConfig;
use crate::markers::Markers;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// Progress stalls here for a task that never finishes.
const STALL: f64 = 0.87;

#[derive(Default)]
pub(crate) struct Counters {
    pub text_to_video: AtomicU64,
    pub image_to_video: AtomicU64,
    pub video_to_video: AtomicU64,
    pub retrieves: AtomicU64,
    pub downloads: AtomicU64,
    pub expired_downloads: AtomicU64,
    pub cancels: AtomicU64,
    pub deletes: AtomicU64,
    pub faults_served: AtomicU64,
}

#[derive(Debug, Clone)]
pub(crate) struct Task {
    pub id: String,
    pub create: Create,
    pub markers: Markers,
    pub created_at: DateTime<Utc>,
    pub started: Instant,
    pub pending: Duration,
    pub throttled: Duration,
    pub render: Duration,
    pub fetched: Vec<FetchedAsset>,
    /// When a DELETE cancelled it while it was not yet ended.
    pub cancelled_at: Option<Instant>,
    /// A DELETE of the ended task: later GETs answer 404.
    pub deleted: bool,
    pub gets: u64,
    pub last_get: Option<Instant>,
    pub min_get_gap: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Phase {
    Pending,
    Throttled,
    Running(f64),
    Succeeded,
    Failed { code: &'static str, message: String },
    Cancelled,
}

impl Phase {
    pub fn ended(&self) -> bool {
        matches!(
            self,
            Phase::Succeeded | Phase::Failed { .. } | Phase::Cancelled
        )
    }

    /// Whether the ended task costs its credits: Runway charges successes and moderated
    /// generations ("Moderated generations have the same credit cost as successful
    /// generations"); other failures and cancels are refunded.
    pub fn charged(&self) -> bool {
        match self {
            Phase::Succeeded => true,
            Phase::Failed { code, .. } => code.starts_with("SAFETY."),
            _ => false,
        }
    }
}

impl Task {
    /// Where the task is at `now`.
    pub fn phase(&self, faults: &crate::Faults, now: Instant) -> Phase {
        let at = self.cancelled_at.map_or(now, |c| c.min(now));
        let uncancelled = self.phase_at(faults, at);
        if self.cancelled_at.is_some_and(|c| c <= now) && !uncancelled.ended() {
            return Phase::Cancelled;
        }
        uncancelled
    }

    fn phase_at(&self, faults: &crate::Faults, now: Instant) -> Phase {
        let mut t = now.saturating_duration_since(self.started);
        if t < self.pending {
            return Phase::Pending;
        }
        // Runway has no moderation refusal at create: Sora's `moderation_create` marker
        // means the same here as `moderation_input`, so scenarios run on both.
        if self.markers.moderation_input
            || self.markers.moderation_create
            || faults.moderation_at_create
        {
            return Phase::Failed {
                code: "SAFETY.INPUT.TEXT",
                message: "The text prompt did not pass our content moderation.".into(),
            };
        }
        t -= self.pending;
        if t < self.throttled {
            return Phase::Throttled;
        }
        t -= self.throttled;
        let render = self.render.max(Duration::from_millis(1));
        let fraction = t.as_secs_f64() / render.as_secs_f64();
        if self.markers.never_finish || faults.never_finish {
            return Phase::Running(fraction.min(STALL));
        }
        if fraction < 1.0 {
            return Phase::Running(fraction);
        }
        if self.markers.moderation_end || faults.moderation_at_end {
            return Phase::Failed {
                code: "SAFETY.OUTPUT.VIDEO",
                message: "The generated video did not pass our content moderation.".into(),
            };
        }
        if self.markers.fail {
            return Phase::Failed {
                code: "INTERNAL.BAD_OUTPUT.CODE01",
                message: "The model produced an unusable output. Please try again.".into(),
            };
        }
        Phase::Succeeded
    }

    /// The prompt markers and per-job faults are keyed by.
    pub fn prompt(&self) -> &str {
        self.create.prompt_text.as_deref().unwrap_or_default()
    }
}

/// Per-job marker faults left, keyed by prompt (a create has no task id yet).
#[derive(Default, Clone, Copy)]
struct JobFaults {
    rate_limit: u32,
    server_error: u32,
    served: u32,
}

pub(crate) enum Fault {
    RateLimited,
    ServerError(u16),
}

/// 502, 503, 504 in turn: Runway's load-shedding answers.
fn rotating(n: u32) -> u16 {
    [502, 503, 504][(n % 3) as usize]
}

pub(crate) struct RunwayState {
    pub config: RunwayConfig,
    pub stats: Counters,
    pub addr: OnceLock<SocketAddr>,
    pub client: reqwest::Client,
    tasks: Mutex<Vec<Task>>,
    last_create: Mutex<Option<(Route, Value)>>,
    rate_limit_left: AtomicU32,
    server_error_left: AtomicU32,
    server_errors_served: AtomicU32,
    job_faults: Mutex<HashMap<String, JobFaults>>,
    /// Signs output URLs; fresh per simulator so links from another run fail.
    secret: [u8; 32],
}

impl RunwayState {
    pub fn new(config: RunwayConfig) -> RunwayState {
        // Runway documents that asset URLs must not redirect: don't follow any. Its
        // fetcher's user agent starts `RunwayML API/`.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("RunwayML API/sora-sim")
            .build()
            .unwrap_or_default();
        RunwayState {
            rate_limit_left: AtomicU32::new(config.faults.rate_limit_first),
            server_error_left: AtomicU32::new(config.faults.server_error_first),
            server_errors_served: AtomicU32::new(0),
            config,
            stats: Counters::default(),
            addr: OnceLock::new(),
            client,
            tasks: Mutex::new(Vec::new()),
            last_create: Mutex::new(None),
            job_faults: Mutex::new(HashMap::new()),
            secret: rand::random(),
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
        } else if take(&self.server_error_left) {
            let n = self.server_errors_served.fetch_add(1, Ordering::SeqCst);
            Some(Fault::ServerError(rotating(n)))
        } else if let Some(prompt) = prompt {
            let markers = crate::markers::parse(prompt);
            let mut left = lock(&self.job_faults);
            let entry = left.entry(prompt.to_string()).or_insert(JobFaults {
                rate_limit: markers.rate_limit,
                server_error: markers.server_error,
                served: 0,
            });
            if entry.rate_limit > 0 {
                entry.rate_limit -= 1;
                Some(Fault::RateLimited)
            } else if entry.server_error > 0 {
                entry.server_error -= 1;
                entry.served += 1;
                Some(Fault::ServerError(rotating(entry.served - 1)))
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

    pub fn tasks(&self) -> MutexGuard<'_, Vec<Task>> {
        lock(&self.tasks)
    }

    /// A live (not deleted) task.
    pub fn find(&self, id: &str) -> Option<Task> {
        self.tasks()
            .iter()
            .find(|t| t.id == id && !t.deleted)
            .cloned()
    }

    pub fn record_create(&self, route: Route, body: Value) {
        *lock(&self.last_create) = Some((route, body));
    }

    pub fn last_create(&self) -> Option<(Route, Value)> {
        lock(&self.last_create).clone()
    }

    /// Note a GET of a task, for the shortest-gap statistic. The gap is measured
    /// from a GET that found the task still going (a poll) to the next GET: once a
    /// GET has shown the task ended, the client's next GET (for a fresh output link)
    /// is no poll.
    pub fn note_get(&self, id: &str, now: Instant) {
        let faults = self.config.faults.clone();
        if let Some(t) = self.tasks().iter_mut().find(|t| t.id == id) {
            t.gets += 1;
            if let Some(last) = t.last_get {
                let gap = now.saturating_duration_since(last);
                t.min_get_gap = Some(t.min_get_gap.map_or(gap, |g| g.min(gap)));
            }
            let going = !t.phase(&faults, now).ended();
            t.last_get = going.then_some(now);
        }
    }

    /// The signature of an output link: who may fetch `task_id` until `expires_ms`.
    pub fn sign(&self, task_id: &str, expires_ms: i64, nonce: &str) -> String {
        let mut h = Sha256::new();
        h.update(self.secret);
        h.update(task_id.as_bytes());
        h.update(expires_ms.to_be_bytes());
        h.update(nonce.as_bytes());
        hex::encode(h.finalize())
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every change under these locks is a single push, assignment or field update: a
    // panicked holder cannot leave them half-written.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A task id in Runway's form: a UUID v4.
pub(crate) fn new_task_id() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runway::validate;
    use serde_json::json;

    fn task(markers: &str, throttled_ms: u64) -> Task {
        let create = validate::create(
            Route::TextToVideo,
            &json!({"model": "gen4.5", "promptText": markers, "ratio": "1280:720", "duration": 5}),
        )
        .unwrap();
        Task {
            id: new_task_id(),
            create,
            markers: crate::markers::parse(markers),
            created_at: Utc::now(),
            started: Instant::now(),
            pending: Duration::from_millis(100),
            throttled: Duration::from_millis(throttled_ms),
            render: Duration::from_millis(1000),
            fetched: vec![],
            cancelled_at: None,
            deleted: false,
            gets: 0,
            last_get: None,
            min_get_gap: None,
        }
    }

    fn at(t: &Task, ms: u64) -> Phase {
        t.phase(
            &crate::Faults::default(),
            t.started + Duration::from_millis(ms),
        )
    }

    #[test]
    fn walks_pending_throttled_running_succeeded() {
        let t = task("p", 500);
        assert_eq!(at(&t, 50), Phase::Pending);
        assert_eq!(at(&t, 300), Phase::Throttled);
        assert_eq!(at(&t, 1100), Phase::Running(0.5));
        assert_eq!(at(&t, 1700), Phase::Succeeded);
    }

    #[test]
    fn markers_choose_the_failure() {
        let code = |p: &Phase| match p {
            Phase::Failed { code, .. } => *code,
            _ => "",
        };
        assert_eq!(
            code(&at(&task("[sim:moderation_input]", 0), 150)),
            "SAFETY.INPUT.TEXT"
        );
        assert_eq!(
            code(&at(&task("[sim:moderation_create]", 0), 150)),
            "SAFETY.INPUT.TEXT"
        );
        assert_eq!(
            at(&task("[sim:moderation_end]", 0), 900),
            Phase::Running(0.8)
        );
        assert_eq!(
            code(&at(&task("[sim:moderation_end]", 0), 1200)),
            "SAFETY.OUTPUT.VIDEO"
        );
        assert_eq!(
            code(&at(&task("[sim:fail]", 0), 1200)),
            "INTERNAL.BAD_OUTPUT.CODE01"
        );
        assert_eq!(
            at(&task("[sim:never_finish]", 0), 60_000),
            Phase::Running(STALL)
        );
    }

    #[test]
    fn a_cancel_sticks_unless_the_task_had_ended() {
        let mut t = task("p", 0);
        t.cancelled_at = Some(t.started + Duration::from_millis(500));
        assert_eq!(at(&t, 400), Phase::Running(0.3));
        assert_eq!(at(&t, 5000), Phase::Cancelled);
        let mut done = task("p", 0);
        done.cancelled_at = Some(done.started + Duration::from_millis(5000));
        assert_eq!(at(&done, 6000), Phase::Succeeded);
    }

    #[test]
    fn ids_look_like_uuid_v4() {
        let id = new_task_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert_eq!(id.matches('-').count(), 4);
    }
}
