//! The HTTP API Lambda: every route of the contract, behind API Gateway's JWT
//! authorizer. Dependencies are built once at init; each request goes to `api_lambda`.

use lambda_http::{service_fn, Request};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    // Settings, JSON logs and clients; a misconfiguration is logged, naming the variable.
    let deps = vidgen_shared::wiring::api_deps_from_env().await?;
    let deps = &deps;
    lambda_http::run(service_fn(move |request: Request| async move {
        Ok::<_, lambda_http::Error>(api_lambda::handle(deps, request).await)
    }))
    .await
}
