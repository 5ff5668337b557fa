//! Verifying the webhooks providers push to us when a render ends.
//!
//! Plain domain code: it takes the raw body, the request headers and the current time
//! (never reading the clock itself) and returns either a typed, authenticated event or
//! a typed [`WebhookError`] the HTTP route maps to a status with [`WebhookError::http_status`].
//! The route itself and the workflow wiring live elsewhere.
//!
//! - [`fal`]: Ed25519 over `request_id\nuser_id\ntimestamp\nhex(sha256(body))`, keys from
//!   fal's JWKS, fetched and cached by [`jwks::JwksCache`].
//! - [`openai`]: Standard Webhooks (HMAC-SHA256, `whsec_` secret), as OpenAI's SDK checks it.
//! - [`RecentDeliveries`]: makes a repeated delivery cheap to recognise.
//!
//! # Verified facts (the official SDK wins where a reference disagrees)
//!
//! | fact | value | source |
//! | --- | --- | --- |
//! | OpenAI signed content | `{webhook-id}.{webhook-timestamp}.{body}`, the timestamp as sent | openai-python `src/openai/lib/_webhooks.py` (`webhook_signature_matches`), called by `resources/webhooks/webhooks.py` `verify_signature`; package 2.x (pyproject 2.6.0 in the stored copy) |
//! | OpenAI tolerance | 300 s, both ways: `now - ts > 300` is "too old", `ts > now + 300` is "too new"; exactly 300 passes | same file; `verify_signature(tolerance=300)` |
//! | OpenAI signature header | space-separated entries; an entry starting `v1,` is compared without that prefix, **any other entry is compared whole** (so a bare base64 digest also matches); any match passes, `hmac.compare_digest` | same file |
//! | OpenAI secret | `whsec_` stripped then standard base64-decoded; **a secret without the prefix is used as its raw UTF-8 bytes** | same file |
//! | OpenAI header check order | timestamp window before the signature; missing headers are errors | same file (`get_required_header`) |
//! | OpenAI video events | `video.completed`, `video.failed`; `data.id` is the video id | `resources/webhooks/webhooks.py` event-type list; `shared/reference/openai-videos-api.md` §6 |
//! | Standard Webhooks | `v1` = HMAC-SHA256 (`v1a` = ed25519, not used by OpenAI); `webhook-id` stays the same across retries, so it is the idempotency key | standard-webhooks `spec/standard-webhooks.md` (v1.0.0) |
//! | fal headers | `X-Fal-Webhook-Request-Id`, `-User-Id`, `-Timestamp` (unix s), `-Signature` (hex Ed25519) | fal docs "Webhooks → Verifying your webhook" (docs.fal.ai model-endpoints/webhooks); `shared/reference/fal-api.md` |
//! | fal message | `request_id\nuser_id\ntimestamp\nhex(sha256(body))`, lowercase hex | same |
//! | fal keys | any key of the JWKS (`kty: OKP`, `crv: Ed25519`, `x` base64url); cache ≤ 24 h | same |
//! | fal window | reject more than ±300 s from now | same |
//! | fal body | `{request_id, gateway_request_id, status: OK\|ERROR, payload, error, payload_error}`; retried up to 10 times over 2 h | same |
//! | fal SDK | the official `fal-client` (Python, `projects/fal_client/src/fal_client/`) has **no** webhook verification helper; the docs' samples are the only official code | fal-ai/fal repository listing |
//!
//! # Status codes
//!
//! Missing or malformed headers and bodies are 400: the request is not a webhook we can
//! read. A signature that matches no key, and a timestamp outside the window, are **401**:
//! the timestamp is part of what the signature authenticates, and a stale one is exactly
//! what a replayed capture looks like, so it is an authentication failure, as OpenAI's SDK
//! treats it (`InvalidWebhookSignatureError`). Keys that cannot be had (JWKS down, empty)
//! are 503: the sender retries, and the fault is ours, not theirs.
//!
//! # Replays and duplicates
//!
//! A valid signature does not stop someone who captured a delivery from resending it
//! inside the ±300 s window, and providers themselves redeliver on timeouts. Neither can
//! do harm: ending a job's wait is idempotent (a task token is consumed once — Step
//! Functions answers `TaskTimedOut`/`InvalidToken` to a second `SendTaskSuccess` — and a
//! job already in a final state ignores another end). [`RecentDeliveries`] lets the route
//! recognise a repeat by its [`DeliveryKey`] and skip the work (and log it) before
//! touching the store; it is per process, so it is an optimisation, not the guarantee.

