//! What the three step Lambdas share: their event goes to [`run_step`], a
//! [`StepError`] becomes Lambda's `errorType` / `errorMessage`, which the state
//! machine's Retry and Catch match on.

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
            error_type: e.error_type().to_string(),
            error_message: e.payload(),
        }
    }
}

/// Handle one invocation of a step function.
pub async fn handle_step(
    deps: &StepDeps,
    function: StepFunction,
    payload: Value,
) -> Result<Value, LambdaError> {
    run_step(deps, function, payload)
        .await
        .map_err(LambdaError::from)
}
