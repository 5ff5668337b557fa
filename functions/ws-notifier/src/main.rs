//! The `ws-notifier` function: fed by the jobs table's DynamoDB Stream, it posts
//! `job.updated` frames to the owner's WebSocket connections and forgets the ones that
//! are gone. All of it lives in `vidgen_shared` (`events::notifier`, `lambda_glue`).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vidgen_shared::lambda_glue::run_ws_notifier_lambda().await
}
