//! fal's webhook keys: a JSON Web Key Set fetched over HTTPS and cached.
//!
//! - Cached for at most 24 h (fal's docs: "cache ≤ 24 h"), so a rotated-out key stops
//!   being trusted within a day.
//! - A signature that matches no cached key may be signed by a key fal added since:
//!   [`JwksCache::refresh_after_unknown_signature`] refetches, but at most once per
//!   `min_refetch_interval`, so a flood of forged deliveries costs fal's endpoint (and
//!   us) one request per interval, not one per forgery. Failed fetches count too.
//! - Bounded: connect and whole-request timeouts, and a body cap checked against
//!   `content-length` and while streaming.
//! - The URL is a parameter (`FAL_JWKS_URL` in settings, default [`DEFAULT_FAL_JWKS_URL`]).
//!
//! Only `kty: OKP`, `crv: Ed25519` keys with a 32-byte base64url `x` are kept; other keys
//! (another algorithm, a bad point) are skipped, and a set with none left is an error.
//! Times are passed in (`now`), so tests drive the cache without sleeping.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use ed25519_dalek::VerifyingKey;
use tokio::sync::Mutex;

/// Where fal publishes its webhook keys (fal docs, "Verifying your webhook").
pub use crate::config::DEFAULT_FAL_JWKS_URL;

/// The longest fal allows keys to be cached.
pub const MAX_CACHE_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// Why keys could not be had; each says what failed (the route answers 503).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    #[error("fetching the JWKS failed: {0}")]
    Transport(String),
    #[error("the JWKS endpoint answered HTTP {0}")]
    Status(u16),
    #[error("the JWKS body is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the JWKS is not valid: {0}")]
    Invalid(String),
    #[error("the JWKS has no usable Ed25519 (OKP) key")]
    NoUsableKey,
    /// The last fetch failed less than `min_refetch_interval` ago; not retried yet.
    #[error("the JWKS fetch failed recently and is not retried before {retry_in:?}")]
    RecentlyFailed { retry_in: Duration },
}

/// How the cache fetches and keeps keys.
#[derive(Clone, Debug)]
pub struct JwksConfig {
    /// How long fetched keys are trusted; clamped to [`MAX_CACHE_TTL`].
    pub ttl: Duration,
    /// The least time between two fetches that are not due to expiry.
    pub min_refetch_interval: Duration,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub max_body_bytes: u64,
}

impl Default for JwksConfig {
    fn default() -> JwksConfig {
        JwksConfig {
            // Hourly refresh picks up rotations early; 24 h is fal's ceiling.
            ttl: Duration::from_secs(60 * 60),
            min_refetch_interval: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(5),
            // A key set is a few hundred bytes; 64 KiB leaves room for many keys.
            max_body_bytes: 64 * 1024,
        }
    }
}

/// The keys a JWKS document holds (see the module docs for what is kept).
pub fn parse_jwks(body: &[u8]) -> Result<Vec<VerifyingKey>, JwksError> {
    #[derive(serde::Deserialize)]
    struct Set {
        keys: Vec<serde_json::Value>,
    }
    let set: Set = serde_json::from_slice(body).map_err(|e| JwksError::Invalid(format!("{e}")))?;
    let keys: Vec<VerifyingKey> = set.keys.iter().filter_map(ed25519_key).collect();
    if keys.is_empty() {
        return Err(JwksError::NoUsableKey);
    }
    Ok(keys)
}

fn ed25519_key(jwk: &serde_json::Value) -> Option<VerifyingKey> {
    let field = |name: &str| jwk.get(name).and_then(|v| v.as_str());
    if field("kty") != Some("OKP") || field("crv") != Some("Ed25519") {
        return None;
    }
    // RFC 8037: `x` is base64url without padding; tolerate padding some servers add.
    let x = field("x")?.trim_end_matches('=');
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(x)
        .ok()?;
    let bytes: [u8; 32] = bytes.try_into().ok()?;
    VerifyingKey::from_bytes(&bytes).ok()
}

/// Keys as shared between concurrent verifications.
pub type Keys = Arc<[VerifyingKey]>;

#[derive(Default)]
struct State {
    keys: Option<Keys>,
    fetched_at: Option<Instant>,
    /// The last fetch attempt and whether it failed.
    last_attempt: Option<(Instant, bool)>,
}

