//! The `submit` step of the job workflow (see infra/state-machine.asl.json).
//! Create (or remix) the video at the provider. All of it lives in `vidgen_shared`.

use vidgen_shared::workflow::StepFunction;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vidgen_shared::lambda_glue::run_step_lambda(StepFunction::Submit).await
}
