//! The fal simulator's memory: requests, their lifecycle (computed from the time since
//! submit), fault counters and stats.

use super::signing::Key;
use super::FalConfig;
use crate::markers::Markers;
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

#[derive(Default)]
pub(crate) struct Counters {
    pub submits: AtomicU64,
    pub status_requests: AtomicU64,
    pub result_fetches: AtomicU64,
    pub cancels: AtomicU64,
    pub downloads: AtomicU64,
    pub webhooks_sent: AtomicU64,
    pub webhooks_acknowledged: AtomicU64,
    pub faults_served: AtomicU64,
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Ok,
    /// The model's safety checker refused the prompt or the output.
    Moderated,
    /// The model app failed.
    Failed,
    /// Cancelled while still queued.
    Cancelled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Queued,
    InProgress,
    Done(Outcome),
}

#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub id: String,
    pub gateway_id: String,
    pub model_id: String,
    /// `owner/app` (with a `workflows/`/`comfy/` namespace when the id has one): the part
    /// of the model id the status, result and cancel URLs use.
    pub app: String,
    pub input: Value,
    pub markers: Markers,
    pub submitted: Instant,
    pub queue: Duration,
    pub render: Duration,
    pub webhook_url: Option<String>,
    /// When a cancel removed it from the queue.
    pub cancelled_at: Option<Instant>,
    /// A cancel arrived while it ran: fal signals the runner, the model decides; hosted
    /// video models run to the end, so it does too.
    pub cancel_requested: bool,
    /// `X-Fal-Object-Lifecycle-Preference` as sent, parsed.
    pub object_lifecycle: Option<Value>,
    pub status_gets: u64,
    pub result_gets: u64,
    pub downloads: u64,
    pub webhook_attempts: u64,
    pub webhook_acks: u64,
    pub webhook_withheld: bool,
    /// Wakes the webhook delivery task when the request ends early (a cancel).
    pub wake: Arc<Notify>,
}

impl Request {
    fn moderated_input(&self, faults: &crate::Faults) -> bool {
        self.markers.moderation_create
            || self.markers.moderation_input
            || faults.moderation_at_create
    }

    /// Where the request is at `now`.
    pub fn phase(&self, faults: &crate::Faults, now: Instant) -> Phase {
        if self.cancelled_at.is_some_and(|c| c <= now) {
            return Phase::Done(Outcome::Cancelled);
        }
        let t = now.saturating_duration_since(self.submitted);
        if t < self.queue {
            return Phase::Queued;
        }
        // fal has no moderation refusal at submit: the model's checker fails the request
        // once it runs.
        if self.moderated_input(faults) {
            return Phase::Done(Outcome::Moderated);
        }
        if self.markers.never_finish || faults.never_finish || t < self.queue + self.render {
            return Phase::InProgress;
        }
        if self.markers.moderation_end || faults.moderation_at_end {
            return Phase::Done(Outcome::Moderated);
        }
        if self.markers.fail {
            return Phase::Done(Outcome::Failed);
        }
        Phase::Done(Outcome::Ok)
    }

    /// When the request ends unless cancelled; `None` if it never does.
    pub fn end(&self, faults: &crate::Faults) -> Option<Instant> {
        if let Some(c) = self.cancelled_at {
            return Some(c);
        }
        if self.moderated_input(faults) {
            return Some(self.submitted + self.queue);
        }
        if self.markers.never_finish || faults.never_finish {
            return None;
        }
        Some(self.submitted + self.queue + self.render)
    }

    pub fn prompt(&self) -> &str {
        super::models::prompt(&self.input)
    }
}

/// Per-job marker faults left, keyed by prompt (a submit has no request id yet).
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

/// 500 then 503 in turn.
fn rotating(n: u32) -> u16 {
    if n.is_multiple_of(2) {
        500
    } else {
        503
    }
}

pub(crate) struct FalState {
    pub config: FalConfig,
    pub stats: Counters,
    pub addr: OnceLock<SocketAddr>,
    /// Signs webhooks; published in the JWKS.
    pub key: Key,
    /// Signs forged webhooks; published nowhere.
    pub forge_key: Key,
    pub client: reqwest::Client,
    requests: Mutex<Vec<Request>>,
    rate_limit_left: AtomicU32,
    server_error_left: AtomicU32,
    server_errors_served: AtomicU32,
    job_faults: Mutex<HashMap<String, JobFaults>>,
    /// Webhook delivery tasks, stopped with the simulator.
    pub deliveries: Mutex<Vec<tokio::task::AbortHandle>>,
}

