//! The `ws-authorizer` function: the WebSocket API's `$connect` REQUEST authorizer. It
//! accepts the same JWTs as the HTTP API's JWT authorizer (issuer JWKS, audience,
//! expiry) from `?access_token=` or `Authorization: Bearer …`. All of it lives in
//! `vidgen_shared` (`events::jwt`, `events::ws`, `lambda_glue`).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vidgen_shared::lambda_glue::run_ws_authorizer_lambda().await
}
