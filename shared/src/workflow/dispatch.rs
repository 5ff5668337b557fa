//! From a function's JSON payload to the step it runs: the one entry point the Lambdas
//! and the local engine share.

use super::{
    check_status, download_to_store, is_execution_event, on_execution_event, record_failure,
    submit, FailureInput, StepDeps, StepError, WorkflowState,
};
use serde_json::Value;

/// The three workflow functions, named as in the definition's substitutions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepFunction {
    Submit,
    /// Also records failures: RecordFailure sends `{"job_id", "failure"}` here, and
    /// EventBridge sends executions that timed out, failed or were stopped.
    CheckStatus,
    Download,
}

impl StepFunction {
    pub fn name(self) -> &'static str {
        match self {
            StepFunction::Submit => "submit",
            StepFunction::CheckStatus => "check-status",
            StepFunction::Download => "download-to-s3",
        }
    }

    pub fn from_name(name: &str) -> Option<StepFunction> {
        [
            StepFunction::Submit,
            StepFunction::CheckStatus,
            StepFunction::Download,
        ]
        .into_iter()
        .find(|f| f.name() == name)
    }
}

fn parse<T: serde::de::DeserializeOwned>(payload: Value) -> Result<T, StepError> {
    serde_json::from_value(payload).map_err(|e| StepError::Failed {
        code: "invalid_input".into(),
        message: format!("the step's input could not be read: {e}"),
    })
}

/// Run `function` on `payload`; the result is the next workflow state (or, for a
/// recorded failure, the recorded status).
pub async fn run_step(
    deps: &StepDeps,
    function: StepFunction,
    payload: Value,
) -> Result<Value, StepError> {
    let to_json = |s: WorkflowState| serde_json::to_value(s).unwrap_or(Value::Null);
    match function {
        StepFunction::Submit => submit(deps, parse(payload)?).await.map(to_json),
        StepFunction::CheckStatus if is_execution_event(&payload) => {
            on_execution_event(deps, parse(payload)?).await
        }
        StepFunction::CheckStatus if payload.get("failure").is_some() => {
            record_failure(deps, parse::<FailureInput>(payload)?).await
        }
        StepFunction::CheckStatus => check_status(deps, parse(payload)?).await.map(to_json),
        StepFunction::Download => download_to_store(deps, parse(payload)?).await.map(to_json),
    }
}
