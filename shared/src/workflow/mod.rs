//! The workflow steps the state machine (`infra/state-machine.asl.json`) runs.
//!
//! Each step is a plain async function over the ports: the Lambdas and the local ASL
//! interpreter call the same code with the same JSON. The state passed between steps
//! is [`WorkflowState`]; a step that cannot go on returns a [`StepError`] whose
//! [`StepError::error_type`] the definition's Retry/Catch match on:
//!
//! | error_type  | meaning                                   | state machine          |
//! |-------------|-------------------------------------------|------------------------|
//! | `Retryable` | a passing fault (429, 5xx, network, store) | Retry with backoff, then Catch |
//! | `Failed`    | the job cannot succeed (moderation, bad input, provider failed) | Catch → RecordFailure |
//! | `TimedOut`  | the job's time or poll budget is spent     | Catch → RecordFailure |
//! | `JobEnded`  | the record is already terminal (canceled)  | Catch → RecordFailure (no-op) |
//!
//! Every Catch leads to [`record_failure`], so every failure path ends with the job
//! record saying why; an execution that ends without reaching it (the definition's
//! `TimeoutSeconds`, a stop by hand) is recorded by [`record_execution_end`].

mod check_status;
mod dispatch;
mod download;
mod execution_end;
mod failure;
mod submit;

pub use check_status::{check_status, next_wait_seconds};
pub use dispatch::{run_step, StepFunction};
pub use download::download_to_store;
pub use execution_end::{
    is_execution_event, on_execution_event, record_execution_end, ExecutionEnd,
    ExecutionStatusChange, EXECUTION_STATUS_CHANGE,
};
pub use failure::{classify_failure, record_failure, FailureInput, StepFailure};
pub use submit::submit;

use crate::domain::Model;
use crate::provider::{ProviderError, VideoProvider};
use crate::store::{update::UpdateError, JobStore, ObjectStore, StoreError};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// What the workflow needs.
#[derive(Clone)]
pub struct StepDeps {
    pub jobs: Arc<dyn JobStore>,
    pub objects: Arc<dyn ObjectStore>,
    pub provider: Arc<dyn VideoProvider>,
    pub config: WorkflowConfig,
}

/// Time budgets and polling pace.
#[derive(Debug, Clone)]
pub struct WorkflowConfig {
    /// Time from submit until a sora-2 job is given up as `timed_out`.
    pub budget_sora2: Duration,
    /// The same for sora-2-pro, which renders slower.
    pub budget_sora2_pro: Duration,
    /// At most this many status checks per job.
    pub max_polls: u32,
    /// Bounds for the wait between checks (the provider's hint is clamped to them).
    pub min_wait: Duration,
    pub max_wait: Duration,
    /// Who tells a job's `callback_url` that it ended; `None` sends no webhooks.
    pub callbacks: Option<crate::callback::CallbackSender>,
}

impl Default for WorkflowConfig {
    fn default() -> Self {
        WorkflowConfig {
            budget_sora2: Duration::from_secs(20 * 60),
            budget_sora2_pro: Duration::from_secs(45 * 60),
            max_polls: 240,
            min_wait: Duration::from_secs(5),
            max_wait: Duration::from_secs(30),
            callbacks: None,
        }
    }
}

impl WorkflowConfig {
    pub fn budget(&self, model: Model) -> Duration {
        match model {
            Model::Sora2 => self.budget_sora2,
            Model::Sora2Pro => self.budget_sora2_pro,
        }
    }

    /// From `VIDGEN_BUDGET_SORA2_SECS`, `VIDGEN_BUDGET_SORA2_PRO_SECS`, `VIDGEN_MAX_POLLS`,
    /// `VIDGEN_MIN_WAIT_SECS`, `VIDGEN_MAX_WAIT_SECS`.
    pub fn from_env() -> Result<Self, crate::config::ConfigError> {
        use crate::config::{parsed, seconds};
        let d = WorkflowConfig::default();
        Ok(WorkflowConfig {
            budget_sora2: seconds("VIDGEN_BUDGET_SORA2_SECS", d.budget_sora2.as_secs())?,
            budget_sora2_pro: seconds(
                "VIDGEN_BUDGET_SORA2_PRO_SECS",
                d.budget_sora2_pro.as_secs(),
            )?,
            max_polls: parsed("VIDGEN_MAX_POLLS", d.max_polls)?,
            min_wait: seconds("VIDGEN_MIN_WAIT_SECS", d.min_wait.as_secs())?,
            max_wait: seconds("VIDGEN_MAX_WAIT_SECS", d.max_wait.as_secs())?,
            callbacks: None,
        })
    }
}

