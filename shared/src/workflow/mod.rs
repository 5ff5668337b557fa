//! The workflow steps the state machine (`infra/state-machine.asl.json`) runs.
//!
//! Each step is a plain async function over the ports: the Lambdas and the local ASL
//! interpreter call the same code with the same JSON. The state passed between steps
//! is [`WorkflowState`]; a step that cannot go on returns a [`StepError`] whose
//! [`StepError::error_type`] (a [`StepErrorName`], see [`contract`]) the definition's
//! Retry/Catch match on, and whose payload carries the public [`ErrorCode`] and message
//! the record will show.
//!
//! Every Catch leads to [`record_failure`], so every failure path ends with the job
//! record saying why; an execution that ends without reaching it (the definition's
//! `TimeoutSeconds`, a stop by hand) is recorded by [`record_execution_end`].

mod check_status;
pub mod contract;
pub mod discard;
mod dispatch;
mod download;
mod execution_end;
mod failure;
mod submit;
pub mod sweep;

pub use check_status::{check_status, next_wait_seconds};
pub use contract::{
    local_substitutions, CheckStatusInput, ErrorPayload, ExecutionEventDetail, StepErrorName,
    StepFunction,
};
pub use dispatch::run_step;
pub use download::download_to_store;
pub use execution_end::{on_execution_ended, record_execution_end, ExecutionEnd};
pub use failure::{classify_failure, record_failure, FailureInput, StepFailure};
pub use submit::submit;

use crate::domain::ids::JobId;
use crate::domain::{ErrorCode, Job, Model, Pace};
use crate::provider::{ProviderError, Providers, VideoProvider};
use crate::store::{update::UpdateError, JobStore, ObjectStore, StoreError};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// What the workflow needs.
#[derive(Clone)]
pub struct StepDeps {
    pub jobs: Arc<dyn JobStore>,
    pub objects: Arc<dyn ObjectStore>,
    pub providers: Providers,
    pub config: WorkflowConfig,
}

impl StepDeps {
    /// The adapter that renders `job`'s model. A job whose provider this deployment has
    /// no key for fails (never retried): the key will not appear mid-execution.
    pub fn provider(&self, job: &Job) -> Result<Arc<dyn VideoProvider>, StepError> {
        let id = job.model.provider();
        self.providers.get(id).cloned().ok_or_else(|| {
            StepError::failed(
                ErrorCode::ProviderUnavailable,
                format!(
                    "this deployment has no key for {id}, which renders {}",
                    job.model
                ),
            )
        })
    }
}

/// Time budgets and polling pace.
#[derive(Debug, Clone)]
pub struct WorkflowConfig {
    /// Time from submit until a job is given up as `timed_out`.
    pub budget_standard: Duration,
    /// The same for models that render markedly slower (sora-2-pro).
    pub budget_slow: Duration,
    /// At most this many status checks per job.
    pub max_polls: u32,
    /// Bounds for the wait between checks (the provider's hint is clamped to them).
    pub min_wait: Duration,
    pub max_wait: Duration,
    /// Where the delivery telling a job's `callback_url` that it ended is queued;
    /// `None` sends no webhooks.
    pub callbacks: Option<Arc<dyn crate::callback::DeliveryQueue>>,
    /// The deployment's public base URL (`VIDGEN_PUBLIC_URL`, no trailing slash), where
    /// providers' webhooks reach `/v1/provider-webhooks/{provider}`; `None`: every job
    /// polls, as no provider could reach us.
    pub public_url: Option<String>,
}

impl Default for WorkflowConfig {
    fn default() -> Self {
        WorkflowConfig {
            budget_standard: Duration::from_secs(20 * 60),
            budget_slow: Duration::from_secs(45 * 60),
            max_polls: 240,
            min_wait: Duration::from_secs(5),
            max_wait: Duration::from_secs(30),
            callbacks: None,
            public_url: None,
        }
    }
}

