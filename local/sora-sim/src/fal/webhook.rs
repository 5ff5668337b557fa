//! Webhook delivery: one task per request that named a `fal_webhook`, spawned at submit.
//! It sleeps until the request ends (or a cancel wakes it), then POSTs the signed body,
//! retrying on anything but a 2xx as fal does.

use super::result::{python_json, webhook_body};
use super::signing;
use super::state::{lock, FalState, Phase};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How far in the past a stale webhook is stamped: beyond the ±300 s receivers allow.
pub const STALE_BY_SECS: i64 = 600;

/// Start delivering `request_id`'s webhook in the background.
pub(crate) fn spawn(state: Arc<FalState>, request_id: String) {
    let task = tokio::spawn({
        let state = state.clone();
        async move { deliver(&state, &request_id).await }
    });
    let mut deliveries = lock(&state.deliveries);
    deliveries.retain(|h| !h.is_finished());
    deliveries.push(task.abort_handle());
}

async fn deliver(state: &FalState, request_id: &str) {
    // Wait for the end.
    let req = loop {
        let Some(req) = state.find(request_id) else {
            return;
        };
        if matches!(
            req.phase(&state.config.faults, Instant::now()),
            Phase::Done(_)
        ) {
            break req;
        }
        match req.end(&state.config.faults) {
            Some(end) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(end.into()) => {}
                    _ = req.wake.notified() => {}
                }
            }
            None => req.wake.notified().await,
        }
    };
    let Phase::Done(outcome) = req.phase(&state.config.faults, Instant::now()) else {
        return;
    };
    let Some(url) = req.webhook_url.clone() else {
        return;
    };
    let config = &state.config;
    let m = &req.markers;
    if config.withhold_webhooks || m.webhook_withhold {
        state.update(request_id, |r| r.webhook_withheld = true);
        tracing::info!(request_id, "fal webhook withheld");
        return;
    }
    let delay = config.webhook_delay + Duration::from_millis(m.webhook_delay_ms.unwrap_or(0));
    tokio::time::sleep(delay).await;
    let body = python_json(&webhook_body(state, &req, outcome));
    let forge = config.forge_signature || m.webhook_forge;
    let stale = config.stale_timestamp || m.webhook_stale;
    let copies = if config.duplicate_webhooks || m.webhook_duplicate {
        2
    } else {
        1
    };
    let mut backoff = config.webhook_retry_base;
    for attempt in 1..=config.webhook_attempts.max(1) {
        let mut acked = false;
        for _ in 0..copies {
            acked |= post_once(state, &req.id, &url, &body, forge, stale).await;
        }
        if acked {
            return;
        }
        tracing::info!(request_id, attempt, "fal webhook not acknowledged");
        if attempt < config.webhook_attempts {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(config.webhook_retry_max);
        }
    }
    tracing::warn!(request_id, "fal webhook given up after every attempt");
}

/// One signed POST; whether the receiver answered 2xx.
async fn post_once(
    state: &FalState,
    request_id: &str,
    url: &str,
    body: &[u8],
    forge: bool,
    stale: bool,
) -> bool {
    let user_id = &state.config.user_id;
    let mut timestamp = chrono::Utc::now().timestamp();
    if stale {
        timestamp -= STALE_BY_SECS;
    }
    let key = if forge { &state.forge_key } else { &state.key };
    let signature = key.sign_hex(&signing::message(request_id, user_id, timestamp, body));
    state.stats.webhooks_sent.fetch_add(1, Ordering::Relaxed);
    state.update(request_id, |r| r.webhook_attempts += 1);
    let sent = state
        .client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("X-Fal-Webhook-Request-Id", request_id)
        .header("X-Fal-Webhook-User-Id", user_id.as_str())
        .header("X-Fal-Webhook-Timestamp", timestamp.to_string())
        .header("X-Fal-Webhook-Signature", signature)
        .body(body.to_vec())
        .send()
        .await;
    match sent {
        Ok(r) if r.status().is_success() => {
            state
                .stats
                .webhooks_acknowledged
                .fetch_add(1, Ordering::Relaxed);
            state.update(request_id, |r| r.webhook_acks += 1);
            tracing::info!(request_id, "fal webhook acknowledged");
            true
        }
        Ok(r) => {
            tracing::info!(
                request_id,
                status = r.status().as_u16(),
                "fal webhook refused"
            );
            false
        }
        Err(e) => {
            tracing::info!(request_id, error = %e, "fal webhook not delivered");
            false
        }
    }
}
