//! The workflow-engine port: start and stop a job's workflow.
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

#[async_trait]
pub trait WorkflowEngine: Send + Sync {
    /// Start the workflow for `job_id`; the execution is named after the job, so a
    /// second start of the same job is refused by the engine, not duplicated.
    async fn start(&self, job_id: &str, input: &serde_json::Value) -> Result<(), EngineError>;
    /// Stop the job's workflow; stopping one that already ended is fine.
    async fn stop(&self, job_id: &str, cause: &str) -> Result<(), EngineError>;
}
