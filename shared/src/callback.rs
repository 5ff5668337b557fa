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
//!
//! Delivery is out of band: whoever ends a job ([`notify`]) only puts a [`Delivery`] on
//! a [`DeliveryQueue`] — SQS in AWS (the `webhook-sender` function delivers), a
//! background task in `vidgen serve` — and [`deliver_logged`] delivers it, the same
//! code either way. A delivery has a total deadline (lookup, every attempt and the
//! waits between them), and the host lookup its own bound.

use crate::config::{ConfigError, Secret};
use crate::domain::ids::JobId;
use crate::domain::{Job, JobError, Status};
use crate::private_address::is_private_ip;
use base64::Engine;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
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
    /// Never deliverable (bad URL, private address, the receiver's 4xx): not retried.
    #[error("callback URL is not deliverable: {0}")]
    Refused(String),
    /// May work later (network, timeouts, 429, 5xx): retried by the queue.
    #[error("callback delivery failed: {0}")]
    Failed(String),
}

impl CallbackError {
    /// Whether delivering again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, CallbackError::Failed(_))
    }
}

/// Resolves a host name to its addresses: the system resolver, or a test's.
pub trait HostLookup: Send + Sync {
    fn lookup(&self, host: &str) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>>;
}

/// The system resolver (getaddrinfo on a blocking thread, via tokio).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemLookup;

impl HostLookup for SystemLookup {
    fn lookup(&self, host: &str) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        let host = host.to_string();
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .map(|a| a.ip())
                .collect())
        })
    }
}

/// The longest one delivery takes, lookup, attempts and waits together.
pub const DELIVERY_DEADLINE: Duration = Duration::from_secs(30);
/// The longest a host lookup takes. getaddrinfo has no timeout of its own: the lookup
/// thread may linger, but the delivery stops waiting for it.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Delivers signed events.
#[derive(Clone)]
pub struct CallbackSender {
    signer: WebhookSigner,
    /// Local mode only: allow private and loopback receivers.
    allow_private: bool,
    attempts: u32,
    backoff: Duration,
    /// Each attempt's own timeout.
    timeout: Duration,
    deadline: Duration,
    lookup_timeout: Duration,
    lookup: Arc<dyn HostLookup>,
}