/// A JWKS fetched on first use, kept for `ttl`, refetched on expiry or (rate-limited)
/// when a signature matches no key. One fetch at a time: concurrent callers wait for it.
pub struct JwksCache {
    client: reqwest::Client,
    url: url::Url,
    config: JwksConfig,
    state: Mutex<State>,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache")
            .field("url", &self.url.as_str())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl JwksCache {
    pub fn new(url: url::Url, config: JwksConfig) -> Result<JwksCache, JwksError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(JwksError::Invalid(format!(
                "the JWKS URL must be http(s), not {}",
                url.scheme()
            )));
        }
        let client = crate::tls::reqwest_builder()
            .map_err(|e| JwksError::Transport(e.to_string()))?
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            // The key URL is fixed configuration; a redirect elsewhere is not followed.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("vidgen/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| JwksError::Transport(format!("could not build the HTTP client: {e}")))?;
        let config = JwksConfig {
            ttl: config.ttl.min(MAX_CACHE_TTL),
            ..config
        };
        Ok(JwksCache {
            client,
            url,
            config,
            state: Mutex::new(State::default()),
        })
    }

    /// The cached keys, fetched first if there are none or they are older than the ttl.
    /// An expired set is not served: a fetch that fails is an error (rate-limited, so a
    /// down endpoint is asked once per `min_refetch_interval`).
    pub async fn keys(&self, now: Instant) -> Result<Keys, JwksError> {
        let mut state = self.state.lock().await;
        if let (Some(keys), Some(at)) = (&state.keys, state.fetched_at) {
            if now.saturating_duration_since(at) < self.config.ttl {
                return Ok(keys.clone());
            }
        }
        if let Some((at, true)) = state.last_attempt {
            let since = now.saturating_duration_since(at);
            if since < self.config.min_refetch_interval {
                return Err(JwksError::RecentlyFailed {
                    retry_in: self.config.min_refetch_interval - since,
                });
            }
        }
        self.fetch_into(&mut state, now).await
    }

    /// After a signature matched none of `tried`: refetches, unless a fetch happened
    /// within `min_refetch_interval`. `Ok(Some(keys))` when the set changed since `tried`
    /// (worth verifying again), `Ok(None)` when there is nothing new to try.
    pub async fn refresh_after_unknown_signature(
        &self,
        tried: &Keys,
        now: Instant,
    ) -> Result<Option<Keys>, JwksError> {
        let mut state = self.state.lock().await;
        // Someone else refreshed while we verified: use theirs without a fetch.
        if let Some(keys) = &state.keys {
            if !Arc::ptr_eq(keys, tried) && keys[..] != tried[..] {
                return Ok(Some(keys.clone()));
            }
        }
        if let Some((at, _)) = state.last_attempt {
            if now.saturating_duration_since(at) < self.config.min_refetch_interval {
                return Ok(None);
            }
        }
        let keys = self.fetch_into(&mut state, now).await?;
        Ok((keys[..] != tried[..]).then_some(keys))
    }

    async fn fetch_into(&self, state: &mut State, now: Instant) -> Result<Keys, JwksError> {
        let result = self.fetch().await;
        state.last_attempt = Some((now, result.is_err()));
        match result {
            Ok(keys) => {
                let keys: Keys = keys.into();
                state.keys = Some(keys.clone());
                state.fetched_at = Some(now);
                tracing::info!(url = %self.url, keys = keys.len(), "fetched the fal webhook JWKS");
                Ok(keys)
            }
            Err(e) => {
                tracing::warn!(url = %self.url, error = %e, "could not fetch the fal webhook JWKS");
                Err(e)
            }
        }
    }

    async fn fetch(&self) -> Result<Vec<VerifyingKey>, JwksError> {
        let mut response = self
            .client
            .get(self.url.clone())
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| JwksError::Transport(transport_reason(&e)))?;
        if !response.status().is_success() {
            return Err(JwksError::Status(response.status().as_u16()));
        }
        let limit = self.config.max_body_bytes;
        if response.content_length().is_some_and(|n| n > limit) {
            return Err(JwksError::TooLarge { limit });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| JwksError::Transport(transport_reason(&e)))?
        {
            if (body.len() as u64).saturating_add(chunk.len() as u64) > limit {
                return Err(JwksError::TooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        parse_jwks(&body)
    }
}

fn transport_reason(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "transport error"
    };
    match std::error::Error::source(e) {
        Some(source) => format!("{kind}: {source}"),
        None => kind.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    fn x_of(seed: u8) -> String {
        let key = SigningKey::from_bytes(&[seed; 32]).verifying_key();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.as_bytes())
    }

    #[test]
    fn keeps_only_ed25519_okp_keys() {
        let body = serde_json::json!({"keys": [
            {"kty": "OKP", "crv": "Ed25519", "x": x_of(1), "kid": "a"},
            {"kty": "RSA", "n": "AQAB", "e": "AQAB"},
            {"kty": "OKP", "crv": "X25519", "x": x_of(2)},
            {"kty": "OKP", "crv": "Ed25519", "x": "too-short"},
            {"kty": "OKP", "crv": "Ed25519"},
            {"kty": "OKP", "crv": "Ed25519", "x": format!("{}=", x_of(3))},
        ]});
        let keys = parse_jwks(body.to_string().as_bytes()).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0], SigningKey::from_bytes(&[1; 32]).verifying_key());
    }

    #[test]
    fn a_set_without_usable_keys_or_not_json_is_an_error() {
        assert_eq!(
            parse_jwks(br#"{"keys": [{"kty": "RSA"}]}"#),
            Err(JwksError::NoUsableKey)
        );
        assert_eq!(parse_jwks(br#"{"keys": []}"#), Err(JwksError::NoUsableKey));
        assert!(matches!(parse_jwks(b"<html>"), Err(JwksError::Invalid(_))));
        assert!(matches!(parse_jwks(b"{}"), Err(JwksError::Invalid(_))));
    }

    #[test]
    fn ttl_is_clamped_to_a_day() {
        let cache = JwksCache::new(
            "https://example.invalid/jwks.json".parse().unwrap(),
            JwksConfig {
                ttl: Duration::from_secs(7 * 24 * 3600),
                ..JwksConfig::default()
            },
        )
        .unwrap();
        assert_eq!(cache.config.ttl, MAX_CACHE_TTL);
        assert!(
            JwksCache::new("file:///etc/passwd".parse().unwrap(), JwksConfig::default()).is_err()
        );
    }
}
