//! The backstop for executions that end without passing through RecordFailure: the
//! state machine's own `TimeoutSeconds`, RecordFailure itself failing, an execution
//! stopped by hand. In AWS an EventBridge rule (template.yaml) sends Step Functions'
//! "Execution Status Change" events for the job state machine to `check-status`; the
//! local engine calls [`record_execution_end`] when an execution ends the same ways.
//! Either way the record says why, and a job that already ended is left alone.

use super::failure::{end_job, unexpected_failure};
use super::{StepDeps, StepError};
use crate::domain::{JobError, Status};
use serde::Deserialize;
use serde_json::{json, Value};
use tracing::instrument;

/// EventBridge's `detail-type` for Step Functions execution events.
pub const EXECUTION_STATUS_CHANGE: &str = "Step Functions Execution Status Change";

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

    fn outcome(self) -> (Status, JobError) {
        match self {
            ExecutionEnd::TimedOut => (
                Status::TimedOut,
                JobError::new("timed_out", "the workflow ran out of time"),
            ),
            ExecutionEnd::Failed => (Status::Failed, unexpected_failure()),
            ExecutionEnd::Aborted => (
                Status::Failed,
                JobError::new(
                    "workflow_stopped",
                    "the workflow was stopped before the job finished",
                ),
            ),
        }
    }
}

/// The parts of an EventBridge "Execution Status Change" event we read. The execution
/// name is the job id (the API starts every execution under that name).
#[derive(Debug, Clone, Deserialize)]
pub struct ExecutionStatusChange {
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    pub detail: ExecutionDetail,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ExecutionDetail {
    pub name: String,
    pub status: String,
}

/// Whether a payload is an EventBridge execution event rather than a step's input.
pub fn is_execution_event(payload: &Value) -> bool {
    payload.get("detail-type").and_then(Value::as_str) == Some(EXECUTION_STATUS_CHANGE)
}

/// Mark the job ended as `end` says, unless it already ended.
#[instrument(skip_all, fields(job_id = %job_id, end = ?end))]
pub async fn record_execution_end(
    deps: &StepDeps,
    job_id: &str,
    end: ExecutionEnd,
) -> Result<Value, StepError> {
    let (status, reason) = end.outcome();
    let recorded = end_job(deps, job_id, status, reason).await?;
    Ok(json!({ "job_id": job_id, "status": recorded }))
}

/// Handle an EventBridge event: executions that ended badly are recorded, others ignored.
pub async fn on_execution_event(
    deps: &StepDeps,
    event: ExecutionStatusChange,
) -> Result<Value, StepError> {
    match ExecutionEnd::from_sfn_status(&event.detail.status) {
        Some(end) => record_execution_end(deps, &event.detail.name, end).await,
        None => Ok(json!({ "job_id": event.detail.name, "status": null })),
    }
}
