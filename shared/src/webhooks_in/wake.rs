//! Ending a job's wait once a verified provider webhook says its render ended.
//!
//! The execution's `WaitForWebhook` state and this code meet on the job record, and
//! neither can miss the other:
//! - the state machine arms the wait with one conditional write: store its task token
//!   and bump the version, unless `push_received_at` is set;
//! - a webhook sets `push_received_at` with a version-checked write, then sends the
//!   token it read back, if any.
//!
//! If the webhook's write comes first, arming fails and the execution polls (the
//! render is done, so its first check sees it). If the arming comes first, the
//! webhook's write either read the token or lost the version race and, re-reading,
//! does. A repeated or late webhook finds the token closed: Step Functions answers
//! `TaskTimedOut`, which is fine.

use crate::domain::ids::JobId;
use crate::domain::{Job, ProviderId};
use crate::engine::{CallbackAnswer, EngineError, WorkflowEngine};
use crate::store::update::UpdateError;
use crate::store::{update_job, JobStore, StoreError};
use crate::workflow::contract::RENDER_FAILED;
use crate::workflow::Pushed;
use chrono::{DateTime, Utc};
use tracing::{info, warn};

/// What a verified webhook says of one render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderPushed {
    pub provider: ProviderId,
    /// The render as the webhook names it: fal's `request_id`, OpenAI's video id.
    pub render_id: String,
    pub outcome: PushedOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushedOutcome {
    Completed,
    /// The provider's own words, for the failure the wait ends with; the record's
    /// reason comes from the status check the execution then makes.
    Failed {
        message: String,
    },
}

/// What became of a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woken {
    /// The job's wait ended by this webhook.
    Ended,
    /// The job was not waiting yet; it polls instead, and its first check sees the end.
    NotWaiting,
    /// The wait was already over (an earlier delivery, its timeout, the execution's end).
    AlreadyOver,
    /// The job has ended (canceled, deleted before, failed).
    JobEnded,
    /// No job of ours has this render: another deployment's, or a forged job id.
    UnknownRender,
}

impl Woken {
    pub fn as_str(self) -> &'static str {
        match self {
            Woken::Ended => "ended_wait",
            Woken::NotWaiting => "not_waiting",
            Woken::AlreadyOver => "already_over",
            Woken::JobEnded => "job_ended",
            Woken::UnknownRender => "unknown_render",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WakeError {
    /// The store or the engine failed: the provider should deliver again.
    #[error("job store: {0}")]
    Store(#[from] StoreError),
    #[error("workflow engine: {0}")]
    Engine(#[from] EngineError),
}

/// Whether `recorded` (the job's provider video id) is the render `pushed` names. fal's
/// ids are the request's path under the queue (`<app>/requests/<request id>`), and its
/// webhooks name only the request id.
pub fn names_render(provider: ProviderId, recorded: &str, pushed: &str) -> bool {
    match provider {
        ProviderId::Fal => recorded
            .rsplit_once("/requests/")
            .map_or(recorded, |(_, id)| id)
            .eq(pushed),
        _ => recorded == pushed,
    }
}

/// The job `push` is about: `job_hint` (the `job_id` our webhook URL carried, for a
/// provider that takes a per-request URL) or the provider ref submit wrote.
async fn find_job(
    jobs: &dyn JobStore,
    push: &RenderPushed,
    job_hint: Option<&JobId>,
) -> Result<Option<Job>, StoreError> {
    let id = match job_hint {
        Some(id) => id.clone(),
        None => match jobs
            .find_by_provider(push.provider, &push.render_id)
            .await?
        {
            Some(id) => id,
            None => return Ok(None),
        },
    };
    Ok(jobs.get(&id).await?.filter(|job| {
        // Trust the hint only when the signed render id matches the job's render;
        // a job that has no render id yet (the webhook beat submit's write) is taken.
        job.model.provider() == push.provider
            && job
                .provider_video_id
                .as_deref()
                .is_none_or(|recorded| names_render(push.provider, recorded, &push.render_id))
    }))
}

/// Why the record refused the push.
#[derive(Debug)]
enum NotTaken {
    Ended,
}

/// Record the push on the job and end its wait. `now` is when the webhook came.
pub async fn wake(
    jobs: &dyn JobStore,
    engine: &dyn WorkflowEngine,
    push: &RenderPushed,
    job_hint: Option<&JobId>,
    now: DateTime<Utc>,
) -> Result<Woken, WakeError> {
    let Some(job) = find_job(jobs, push, job_hint).await? else {
        info!(provider = %push.provider, render_id = %push.render_id, "a webhook for a render no job here has; ignored");
        return Ok(Woken::UnknownRender);
    };
    let job_id = job.id.clone();
    let written = update_job(jobs, &job_id, |j| {
        if j.status.is_terminal() {
            return Err(NotTaken::Ended);
        }
        j.push_received_at.get_or_insert(now);
        Ok(())
    })
    .await;
    let job = match written {
        Ok(job) => job,
        Err(UpdateError::Refused(NotTaken::Ended) | UpdateError::NotFound(_)) => {
            info!(job_id = %job_id, "a webhook for a job that has ended; ignored");
            return Ok(Woken::JobEnded);
        }
        Err(UpdateError::Store(e)) => return Err(e.into()),
    };
    let Some(token) = job.task_token.as_deref() else {
        info!(job_id = %job_id, "the webhook came before the job waited for it; it polls instead");
        return Ok(Woken::NotWaiting);
    };
    // The token is a credential for the execution: never logged.
    let answer = match &push.outcome {
        PushedOutcome::Completed => {
            let output = serde_json::to_value(Pushed {
                provider: push.provider,
                received_at: now.timestamp(),
            })
            // Cannot fail: a struct of an enum and an integer.
            .unwrap_or_default();
            engine.send_task_success(token, &output).await?
        }
        PushedOutcome::Failed { message } => {
            engine
                .send_task_failure(token, RENDER_FAILED, message)
                .await?
        }
    };
    Ok(match answer {
        CallbackAnswer::Delivered => {
            info!(job_id = %job_id, outcome = ?push.outcome, "the provider's webhook ended the job's wait");
            Woken::Ended
        }
        CallbackAnswer::Closed => {
            warn!(job_id = %job_id, "the job's wait was already over when its webhook came");
            Woken::AlreadyOver
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fal_renders_match_on_their_request_id() {
        let recorded = "fal-ai/veo3.1/requests/764cabcf-b745";
        assert!(names_render(ProviderId::Fal, recorded, "764cabcf-b745"));
        assert!(!names_render(ProviderId::Fal, recorded, "764cabcf"));
        assert!(!names_render(ProviderId::Fal, recorded, "fal-ai/veo3.1"));
        assert!(names_render(
            ProviderId::Fal,
            "764cabcf-b745",
            "764cabcf-b745"
        ));
        assert!(names_render(ProviderId::OpenAi, "video_1", "video_1"));
        assert!(!names_render(ProviderId::OpenAi, "video_1", "video_12"));
    }
}
