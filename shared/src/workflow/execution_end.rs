//! The backstop for executions that end without passing through RecordFailure: the
//! state machine's own `TimeoutSeconds`, RecordFailure itself failing, an execution
//! stopped by hand. In AWS an EventBridge rule (template.yaml) sends Step Functions'
//! "Execution Status Change" events for the job state machine to `check-status`,
//! reshaped by its input transformer into `{"action": "execution_ended", "job_id",
//! "status"}`; the local engine calls [`record_execution_end`] when an execution ends
//! the same ways.
//! Either way the record says why, and a job that already ended is left alone.

use super::failure::{end_job, unexpected_failure};
use super::{StepDeps, StepError};
use crate::domain::ids::JobId;
use crate::domain::{ErrorCode, JobError, Status};
use serde_json::{json, Value};
use tracing::instrument;

/// How an execution ended without succeeding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutionEnd {
    TimedOut,
    Failed,
    /// Stopped (StopExecution). Cancel marks the job first, so this only changes jobs
    /// whose execution was stopped some other way.
    Aborted,
}

impl ExecutionEnd {
    /// From Step Functions' execution status; `None` for RUNNING and SUCCEEDED.
    pub fn from_sfn_status(status: &str) -> Option<ExecutionEnd> {
        match status {
            "TIMED_OUT" => Some(ExecutionEnd::TimedOut),
            "FAILED" => Some(ExecutionEnd::Failed),
            "ABORTED" => Some(ExecutionEnd::Aborted),
            _ => None,
        }
    }

    pub(super) fn outcome(self) -> (Status, JobError) {
        match self {
            ExecutionEnd::TimedOut => (
                Status::TimedOut,
                JobError::new(ErrorCode::TimedOut, "the workflow ran out of time"),
            ),
            ExecutionEnd::Failed => (Status::Failed, unexpected_failure()),
            ExecutionEnd::Aborted => (
                Status::Failed,
                JobError::new(
                    ErrorCode::WorkflowStopped,
                    "the workflow was stopped before the job finished",
                ),
            ),
        }
    }
}

/// Mark the job ended as `end` says, unless it already ended.
#[instrument(skip_all, fields(job_id = %job_id, end = ?end))]
pub async fn record_execution_end(
    deps: &StepDeps,
    job_id: &JobId,
    end: ExecutionEnd,
) -> Result<Value, StepError> {
    let (status, reason) = end.outcome();
    let recorded = end_job(
        deps.jobs.as_ref(),
        deps.config.callbacks.as_ref(),
        job_id,
        status,
        reason,
    )
    .await?;
    Ok(json!({ "job_id": job_id, "status": recorded }))
}

/// Handle an execution status event (reshaped by the EventBridge rule into
/// [`super::CheckStatusInput::ExecutionEnded`]): executions that ended badly are
/// recorded, others (`RUNNING`, `SUCCEEDED`) ignored. A stopped execution of a job
/// that was canceled or deleted also deletes the render at the provider (best effort).
pub async fn on_execution_ended(
    deps: &StepDeps,
    job_id: &JobId,
    end: Option<ExecutionEnd>,
    cause: Option<&str>,
) -> Result<Value, StepError> {
    let Some(end) = end else {
        return Ok(json!({ "job_id": job_id, "status": null }));
    };
    let recorded = record_execution_end(deps, job_id, end).await?;
    if end == ExecutionEnd::Aborted {
        super::discard::discard_abandoned_render(deps, job_id, cause).await;
    }
    Ok(recorded)
}
