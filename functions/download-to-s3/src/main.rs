//! The `download-to-s3` step of the job workflow (see infra/state-machine.asl.json).
//! Stream the finished video, thumbnail and spritesheet into S3. All of it lives in `vidgen_shared`.

use vidgen_shared::workflow::StepFunction;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vidgen_shared::lambda_glue::run_step_lambda(StepFunction::Download).await
}
