//! `POST /v1/provider-webhooks/{provider}`: a provider pushes the end of a render. No
//! user auth: the provider's signature is the auth (`webhooks_in`). A refused delivery
//! changes nothing and is logged; a verified one ends the job's wait for its render.

use super::{json, ApiDeps, ApiError};
use crate::domain::ids::JobId;
use crate::webhooks_in::receiver::Refused;
use crate::webhooks_in::wake::{wake, Woken};
use bytes::Bytes;
use chrono::Utc;
use http::{Response, StatusCode};
use tracing::{info, warn};

pub(crate) async fn receive(
    deps: &ApiDeps,
    request: &http::Request<Bytes>,
    provider: &str,
) -> Result<Response<Bytes>, ApiError> {
    let now = Utc::now();
    let verified = deps
        .webhooks
        .verify(provider, request.headers(), request.body(), now.timestamp())
        .await
        .map_err(|e| refused(provider, e))?;
    if deps.webhooks.seen(&verified.key) {
        info!(provider, delivery = %verified.key.id, "a repeated webhook delivery; already handled");
        return Ok(answer("duplicate"));
    }
    let outcome = match &verified.push {
        None => {
            info!(
                provider,
                "a webhook event that is not about a render's end; ignored"
            );
            "ignored"
        }
        Some(push) => {
            let hint = job_hint(request)?;
            let woken = wake(
                deps.jobs.as_ref(),
                deps.engine.as_ref(),
                push,
                hint.as_ref(),
                now,
            )
            .await
            // A 5xx makes the provider deliver again, by which time it may work.
            .map_err(ApiError::internal)?;
            if woken == Woken::UnknownRender {
                warn!(provider, render_id = %push.render_id, "a signed webhook for a render no job here has");
            }
            woken.as_str()
        }
    };
    deps.webhooks.handled(verified.key);
    Ok(answer(outcome))
}

fn answer(outcome: &str) -> Response<Bytes> {
    json(
        StatusCode::OK,
        &serde_json::json!({ "received": true, "outcome": outcome }),
    )
}

/// The job id our own webhook URL carries (`?job_id=`, for fal), if any.
fn job_hint(request: &http::Request<Bytes>) -> Result<Option<JobId>, ApiError> {
    let query = super::query_pairs(request.uri());
    match query.iter().find(|(k, _)| k == "job_id") {
        None => Ok(None),
        Some((_, v)) => JobId::parse(v)
            .map(Some)
            .ok_or_else(|| ApiError::invalid("job_id", "job_id is not a video job id")),
    }
}

/// The answer to a refused delivery, logged with why (never the body or a secret).
fn refused(provider: &str, e: Refused) -> ApiError {
    match e {
        Refused::NotConfigured(_) => {
            warn!(
                provider,
                "a webhook for a provider this deployment takes none from"
            );
            ApiError::not_found(e.to_string())
        }
        Refused::Webhook(e) => {
            warn!(provider, kind = e.kind(), error = %e, "refused a provider webhook");
            ApiError::webhook_refused(&e)
        }
    }
}
