//! The backstop for executions that end without passing through RecordFailure: the
//! state machine's own `TimeoutSeconds`, RecordFailure itself failing, an execution
//! stopped by hand. In AWS an EventBridge rule (template.yaml) sends Step Functions'
//! "Execution Status Change" events for the job state machine to `check-status`,
//! reshaped by its input transformer into `{"action": "execution_ended", "job_id",
//! "status"}`; the local engine calls [`record_execution_end`] when an execution ends
//! the same ways.
//! Either way the record says why, and a job that already ended is left alone.

use super::contract::ExecutionEventDetail;
use super::failure::{classify_failure, end_job, unexpected_failure, StepFailure};
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

    /// The status and reason the record gets. A failed execution whose last error was
    /// one of our steps' (RecordFailure could not write it, say, because the store was
    /// down longer than its retries) keeps that step's reason, as RecordFailure would
    /// have put it; anything else gets a stable message and no internals.
    pub(super) fn outcome(self, detail: &ExecutionEventDetail) -> (Status, JobError) {
        if let (ExecutionEnd::Failed, Some(error), Some(cause)) =
            (self, detail.error.as_deref(), detail.cause.as_deref())
        {
            return classify_failure(&StepFailure {
                error: error.to_string(),
                cause: cause.to_string(),
            });
        }
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
    detail: &ExecutionEventDetail,
) -> Result<Value, StepError> {
    let (status, reason) = end.outcome(detail);
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
    detail: &ExecutionEventDetail,
) -> Result<Value, StepError> {
    let Some(end) = end else {
        return Ok(json!({ "job_id": job_id, "status": null }));
    };
    let recorded = record_execution_end(deps, job_id, end, detail).await?;
    if end == ExecutionEnd::Aborted {
        super::discard::discard_abandoned_render(deps, job_id, detail.cause.as_deref()).await;
    }
    Ok(recorded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detail(error: Option<&str>, cause: Option<&str>) -> ExecutionEventDetail {
        ExecutionEventDetail {
            error: error.map(str::to_string),
            cause: cause.map(str::to_string),
        }
    }

    #[test]
    fn a_failed_execution_keeps_its_last_steps_reason() {
        // RecordFailure itself could not write (the store was down past its retries):
        // the execution fails with that step's error, and the record says so.
        let cause = json!({
            "errorType": "Retryable",
            "errorMessage": json!({"code": "internal", "message": "the job store could not be reached"}).to_string(),
        })
        .to_string();
        let (status, reason) =
            ExecutionEnd::Failed.outcome(&detail(Some("Retryable"), Some(&cause)));
        assert_eq!(status, Status::Failed);
        assert_eq!(reason.code, ErrorCode::Internal);
        assert_eq!(reason.message, "the job store could not be reached");
    }

    #[test]
    fn anything_else_gets_the_stable_reason_and_no_internals() {
        let unexpected = (Status::Failed, unexpected_failure());
        for d in [
            detail(None, None),
            detail(Some("States.Runtime"), Some("a stack trace with internals")),
            detail(Some("Retryable"), None),
        ] {
            assert_eq!(ExecutionEnd::Failed.outcome(&d), unexpected, "{d:?}");
        }
        // A timeout or a stop is told by its status, whatever the detail holds.
        let d = detail(Some("Retryable"), Some("x"));
        assert_eq!(
            ExecutionEnd::TimedOut.outcome(&d).1.code,
            ErrorCode::TimedOut
        );
        assert_eq!(
            ExecutionEnd::Aborted.outcome(&d).1.code,
            ErrorCode::WorkflowStopped
        );
    }
}
