//! Webhooks: tell a job's `callback_url` that the job ended.
//!
//! Delivery follows Standard Webhooks, the scheme OpenAI's own webhooks use, so any
//! receiver library for those verifies ours:
//! - headers `webhook-id`, `webhook-timestamp` (unix seconds), `webhook-signature`
//!   (`v1,<base64 HMAC-SHA256 over "{id}.{timestamp}.{body}">`);
//! - the key is the base64 after `whsec_` in the secret (a secret without that prefix
//!   is used as raw bytes);
//! - the body is `{"id":"evt_…","object":"event","created_at":…,"type":"video.completed",
//!   "data":{"id":"vid_…","status":"completed","error":null}}`. Like OpenAI's events it
//!   carries no links: the receiver fetches the job, which mints fresh ones.
//!
//! The event id is derived from the job and its final status, so a delivery repeated by
//! a retried workflow step carries the same `webhook-id` and receivers can de-duplicate.
//! In AWS the host is resolved at delivery time and refused when any address is private
//! (SSRF), and the connection is pinned to the checked address (no DNS rebinding).
//! A failed delivery is logged and never fails the job.

use crate::config::{ConfigError, Secret};
use crate::domain::{Job, JobError, Status};
use crate::private_address::is_private_ip;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::net::SocketAddr;
use std::time::Duration;
use tracing::{info, warn};

type HmacSha256 = Hmac<Sha256>;

/// Signs (and verifies) webhook deliveries.
#[derive(Clone)]
pub struct WebhookSigner {
    key: Vec<u8>,
}

impl std::fmt::Debug for WebhookSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSigner(***)")
    }
}

impl WebhookSigner {
    pub fn new(secret: &Secret) -> Result<WebhookSigner, ConfigError> {
        let raw = secret.expose();
        let key = match raw.strip_prefix("whsec_") {
            Some(b64) => base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| ConfigError {
                    var: "webhook secret".into(),
                    message: "the part after whsec_ is not base64".into(),
                })?,
            None => raw.as_bytes().to_vec(),
        };
        if key.is_empty() {
            return Err(ConfigError {
                var: "webhook secret".into(),
                message: "is empty".into(),
            });
        }
        Ok(WebhookSigner { key })
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
        // HMAC takes keys of any length.
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC accepts any key length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// The `webhook-signature` header value.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let digest = self.mac(id, timestamp, body).finalize().into_bytes();
        format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(digest)
        )
    }

    /// Receiver side: accept when any `v1` signature matches (constant time) and the
    /// timestamp is within `tolerance` of `now`, either way.
    pub fn verify(
        &self,
        id: &str,
        timestamp: i64,
        body: &[u8],
        header: &str,
        now: i64,
        tolerance: Duration,
    ) -> bool {
        if (now - timestamp).unsigned_abs() > tolerance.as_secs() {
            return false;
        }
        header.split(' ').any(|entry| {
            entry
                .strip_prefix("v1,")
                .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
                .is_some_and(|sig| self.mac(id, timestamp, body).verify_slice(&sig).is_ok())
        })
    }
}

/// The event body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    pub object: String,
    pub created_at: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub data: EventData,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventData {
    pub id: String,
    pub status: Status,
    pub error: Option<JobError>,
}

/// The event for a job that ended; `None` while it runs.
pub fn event_for(job: &Job, now: DateTime<Utc>) -> Option<Event> {
    if !job.status.is_terminal() {
        return None;
    }
    Some(Event {
        id: format!(
            "evt_{}_{}",
            job.id.trim_start_matches("vid_"),
            job.status.as_str()
        ),
        object: "event".into(),
        created_at: now.timestamp(),
        kind: format!("video.{}", job.status.as_str()),
        data: EventData {
            id: job.id.to_string(),
            status: job.status,
            error: job.error.clone(),
        },
    })
}

#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    #[error("callback URL is not deliverable: {0}")]
    Refused(String),
    #[error("callback delivery failed: {0}")]
    Failed(String),
}

