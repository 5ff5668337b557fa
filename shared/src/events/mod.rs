//! Live job events: one contract for `vidgen serve`'s `GET /v1/events` and the AWS
//! WebSocket API (`shared/reference/http-api.md`, "Events").
//!
//! - The server sends `{"type":"job.updated","job":{…the job object…}}` when one of the
//!   caller's jobs changes status or progress ([`is_notable`]), and only the caller's.
//! - The client may send `{"action":"subscribe","job_ids":[…]}` to narrow the stream to
//!   those jobs ([`ClientMessage`]); the server answers `{"type":"subscribed",…}`, or
//!   `{"type":"error",…}` naming what was wrong, and keeps the connection.
//!
//! Both deployments build their frames here, so a client cannot tell them apart.

pub mod connections;
pub mod feed;
pub mod jwt;
pub mod notifier;
pub mod ws;

use crate::domain::ids::{JobId, Owner};
use crate::domain::Job;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// The most jobs one `subscribe` may name.
pub const MAX_SUBSCRIBED_JOBS: usize = 100;

/// The frame for a changed job. `job` is the public job object (`api::job_object`).
pub fn job_updated(job: Value) -> String {
    json!({"type": "job.updated", "job": job}).to_string()
}

/// The answer to a good `subscribe`: the ids it narrowed to, in order.
pub fn subscribed(job_ids: &BTreeSet<JobId>) -> String {
    json!({"type": "subscribed", "job_ids": job_ids}).to_string()
}

/// The answer to a client message the server could not use; the connection stays.
pub fn client_error(message: &str) -> String {
    json!({"type": "error", "error": {"code": "invalid_request", "message": message}}).to_string()
}

/// What a client may send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMessage {
    /// Only these jobs from now on (ids the caller does not own simply never match).
    Subscribe { job_ids: BTreeSet<JobId> },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSubscribe {
    action: String,
    job_ids: Option<Vec<Value>>,
}

/// A client frame, or a message naming what is wrong with it.
pub fn parse_client_message(text: &str) -> Result<ClientMessage, String> {
    let raw: RawSubscribe = serde_json::from_str(text).map_err(|e| {
        format!("a message must be {{\"action\": \"subscribe\", \"job_ids\": [...]}}: {e}")
    })?;
    if raw.action != "subscribe" {
        return Err(format!(
            "action: unknown action {:?}; the only action is \"subscribe\"",
            raw.action
        ));
    }
    let ids = raw.job_ids.ok_or("job_ids: required")?;
    if ids.is_empty() || ids.len() > MAX_SUBSCRIBED_JOBS {
        return Err(format!(
            "job_ids: must name 1 to {MAX_SUBSCRIBED_JOBS} jobs, got {}",
            ids.len()
        ));
    }
    let mut job_ids = BTreeSet::new();
    for (i, id) in ids.iter().enumerate() {
        let parsed = id.as_str().and_then(JobId::parse);
        let Some(id) = parsed else {
            return Err(format!("job_ids[{i}]: not a job id (vid_…)"));
        };
        job_ids.insert(id);
    }
    Ok(ClientMessage::Subscribe { job_ids })
}

/// What one connection receives: its owner's jobs, narrowed by `subscribe`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    owner: Owner,
    jobs: Option<BTreeSet<JobId>>,
}

impl Subscription {
    /// Every job of `owner`.
    pub fn new(owner: Owner) -> Subscription {
        Subscription { owner, jobs: None }
    }

    /// Restored from a stored connection (AWS keeps `job_ids` with the connection).
    pub fn with_jobs(owner: Owner, jobs: Option<BTreeSet<JobId>>) -> Subscription {
        Subscription { owner, jobs }
    }

    pub fn owner(&self) -> &Owner {
        &self.owner
    }

    /// The jobs it is narrowed to, `None` for all of the owner's.
    pub fn jobs(&self) -> Option<&BTreeSet<JobId>> {
        self.jobs.as_ref()
    }

    /// Apply a client message.
    pub fn apply(&mut self, message: ClientMessage) {
        match message {
            ClientMessage::Subscribe { job_ids } => self.jobs = Some(job_ids),
        }
    }

    /// Whether this connection is told about `job`: never another owner's.
    pub fn wants(&self, job: &Job) -> bool {
        job.owner == self.owner && self.jobs.as_ref().is_none_or(|ids| ids.contains(&job.id))
    }
}

/// Whether a write from `before` to `after` is an event: a new job, or a change of
/// status or progress. Other writes (a provider ref, a token, a retry counter) are not.
pub fn is_notable(before: Option<&Job>, after: &Job) -> bool {
    before.is_none_or(|b| b.status != after.status || b.progress != after.progress)
}