pub mod fal;
pub mod jwks;
pub mod openai;
pub mod receiver;
pub mod wake;

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use http::HeaderMap;

/// What the webhook route needs to verify deliveries, built from the settings (AWS:
/// `OPENAI_WEBHOOK_SECRET_ARN`, `FAL_JWKS_URL`; locally `OPENAI_WEBHOOK_SECRET`,
/// `FAL_JWKS_URL`). Its `Debug` never shows the secret.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    /// OpenAI's endpoint signing secret; `None`: this deployment takes no OpenAI
    /// webhooks (OpenAI jobs poll), and the route refuses OpenAI deliveries.
    pub openai_secret: Option<openai::OpenAiWebhookSecret>,
    /// Where fal's webhook keys are published.
    pub fal_jwks_url: String,
}

impl Default for WebhookConfig {
    /// No OpenAI secret; fal's public JWKS.
    fn default() -> WebhookConfig {
        WebhookConfig {
            openai_secret: None,
            fal_jwks_url: jwks::DEFAULT_FAL_JWKS_URL.to_string(),
        }
    }
}

impl WebhookConfig {
    /// Whether OpenAI pushes webhooks to this deployment (a secret is configured).
    pub fn openai_pushes(&self) -> bool {
        self.openai_secret.is_some()
    }
}

/// The replay window both providers use: a delivery whose timestamp is more than this
/// many seconds from now is refused (fal docs; openai-python `tolerance=300`).
pub const TIMESTAMP_TOLERANCE_SECS: i64 = 300;

/// Why a webhook was refused. Messages name what was wrong and never carry a secret.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("the {0} header is missing")]
    MissingHeader(&'static str),
    #[error("the {header} header is malformed: {reason}")]
    MalformedHeader {
        header: &'static str,
        reason: String,
    },
    #[error("the webhook timestamp {timestamp} is more than {tolerance} s before now ({now})")]
    TimestampTooOld {
        timestamp: i64,
        now: i64,
        tolerance: i64,
    },
    #[error("the webhook timestamp {timestamp} is more than {tolerance} s after now ({now})")]
    TimestampTooNew {
        timestamp: i64,
        now: i64,
        tolerance: i64,
    },
    /// No known key (fal) or secret (OpenAI) produced the signature, after at most one
    /// key refresh. An unknown signing key looks exactly like this: fal's headers name
    /// no key id, so "unknown key" and "forged" cannot be told apart.
    #[error("the webhook signature matches no known key")]
    BadSignature,
    #[error("the webhook body is not JSON: {0}")]
    BodyNotJson(String),
    #[error("the webhook body is not a {provider} event: {reason}")]
    BodyShape {
        provider: &'static str,
        reason: String,
    },
    /// The verification keys could not be had; the delivery may be genuine.
    #[error("the webhook signing keys are unavailable: {0}")]
    KeysUnavailable(#[from] jwks::JwksError),
}

impl WebhookError {
    /// The HTTP status the route answers with (see the module docs for why).
    pub fn http_status(&self) -> u16 {
        match self {
            WebhookError::MissingHeader(_)
            | WebhookError::MalformedHeader { .. }
            | WebhookError::BodyNotJson(_)
            | WebhookError::BodyShape { .. } => 400,
            WebhookError::TimestampTooOld { .. }
            | WebhookError::TimestampTooNew { .. }
            | WebhookError::BadSignature => 401,
            WebhookError::KeysUnavailable(_) => 503,
        }
    }

    /// A stable, short name for structured logs.
    pub fn kind(&self) -> &'static str {
        match self {
            WebhookError::MissingHeader(_) => "missing_header",
            WebhookError::MalformedHeader { .. } => "malformed_header",
            WebhookError::TimestampTooOld { .. } => "timestamp_too_old",
            WebhookError::TimestampTooNew { .. } => "timestamp_too_new",
            WebhookError::BadSignature => "bad_signature",
            WebhookError::BodyNotJson(_) => "body_not_json",
            WebhookError::BodyShape { .. } => "body_shape",
            WebhookError::KeysUnavailable(_) => "keys_unavailable",
        }
    }
}

