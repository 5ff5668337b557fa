//! Checking the HTTP API's JWTs in the WebSocket API's `$connect` authorizer.
//!
//! API Gateway's JWT authorizers exist for HTTP APIs only (aws-semantics §6), so the
//! WebSocket API's Lambda authorizer does what the HTTP API's JWT authorizer does, with
//! the same `JwtIssuer` and `JwtAudience`:
//!
//! - keys: OIDC discovery `{issuer}/.well-known/openid-configuration` → `jwks_uri` → the
//!   key set, fetched on first use and cached per warm process for [`JwksPolicy::ttl`];
//!   a token whose `kid` is in no cached key makes one refetch, at most once per
//!   [`JwksPolicy::min_refetch_interval`] (a flood of forged `kid`s costs the issuer one
//!   request per interval);
//! - the signature, with an asymmetric algorithm only (RS*, PS*, ES256/384: never `none`,
//!   never HMAC, whose "key" would be public);
//! - `iss` equal to the issuer; `aud` containing one of the audiences, or, for Cognito
//!   access tokens that carry no `aud`, `client_id` equal to one (API Gateway's JWT
//!   authorizer rule); `exp` required and `nbf` honoured, with [`LEEWAY_SECS`]; `sub`
//!   present — it is the owner.
//!
//! A refusal is a [`JwtError`] that says what was wrong and never holds token bytes.

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Clock skew allowed on `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 60;

/// Tokens longer than this are refused unread (a JWT is a few KiB at most).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// The algorithms a token may be signed with.
const ALGORITHMS: [Algorithm; 8] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
];

/// Why a token was refused. The texts name the check, never the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("no token: pass ?access_token= or an Authorization: Bearer header")]
    Missing,
    #[error("the token is not a well-formed JWT: {0}")]
    Malformed(String),
    #[error("the token's algorithm {0} is not accepted (RS*, PS*, ES256, ES384)")]
    Algorithm(String),
    #[error("the token's key id is not one of the issuer's keys")]
    UnknownKey,
    #[error("the token's signature does not verify")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    #[error("the token's issuer is not the configured issuer")]
    Issuer,
    #[error("the token is not for this API (aud / client_id)")]
    Audience,
    #[error("the token has no subject (sub)")]
    NoSubject,
    /// The issuer's keys could not be had: the token is refused, not let through.
    #[error("the issuer's keys are unavailable: {0}")]
    Keys(String),
}

/// What the authorizer needs to know about the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// `sub`: the owner of the jobs this connection hears about.
    pub subject: String,
}

/// How keys are fetched and kept.
#[derive(Debug, Clone)]
pub struct JwksPolicy {
    pub ttl: Duration,
    pub min_refetch_interval: Duration,
    pub timeout: Duration,
    pub max_body_bytes: usize,
}

impl Default for JwksPolicy {
    fn default() -> JwksPolicy {
        JwksPolicy {
            // Rotations are picked up within the hour; an unknown kid refetches sooner.
            ttl: Duration::from_secs(60 * 60),
            min_refetch_interval: Duration::from_secs(30),
            // The authorizer has 29 s in all; a slow issuer must not use them up.
            timeout: Duration::from_secs(5),
            max_body_bytes: 256 * 1024,
        }
    }
}

type Keys = Arc<HashMap<String, DecodingKey>>;

#[derive(Default)]
struct Cache {
    keys: Option<(Keys, Instant)>,
    /// The last fetch attempt, successful or not: what rate-limits refetches.
    last_fetch: Option<Instant>,
}

/// The issuer, the audiences, and the issuer's keys as last fetched.
pub struct JwtVerifier {
    issuer: String,
    audiences: Vec<String>,
    policy: JwksPolicy,
    client: reqwest::Client,
    cache: Mutex<Cache>,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// `issuer` as configured (`JwtIssuer`); `audiences` the accepted ones (`JwtAudience`).
    pub fn new(
        issuer: &str,
        audiences: Vec<String>,
        policy: JwksPolicy,
    ) -> Result<JwtVerifier, String> {
        let parsed = url::Url::parse(issuer).map_err(|e| format!("not a URL: {e}"))?;
        if !matches!(parsed.scheme(), "https" | "http") {
            return Err(format!("must be https, not {}", parsed.scheme()));
        }
        if audiences.is_empty() {
            return Err("at least one audience is needed".into());
        }
        let client = crate::tls::reqwest_builder()
            .map_err(|e| e.to_string())?
            .timeout(policy.timeout)
            .connect_timeout(policy.timeout)
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!("vidgen/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("could not build the HTTP client: {e}"))?;
        Ok(JwtVerifier {
            issuer: issuer.to_string(),
            audiences,
            policy,
            client,
            cache: Mutex::new(Cache::default()),
        })
    }

    /// Check `token`; `now` drives the key cache (the claims' times use the clock).
    pub async fn verify(&self, token: &str, now: Instant) -> Result<Verified, JwtError> {
        if token.is_empty() {
            return Err(JwtError::Missing);
        }
        if token.len() > MAX_TOKEN_BYTES {
            return Err(JwtError::Malformed(format!(
                "longer than {MAX_TOKEN_BYTES} bytes"
            )));
        }
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| JwtError::Malformed(describe(&e)))?;
        if !ALGORITHMS.contains(&header.alg) {
            return Err(JwtError::Algorithm(format!("{:?}", header.alg)));
        }
        let kid = header.kid.ok_or(JwtError::UnknownKey)?;
        let key = self.key(&kid, now).await?;
        let mut validation = Validation::new(header.alg);
        validation.algorithms = vec![header.alg];
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        // aud or client_id is checked below, as API Gateway does.
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(classify)?;
        let claims = data.claims;
        if !self.audience_matches(&claims) {
            return Err(JwtError::Audience);
        }
        match claims.sub {
            Some(sub) if !sub.trim().is_empty() => Ok(Verified { subject: sub }),
            _ => Err(JwtError::NoSubject),
        }
    }

    fn audience_matches(&self, claims: &Claims) -> bool {
        let accepted = |a: &str| self.audiences.iter().any(|x| x == a);
        let aud = match &claims.aud {
            Some(Audience::One(a)) => accepted(a),
            Some(Audience::Many(list)) => list.iter().any(|a| accepted(a)),
            None => false,
        };
        aud || claims.client_id.as_deref().is_some_and(accepted)
    }

    /// The key `kid` names: from the cache, else after one (rate-limited) refetch.
    async fn key(&self, kid: &str, now: Instant) -> Result<DecodingKey, JwtError> {
        let mut cache = self.cache.lock().await;
        let fresh = cache
            .keys
            .as_ref()
            .filter(|(_, at)| now.saturating_duration_since(*at) < self.policy.ttl);
        if let Some((keys, _)) = fresh {
            if let Some(key) = keys.get(kid) {
                return Ok(key.clone());
            }
        }
        let may_fetch = fresh.is_none()
            || cache.last_fetch.is_none_or(|at| {
                now.saturating_duration_since(at) >= self.policy.min_refetch_interval
            });
        if !may_fetch {
            return Err(JwtError::UnknownKey);
        }
        cache.last_fetch = Some(now);
        let keys = Arc::new(self.fetch_keys().await.map_err(JwtError::Keys)?);
        cache.keys = Some((keys.clone(), now));
        keys.get(kid).cloned().ok_or(JwtError::UnknownKey)
    }

    async fn fetch_keys(&self) -> Result<HashMap<String, DecodingKey>, String> {
        let discovery = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        #[derive(serde::Deserialize)]
        struct Discovery {
            jwks_uri: String,
        }
        let doc: Discovery = serde_json::from_slice(&self.get(&discovery).await?)
            .map_err(|e| format!("the OIDC discovery document is not valid: {e}"))?;
        let set: JwkSet = serde_json::from_slice(&self.get(&doc.jwks_uri).await?)
            .map_err(|e| format!("the JWKS is not valid: {e}"))?;
        let keys: HashMap<String, DecodingKey> = set
            .keys
            .iter()
            // Only public keys: an `oct` key in a published set would make HMAC
            // tokens forgeable by anyone who reads the set.
            .filter(|jwk| {
                matches!(
                    jwk.algorithm,
                    AlgorithmParameters::RSA(_) | AlgorithmParameters::EllipticCurve(_)
                )
            })
            .filter_map(|jwk| Some((jwk.common.key_id.clone()?, DecodingKey::from_jwk(jwk).ok()?)))
            .collect();
        if keys.is_empty() {
            return Err("the JWKS has no usable RSA or EC key with a kid".into());
        }
        Ok(keys)
    }

    async fn get(&self, url: &str) -> Result<Vec<u8>, String> {
        let mut response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| format!("GET {url} failed: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("GET {url} answered HTTP {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("reading {url} failed: {e}"))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > self.policy.max_body_bytes {
                return Err(format!(
                    "{url} is larger than {} bytes",
                    self.policy.max_body_bytes
                ));
            }
        }
        Ok(body)
    }
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(serde::Deserialize)]
struct Claims {
    sub: Option<String>,
    aud: Option<Audience>,
    client_id: Option<String>,
}

fn classify(e: jsonwebtoken::errors::Error) -> JwtError {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::InvalidSignature => JwtError::Signature,
        K::ExpiredSignature => JwtError::Expired,
        K::ImmatureSignature => JwtError::NotYetValid,
        K::InvalidIssuer => JwtError::Issuer,
        K::InvalidAudience => JwtError::Audience,
        K::MissingRequiredClaim(claim) if claim == "sub" => JwtError::NoSubject,
        K::InvalidAlgorithm | K::InvalidAlgorithmName => JwtError::Algorithm("mismatch".into()),
        _ => JwtError::Malformed(describe(&e)),
    }
}

/// The library's message names the failed part (base64, JSON, claim), not the bytes.
fn describe(e: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::InvalidToken => "not three base64url parts".into(),
        K::Base64(_) => "a part is not base64url".into(),
        K::Json(_) => "a part is not the expected JSON".into(),
        K::Utf8(_) => "a part is not UTF-8".into(),
        K::MissingRequiredClaim(claim) => format!("the {claim} claim is missing"),
        other => format!("{other:?}"),
    }
}