impl std::fmt::Debug for CallbackSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackSender")
            .field("allow_private", &self.allow_private)
            .field("attempts", &self.attempts)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl CallbackSender {
    pub fn new(signer: WebhookSigner, allow_private: bool) -> CallbackSender {
        CallbackSender {
            signer,
            allow_private,
            attempts: 3,
            backoff: Duration::from_millis(500),
            timeout: Duration::from_secs(10),
            deadline: DELIVERY_DEADLINE,
            lookup_timeout: LOOKUP_TIMEOUT,
            lookup: Arc::new(SystemLookup),
        }
    }

    /// Other bounds: each attempt's timeout, the whole delivery's deadline, the lookup's.
    pub fn with_bounds(
        mut self,
        attempt: Duration,
        deadline: Duration,
        lookup: Duration,
    ) -> CallbackSender {
        self.timeout = attempt;
        self.deadline = deadline;
        self.lookup_timeout = lookup;
        self
    }

    /// Another resolver (tests: one that never answers, or answers private addresses).
    pub fn with_lookup(mut self, lookup: Arc<dyn HostLookup>) -> CallbackSender {
        self.lookup = lookup;
        self
    }

    /// Fewer, faster attempts (tests).
    pub fn with_retries(mut self, attempts: u32, backoff: Duration) -> CallbackSender {
        self.attempts = attempts.max(1);
        self.backoff = backoff;
        self
    }

    /// POST the event to `url`, retrying a few times on network errors, 429 and 5xx,
    /// all within the delivery's deadline.
    pub async fn deliver(&self, url: &str, event: &Event) -> Result<(), CallbackError> {
        match tokio::time::timeout(self.deadline, self.deliver_unbounded(url, event)).await {
            Ok(result) => result,
            Err(_) => Err(CallbackError::Failed(format!(
                "no delivery within {} s",
                self.deadline.as_secs_f64()
            ))),
        }
    }

    /// The host's addresses, bounded in time; refused when any is private (AWS mode).
    async fn checked_addresses(&self, host: &str) -> Result<Vec<IpAddr>, CallbackError> {
        let addrs = match host.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => tokio::time::timeout(self.lookup_timeout, self.lookup.lookup(host))
                .await
                .map_err(|_| {
                    CallbackError::Failed(format!(
                        "looking up {host} took longer than {} s",
                        self.lookup_timeout.as_secs_f64()
                    ))
                })?
                .map_err(|e| CallbackError::Failed(format!("cannot resolve {host}: {e}")))?,
        };
        if addrs.is_empty() {
            return Err(CallbackError::Failed(format!("{host} has no address")));
        }
        if !self.allow_private && addrs.iter().any(|ip| is_private_ip(*ip)) {
            return Err(CallbackError::Refused(format!(
                "{host} resolves to a private address"
            )));
        }
        Ok(addrs)
    }

    async fn deliver_unbounded(&self, url: &str, event: &Event) -> Result<(), CallbackError> {
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
        let addrs: Vec<SocketAddr> = self
            .checked_addresses(&lookup_host)
            .await?
            .into_iter()
            .map(|ip| SocketAddr::new(ip, port))
            .collect();
        // Pin the checked addresses so a second lookup cannot point somewhere else.
        let client = crate::tls::reqwest_builder()
            .map_err(|e| CallbackError::Failed(e.to_string()))?
            .resolve_to_addrs(&lookup_host, &addrs)
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
                    return Err(CallbackError::Refused(format!(
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

/// One webhook to deliver: what the queue carries (the SQS message body in AWS).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub job_id: JobId,
    pub url: String,
    pub event: Event,
}

/// Where deliveries wait for the sender.
#[async_trait::async_trait]
pub trait DeliveryQueue: Send + Sync + std::fmt::Debug {
    async fn enqueue(&self, delivery: &Delivery) -> Result<(), CallbackError>;
}

/// Tell the job's callback URL that it ended, if it asked to be told: put the delivery
/// on the queue and return. Never fails: the outcome is logged with the job id.
pub async fn notify(queue: Option<&Arc<dyn DeliveryQueue>>, job: &Job) {
    let (Some(queue), Some(url)) = (queue, job.callback_url.as_deref()) else {
        return;
    };
    let Some(event) = event_for(job, Utc::now()) else {
        return;
    };
    let delivery = Delivery {
        job_id: job.id.clone(),
        url: url.to_string(),
        event,
    };
    match queue.enqueue(&delivery).await {
        Ok(()) => info!(job_id = %job.id, event = %delivery.event.kind, "callback queued"),
        Err(e) => {
            warn!(job_id = %job.id, event = %delivery.event.kind, error = %e, "callback not queued")
        }
    }
}

/// Deliver one queued event and log how it went, with the job id. The one delivery
/// path of the SQS sender and the local background task.
pub async fn deliver_logged(
    sender: &CallbackSender,
    delivery: &Delivery,
) -> Result<(), CallbackError> {
    let result = sender.deliver(&delivery.url, &delivery.event).await;
    let (job_id, event) = (&delivery.job_id, &delivery.event.kind);
    match &result {
        Ok(()) => info!(job_id = %job_id, event = %event, "callback delivered"),
        Err(e) => {
            warn!(job_id = %job_id, event = %event, error = %e, retryable = e.is_retryable(), "callback not delivered")
        }
    }
    result
}

/// The SQS sender's batch: deliver every message at once (each within the delivery
/// deadline) and answer the ids of those to try again (`batchItemFailures`); after the
/// queue's `maxReceiveCount` they go to the dead-letter queue. A body that is not a
/// [`Delivery`] or a delivery that can never succeed is logged and not retried.
pub async fn deliver_batch(sender: &CallbackSender, messages: &[(String, String)]) -> Vec<String> {
    let attempts = messages.iter().map(|(id, body)| async move {
        let delivery: Delivery = match serde_json::from_str(body) {
            Ok(d) => d,
            Err(e) => {
                warn!(message_id = %id, error = %e, "not a webhook delivery; dropped");
                return None;
            }
        };
        match deliver_logged(sender, &delivery).await {
            Err(e) if e.is_retryable() => Some(id.clone()),
            _ => None,
        }
    });
    futures::future::join_all(attempts)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// `vidgen serve`'s queue: a background task delivers each event as it comes, each
/// on its own task so a receiver that hangs holds up nothing else.
#[derive(Debug)]
pub struct BackgroundDeliveries {
    queue: tokio::sync::mpsc::UnboundedSender<Delivery>,
}

impl BackgroundDeliveries {
    /// Start the task on the current runtime.
    pub fn start(sender: CallbackSender) -> Arc<dyn DeliveryQueue> {
        let (queue, mut rx) = tokio::sync::mpsc::unbounded_channel::<Delivery>();
        let sender = Arc::new(sender);
        tokio::spawn(async move {
            while let Some(delivery) = rx.recv().await {
                let sender = sender.clone();
                tokio::spawn(async move {
                    // Outcomes are logged; there is no queue to come back to locally.
                    let _ = deliver_logged(&sender, &delivery).await;
                });
            }
        });
        Arc::new(BackgroundDeliveries { queue })
    }
}

#[async_trait::async_trait]
impl DeliveryQueue for BackgroundDeliveries {
    async fn enqueue(&self, delivery: &Delivery) -> Result<(), CallbackError> {
        self.queue
            .send(delivery.clone())
            .map_err(|_| CallbackError::Failed("the delivery task has stopped".into()))
    }
}

/// The AWS queue: each delivery is one SQS message (its body a [`Delivery`]).
#[derive(Debug, Clone)]
pub struct SqsDeliveries {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsDeliveries {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: &str) -> SqsDeliveries {
        SqsDeliveries {
            client,
            queue_url: queue_url.to_string(),
        }
    }
}

#[async_trait::async_trait]
impl DeliveryQueue for SqsDeliveries {
    async fn enqueue(&self, delivery: &Delivery) -> Result<(), CallbackError> {
        let body =
            serde_json::to_string(delivery).map_err(|e| CallbackError::Failed(e.to_string()))?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| {
                CallbackError::Failed(format!(
                    "could not queue the delivery: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(&e)
                ))
            })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