/// Where the loop goes next; the definition's Choice state reads `$.next`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Next {
    #[default]
    Wait,
    Download,
    Done,
}

/// The state passed between steps. The execution starts with `{"job_id": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowState {
    pub job_id: String,
    #[serde(default)]
    pub provider_video_id: Option<String>,
    /// Status checks made so far.
    #[serde(default)]
    pub polls: u32,
    /// Unix seconds after which the job is `timed_out`.
    #[serde(default)]
    pub deadline: Option<i64>,
    /// How long the Wait state sleeps before the next check.
    #[serde(default)]
    pub wait_seconds: u64,
    #[serde(default)]
    pub next: Next,
}

impl WorkflowState {
    /// The execution input for a new job.
    pub fn start(job_id: &str) -> serde_json::Value {
        serde_json::json!({ "job_id": job_id })
    }
}

/// Why a step stopped; see the module docs for how the state machine reacts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    #[error("{code}: {message}")]
    Retryable { code: String, message: String },
    #[error("{code}: {message}")]
    Failed { code: String, message: String },
    #[error("timed_out: {message}")]
    TimedOut { message: String },
    #[error("the job has already ended")]
    JobEnded,
}

/// The error payload every step failure carries as its message (Lambda `errorMessage`),
/// so RecordFailure can put the provider's own code and message on the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorPayload {
    pub code: String,
    pub message: String,
}

impl StepError {
    /// The name the definition's Retry/Catch `ErrorEquals` match.
    pub fn error_type(&self) -> &'static str {
        match self {
            StepError::Retryable { .. } => "Retryable",
            StepError::Failed { .. } => "Failed",
            StepError::TimedOut { .. } => "TimedOut",
            StepError::JobEnded => "JobEnded",
        }
    }

    /// The error message: a JSON [`ErrorPayload`].
    pub fn payload(&self) -> String {
        let (code, message) = match self {
            StepError::Retryable { code, message } | StepError::Failed { code, message } => {
                (code.as_str(), message.as_str())
            }
            StepError::TimedOut { message } => ("timed_out", message.as_str()),
            StepError::JobEnded => ("job_ended", "the job had already ended"),
        };
        serde_json::to_string(&ErrorPayload {
            code: code.into(),
            message: message.into(),
        })
        .unwrap_or_default()
    }

    /// The `Cause` Step Functions records for a Lambda error: Lambda's own error JSON.
    pub fn lambda_cause(&self) -> String {
        serde_json::json!({ "errorType": self.error_type(), "errorMessage": self.payload() })
            .to_string()
    }

    fn failed(code: &str, message: impl Into<String>) -> StepError {
        StepError::Failed {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// What a job record says when the provider could not be reached. The transport
/// error's own text names hosts, ports and URLs: it goes to the logs only.
pub const PROVIDER_UNREACHABLE_MESSAGE: &str = "could not reach the provider";

impl From<ProviderError> for StepError {
    fn from(e: ProviderError) -> Self {
        let code = e.code();
        let message = match &e {
            ProviderError::Transport { message } => {
                tracing::warn!(error = %message, "provider transport error");
                PROVIDER_UNREACHABLE_MESSAGE.to_string()
            }
            other => other.message().to_string(),
        };
        if e.is_retryable() {
            StepError::Retryable { code, message }
        } else {
            StepError::Failed { code, message }
        }
    }
}

impl From<StoreError> for StepError {
    fn from(e: StoreError) -> Self {
        // Store faults are passing (throttling, network); the message stays in logs only.
        tracing::warn!(error = %e, "store error in a workflow step");
        StepError::Retryable {
            code: "store_unavailable".into(),
            message: "the job store could not be reached".into(),
        }
    }
}

impl<E: std::fmt::Display> From<UpdateError<E>> for StepError {
    fn from(e: UpdateError<E>) -> Self {
        match e {
            UpdateError::NotFound(id) => {
                StepError::failed("job_not_found", format!("job {id} does not exist"))
            }
            // A refused transition means the job already moved on (canceled, ended).
            UpdateError::Refused(why) => {
                tracing::info!(reason = %why, "job already moved on; stopping this workflow");
                StepError::JobEnded
            }
            UpdateError::Store(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests;