/// Delivers signed events.
#[derive(Debug, Clone)]
pub struct CallbackSender {
    signer: WebhookSigner,
    /// Local mode only: allow private and loopback receivers.
    allow_private: bool,
    attempts: u32,
    backoff: Duration,
    timeout: Duration,
}

impl CallbackSender {
    pub fn new(signer: WebhookSigner, allow_private: bool) -> CallbackSender {
        CallbackSender {
            signer,
            allow_private,
            attempts: 3,
            backoff: Duration::from_millis(500),
            timeout: Duration::from_secs(10),
        }
    }

    /// Fewer, faster attempts (tests).
    pub fn with_retries(mut self, attempts: u32, backoff: Duration) -> CallbackSender {
        self.attempts = attempts.max(1);
        self.backoff = backoff;
        self
    }

    /// POST the event to `url`, retrying a few times on network errors, 429 and 5xx.
    pub async fn deliver(&self, url: &str, event: &Event) -> Result<(), CallbackError> {
        let parsed = url::Url::parse(url).map_err(|e| CallbackError::Refused(e.to_string()))?;
        let host = parsed
            .host_str()
            .ok_or_else(|| CallbackError::Refused("no host".into()))?
            .to_string();
        let port = parsed
            .port_or_known_default()
            .ok_or_else(|| CallbackError::Refused("no port".into()))?;
        let lookup_host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((lookup_host.as_str(), port))
            .await
            .map_err(|e| CallbackError::Failed(format!("cannot resolve {host}: {e}")))?
            .collect();
        let Some(addr) = addrs.first().copied() else {
            return Err(CallbackError::Failed(format!("{host} has no address")));
        };
        if !self.allow_private && addrs.iter().any(|a| is_private_ip(a.ip())) {
            return Err(CallbackError::Refused(format!(
                "{host} resolves to a private address"
            )));
        }
        // Pin the checked address so a second lookup cannot point somewhere else.
        let client = reqwest::Client::builder()
            .resolve(&lookup_host, addr)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.timeout)
            .build()
            .map_err(|e| CallbackError::Failed(e.to_string()))?;
        let body = serde_json::to_vec(event).map_err(|e| CallbackError::Failed(e.to_string()))?;
        let mut last = String::new();
        for attempt in 0..self.attempts {
            if attempt > 0 {
                tokio::time::sleep(self.backoff * 2u32.pow(attempt - 1)).await;
            }
            let timestamp = Utc::now().timestamp();
            let response = client
                .post(parsed.clone())
                .header("content-type", "application/json")
                .header("user-agent", concat!("vidgen/", env!("CARGO_PKG_VERSION")))
                .header("webhook-id", &event.id)
                .header("webhook-timestamp", timestamp.to_string())
                .header(
                    "webhook-signature",
                    self.signer.sign(&event.id, timestamp, &body),
                )
                .body(body.clone())
                .send()
                .await;
            match response {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) if r.status().as_u16() == 429 || r.status().is_server_error() => {
                    last = format!("receiver answered {}", r.status());
                }
                Ok(r) => {
                    return Err(CallbackError::Failed(format!(
                        "receiver answered {}",
                        r.status()
                    )))
                }
                Err(e) => last = e.to_string(),
            }
        }
        Err(CallbackError::Failed(last))
    }
}

/// Tell the job's callback URL that it ended, if it asked to be told. Never fails:
/// the outcome is logged with the job id.
pub async fn notify(sender: Option<&CallbackSender>, job: &Job) {
    let (Some(sender), Some(url)) = (sender, job.callback_url.as_deref()) else {
        return;
    };
    let Some(event) = event_for(job, Utc::now()) else {
        return;
    };
    match sender.deliver(url, &event).await {
        Ok(()) => info!(job_id = %job.id, event = %event.kind, "callback delivered"),
        Err(e) => {
            warn!(job_id = %job.id, event = %event.kind, error = %e, "callback not delivered")
        }
    }
}

#[cfg(test)]
mod tests;
