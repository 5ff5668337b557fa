//! What the three step Lambdas share: their event goes to [`run_step`], a
//! [`StepError`] becomes Lambda's `errorType` / `errorMessage`, which the state
//! machine's Retry and Catch match on.

use crate::deadline::Deadline;
use crate::workflow::{run_step, StepDeps, StepError, StepFunction};
use serde_json::Value;

/// Lambda's error shape: the pair Step Functions sees as `Error` and `Cause`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaError {
    pub error_type: String,
    pub error_message: String,
}

impl From<StepError> for LambdaError {
    fn from(e: StepError) -> LambdaError {
        LambdaError {
            error_type: e.error_type().as_str().to_string(),
            error_message: e.payload(),
        }
    }
}

/// Handle one invocation of a step function, to be done by `deadline`.
pub async fn handle_step(
    deps: &StepDeps,
    function: StepFunction,
    payload: Value,
    deadline: Deadline,
) -> Result<Value, LambdaError> {
    run_step(deps, function, payload, deadline)
        .await
        .map_err(LambdaError::from)
}

/// The whole `main` of a step Lambda: that step's settings, JSON logs, dependencies
/// built once at init (a misconfiguration stops the runtime with the variable's name),
/// then each event to [`handle_step`], its error as the `errorType`/`errorMessage` Retry
/// and Catch match on.
#[cfg(feature = "lambda")]
pub async fn run_step_lambda(function: StepFunction) -> Result<(), lambda_runtime::Error> {
    use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
    let deps = crate::wiring::step_deps_from_env(function).await?;
    let deps = &deps;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        // The invocation's own deadline: in-process retries stop before Lambda would
        // kill the process (`Sandbox.Timedout`, which no Retry matches).
        let deadline = Deadline::at(event.context.deadline());
        handle_step(deps, function, event.payload, deadline)
            .await
            .map_err(|e| Diagnostic {
                error_type: e.error_type,
                error_message: e.error_message,
            })
    }))
    .await
}

/// The whole `main` of the sweeper Lambda: its dependencies built once at init, then
/// each scheduled event (its content does not matter) runs one [`sweep`] and returns
/// its report. Only a failure to list the jobs fails the invocation.
///
/// [`sweep`]: crate::workflow::sweep::sweep
#[cfg(feature = "lambda")]
pub async fn run_sweeper_lambda() -> Result<(), lambda_runtime::Error> {
    use crate::workflow::sweep::sweep;
    use lambda_runtime::{service_fn, LambdaEvent};
    let deps = crate::wiring::sweep_deps_from_env().await?;
    let deps = &deps;
    lambda_runtime::run(service_fn(move |_event: LambdaEvent<Value>| async move {
        let report = sweep(deps, chrono::Utc::now()).await?;
        Ok::<_, lambda_runtime::Error>(report)
    }))
    .await
}
