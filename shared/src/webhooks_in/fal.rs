//! fal's queue webhooks: Ed25519 signatures checked against fal's JWKS.
//!
//! The signed message is `request_id + "\n" + user_id + "\n" + timestamp + "\n" +
//! hex(sha256(body))`, each value exactly as sent in its `X-Fal-Webhook-*` header and the
//! digest in lowercase hex; the signature header is the 64-byte Ed25519 signature in hex.
//! A delivery passes when any key of the set verifies it (fal rotates keys by publishing
//! the new one beside the old). Order of checks: headers, then the ±300 s window (so a
//! stale capture never causes a key fetch), then the signature, then the body.

use std::time::Instant;

use ed25519_dalek::{Signature, VerifyingKey};
use http::HeaderMap;
use sha2::{Digest, Sha256};

use super::jwks::JwksCache;
use super::{check_timestamp, required_header, unix_seconds, DeliveryKey, WebhookError};

pub const REQUEST_ID_HEADER: &str = "x-fal-webhook-request-id";
pub const USER_ID_HEADER: &str = "x-fal-webhook-user-id";
pub const TIMESTAMP_HEADER: &str = "x-fal-webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "x-fal-webhook-signature";

/// The four signature headers of one delivery, checked for shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FalSignatureHeaders {
    pub request_id: String,
    pub user_id: String,
    /// As sent: the signed message uses the header text, not a re-rendered number.
    pub timestamp_text: String,
    pub timestamp: i64,
    pub signature: [u8; 64],
}

impl FalSignatureHeaders {
    pub fn from_headers(headers: &HeaderMap) -> Result<FalSignatureHeaders, WebhookError> {
        let request_id = required_header(headers, REQUEST_ID_HEADER)?;
        let user_id = required_header(headers, USER_ID_HEADER)?;
        let timestamp_text = required_header(headers, TIMESTAMP_HEADER)?;
        let timestamp = unix_seconds(TIMESTAMP_HEADER, timestamp_text)?;
        let signature_hex = required_header(headers, SIGNATURE_HEADER)?;
        let mut signature = [0u8; 64];
        hex::decode_to_slice(signature_hex, &mut signature).map_err(|_| {
            WebhookError::MalformedHeader {
                header: SIGNATURE_HEADER,
                reason: "not 128 hex digits (a 64-byte Ed25519 signature)".into(),
            }
        })?;
        Ok(FalSignatureHeaders {
            request_id: request_id.to_owned(),
            user_id: user_id.to_owned(),
            timestamp_text: timestamp_text.to_owned(),
            timestamp,
            signature,
        })
    }

    /// The bytes fal signs for this delivery and `body`.
    pub fn signed_message(&self, body: &[u8]) -> Vec<u8> {
        let digest = hex::encode(Sha256::digest(body));
        format!(
            "{}\n{}\n{}\n{}",
            self.request_id, self.user_id, self.timestamp_text, digest
        )
        .into_bytes()
    }

    /// Whether any of `keys` verifies the signature over `body` (strict verification:
    /// no malleable or small-order signatures).
    pub fn signed_by_any(&self, body: &[u8], keys: &[VerifyingKey]) -> bool {
        let message = self.signed_message(body);
        let signature = Signature::from_bytes(&self.signature);
        keys.iter()
            .any(|key| key.verify_strict(&message, &signature).is_ok())
    }
}

/// How a fal request ended, as the webhook says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
pub enum FalStatus {
    #[serde(rename = "OK")]
    Ok,
    #[serde(rename = "ERROR")]
    Error,
}

/// A verified fal webhook body.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
pub struct FalEvent {
    /// The id the queue API knows the request by (the job's provider id).
    pub request_id: String,
    /// The last attempt's id; differs from `request_id` when fal retried internally.
    #[serde(default)]
    pub gateway_request_id: Option<String>,
    pub status: FalStatus,
    /// The model's output on `OK`; error details on `ERROR`; null when it was not JSON.
    #[serde(default)]
    pub payload: Option<serde_json::Value>,
    #[serde(default)]
    pub error: Option<String>,
    /// Why `payload` is null although the request succeeded.
    #[serde(default)]
    pub payload_error: Option<String>,
}

impl FalEvent {
    pub fn parse(body: &[u8]) -> Result<FalEvent, WebhookError> {
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| WebhookError::BodyNotJson(e.to_string()))?;
        let event: FalEvent =
            serde_json::from_value(value).map_err(|e| WebhookError::BodyShape {
                provider: "fal",
                reason: e.to_string(),
            })?;
        if event.request_id.is_empty() {
            return Err(WebhookError::BodyShape {
                provider: "fal",
                reason: "request_id is empty".into(),
            });
        }
        Ok(event)
    }

    /// fal retries a delivery under the same request id: one completion per request.
    pub fn delivery_key(&self) -> DeliveryKey {
        DeliveryKey {
            provider: "fal",
            id: self.request_id.clone(),
        }
    }
}

