//! OpenAI's webhooks: Standard Webhooks HMAC-SHA256 signatures, checked as the official
//! Python SDK checks them (`src/openai/lib/_webhooks.py`, see the parent module's table).
//!
//! Signed content: `{webhook-id}.{webhook-timestamp}.{raw body}`; key: the secret after
//! `whsec_`, base64-decoded (a secret without the prefix is used as its UTF-8 bytes);
//! `webhook-signature` holds space-separated entries, `v1,<base64 digest>`, any of which
//! may match; comparisons are constant-time (`hmac`'s `verify_slice`).

use base64::Engine as _;
use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::Sha256;

use super::{check_timestamp, required_header, unix_seconds, DeliveryKey, WebhookError};

pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";

const SECRET_PREFIX: &str = "whsec_";

/// The webhook signing secret (`OPENAI_WEBHOOK_SECRET`), decoded once. Its `Debug`
/// never shows the bytes.
#[derive(Clone)]
pub struct OpenAiWebhookSecret(Vec<u8>);

impl std::fmt::Debug for OpenAiWebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpenAiWebhookSecret(<redacted>)")
    }
}

/// Why a configured secret is unusable; says what is wrong, never what it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("the OpenAI webhook secret is empty")]
    Empty,
    #[error("the OpenAI webhook secret starts with whsec_ but the rest is not standard base64")]
    NotBase64,
}

impl OpenAiWebhookSecret {
    pub fn parse(secret: &str) -> Result<OpenAiWebhookSecret, SecretError> {
        let secret = secret.trim();
        let key = match secret.strip_prefix(SECRET_PREFIX) {
            Some(encoded) => base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|_| SecretError::NotBase64)?,
            None => secret.as_bytes().to_vec(),
        };
        if key.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(OpenAiWebhookSecret(key))
    }

    fn mac(&self) -> Hmac<Sha256> {
        // Cannot fail: HMAC accepts keys of any length.
        Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length")
    }
}

/// What a verified OpenAI event says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpenAiEventKind {
    VideoCompleted {
        video_id: String,
    },
    VideoFailed {
        video_id: String,
    },
    /// Any other event type the endpoint was subscribed to: accepted, ignored.
    Other {
        event_type: String,
    },
}

/// A verified OpenAI webhook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenAiEvent {
    /// The `webhook-id` header: the same on every retry of this delivery.
    pub webhook_id: String,
    /// The event's own id (`evt_…`).
    pub event_id: String,
    pub created_at: Option<i64>,
    pub kind: OpenAiEventKind,
}

impl OpenAiEvent {
    /// Parses a (verified) body; `webhook_id` comes from the headers.
    pub fn parse(webhook_id: &str, body: &[u8]) -> Result<OpenAiEvent, WebhookError> {
        let shape = |reason: &str| WebhookError::BodyShape {
            provider: "openai",
            reason: reason.to_string(),
        };
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| WebhookError::BodyNotJson(e.to_string()))?;
        let event_type = value
            .get("type")
            .and_then(|v| v.as_str())
            .ok_or_else(|| shape("`type` is missing or not a string"))?;
        let event_id = value
            .get("id")
            .and_then(|v| v.as_str())
            .ok_or_else(|| shape("`id` is missing or not a string"))?;
        let created_at = value.get("created_at").and_then(|v| v.as_i64());
        let video_id = || {
            value
                .get("data")
                .and_then(|d| d.get("id"))
                .and_then(|v| v.as_str())
                .filter(|id| !id.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| shape("`data.id` (the video id) is missing or not a string"))
        };
        let kind = match event_type {
            "video.completed" => OpenAiEventKind::VideoCompleted {
                video_id: video_id()?,
            },
            "video.failed" => OpenAiEventKind::VideoFailed {
                video_id: video_id()?,
            },
            other => OpenAiEventKind::Other {
                event_type: other.to_owned(),
            },
        };
        Ok(OpenAiEvent {
            webhook_id: webhook_id.to_owned(),
            event_id: event_id.to_owned(),
            created_at,
            kind,
        })
    }

    /// Standard Webhooks keeps `webhook-id` across retries: the idempotency key.
    pub fn delivery_key(&self) -> DeliveryKey {
        DeliveryKey {
            provider: "openai",
            id: self.webhook_id.clone(),
        }
    }
}

