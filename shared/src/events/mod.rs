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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::job::tests::{sample_id, sample_job};
    use crate::domain::Status;
    use chrono::Utc;

    const OTHER: &str = "vid_01ARZ3NDEKTSV4RRFFQ69G5FAW";

    #[test]
    fn subscribe_names_its_jobs() {
        let parsed = parse_client_message(&format!(
            r#"{{"action":"subscribe","job_ids":["{OTHER}"]}}"#
        ));
        let expected: BTreeSet<JobId> = [JobId::parse(OTHER).unwrap()].into();
        assert_eq!(parsed, Ok(ClientMessage::Subscribe { job_ids: expected }));
    }

    #[test]
    fn a_bad_message_is_named() {
        for (text, names) in [
            ("not json", "action"),
            (r#"{"action":"unsubscribe","job_ids":[]}"#, "unknown action"),
            (r#"{"action":"subscribe"}"#, "job_ids: required"),
            (
                r#"{"action":"subscribe","job_ids":[]}"#,
                "job_ids: must name 1 to 100",
            ),
            (r#"{"action":"subscribe","job_ids":[7]}"#, "job_ids[0]"),
            (
                r#"{"action":"subscribe","job_ids":["vid_x"]}"#,
                "job_ids[0]",
            ),
            (
                r#"{"action":"subscribe","job_ids":[],"extra":1}"#,
                "unknown field",
            ),
        ] {
            let err = parse_client_message(text).unwrap_err();
            assert!(err.contains(names), "{text}: {err}");
        }
        let many: Vec<String> = (0..101).map(|_| OTHER.to_string()).collect();
        let text = serde_json::json!({"action": "subscribe", "job_ids": many}).to_string();
        assert!(parse_client_message(&text).unwrap_err().contains("got 101"));
    }

    #[test]
    fn a_subscription_sees_only_its_owners_jobs_and_then_only_the_named_ones() {
        let job = sample_job(Utc::now()); // alice's, sample_id()
        let mut alice = Subscription::new(Owner::new("alice"));
        let bob = Subscription::new(Owner::new("bob"));
        assert!(alice.wants(&job));
        assert!(!bob.wants(&job));
        alice.apply(ClientMessage::Subscribe {
            job_ids: [JobId::parse(OTHER).unwrap()].into(),
        });
        assert!(!alice.wants(&job), "narrowed to another job");
        alice.apply(ClientMessage::Subscribe {
            job_ids: [sample_id()].into(),
        });
        assert!(alice.wants(&job));
        // Naming another owner's job does not reveal it.
        let mut nosy = Subscription::new(Owner::new("bob"));
        nosy.apply(ClientMessage::Subscribe {
            job_ids: [sample_id()].into(),
        });
        assert!(!nosy.wants(&job));
    }

    #[test]
    fn only_new_jobs_and_status_or_progress_changes_are_events() {
        let before = sample_job(Utc::now());
        assert!(is_notable(None, &before));
        let mut same = before.clone();
        same.provider_video_id = Some("video_1".into());
        same.version += 1;
        assert!(!is_notable(Some(&before), &same));
        let mut progressed = before.clone();
        progressed.progress = 40;
        assert!(is_notable(Some(&before), &progressed));
        let mut moved = before.clone();
        moved.status = Status::InProgress;
        assert!(is_notable(Some(&before), &moved));
    }

    #[test]
    fn frames_have_the_contracts_shape() {
        let frame: Value = serde_json::from_str(&job_updated(json!({"id": OTHER}))).unwrap();
        assert_eq!(frame, json!({"type": "job.updated", "job": {"id": OTHER}}));
        let ids: BTreeSet<JobId> = [JobId::parse(OTHER).unwrap()].into();
        let frame: Value = serde_json::from_str(&subscribed(&ids)).unwrap();
        assert_eq!(frame, json!({"type": "subscribed", "job_ids": [OTHER]}));
        let frame: Value = serde_json::from_str(&client_error("job_ids: x")).unwrap();
        assert_eq!(frame["error"]["code"], "invalid_request");
    }
}
