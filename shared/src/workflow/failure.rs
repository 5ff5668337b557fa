//! RecordFailure: every Catch in the definition ends here, so the record says why.

use super::contract::{ErrorPayload, StepErrorName, STATES_TIMEOUT};
use super::StepDeps;
use crate::callback::DeliveryQueue;
use crate::domain::ids::JobId;
use crate::domain::{ErrorCode, JobError, Status};
use crate::store::update::UpdateError;
use crate::store::{update_job, JobStore, StoreError};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tracing::{info, instrument};

/// Step Functions' error output (`{"Error": ..., "Cause": ...}`), as Catch puts it at `$.failure`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepFailure {
    #[serde(rename = "Error")]
    pub error: String,
    #[serde(rename = "Cause", default)]
    pub cause: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureInput {
    pub job_id: JobId,
    pub failure: StepFailure,
}

/// Turn a caught error into the terminal status and the reason the record shows.
/// Our own steps' errors carry an [`ErrorPayload`] in Lambda's `errorMessage`;
/// anything else (Step Functions' own errors, a crashed runtime) gets a stable code
/// and a plain message — never a raw cause, which could hold internals.
pub fn classify_failure(failure: &StepFailure) -> (Status, JobError) {
    let payload = serde_json::from_str::<serde_json::Value>(&failure.cause)
        .ok()
        .and_then(|cause| {
            cause
                .get("errorMessage")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .and_then(|message| serde_json::from_str::<ErrorPayload>(&message).ok());
    match (StepErrorName::from_name(&failure.error), payload) {
        (Some(StepErrorName::TimedOut), Some(p)) => (
            Status::TimedOut,
            JobError::new(ErrorCode::TimedOut, p.message),
        ),
        (Some(StepErrorName::TimedOut), None) => (
            Status::TimedOut,
            JobError::new(ErrorCode::TimedOut, "the job ran out of time"),
        ),
        (Some(_), Some(p)) => (Status::Failed, JobError::new(p.code, p.message)),
        (None, _) if failure.error == STATES_TIMEOUT => (
            Status::Failed,
            JobError::new(
                ErrorCode::Internal,
                "a workflow step did not finish in time; try again",
            ),
        ),
        (name, _) => {
            tracing::warn!(error = %failure.error, ours = name.is_some(), "unexpected workflow error");
            (Status::Failed, unexpected_failure())
        }
    }
}

/// The reason a job shows when the workflow itself broke: stable, and no internals.
pub(super) fn unexpected_failure() -> JobError {
    JobError::new(
        ErrorCode::Internal,
        "the workflow failed unexpectedly; try again",
    )
}

/// Mark the job ended with the caught error's reason. A job that already ended
/// (canceled, completed) keeps its status: this is then a no-op.
#[instrument(skip_all, fields(job_id = %input.job_id, error = %input.failure.error))]
pub async fn record_failure(
    deps: &StepDeps,
    input: FailureInput,
) -> Result<serde_json::Value, super::StepError> {
    let (status, reason) = classify_failure(&input.failure);
    let recorded = end_job(
        deps.jobs.as_ref(),
        deps.config.callbacks.as_ref(),
        &input.job_id,
        status,
        reason,
    )
    .await?;
    Ok(serde_json::json!({ "job_id": input.job_id, "status": recorded }))
}

/// End a job as `failed` or `timed_out` with `reason` and tell its callback. Returns the
/// status the record now has: the given one, the one it had already ended with, or
/// `None` when the job was deleted.
pub(super) async fn end_job(
    jobs: &dyn JobStore,
    callbacks: Option<&Arc<dyn DeliveryQueue>>,
    job_id: &JobId,
    status: Status,
    reason: JobError,
) -> Result<Option<Status>, StoreError> {
    let result = update_job(jobs, job_id, |job| {
        job.mark_ended(status, reason.clone(), Utc::now())
    })
    .await;
    match result {
        Ok(job) => {
            info!(status = %job.status, code = %reason.code, "job ended");
            crate::telemetry::job_ended(&job);
            crate::callback::notify(callbacks, &job).await;
            Ok(Some(job.status))
        }
        Err(UpdateError::Refused(t)) => Ok(Some(t.from)),
        Err(UpdateError::NotFound(_)) => {
            info!("job was deleted; nothing to record");
            Ok(None)
        }
        Err(UpdateError::Store(e)) => Err(e),
    }
}
