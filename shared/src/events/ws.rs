//! The AWS WebSocket API's Lambdas, as plain functions over their events: the `$connect`
//! authorizer ([`authorize`]) and the routes ([`handle_route`]).
//!
//! Answers to the client (`subscribed`, `error`) are the route's integration response:
//! `subscribe` and `$default` are two-way routes (a `$default` RouteResponse in the
//! template), so API Gateway sends the Lambda's `body` back on the same connection. That
//! needs no `execute-api:ManageConnections` for this function and no second network call;
//! only the notifier posts.

use super::connections::{Connection, Connections};
use super::jwt::{JwtError, JwtVerifier};
use super::{client_error, parse_client_message, subscribed, ClientMessage};
use crate::domain::ids::Owner;
use crate::store::StoreError;
use aws_lambda_events::event::apigw::{
    ApiGatewayCustomAuthorizerPolicy, ApiGatewayCustomAuthorizerRequestTypeRequest,
    ApiGatewayCustomAuthorizerResponse, ApiGatewayWebsocketProxyRequest,
};
use aws_lambda_events::event::iam::{IamPolicyEffect, IamPolicyStatement};
use chrono::{DateTime, Utc};
use http::HeaderMap;
use serde_json::json;
use std::time::Instant;

/// What the authorizer context carries to the routes: the token's `sub`.
pub const OWNER_CONTEXT_KEY: &str = "owner";

/// The token of a `$connect`: `?access_token=` (browsers cannot set headers on a
/// WebSocket), else `Authorization: Bearer …`.
pub fn token<'a>(headers: &'a HeaderMap, access_token: Option<&'a str>) -> Option<&'a str> {
    if let Some(t) = access_token.map(str::trim).filter(|t| !t.is_empty()) {
        return Some(t);
    }
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim())
        .filter(|t| !t.is_empty())
}

/// The `$connect` authorizer: an IAM policy allowing `execute-api:Invoke` on the method
/// ARN, `principalId` and `context.owner` = the token's `sub`; or the refusal, which the
/// Lambda turns into the error `Unauthorized` (API Gateway then answers 401).
pub async fn authorize(
    verifier: &JwtVerifier,
    request: &ApiGatewayCustomAuthorizerRequestTypeRequest,
    now: Instant,
) -> Result<ApiGatewayCustomAuthorizerResponse, JwtError> {
    let method_arn = request
        .method_arn
        .as_deref()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| JwtError::Malformed("the request has no methodArn".into()))?;
    let token = token(
        &request.headers,
        request.query_string_parameters.first("access_token"),
    )
    .ok_or(JwtError::Missing)?;
    let verified = verifier.verify(token, now).await?;
    Ok(allow(&verified.subject, method_arn))
}

/// The Allow answer for `subject` on `method_arn`.
pub fn allow(subject: &str, method_arn: &str) -> ApiGatewayCustomAuthorizerResponse {
    let mut statement = IamPolicyStatement::default();
    statement.action = vec!["execute-api:Invoke".into()];
    statement.effect = IamPolicyEffect::Allow;
    statement.resource = vec![method_arn.into()];
    let mut policy = ApiGatewayCustomAuthorizerPolicy::default();
    policy.version = Some("2012-10-17".into());
    policy.statement = vec![statement];
    let mut response = ApiGatewayCustomAuthorizerResponse::default();
    response.principal_id = Some(subject.into());
    response.policy_document = policy;
    response.context = json!({ OWNER_CONTEXT_KEY: subject });
    response
}

/// A route's answer: the status (a `$connect` other than 200 refuses the connection)
/// and, on two-way routes, the frame sent back to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteAnswer {
    pub status: u16,
    pub body: Option<String>,
}

impl RouteAnswer {
    fn ok(body: Option<String>) -> RouteAnswer {
        RouteAnswer { status: 200, body }
    }
}

/// Why a route could not be served; the Lambda fails the invocation (API Gateway
/// answers the client with an internal error; a failed `$connect` is not connected).
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error("the event is not a WebSocket route event: {0}")]
    BadEvent(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Serve one route event: `$connect` stores the connection, `$disconnect` forgets it,
/// `subscribe` narrows it, anything else answers an error frame.
pub async fn handle_route(
    connections: &dyn Connections,
    request: &ApiGatewayWebsocketProxyRequest,
    now: DateTime<Utc>,
) -> Result<RouteAnswer, RouteError> {
    let context = &request.request_context;
    let missing = |what: &str| RouteError::BadEvent(format!("no requestContext.{what}"));
    let route = context
        .route_key
        .as_deref()
        .ok_or_else(|| missing("routeKey"))?;
    let connection_id = context
        .connection_id
        .as_deref()
        .ok_or_else(|| missing("connectionId"))?;
    // Every route of a connection carries its `$connect` authorizer's context.
    let owner = context
        .authorizer
        .fields
        .get(OWNER_CONTEXT_KEY)
        .and_then(|v| v.as_str())
        .filter(|o| !o.is_empty())
        .map(Owner::new)
        .ok_or_else(|| missing("authorizer.owner"))?;
    match route {
        "$connect" => {
            let domain = context
                .domain_name
                .as_deref()
                .ok_or_else(|| missing("domainName"))?;
            let stage = context.stage.as_deref().ok_or_else(|| missing("stage"))?;
            let connection = Connection {
                owner,
                connection_id: connection_id.to_string(),
                endpoint: format!("https://{domain}/{stage}"),
                job_ids: None,
            };
            connections.put(&connection, now).await?;
            Ok(RouteAnswer::ok(None))
        }
        "$disconnect" => {
            connections.delete(&owner, connection_id).await?;
            Ok(RouteAnswer::ok(None))
        }
        "subscribe" => {
            let body = request.body.as_deref().unwrap_or_default();
            let frame = match parse_client_message(body) {
                Err(message) => client_error(&message),
                Ok(ClientMessage::Subscribe { job_ids }) => {
                    if connections
                        .set_job_ids(&owner, connection_id, &job_ids)
                        .await?
                    {
                        subscribed(&job_ids)
                    } else {
                        client_error("this connection is not registered; reconnect")
                    }
                }
            };
            Ok(RouteAnswer::ok(Some(frame)))
        }
        _ => {
            // Non-JSON or an unknown action: `$default`. Say what is accepted.
            let body = request.body.as_deref().unwrap_or_default();
            let message = match parse_client_message(body) {
                Err(message) => message,
                Ok(_) => "send {\"action\": \"subscribe\", \"job_ids\": [...]}".to_string(),
            };
            Ok(RouteAnswer::ok(Some(client_error(&message))))
        }
    }
}
