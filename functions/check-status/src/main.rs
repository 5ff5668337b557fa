//! The `check-status` step of the job workflow (see infra/state-machine.asl.json).
//! Poll the provider and record progress; also records failures, and executions that
//! ended outside the workflow (EventBridge). All of it lives in `vidgen_shared`.

use vidgen_shared::workflow::StepFunction;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vidgen_shared::lambda_glue::run_step_lambda(StepFunction::CheckStatus).await
}