impl FalState {
    pub fn new(config: FalConfig) -> FalState {
        // fal gives a webhook endpoint 15 s to answer; redirects are not followed.
        let client = reqwest::Client::builder()
            .timeout(config.webhook_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        FalState {
            rate_limit_left: AtomicU32::new(config.faults.rate_limit_first),
            server_error_left: AtomicU32::new(config.faults.server_error_first),
            server_errors_served: AtomicU32::new(0),
            config,
            stats: Counters::default(),
            addr: OnceLock::new(),
            key: Key::generate(),
            forge_key: Key::generate(),
            client,
            requests: Mutex::new(Vec::new()),
            job_faults: Mutex::new(HashMap::new()),
            deliveries: Mutex::new(Vec::new()),
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

    pub fn requests(&self) -> MutexGuard<'_, Vec<Request>> {
        lock(&self.requests)
    }

    pub fn find(&self, id: &str) -> Option<Request> {
        self.requests().iter().find(|r| r.id == id).cloned()
    }

    /// Change one request under the lock; `None` if there is no such request.
    pub fn update<T>(&self, id: &str, f: impl FnOnce(&mut Request) -> T) -> Option<T> {
        self.requests().iter_mut().find(|r| r.id == id).map(f)
    }

    /// 0-based position among the requests still queued at `now` (fal's
    /// `queue_position`): how many submitted earlier are still waiting.
    pub fn queue_position(&self, id: &str, now: Instant) -> u64 {
        let faults = &self.config.faults;
        let requests = self.requests();
        let Some(me) = requests.iter().find(|r| r.id == id) else {
            return 0;
        };
        requests
            .iter()
            .filter(|r| r.submitted < me.submitted && r.phase(faults, now) == Phase::Queued)
            .count() as u64
    }

    pub fn host(&self) -> String {
        self.addr
            .get()
            .map(|a| a.to_string())
            .unwrap_or_else(|| "127.0.0.1".into())
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every change under these locks is a single push, assignment or field update: a
    // panicked holder cannot leave them half-written.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A request id in fal's form: a UUID v4.
pub(crate) fn new_request_id() -> String {
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
    use serde_json::json;

    fn request(prompt: &str) -> Request {
        Request {
            id: new_request_id(),
            gateway_id: new_request_id(),
            model_id: "fal-ai/veo3.1".into(),
            app: "fal-ai/veo3.1".into(),
            input: json!({ "prompt": prompt }),
            markers: crate::markers::parse(prompt),
            submitted: Instant::now(),
            queue: Duration::from_millis(100),
            render: Duration::from_millis(1000),
            webhook_url: None,
            cancelled_at: None,
            cancel_requested: false,
            object_lifecycle: None,
            status_gets: 0,
            result_gets: 0,
            downloads: 0,
            webhook_attempts: 0,
            webhook_acks: 0,
            webhook_withheld: false,
            wake: Arc::new(Notify::new()),
        }
    }

    fn at(r: &Request, ms: u64) -> Phase {
        r.phase(
            &crate::Faults::default(),
            r.submitted + Duration::from_millis(ms),
        )
    }

    #[test]
    fn lifecycle_follows_the_clock() {
        let r = request("p");
        assert_eq!(at(&r, 50), Phase::Queued);
        assert_eq!(at(&r, 500), Phase::InProgress);
        assert_eq!(at(&r, 1100), Phase::Done(Outcome::Ok));
        assert_eq!(
            r.end(&crate::Faults::default()),
            Some(r.submitted + Duration::from_millis(1100))
        );
        assert_eq!(
            at(&request("[sim:moderation_create]"), 150),
            Phase::Done(Outcome::Moderated)
        );
        assert_eq!(at(&request("[sim:moderation_end]"), 500), Phase::InProgress);
        assert_eq!(
            at(&request("[sim:moderation_end]"), 1100),
            Phase::Done(Outcome::Moderated)
        );
        assert_eq!(
            at(&request("[sim:fail]"), 1100),
            Phase::Done(Outcome::Failed)
        );
        let stuck = request("[sim:never_finish]");
        assert_eq!(at(&stuck, 60_000), Phase::InProgress);
        assert_eq!(stuck.end(&crate::Faults::default()), None);
    }

    #[test]
    fn a_queued_cancel_ends_the_request_then() {
        let mut r = request("p");
        r.cancelled_at = Some(r.submitted + Duration::from_millis(50));
        assert_eq!(at(&r, 40), Phase::Queued);
        assert_eq!(at(&r, 60), Phase::Done(Outcome::Cancelled));
        assert_eq!(at(&r, 5000), Phase::Done(Outcome::Cancelled));
    }
}
