//! The `ws-events` function: the WebSocket API's `$connect`, `$disconnect`, `subscribe`
//! and `$default` routes, keeping connections in the connections table. All of it lives
//! in `vidgen_shared` (`events::ws`, `events::connections`, `lambda_glue`).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vidgen_shared::lambda_glue::run_ws_events_lambda().await
}
