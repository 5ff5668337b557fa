//! The Step Functions engine: one execution per job, named after the job id, so a
//! retried start is refused by Step Functions instead of running twice.

use super::{CallbackAnswer, EngineError, ExecutionStatus, WorkflowEngine};
use async_trait::async_trait;
use aws_sdk_sfn::error::DisplayErrorContext;
use aws_sdk_sfn::Client;

#[derive(Clone)]
pub struct StepFunctionsEngine {
    client: Client,
    state_machine_arn: String,
}

impl StepFunctionsEngine {
    pub fn new(client: Client, state_machine_arn: impl Into<String>) -> StepFunctionsEngine {
        StepFunctionsEngine {
            client,
            state_machine_arn: state_machine_arn.into(),
        }
    }

    /// `arn:…:stateMachine:NAME` → `arn:…:execution:NAME:JOB`.
    pub fn execution_arn(&self, job_id: &str) -> String {
        format!(
            "{}:{job_id}",
            self.state_machine_arn
                .replacen(":stateMachine:", ":execution:", 1)
        )
    }
}

#[async_trait]
impl WorkflowEngine for StepFunctionsEngine {
    async fn start(&self, job_id: &str, input: &serde_json::Value) -> Result<(), EngineError> {
        let result = self
            .client
            .start_execution()
            .state_machine_arn(&self.state_machine_arn)
            .name(job_id)
            .input(input.to_string())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_execution_already_exists()) =>
            {
                Err(EngineError::AlreadyExists(job_id.to_string()))
            }
            Err(e) => Err(EngineError::Backend(DisplayErrorContext(&e).to_string())),
        }
    }

    async fn stop(&self, job_id: &str, cause: &str) -> Result<(), EngineError> {
        let result = self
            .client
            .stop_execution()
            .execution_arn(self.execution_arn(job_id))
            .cause(cause)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_execution_does_not_exist()) =>
            {
                Ok(())
            }
            Err(e) => Err(EngineError::Backend(DisplayErrorContext(&e).to_string())),
        }
    }

    async fn status(&self, job_id: &str) -> Result<ExecutionStatus, EngineError> {
        let result = self
            .client
            .describe_execution()
            .execution_arn(self.execution_arn(job_id))
            .send()
            .await;
        match result {
            Ok(out) => {
                let status = out.status().as_str();
                ExecutionStatus::from_sfn(status).ok_or_else(|| {
                    EngineError::Backend(format!("unknown execution status {status:?}"))
                })
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_execution_does_not_exist()) =>
            {
                Ok(ExecutionStatus::Missing)
            }
            Err(e) => Err(EngineError::Backend(DisplayErrorContext(&e).to_string())),
        }
    }

    async fn send_task_success(
        &self,
        _token: &str,
        _output: &serde_json::Value,
    ) -> Result<CallbackAnswer, EngineError> {
        Err(EngineError::Backend("STUB send_task_success".into()))
    }
    async fn send_task_failure(
        &self,
        _token: &str,
        _error: &str,
        _cause: &str,
    ) -> Result<CallbackAnswer, EngineError> {
        Err(EngineError::Backend("STUB send_task_failure".into()))
    }
}
