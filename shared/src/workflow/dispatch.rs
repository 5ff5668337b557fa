//! From a function's JSON payload to the step it runs: the one entry point the Lambdas
//! and the local engine share. Each function's input is typed (see [`super::contract`]);
//! a payload that does not fit is refused as `Failed`, naming what was wrong.
//!
//! Each invocation comes with its deadline (the Lambda's, or locally the function's
//! `Timeout` from now): the step's provider calls end [`STEP_RESERVE`] before it, and the
//! step keeps the rest for its last writes. See the ladder in [`super::contract`].

use super::contract::{CheckStatusInput, StepFunction, STEP_RESERVE};
use super::execution_end::{on_execution_ended, ExecutionEnd};
use super::{
    check_status, download_to_store, record_failure, submit, ErrorCode, FailureInput, StepDeps,
    StepError, WorkflowState,
};
use crate::deadline::Deadline;
use serde_json::Value;
use tracing::{info_span, warn, Instrument};

fn parse<T: serde::de::DeserializeOwned>(payload: Value) -> Result<T, StepError> {
    serde_json::from_value(payload).map_err(|e| StepError::Failed {
        code: ErrorCode::Internal,
        message: format!("the step's input could not be read: {e}"),
    })
}

/// Run `function` on `payload`, to be done by `deadline`; the result is the next
/// workflow state (or, for a recorded failure, the recorded status). A failure is
/// logged here, with the job id, where it is handled.
pub async fn run_step(
    deps: &StepDeps,
    function: StepFunction,
    payload: Value,
    deadline: Deadline,
) -> Result<Value, StepError> {
    let job_id = payload
        .get("job_id")
        .or_else(|| payload.pointer("/state/job_id"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let span = info_span!("step", step = function.name(), job_id = %job_id);
    let deps = StepDeps {
        providers: deps.providers.with_deadline(deadline.less(STEP_RESERVE)),
        ..deps.clone()
    };
    let result = dispatch(&deps, function, payload, deadline)
        .instrument(span)
        .await;
    if let Err(e) = &result {
        warn!(step = function.name(), job_id = %job_id, error_type = %e.error_type(), error = %e, "step failed");
    }
    result
}

async fn dispatch(
    deps: &StepDeps,
    function: StepFunction,
    payload: Value,
    deadline: Deadline,
) -> Result<Value, StepError> {
    let to_json = |s: WorkflowState| serde_json::to_value(s).unwrap_or(Value::Null);
    match function {
        StepFunction::Submit => submit(deps, parse(payload)?, deadline).await.map(to_json),
        StepFunction::Download => download_to_store(deps, parse(payload)?).await.map(to_json),
        StepFunction::CheckStatus => match parse::<CheckStatusInput>(payload)? {
            CheckStatusInput::Poll { state } => check_status(deps, state).await.map(to_json),
            CheckStatusInput::RecordFailure { job_id, failure } => {
                record_failure(deps, FailureInput { job_id, failure }).await
            }
            CheckStatusInput::ExecutionEnded {
                job_id,
                status,
                detail,
            } => {
                on_execution_ended(
                    deps,
                    &job_id,
                    ExecutionEnd::from_sfn_status(&status),
                    &detail,
                )
                .await
            }
        },
    }
}