/// One header as text; absent, repeated or non-ASCII values are errors (a signed header
/// sent twice is ambiguous, so neither copy is trusted).
pub(crate) fn required_header<'a>(
    headers: &'a HeaderMap,
    name: &'static str,
) -> Result<&'a str, WebhookError> {
    let mut values = headers.get_all(name).iter();
    let value = values.next().ok_or(WebhookError::MissingHeader(name))?;
    if values.next().is_some() {
        return Err(WebhookError::MalformedHeader {
            header: name,
            reason: "sent more than once".into(),
        });
    }
    let text = value.to_str().map_err(|_| WebhookError::MalformedHeader {
        header: name,
        reason: "not visible ASCII".into(),
    })?;
    if text.is_empty() {
        return Err(WebhookError::MissingHeader(name));
    }
    Ok(text)
}

/// A unix-seconds header as an integer (digits only, as both providers send it).
pub(crate) fn unix_seconds(header: &'static str, text: &str) -> Result<i64, WebhookError> {
    if text.is_empty() || text.len() > 15 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(WebhookError::MalformedHeader {
            header,
            reason: "not a unix timestamp in whole seconds".into(),
        });
    }
    // Cannot fail: at most 15 ASCII digits fit an i64.
    text.parse().map_err(|_| WebhookError::MalformedHeader {
        header,
        reason: "not a unix timestamp in whole seconds".into(),
    })
}

/// Refuses a timestamp more than [`TIMESTAMP_TOLERANCE_SECS`] from `now`; exactly the
/// tolerance passes, as in openai-python (`now - ts > tolerance` is too old).
pub fn check_timestamp(timestamp: i64, now_unix: i64) -> Result<(), WebhookError> {
    let tolerance = TIMESTAMP_TOLERANCE_SECS;
    if now_unix.saturating_sub(timestamp) > tolerance {
        return Err(WebhookError::TimestampTooOld {
            timestamp,
            now: now_unix,
            tolerance,
        });
    }
    if timestamp.saturating_sub(now_unix) > tolerance {
        return Err(WebhookError::TimestampTooNew {
            timestamp,
            now: now_unix,
            tolerance,
        });
    }
    Ok(())
}

/// What makes two deliveries "the same": the provider and its own delivery id —
/// OpenAI's `webhook-id` (constant across retries, per Standard Webhooks) or fal's
/// `request_id` (one completion per request).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DeliveryKey {
    pub provider: &'static str,
    pub id: String,
}

/// Whether a delivery was seen before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    First,
    Duplicate,
}

/// A small, bounded memory of recently handled deliveries (see the module docs: a
/// repeat is harmless anyway; this only spares the work). Keys are kept for `ttl`
/// (longer than the ±300 s window, so a replay either hits here or fails the timestamp
/// check) and at most `capacity` of them, the oldest forgotten first.
#[derive(Debug)]
pub struct RecentDeliveries {
    ttl: Duration,
    capacity: usize,
    order: VecDeque<(Instant, DeliveryKey)>,
    seen: HashSet<DeliveryKey>,
}

impl RecentDeliveries {
    /// Twice the replay window: anything older is refused by its timestamp anyway.
    pub const DEFAULT_TTL: Duration = Duration::from_secs(2 * TIMESTAMP_TOLERANCE_SECS as u64);

    pub fn new(ttl: Duration, capacity: usize) -> RecentDeliveries {
        RecentDeliveries {
            ttl,
            capacity: capacity.max(1),
            order: VecDeque::new(),
            seen: HashSet::new(),
        }
    }

    /// Records `key` as handled at `now`; says whether it had been seen within the ttl.
    /// Call it only after the signature verified, so forgeries cannot fill it.
    pub fn record(&mut self, key: DeliveryKey, now: Instant) -> Delivery {
        self.forget_expired(now);
        if self.seen.contains(&key) {
            return Delivery::Duplicate;
        }
        if self.order.len() >= self.capacity {
            self.forget_oldest();
        }
        self.seen.insert(key.clone());
        self.order.push_back((now, key));
        Delivery::First
    }

    /// Whether `key` was recorded within the ttl before `now`.
    pub fn is_recent(&mut self, key: &DeliveryKey, now: Instant) -> bool {
        self.forget_expired(now);
        self.seen.contains(key)
    }

    fn forget_expired(&mut self, now: Instant) {
        while let Some((at, _)) = self.order.front() {
            if now.saturating_duration_since(*at) < self.ttl {
                break;
            }
            self.forget_oldest();
        }
    }

