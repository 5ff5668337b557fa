//! OpenAI's webhooks, as the Sora simulator pushes them to the project's configured
//! endpoint ([`crate::SimConfig::webhook`]): `video.completed` / `video.failed` events
//! delivered the Standard Webhooks way (reference `openai-videos-api.md` §6).
//!
//! - Body: `{"id": "evt_…", "object": "event", "created_at": <unix>, "type":
//!   "video.completed" | "video.failed", "data": {"id": "video_…"}}`.
//! - Headers: `webhook-id` (`msg_…`, the same on every retry and duplicate of one
//!   event: receivers dedupe on it), `webhook-timestamp` (unix seconds of the attempt),
//!   `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed
//!   by the secret after `whsec_`, base64-decoded (a secret without the prefix is its
//!   raw bytes, as OpenAI's SDK reads it); `content-type: application/json`,
//!   `user-agent: OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)`.
//! - Anything but a 2xx is retried with doubling backoff
//!   ([`crate::SimConfig::webhook_attempts`] attempts, each re-stamped and re-signed).
//!
//! One task per video, spawned at create (or remix), sleeps until the video ends and
//! delivers; nothing else runs in the background. Faults have the fal simulator's names
//! (run-wide switches on [`crate::SimConfig`], per job the same `[sim:webhook_*]`
//! markers, see [`crate::markers`]): withhold, delay, forge (signed with a secret the
//! endpoint does not hold), stale (stamped [`STALE_BY_SECS`] in the past), duplicate.

use crate::state::{Phase, SimState};
use crate::WebhookEndpoint;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How far in the past a stale webhook is stamped: beyond the ±300 s receivers allow.
pub const STALE_BY_SECS: i64 = 600;

/// What OpenAI's deliveries carry as `user-agent`.
pub const USER_AGENT: &str = "OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)";

/// The endpoint, checked, with its signing key and a forger's key.
#[derive(Clone)]
pub(crate) struct Signer {
    url: String,
    key: Vec<u8>,
    forge_key: Vec<u8>,
}

impl Signer {
    /// Checks the endpoint: an `http(s)` URL and a usable secret. Errors name the field
    /// and never show the secret.
    pub fn new(endpoint: &WebhookEndpoint) -> Result<Signer, String> {
        let url = url::Url::parse(&endpoint.url)
            .map_err(|e| format!("webhook url {:?} is not a URL: {e}", endpoint.url))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(format!(
                "webhook url {:?} must be an http or https URL with a host",
                endpoint.url
            ));
        }
        let key = secret_key(&endpoint.secret)?;
        let forge_key: [u8; 32] = rand::random();
        Ok(Signer {
            url: endpoint.url.clone(),
            key,
            forge_key: forge_key.to_vec(),
        })
    }
}

/// The HMAC key of a `whsec_<base64>` secret (or of a bare secret: its bytes).
fn secret_key(secret: &str) -> Result<Vec<u8>, String> {
    let key = match secret.strip_prefix("whsec_") {
        Some(encoded) => STANDARD.decode(encoded).map_err(|_| {
            "webhook secret starts with whsec_ but the rest is not standard base64".to_string()
        })?,
        None => secret.as_bytes().to_vec(),
    };
    if key.is_empty() {
        return Err("webhook secret is empty".into());
    }
    Ok(key)
}

/// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`.
pub fn sign(key: &[u8], webhook_id: &str, timestamp: i64, body: &[u8]) -> String {
    // Cannot fail: HMAC accepts keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(format!("{webhook_id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// Aborts pending deliveries when the simulator goes, however it goes: they hold the
/// state alive and would otherwise POST after the test that made them.
pub(crate) struct StopDeliveries(pub Arc<SimState>);

impl StopDeliveries {
    pub fn stop(&self) {
        let mut tasks = self.0.deliveries.lock().unwrap_or_else(|p| p.into_inner());
        for task in tasks.drain(..) {
            task.abort();
        }
    }
}

impl Drop for StopDeliveries {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Start delivering `video_id`'s webhook in the background, if an endpoint is
/// configured and the video ever ends.
pub(crate) fn spawn(state: &Arc<SimState>, video_id: &str) {
    if state.signer.is_none() {
        return;
    }
    let task = tokio::spawn({
        let state = state.clone();
        let video_id = video_id.to_string();
        async move { deliver(&state, &video_id).await }
    });
    let mut deliveries = state.deliveries.lock().unwrap_or_else(|p| p.into_inner());
    deliveries.retain(|h| !h.is_finished());
    deliveries.push(task.abort_handle());
}

async fn deliver(state: &SimState, video_id: &str) {
    let Some(signer) = &state.signer else { return };
    let config = &state.config;
    let Some(video) = state.find(video_id) else {
        return;
    };
    let Some(end) = video.end(&config.faults) else {
        return;
    };
    tokio::time::sleep_until(end.into()).await;
    let event_type = match video.phase(&config.faults, Instant::now()) {
        Phase::Completed => "video.completed",
        Phase::Failed(..) => "video.failed",
        // Cannot happen past the end; nothing to announce.
        Phase::Queued | Phase::InProgress(_) => return,
    };
    let m = &video.markers;
    if config.withhold_webhooks || m.webhook_withhold {
        state
            .stats
            .webhooks_withheld
            .fetch_add(1, Ordering::Relaxed);
        tracing::info!(video_id, "openai webhook withheld");
        return;
    }
    let delay = config.webhook_delay + Duration::from_millis(m.webhook_delay_ms.unwrap_or(0));
    tokio::time::sleep(delay).await;
    let event_id = format!("evt_{}", hex::encode(rand::random::<[u8; 16]>()));
    let webhook_id = format!("msg_{}", hex::encode(rand::random::<[u8; 16]>()));
    let body = json!({
        "id": event_id,
        "object": "event",
        "created_at": crate::state::unix_now(),
        "type": event_type,
        "data": {"id": video_id},
    })
    .to_string()
    .into_bytes();
    let key = if config.forge_signature || m.webhook_forge {
        &signer.forge_key
    } else {
        &signer.key
    };
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
            acked |= post_once(state, &signer.url, key, &webhook_id, &body, stale).await;
        }
        if acked {
            return;
        }
        tracing::info!(video_id, attempt, "openai webhook not acknowledged");
        if attempt < config.webhook_attempts {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(config.webhook_retry_max);
        }
    }
    tracing::warn!(video_id, "openai webhook given up after every attempt");
}

/// One signed POST; whether the receiver answered 2xx.
async fn post_once(
    state: &SimState,
    url: &str,
    key: &[u8],
    webhook_id: &str,
    body: &[u8],
    stale: bool,
) -> bool {
    let mut timestamp = chrono::Utc::now().timestamp();
    if stale {
        timestamp -= STALE_BY_SECS;
    }
    let signature = sign(key, webhook_id, timestamp, body);
    state.stats.webhooks_sent.fetch_add(1, Ordering::Relaxed);
    let sent = state
        .client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(reqwest::header::USER_AGENT, USER_AGENT)
        .header("webhook-id", webhook_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body.to_vec())
        .send()
        .await;
    match sent {
        Ok(r) if r.status().is_success() => {
            state
                .stats
                .webhooks_acknowledged
                .fetch_add(1, Ordering::Relaxed);
            tracing::info!(webhook_id, "openai webhook acknowledged");
            true
        }
        Ok(r) => {
            tracing::info!(
                webhook_id,
                status = r.status().as_u16(),
                "openai webhook refused"
            );
            false
        }
        Err(e) => {
            tracing::info!(webhook_id, error = %e, "openai webhook not delivered");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(url: &str, secret: &str) -> WebhookEndpoint {
        WebhookEndpoint {
            url: url.into(),
            secret: secret.into(),
        }
    }

    #[test]
    fn secrets_decode_as_the_sdk_reads_them() {
        assert_eq!(secret_key("whsec_KioqKg==").unwrap(), vec![0x2a; 4]);
        assert_eq!(secret_key("plain").unwrap(), b"plain".to_vec());
        assert!(secret_key("whsec_!!").unwrap_err().contains("base64"));
        assert!(secret_key("").unwrap_err().contains("empty"));
        assert!(secret_key("whsec_").unwrap_err().contains("empty"));
    }

    #[test]
    fn endpoints_must_be_http_urls_and_errors_hide_the_secret() {
        assert!(Signer::new(&endpoint("http://127.0.0.1:9/hook", "whsec_KioqKg==")).is_ok());
        let e = Signer::new(&endpoint("ftp://x/hook", "s")).err().unwrap();
        assert!(e.contains("http or https"), "{e}");
        let e = Signer::new(&endpoint("not a url", "s")).err().unwrap();
        assert!(e.contains("not a URL"), "{e}");
        let e = Signer::new(&endpoint("http://x/", "whsec_sekrit!"))
            .err()
            .unwrap();
        assert!(!e.contains("sekrit"), "{e}");
    }

    #[test]
    fn signature_is_standard_webhooks_v1() {
        // Independently: HMAC-SHA256("k", "msg_1.5.{}") in base64.
        let mut mac = Hmac::<Sha256>::new_from_slice(b"k").unwrap();
        mac.update(b"msg_1.5.{}");
        let want = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
        assert_eq!(sign(b"k", "msg_1", 5, b"{}"), want);
        assert_ne!(sign(b"k", "msg_1", 6, b"{}"), want);
    }
}