/// Verifies a delivery at `now_unix` and parses its body.
pub fn verify(
    headers: &HeaderMap,
    body: &[u8],
    secret: &OpenAiWebhookSecret,
    now_unix: i64,
) -> Result<OpenAiEvent, WebhookError> {
    let signature_header = required_header(headers, SIGNATURE_HEADER)?;
    let timestamp_text = required_header(headers, TIMESTAMP_HEADER)?;
    let webhook_id = required_header(headers, ID_HEADER)?;
    let timestamp = unix_seconds(TIMESTAMP_HEADER, timestamp_text)?;
    check_timestamp(timestamp, now_unix)?;

    let mut mac = secret.mac();
    mac.update(webhook_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp_text.as_bytes());
    mac.update(b".");
    mac.update(body);

    // As the SDK: `v1,` is stripped, any other entry is taken whole (and so only matches
    // if it is a bare digest); an entry that is not base64 cannot match.
    let matches = signature_header
        .split_ascii_whitespace()
        .map(|entry| entry.strip_prefix("v1,").unwrap_or(entry))
        .filter_map(|digest| {
            base64::engine::general_purpose::STANDARD
                .decode(digest)
                .ok()
        })
        .any(|digest| mac.clone().verify_slice(&digest).is_ok());
    if !matches {
        return Err(WebhookError::BadSignature);
    }
    OpenAiEvent::parse(webhook_id, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_760_000_000;
    /// 32 bytes of 0x2a, as a `whsec_` secret.
    const SECRET: &str = "whsec_KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=";
    const BODY: &[u8] = br#"{"id":"evt_1","object":"event","created_at":1760000000,"type":"video.completed","data":{"id":"video_abc"}}"#;

    fn secret() -> OpenAiWebhookSecret {
        OpenAiWebhookSecret::parse(SECRET).unwrap()
    }

    /// The `v1,<base64>` signature of `body` under `key`, computed independently of the
    /// code under test.
    fn sign(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body);
        let digest = mac.finalize().into_bytes();
        format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(digest)
        )
    }

    fn headers(id: &str, timestamp: i64, signature: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("webhook-id", id.parse().unwrap());
        headers.insert("webhook-timestamp", timestamp.to_string().parse().unwrap());
        headers.insert("webhook-signature", signature.parse().unwrap());
        headers
    }

    fn signed(timestamp: i64, body: &[u8]) -> HeaderMap {
        let signature = sign(&[0x2a; 32], "msg_1", &timestamp.to_string(), body);
        headers("msg_1", timestamp, &signature)
    }

    #[test]
    fn a_signed_video_completed_verifies_and_parses() {
        let event = verify(&signed(NOW, BODY), BODY, &secret(), NOW).unwrap();
        assert_eq!(
            event.kind,
            OpenAiEventKind::VideoCompleted {
                video_id: "video_abc".into()
            }
        );
        assert_eq!(event.event_id, "evt_1");
        assert_eq!(event.created_at, Some(1_760_000_000));
        assert_eq!(event.delivery_key().id, "msg_1");
    }

    /// The Standard Webhooks spec's own example vector
    /// (`spec/standard-webhooks.md` / reference libraries' tests): secret
    /// `whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw`, id `msg_p5jXN8AQM9LWM0D4loKWxJek`,
    /// timestamp 1614265330, body `{"test": 2432232314}`.
    #[test]
    fn the_standard_webhooks_reference_vector() {
        let secret = OpenAiWebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        let headers = headers(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        );
        // Signature verifies; the body is not an OpenAI event, which is reported after.
        let err = verify(&headers, body, &secret, 1_614_265_330).unwrap_err();
        assert!(matches!(err, WebhookError::BodyShape { .. }), "{err}");
    }

    #[test]
    fn any_of_several_signatures_may_match() {
        let good = sign(&[0x2a; 32], "msg_1", &NOW.to_string(), BODY);
        let other = sign(&[7; 32], "msg_1", &NOW.to_string(), BODY);
        for header in [
            format!("{other} {good}"),
            format!("{good} {other}"),
            format!("v1a,bm90LWVkMjU1MTk= {good}"),
            // The SDK compares an entry without the `v1,` prefix whole.
            good.trim_start_matches("v1,").to_string(),
        ] {
            let headers = headers("msg_1", NOW, &header);
            assert!(verify(&headers, BODY, &secret(), NOW).is_ok(), "{header}");
        }
        let headers = headers("msg_1", NOW, &format!("{other} v2,{}", &good[3..]));
        assert!(matches!(
            verify(&headers, BODY, &secret(), NOW),
            Err(WebhookError::BadSignature)
        ));
    }

    #[test]
    fn tampering_with_any_signed_part_fails() {
        let good = signed(NOW, BODY);
        let mut body = BODY.to_vec();
        body[10] ^= 1;
        assert!(matches!(
            verify(&good, &body, &secret(), NOW),
            Err(WebhookError::BadSignature)
        ));
        let mut changed = good.clone();
        changed.insert("webhook-id", "msg_2".parse().unwrap());
        assert!(matches!(
            verify(&changed, BODY, &secret(), NOW),
            Err(WebhookError::BadSignature)
        ));
        let mut changed = good.clone();
        changed.insert("webhook-timestamp", (NOW + 1).to_string().parse().unwrap());
        assert!(matches!(
            verify(&changed, BODY, &secret(), NOW),
            Err(WebhookError::BadSignature)
        ));
        let other_secret =
            OpenAiWebhookSecret::parse("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
                .unwrap();
        assert!(matches!(
            verify(&good, BODY, &other_secret, NOW),
            Err(WebhookError::BadSignature)
        ));
    }

    #[test]
    fn timestamps_at_the_window_edges() {
        for offset in [-299, 299, -300, 300] {
            let at = NOW + offset;
            assert!(
                verify(&signed(at, BODY), BODY, &secret(), NOW).is_ok(),
                "{offset}"
            );
        }
        assert!(matches!(
            verify(&signed(NOW - 301, BODY), BODY, &secret(), NOW),
            Err(WebhookError::TimestampTooOld { .. })
        ));
        assert!(matches!(
            verify(&signed(NOW + 301, BODY), BODY, &secret(), NOW),
            Err(WebhookError::TimestampTooNew { .. })
        ));
    }

    #[test]
    fn missing_and_malformed_headers_are_named() {
        for name in [ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER] {
            let mut headers = signed(NOW, BODY);
            headers.remove(name);
            let err = verify(&headers, BODY, &secret(), NOW).unwrap_err();
            assert!(
                matches!(err, WebhookError::MissingHeader(n) if n == name),
                "{err}"
            );
        }
        let mut headers = signed(NOW, BODY);
        headers.insert("webhook-timestamp", "soon".parse().unwrap());
        assert!(matches!(
            verify(&headers, BODY, &secret(), NOW),
            Err(WebhookError::MalformedHeader {
                header: TIMESTAMP_HEADER,
                ..
            })
        ));
    }

    #[test]
    fn secrets_decode_as_the_sdk_does_and_never_show() {
        assert_eq!(secret().0, vec![0x2a; 32]);
        // Without the prefix, the text itself is the key.
        assert_eq!(OpenAiWebhookSecret::parse("plain").unwrap().0, b"plain");
        assert_eq!(
            OpenAiWebhookSecret::parse("whsec_not base64!").unwrap_err(),
            SecretError::NotBase64
        );
        assert_eq!(
            OpenAiWebhookSecret::parse("whsec_").unwrap_err(),
            SecretError::Empty
        );
        assert_eq!(
            OpenAiWebhookSecret::parse("  ").unwrap_err(),
            SecretError::Empty
        );
        let shown = format!("{:?}", secret());
        assert!(!shown.contains("Kioq") && !shown.contains("42"), "{shown}");
        let err = OpenAiWebhookSecret::parse("whsec_s3cr3t!!")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("s3cr3t"), "{err}");
    }

    #[test]
    fn events_parse_into_typed_kinds() {
        let failed = br#"{"id":"evt_2","type":"video.failed","data":{"id":"video_x"}}"#;
        assert_eq!(
            OpenAiEvent::parse("m", failed).unwrap().kind,
            OpenAiEventKind::VideoFailed {
                video_id: "video_x".into()
            }
        );
        let other = br#"{"id":"evt_3","type":"batch.completed","data":{"id":"batch_1"}}"#;
        assert_eq!(
            OpenAiEvent::parse("m", other).unwrap().kind,
            OpenAiEventKind::Other {
                event_type: "batch.completed".into()
            }
        );
        let no_video = br#"{"id":"evt_4","type":"video.completed","data":{}}"#;
        assert!(matches!(
            OpenAiEvent::parse("m", no_video),
            Err(WebhookError::BodyShape { .. })
        ));
        assert!(matches!(
            OpenAiEvent::parse("m", b"[1"),
            Err(WebhookError::BodyNotJson(_))
        ));
    }
}
