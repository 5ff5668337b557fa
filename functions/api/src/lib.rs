//! The HTTP API Lambda's glue, kept out of `main` so tests drive it with real API
//! Gateway (HTTP API, payload 2.0) events: the owner is the JWT `sub` claim API Gateway
//! verified, the request id is API Gateway's, and the rest is `vidgen_shared::api::handle`.

use bytes::Bytes;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use vidgen_shared::api::ApiDeps;

/// The caller, from the authorizer's verified claims; `None` when there are none (only
/// `/v1/health` is reachable so; the API answers 401 to anything else).
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

/// API Gateway's id for the request, so `x-request-id` matches its access logs.
fn gateway_request_id(request: &Request) -> Option<String> {
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV2(ctx) => ctx.request_id.clone(),
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

/// One invocation: API Gateway event in, API Gateway response out.
pub async fn handle(deps: &ApiDeps, request: Request) -> Response<Body> {
    let owner = owner(&request);
    let gateway_id = gateway_request_id(&request);
    let (mut parts, body) = request.into_parts();
    if let Some(id) = gateway_id.and_then(|id| http::HeaderValue::from_str(&id).ok()) {
        parts.headers.insert("x-request-id", id);
    }
    let request = http::Request::from_parts(parts, to_bytes(&body));
    let response = vidgen_shared::api::handle(deps, owner.as_deref(), request).await;
    let (parts, body) = response.into_parts();
    // Our bodies are JSON text (or empty); anything else goes out as binary.
    let body = match String::from_utf8(body.to_vec()) {
        Ok(text) if !text.is_empty() => Body::Text(text),
        Ok(_) => Body::Empty,
        Err(e) => Body::Binary(e.into_bytes()),
    };
    Response::from_parts(parts, body)
}
