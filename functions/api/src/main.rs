//! The HTTP API Lambda: every route of the contract. Thin glue: the owner is the JWT
//! `sub` claim API Gateway verified; the rest is `vidgen_shared::api::handle`.

use bytes::Bytes;
use lambda_http::request::RequestContext;
use lambda_http::{service_fn, Body, Request, RequestExt, Response};
use vidgen_shared::telemetry::{init, LogFormat};

/// The caller, from the authorizer's verified claims; `None` only if the route is
/// unauthenticated (health), in which case the API answers 401 elsewhere.
fn owner(request: &Request) -> Option<String> {
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV2(ctx) => ctx
            .authorizer
            .as_ref()?
            .jwt
            .as_ref()?
            .claims
            .get("sub")
            .cloned(),
        _ => None,
    }
}

fn to_bytes(body: &Body) -> Bytes {
    match body {
        Body::Empty => Bytes::new(),
        Body::Text(text) => Bytes::copy_from_slice(text.as_bytes()),
        Body::Binary(bytes) => Bytes::copy_from_slice(bytes),
        _ => Bytes::new(),
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init(LogFormat::Json);
    let deps = vidgen_shared::wiring::api_deps_from_env()
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "cannot start: misconfigured");
            e
        })?;
    let deps = &deps;
    lambda_http::run(service_fn(move |request: Request| async move {
        let owner = owner(&request);
        let (parts, body) = request.into_parts();
        let request = http::Request::from_parts(parts, to_bytes(&body));
        let response = vidgen_shared::api::handle(deps, owner.as_deref(), request).await;
        let (parts, body) = response.into_parts();
        // Our bodies are JSON text (or empty); anything else goes out as binary.
        let body = match String::from_utf8(body.to_vec()) {
            Ok(text) if !text.is_empty() => Body::Text(text),
            Ok(_) => Body::Empty,
            Err(e) => Body::Binary(e.into_bytes()),
        };
        Ok::<_, lambda_http::Error>(Response::from_parts(parts, body))
    }))
    .await
}
