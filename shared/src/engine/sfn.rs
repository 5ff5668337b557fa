//! The Step Functions engine: one execution per job, named after the job id, so a
//! retried start is refused by Step Functions instead of running twice.
//!
//! SendTaskSuccess/Failure answer [`CallbackAnswer::Closed`] for a token no Task waits
//! on any more (`TaskTimedOut`, `InvalidToken`, `TaskDoesNotExist`): a repeated or
//! late webhook is normal, not a failure.

use super::{
    clip_chars, CallbackAnswer, EngineError, ExecutionStatus, WorkflowEngine, MAX_CAUSE_CHARS,
    MAX_ERROR_CHARS,
};
use async_trait::async_trait;
use aws_sdk_sfn::error::DisplayErrorContext;
use aws_sdk_sfn::Client;

/// A SendTask* failure for the logs, the token masked: Step Functions' validation
/// messages echo the values they refuse, and a token is a capability.
fn callback_error<E: std::error::Error + 'static>(call: &str, e: &E, token: &str) -> EngineError {
    let mut message = format!("{call}: {}", DisplayErrorContext(e));
    if !token.is_empty() {
        message = message.replace(token, "<task token>");
    }
    EngineError::Backend(message)
}

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
        token: &str,
        output: &serde_json::Value,
    ) -> Result<CallbackAnswer, EngineError> {
        let result = self
            .client
            .send_task_success()
            .task_token(token)
            .output(output.to_string())
            .send()
            .await;
        match result {
            Ok(_) => Ok(CallbackAnswer::Delivered),
            Err(e)
                if e.as_service_error().is_some_and(|se| {
                    se.is_task_timed_out() || se.is_invalid_token() || se.is_task_does_not_exist()
                }) =>
            {
                Ok(CallbackAnswer::Closed)
            }
            Err(e) => Err(callback_error("SendTaskSuccess", &e, token)),
        }
    }

    async fn send_task_failure(
        &self,
        token: &str,
        error: &str,
        cause: &str,
    ) -> Result<CallbackAnswer, EngineError> {
        let result = self
            .client
            .send_task_failure()
            .task_token(token)
            .error(clip_chars(error, MAX_ERROR_CHARS))
            .cause(clip_chars(cause, MAX_CAUSE_CHARS))
            .send()
            .await;
        match result {
            Ok(_) => Ok(CallbackAnswer::Delivered),
            Err(e)
                if e.as_service_error().is_some_and(|se| {
                    se.is_task_timed_out() || se.is_invalid_token() || se.is_task_does_not_exist()
                }) =>
            {
                Ok(CallbackAnswer::Closed)
            }
            Err(e) => Err(callback_error("SendTaskFailure", &e, token)),
        }
    }
}
