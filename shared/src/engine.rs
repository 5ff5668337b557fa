//! The workflow-engine port: start, stop and look up a job's workflow.
//!
//! AWS: Step Functions ([`sfn::StepFunctionsEngine`]). Locally: the ASL interpreter
//! running the same definition from `infra/`.

pub mod sfn;

use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// An execution with this name exists already (a retried start).
    #[error("workflow {0} already exists")]
    AlreadyExists(String),
    #[error("workflow engine error: {0}")]
    Backend(String),
}

/// What the engine knows of a job's execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutionStatus {
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
    /// No execution of that name: it was never started (or has been forgotten).
    Missing,
}

impl ExecutionStatus {
    /// From Step Functions' `ExecutionStatus` names; `PENDING_REDRIVE` is a failed
    /// execution that may be redriven, which vidgen never does.
    pub fn from_sfn(status: &str) -> Option<ExecutionStatus> {
        Some(match status {
            "RUNNING" => ExecutionStatus::Running,
            "SUCCEEDED" => ExecutionStatus::Succeeded,
            "FAILED" | "PENDING_REDRIVE" => ExecutionStatus::Failed,
            "TIMED_OUT" => ExecutionStatus::TimedOut,
            "ABORTED" => ExecutionStatus::Aborted,
            _ => return None,
        })
    }
}

/// What became of a SendTaskSuccess / SendTaskFailure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackAnswer {
    /// The waiting Task took it.
    Delivered,
    /// No Task waits on that token any more (`TaskTimedOut`: it timed out, already took
    /// a callback, or its execution ended; `InvalidToken`, `TaskDoesNotExist`): the
    /// wait is over by another path, which is fine for a repeated or late webhook.
    Closed,
}

/// SendTaskFailure's longest `error`, in characters (Step Functions refuses longer).
pub const MAX_ERROR_CHARS: usize = 256;
/// SendTaskFailure's longest `cause`, in characters.
pub const MAX_CAUSE_CHARS: usize = 32_768;

/// `text` cut to at most `max` characters, never inside one: both engines clip a
/// failure's `error` and `cause` to the limits above rather than have it refused.
pub fn clip_chars(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

#[async_trait]
pub trait WorkflowEngine: Send + Sync {
    /// Start the workflow for `job_id`; the execution is named after the job, so a
    /// second start of the same job is refused by the engine, not duplicated.
    async fn start(&self, job_id: &str, input: &serde_json::Value) -> Result<(), EngineError>;
    /// Stop the job's workflow; stopping one that already ended is fine.
    async fn stop(&self, job_id: &str, cause: &str) -> Result<(), EngineError>;
    /// Where the job's execution is (the sweeper asks about jobs that look stuck).
    async fn status(&self, job_id: &str) -> Result<ExecutionStatus, EngineError>;
    /// SendTaskSuccess: end the wait of the Task holding `token` with `output` (JSON).
    async fn send_task_success(
        &self,
        token: &str,
        output: &serde_json::Value,
    ) -> Result<CallbackAnswer, EngineError>;
    /// SendTaskFailure: fail the Task holding `token` with `error` (what its Catch
    /// matches) and `cause`.
    async fn send_task_failure(
        &self,
        token: &str,
        error: &str,
        cause: &str,
    ) -> Result<CallbackAnswer, EngineError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clipping_cuts_at_characters_not_bytes() {
        assert_eq!(clip_chars("abc", 5), "abc");
        assert_eq!(clip_chars("abc", 3), "abc");
        assert_eq!(clip_chars("abcd", 3), "abc");
        assert_eq!(clip_chars("ééé", 2), "éé");
        assert_eq!(clip_chars("abc", 0), "");
        let long = "é".repeat(MAX_ERROR_CHARS + 10);
        let clipped = clip_chars(&long, MAX_ERROR_CHARS);
        assert_eq!(clipped.chars().count(), MAX_ERROR_CHARS);
        assert_eq!(clipped.len(), 2 * MAX_ERROR_CHARS);
    }
}