/// Verifies a delivery against a fixed key set at `now_unix` and parses its body.
pub fn verify_with_keys(
    headers: &HeaderMap,
    body: &[u8],
    keys: &[VerifyingKey],
    now_unix: i64,
) -> Result<FalEvent, WebhookError> {
    let signed = FalSignatureHeaders::from_headers(headers)?;
    check_timestamp(signed.timestamp, now_unix)?;
    if !signed.signed_by_any(body, keys) {
        return Err(WebhookError::BadSignature);
    }
    FalEvent::parse(body)
}

/// Verifies a delivery with keys from `jwks` (`now_unix` for the window, `now` for the
/// cache). A signature no cached key verifies triggers one rate-limited refetch (a key
/// fal added since we fetched) before it is refused.
pub async fn verify(
    headers: &HeaderMap,
    body: &[u8],
    jwks: &JwksCache,
    now_unix: i64,
    now: Instant,
) -> Result<FalEvent, WebhookError> {
    let signed = FalSignatureHeaders::from_headers(headers)?;
    check_timestamp(signed.timestamp, now_unix)?;
    let keys = jwks.keys(now).await?;
    if !signed.signed_by_any(body, &keys) {
        let Some(fresh) = jwks.refresh_after_unknown_signature(&keys, now).await? else {
            return Err(WebhookError::BadSignature);
        };
        if !signed.signed_by_any(body, &fresh) {
            return Err(WebhookError::BadSignature);
        }
    }
    FalEvent::parse(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    const NOW: i64 = 1_760_000_000;
    const BODY: &[u8] = br#"{"request_id":"req-1","gateway_request_id":"gw-1","status":"OK","payload":{"video":{"url":"https://v3.fal.media/files/x.mp4"}}}"#;

    fn signing_key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    /// Headers as fal sends them, signed by `key` over `body` at `timestamp`.
    fn signed_headers(key: &SigningKey, body: &[u8], timestamp: i64) -> HeaderMap {
        let message = format!(
            "req-1\nuser-9\n{timestamp}\n{}",
            hex::encode(Sha256::digest(body))
        );
        let signature = key.sign(message.as_bytes());
        let mut headers = HeaderMap::new();
        headers.insert("X-Fal-Webhook-Request-Id", "req-1".parse().unwrap());
        headers.insert("X-Fal-Webhook-User-Id", "user-9".parse().unwrap());
        headers.insert(
            "X-Fal-Webhook-Timestamp",
            timestamp.to_string().parse().unwrap(),
        );
        headers.insert(
            "X-Fal-Webhook-Signature",
            hex::encode(signature.to_bytes()).parse().unwrap(),
        );
        headers
    }

    fn keys(seeds: &[u8]) -> Vec<VerifyingKey> {
        seeds
            .iter()
            .map(|s| signing_key(*s).verifying_key())
            .collect()
    }

    #[test]
    fn a_signed_delivery_verifies_and_parses() {
        let headers = signed_headers(&signing_key(1), BODY, NOW);
        let event = verify_with_keys(&headers, BODY, &keys(&[1]), NOW).unwrap();
        assert_eq!(event.request_id, "req-1");
        assert_eq!(event.gateway_request_id.as_deref(), Some("gw-1"));
        assert_eq!(event.status, FalStatus::Ok);
        assert_eq!(
            event.payload.as_ref().unwrap()["video"]["url"],
            "https://v3.fal.media/files/x.mp4"
        );
        assert_eq!(event.delivery_key().id, "req-1");
    }

    #[test]
    fn the_message_is_the_documented_one() {
        let headers = signed_headers(&signing_key(1), b"{}", NOW);
        let signed = FalSignatureHeaders::from_headers(&headers).unwrap();
        assert_eq!(
            String::from_utf8(signed.signed_message(b"{}")).unwrap(),
            // sha256("{}") in lowercase hex.
            format!("req-1\nuser-9\n{NOW}\n44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a")
        );
    }

    #[test]
    fn any_key_of_the_set_will_do() {
        let headers = signed_headers(&signing_key(2), BODY, NOW);
        assert!(verify_with_keys(&headers, BODY, &keys(&[1, 2, 3]), NOW).is_ok());
        assert!(matches!(
            verify_with_keys(&headers, BODY, &keys(&[1, 3]), NOW),
            Err(WebhookError::BadSignature)
        ));
        assert!(matches!(
            verify_with_keys(&headers, BODY, &[], NOW),
            Err(WebhookError::BadSignature)
        ));
    }

    #[test]
    fn tampering_with_any_signed_part_fails() {
        let key = signing_key(1);
        let good = signed_headers(&key, BODY, NOW);
        let tampered_body = BODY
            .to_vec()
            .iter()
            .map(|b| if *b == b'1' { b'2' } else { *b })
            .collect::<Vec<u8>>();
        assert!(matches!(
            verify_with_keys(&good, &tampered_body, &keys(&[1]), NOW),
            Err(WebhookError::BadSignature)
        ));
        for (name, value) in [
            ("X-Fal-Webhook-Request-Id", "req-2".to_string()),
            ("X-Fal-Webhook-User-Id", "user-8".to_string()),
            ("X-Fal-Webhook-Timestamp", (NOW + 1).to_string()),
        ] {
            let mut headers = good.clone();
            headers.insert(name, value.parse().unwrap());
            assert!(
                matches!(
                    verify_with_keys(&headers, BODY, &keys(&[1]), NOW),
                    Err(WebhookError::BadSignature)
                ),
                "{name}"
            );
        }
        let mut headers = good.clone();
        let mut signature = hex::decode(good["X-Fal-Webhook-Signature"].as_bytes()).unwrap();
        signature[10] ^= 1;
        headers.insert(
            "X-Fal-Webhook-Signature",
            hex::encode(signature).parse().unwrap(),
        );
        assert!(matches!(
            verify_with_keys(&headers, BODY, &keys(&[1]), NOW),
            Err(WebhookError::BadSignature)
        ));
    }

    #[test]
    fn timestamps_at_the_window_edges() {
        let key = signing_key(1);
        for offset in [-299, 299, -300, 300] {
            let headers = signed_headers(&key, BODY, NOW + offset);
            assert!(
                verify_with_keys(&headers, BODY, &keys(&[1]), NOW).is_ok(),
                "{offset}"
            );
        }
        let old = signed_headers(&key, BODY, NOW - 301);
        assert!(matches!(
            verify_with_keys(&old, BODY, &keys(&[1]), NOW),
            Err(WebhookError::TimestampTooOld { .. })
        ));
        let future = signed_headers(&key, BODY, NOW + 301);
        assert!(matches!(
            verify_with_keys(&future, BODY, &keys(&[1]), NOW),
            Err(WebhookError::TimestampTooNew { .. })
        ));
    }

    #[test]
    fn missing_and_malformed_headers_are_named() {
        let good = signed_headers(&signing_key(1), BODY, NOW);
        for name in [
            REQUEST_ID_HEADER,
            USER_ID_HEADER,
            TIMESTAMP_HEADER,
            SIGNATURE_HEADER,
        ] {
            let mut headers = good.clone();
            headers.remove(name);
            let err = verify_with_keys(&headers, BODY, &keys(&[1]), NOW).unwrap_err();
            assert!(
                matches!(err, WebhookError::MissingHeader(n) if n == name),
                "{err}"
            );
            assert_eq!(err.http_status(), 400);
        }
        for (name, value) in [
            (SIGNATURE_HEADER, "zz"),
            (SIGNATURE_HEADER, "abcd"),
            (TIMESTAMP_HEADER, "yesterday"),
        ] {
            let mut headers = good.clone();
            headers.insert(name, value.parse().unwrap());
            let err = verify_with_keys(&headers, BODY, &keys(&[1]), NOW).unwrap_err();
            assert!(
                matches!(err, WebhookError::MalformedHeader { header, .. } if header == name),
                "{err}"
            );
        }
    }

    #[test]
    fn signed_bodies_that_are_not_events_are_refused_after_verification() {
        let key = signing_key(1);
        let not_json = b"not json";
        let headers = signed_headers(&key, not_json, NOW);
        assert!(matches!(
            verify_with_keys(&headers, not_json, &keys(&[1]), NOW),
            Err(WebhookError::BodyNotJson(_))
        ));
        let odd_status = br#"{"request_id":"req-1","status":"MAYBE"}"#;
        let headers = signed_headers(&key, odd_status, NOW);
        assert!(matches!(
            verify_with_keys(&headers, odd_status, &keys(&[1]), NOW),
            Err(WebhookError::BodyShape { .. })
        ));
        // An unsigned body that is not JSON is a signature failure first: nothing about
        // an unauthenticated body is reported.
        let headers = signed_headers(&key, BODY, NOW);
        assert!(matches!(
            verify_with_keys(&headers, not_json, &keys(&[1]), NOW),
            Err(WebhookError::BadSignature)
        ));
    }

    #[test]
    fn error_deliveries_parse() {
        let body = br#"{"request_id":"req-1","gateway_request_id":"req-1","status":"ERROR","error":"Invalid status code: 422","payload":{"detail":[{"msg":"field required"}]}}"#;
        let event = FalEvent::parse(body).unwrap();
        assert_eq!(event.status, FalStatus::Error);
        assert_eq!(event.error.as_deref(), Some("Invalid status code: 422"));
        let body =
            br#"{"request_id":"req-1","status":"OK","payload":null,"payload_error":"not JSON"}"#;
        let event = FalEvent::parse(body).unwrap();
        assert_eq!(event.payload, None);
        assert_eq!(event.payload_error.as_deref(), Some("not JSON"));
    }
}