impl WorkflowConfig {
    pub fn budget(&self, model: Model) -> Duration {
        match model.spec().pace {
            Pace::Standard => self.budget_standard,
            Pace::Slow => self.budget_slow,
        }
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
    pub job_id: JobId,
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
    pub fn start(job_id: &JobId) -> serde_json::Value {
        serde_json::json!({ "job_id": job_id })
    }
}

/// Why a step stopped; see the module docs for how the state machine reacts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    #[error("{code}: {message}")]
    Retryable { code: ErrorCode, message: String },
    /// The job store failed (throttling, network): retried like `Retryable`. The detail
    /// is for logs only; the record can only ever show a fixed message.
    #[error("the job store could not be reached: {detail}")]
    StoreUnavailable { detail: String },
    #[error("{code}: {message}")]
    Failed { code: ErrorCode, message: String },
    #[error("timed_out: {message}")]
    TimedOut { message: String },
    #[error("the job has already ended")]
    JobEnded,
}

impl StepError {
    /// The name the definition's Retry/Catch `ErrorEquals` match.
    pub fn error_type(&self) -> StepErrorName {
        match self {
            StepError::Retryable { .. } | StepError::StoreUnavailable { .. } => {
                StepErrorName::Retryable
            }
            StepError::Failed { .. } => StepErrorName::Failed,
            StepError::TimedOut { .. } => StepErrorName::TimedOut,
            StepError::JobEnded => StepErrorName::JobEnded,
        }
    }

    /// The error message: a JSON [`ErrorPayload`].
    pub fn payload(&self) -> String {
        let (code, message) = match self {
            StepError::Retryable { code, message } | StepError::Failed { code, message } => {
                (*code, message.as_str())
            }
            StepError::StoreUnavailable { .. } => {
                (ErrorCode::Internal, "the job store could not be reached")
            }
            StepError::TimedOut { message } => (ErrorCode::TimedOut, message.as_str()),
            // Never recorded: the record has already ended, so RecordFailure keeps it.
            StepError::JobEnded => (ErrorCode::Internal, "the job had already ended"),
        };
        serde_json::to_string(&ErrorPayload {
            code,
            message: message.into(),
        })
        // Serialising a struct of an enum and a string cannot fail.
        .unwrap_or_default()
    }

    /// The `Cause` Step Functions records for a Lambda error: Lambda's own error JSON.
    pub fn lambda_cause(&self) -> String {
        serde_json::json!({ "errorType": self.error_type().as_str(), "errorMessage": self.payload() })
            .to_string()
    }

    fn failed(code: ErrorCode, message: impl Into<String>) -> StepError {
        StepError::Failed {
            code,
            message: message.into(),
        }
    }

    /// The job the step was given does not exist (deleted): nothing to record.
    fn no_such_job(job_id: &str) -> StepError {
        StepError::failed(ErrorCode::NotFound, format!("job {job_id} does not exist"))
    }
}

/// The job a step works on; a deleted one stops the workflow.
async fn load_job(deps: &StepDeps, job_id: &JobId) -> Result<crate::domain::Job, StepError> {
    deps.jobs
        .get(job_id)
        .await?
        .ok_or_else(|| StepError::no_such_job(job_id))
}

/// What a job record says when the provider could not be reached. The transport
/// error's own text names hosts, ports and URLs: it goes to the logs only.
pub const PROVIDER_UNREACHABLE_MESSAGE: &str = "could not reach the provider";

impl From<ProviderError> for StepError {
    fn from(e: ProviderError) -> Self {
        let code = e.code();
        let message = match &e {
            ProviderError::Transport { message } | ProviderError::NotSent { message } => {
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
        StepError::StoreUnavailable {
            detail: e.to_string(),
        }
    }
}

impl<E: std::fmt::Display> From<UpdateError<E>> for StepError {
    fn from(e: UpdateError<E>) -> Self {
        match e {
            UpdateError::NotFound(id) => StepError::no_such_job(&id),
            // A refused transition means the job already moved on (canceled, ended).
            UpdateError::Refused(_) => StepError::JobEnded,
            UpdateError::Store(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests;