    fn forget_oldest(&mut self) {
        if let Some((_, old)) = self.order.pop_front() {
            self.seen.remove(&old);
        }
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_config_defaults_to_fals_jwks_and_never_prints_the_secret() {
        let config = WebhookConfig::default();
        assert_eq!(config.fal_jwks_url, jwks::DEFAULT_FAL_JWKS_URL);
        assert!(!config.openai_pushes());
        let config = WebhookConfig {
            openai_secret: Some(openai::OpenAiWebhookSecret::parse("plain-sekrit").unwrap()),
            ..WebhookConfig::default()
        };
        assert!(config.openai_pushes());
        assert!(!format!("{config:?}").contains("sekrit"), "{config:?}");
    }

    #[test]
    fn timestamp_window_is_inclusive_at_300_seconds_both_ways() {
        let now = 1_700_000_000;
        for offset in [-300, -299, 0, 299, 300] {
            assert!(check_timestamp(now + offset, now).is_ok(), "{offset}");
        }
        assert!(matches!(
            check_timestamp(now - 301, now),
            Err(WebhookError::TimestampTooOld { .. })
        ));
        assert!(matches!(
            check_timestamp(now + 301, now),
            Err(WebhookError::TimestampTooNew { .. })
        ));
        // Extreme values cannot overflow into acceptance.
        assert!(check_timestamp(i64::MIN, now).is_err());
        assert!(check_timestamp(i64::MAX, now).is_err());
    }

    #[test]
    fn statuses_for_the_route() {
        assert_eq!(WebhookError::MissingHeader("webhook-id").http_status(), 400);
        assert_eq!(WebhookError::BodyNotJson("x".into()).http_status(), 400);
        assert_eq!(WebhookError::BadSignature.http_status(), 401);
        let stale = check_timestamp(0, 1_000).unwrap_err();
        assert_eq!(stale.http_status(), 401);
        assert_eq!(stale.kind(), "timestamp_too_old");
    }

    #[test]
    fn unix_seconds_takes_digits_only() {
        assert_eq!(unix_seconds("t", "1700000000").unwrap(), 1_700_000_000);
        for bad in ["", "-5", "+5", " 5", "1.5", "1e9", "9999999999999999999"] {
            assert!(unix_seconds("t", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn repeated_header_is_refused() {
        let mut headers = HeaderMap::new();
        headers.append("webhook-id", "a".parse().unwrap());
        assert_eq!(required_header(&headers, "webhook-id").unwrap(), "a");
        headers.append("webhook-id", "b".parse().unwrap());
        assert!(matches!(
            required_header(&headers, "webhook-id"),
            Err(WebhookError::MalformedHeader { .. })
        ));
        assert!(matches!(
            required_header(&headers, "webhook-timestamp"),
            Err(WebhookError::MissingHeader("webhook-timestamp"))
        ));
    }

    fn key(id: &str) -> DeliveryKey {
        DeliveryKey {
            provider: "openai",
            id: id.into(),
        }
    }

    #[test]
    fn recent_deliveries_spot_repeats_within_ttl_only() {
        let start = Instant::now();
        let mut recent = RecentDeliveries::new(Duration::from_secs(600), 100);
        assert_eq!(recent.record(key("a"), start), Delivery::First);
        assert_eq!(
            recent.record(key("a"), start + Duration::from_secs(599)),
            Delivery::Duplicate
        );
        // The same id from another provider is another delivery.
        let fal_a = DeliveryKey {
            provider: "fal",
            id: "a".into(),
        };
        assert_eq!(recent.record(fal_a, start), Delivery::First);
        assert_eq!(
            recent.record(key("a"), start + Duration::from_secs(600)),
            Delivery::First
        );
    }

    #[test]
    fn recent_deliveries_stay_bounded() {
        let now = Instant::now();
        let mut recent = RecentDeliveries::new(Duration::from_secs(600), 3);
        for id in ["a", "b", "c", "d"] {
            assert_eq!(recent.record(key(id), now), Delivery::First);
        }
        assert_eq!(recent.len(), 3);
        // The oldest was forgotten to make room.
        assert_eq!(recent.record(key("a"), now), Delivery::First);
        assert_eq!(recent.record(key("d"), now), Delivery::Duplicate);
    }
}
