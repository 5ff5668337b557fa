//! The `check-status` step of the job workflow (see infra/state-machine.asl.json). Thin glue:
//! dependencies are built once at init; each event goes to `vidgen_shared`.

use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;
use vidgen_shared::lambda_glue::handle_step;
use vidgen_shared::telemetry::{init, LogFormat};
use vidgen_shared::workflow::StepFunction;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init(LogFormat::Json);
    let deps = vidgen_shared::wiring::step_deps_from_env()
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "cannot start: misconfigured");
            e
        })?;
    let deps = &deps;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handle_step(deps, StepFunction::CheckStatus, event.payload)
            .await
            .map_err(|e| Diagnostic {
                error_type: e.error_type,
                error_message: e.error_message,
            })
    }))
    .await
}
