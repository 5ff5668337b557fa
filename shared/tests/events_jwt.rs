//! The WebSocket `$connect` authorizer's JWT checks against a real OIDC issuer stand-in:
//! an HTTP server on 127.0.0.1 serving `/.well-known/openid-configuration` and the
//! JWKS, with RSA keys made here. Each refusal is the check it names.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use vidgen_shared::events::jwt::{JwksPolicy, JwtError, JwtVerifier};
use vidgen_shared::events::ws::{allow, authorize};

const AUDIENCE: &str = "vidgen-client";

struct Key {
    kid: String,
    private: RsaPrivateKey,
}

impl Key {
    fn jwk(&self) -> Value {
        let b64 = |b: Vec<u8>| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        json!({
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
            "n": b64(self.private.n().to_bytes_be()),
            "e": b64(self.private.e().to_bytes_be()),
        })
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        // Made here from a fresh key: the DER encoding cannot fail.
        let der = self.private.to_pkcs1_der().expect("pkcs1 der");
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_der(der.as_bytes()))
            .expect("signing")
    }
}

/// RSA key generation is slow in test builds: three keys, made once.
fn keys() -> &'static [Key; 3] {
    static KEYS: OnceLock<[Key; 3]> = OnceLock::new();
    KEYS.get_or_init(|| {
        let make = |kid: &str| Key {
            kid: kid.into(),
            private: RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("rsa key"),
        };
        [make("k1"), make("k2"), make("k1")]
    })
}

struct Issuer {
    url: String,
    /// The JWKS served now (a rotation changes it).
    jwks: Arc<Mutex<Value>>,
    jwks_fetches: Arc<AtomicUsize>,
}

#[derive(Clone)]
struct IssuerState {
    base: String,
    jwks: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
}

async fn issuer(served: &[&Key]) -> Issuer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/pool", listener.local_addr().unwrap());
    let jwks = Arc::new(Mutex::new(
        json!({"keys": served.iter().map(|k| k.jwk()).collect::<Vec<_>>()}),
    ));
    let fetches = Arc::new(AtomicUsize::new(0));
    let state = IssuerState {
        base: base.clone(),
        jwks: jwks.clone(),
        fetches: fetches.clone(),
    };
    let app = Router::new()
        .route(
            "/pool/.well-known/openid-configuration",
            get(|State(s): State<IssuerState>| async move {
                Json(json!({"issuer": s.base, "jwks_uri": format!("{}/keys", s.base)}))
            }),
        )
        .route(
            "/pool/keys",
            get(|State(s): State<IssuerState>| async move {
                s.fetches.fetch_add(1, Ordering::SeqCst);
                let body = s.jwks.lock().unwrap().clone();
                Json(body)
            }),
        )
        .with_state(state);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Issuer {
        url: base,
        jwks,
        jwks_fetches: fetches,
    }
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

fn claims(iss: &str) -> Value {
    json!({"iss": iss, "sub": "alice", "aud": AUDIENCE, "exp": now_secs() + 600, "iat": now_secs()})
}

fn verifier(issuer: &Issuer) -> JwtVerifier {
    JwtVerifier::new(
        &issuer.url,
        vec!["other-client".into(), AUDIENCE.into()],
        JwksPolicy {
            min_refetch_interval: Duration::from_secs(30),
            ..JwksPolicy::default()
        },
    )
    .unwrap()
}

#[tokio::test]
async fn a_good_token_is_its_subject_and_each_bad_one_is_refused_for_its_reason() {
    let [k1, _, _] = keys();
    let issuer = issuer(&[k1]).await;
    let v = verifier(&issuer);
    let now = Instant::now();
    let ok = v.verify(&k1.sign(&claims(&issuer.url)), now).await.unwrap();
    assert_eq!(ok.subject, "alice");

    let with = |patch: Value| {
        let mut c = claims(&issuer.url);
        for (k, val) in patch.as_object().unwrap() {
            if val.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = val.clone();
            }
        }
        k1.sign(&c)
    };
    let cases = [
        (with(json!({"exp": now_secs() - 3600})), JwtError::Expired),
        (
            with(json!({"nbf": now_secs() + 3600})),
            JwtError::NotYetValid,
        ),
        (with(json!({"aud": "someone-else"})), JwtError::Audience),
        (with(json!({"aud": null})), JwtError::Audience),
        (
            with(json!({"iss": "https://evil.example.com/pool"})),
            JwtError::Issuer,
        ),
        (with(json!({"sub": null})), JwtError::NoSubject),
    ];
    for (token, expected) in cases {
        assert_eq!(v.verify(&token, now).await.unwrap_err(), expected);
    }
    // A list audience containing ours, and a Cognito access token's client_id.
    let list = with(json!({"aud": ["x", AUDIENCE]}));
    assert_eq!(v.verify(&list, now).await.unwrap().subject, "alice");
    let cognito = with(json!({"aud": null, "client_id": AUDIENCE}));
    assert_eq!(v.verify(&cognito, now).await.unwrap().subject, "alice");
    // Within the leeway, an expired token still passes.
    let skewed = with(json!({"exp": now_secs() - 10}));
    assert!(v.verify(&skewed, now).await.is_ok());
}

#[tokio::test]
async fn forged_malformed_and_unsigned_tokens_are_refused_without_panicking() {
    let [k1, _, impostor] = keys();
    let issuer = issuer(&[k1]).await;
    let v = verifier(&issuer);
    let now = Instant::now();
    // Same kid, another key: the signature does not verify.
    let forged = impostor.sign(&claims(&issuer.url));
    assert_eq!(
        v.verify(&forged, now).await.unwrap_err(),
        JwtError::Signature
    );
    // A good token with its payload swapped.
    let good = k1.sign(&claims(&issuer.url));
    let parts: Vec<&str> = good.split('.').collect();
    let mut other = claims(&issuer.url);
    other["sub"] = json!("mallory");
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let swapped = format!("{}.{}.{}", parts[0], b64(&other), parts[2]);
    assert_eq!(
        v.verify(&swapped, now).await.unwrap_err(),
        JwtError::Signature
    );
    // alg none, HS256 (the "public key as HMAC secret" trick), garbage bytes.
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "kid": "k1"})),
        b64(&claims(&issuer.url))
    );
    assert!(matches!(
        v.verify(&none, now).await.unwrap_err(),
        JwtError::Malformed(_)
    ));
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some("k1".into());
    let hmac = jsonwebtoken::encode(
        &hs,
        &claims(&issuer.url),
        &EncodingKey::from_secret(b"public"),
    )
    .unwrap();
    assert!(matches!(
        v.verify(&hmac, now).await.unwrap_err(),
        JwtError::Algorithm(_)
    ));
    for garbage in [
        "x",
        "a.b.c",
        "....",
        "\u{0}\u{1}.\u{ff}.",
        &"A".repeat(100_000),
    ] {
        let e = v.verify(garbage, now).await.unwrap_err();
        assert!(matches!(e, JwtError::Malformed(_)), "{garbage:.20}: {e:?}");
        assert!(!e.to_string().contains(&garbage[..garbage.len().min(10)]) || garbage.len() < 3);
    }
    assert_eq!(v.verify("", now).await.unwrap_err(), JwtError::Missing);
    // A well-formed header without a kid names no key.
    assert_eq!(
        v.verify("eyJhbGciOiJSUzI1NiJ9.%%%.abc", now)
            .await
            .unwrap_err(),
        JwtError::UnknownKey
    );
}

#[tokio::test]
async fn an_unknown_kid_refetches_once_and_a_rotated_key_is_then_accepted() {
    let [k1, k2, _] = keys();
    let issuer = issuer(&[k1]).await;
    let v = verifier(&issuer);
    let t0 = Instant::now();
    assert!(v.verify(&k1.sign(&claims(&issuer.url)), t0).await.is_ok());
    assert_eq!(issuer.jwks_fetches.load(Ordering::SeqCst), 1);
    // k2 is not published yet. Right after a fetch, a miss fetches nothing.
    let by_k2 = k2.sign(&claims(&issuer.url));
    assert_eq!(
        v.verify(&by_k2, t0).await.unwrap_err(),
        JwtError::UnknownKey
    );
    assert_eq!(issuer.jwks_fetches.load(Ordering::SeqCst), 1);
    // Past the interval: one refetch, still no k2, refused.
    let t1 = t0 + Duration::from_secs(40);
    assert_eq!(
        v.verify(&by_k2, t1).await.unwrap_err(),
        JwtError::UnknownKey
    );
    assert_eq!(issuer.jwks_fetches.load(Ordering::SeqCst), 2);
    // The issuer rotates to k2. Within the refetch interval nothing is fetched.
    *issuer.jwks.lock().unwrap() = json!({"keys": [k2.jwk()]});
    let soon = t1 + Duration::from_secs(5);
    for _ in 0..5 {
        assert_eq!(
            v.verify(&by_k2, soon).await.unwrap_err(),
            JwtError::UnknownKey
        );
    }
    assert_eq!(
        issuer.jwks_fetches.load(Ordering::SeqCst),
        2,
        "rate-limited"
    );
    // After the interval: one refetch finds k2.
    let later = t1 + Duration::from_secs(31);
    assert_eq!(v.verify(&by_k2, later).await.unwrap().subject, "alice");
    assert_eq!(issuer.jwks_fetches.load(Ordering::SeqCst), 3);
    assert!(v.verify(&by_k2, later).await.is_ok());
    assert_eq!(issuer.jwks_fetches.load(Ordering::SeqCst), 3, "cached");
}

#[tokio::test]
async fn an_issuer_that_cannot_be_reached_refuses_rather_than_allows() {
    let [k1, _, _] = keys();
    let v = JwtVerifier::new(
        "http://127.0.0.1:9/pool",
        vec![AUDIENCE.into()],
        JwksPolicy::default(),
    )
    .unwrap();
    let token = k1.sign(&claims("http://127.0.0.1:9/pool"));
    assert!(matches!(
        v.verify(&token, Instant::now()).await.unwrap_err(),
        JwtError::Keys(_)
    ));
}

/// The request API Gateway sends a WebSocket REQUEST authorizer (AWS docs, "Lambda
/// authorizer input for WebSocket APIs").
fn authorizer_request(query: Value, headers: Value) -> Value {
    json!({
        "type": "REQUEST",
        "methodArn": "arn:aws:execute-api:us-east-1:123456789012:abcdef123/v1/$connect",
        "headers": headers,
        "multiValueHeaders": {},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {},
        "stageVariables": {},
        "requestContext": {
            "routeKey": "$connect", "eventType": "CONNECT", "messageDirection": "IN",
            "extendedRequestId": "X", "requestTime": "09/Feb/2024:18:11:43 +0000",
            "stage": "v1", "connectedAt": 1707502303419_i64,
            "requestTimeEpoch": 1707502303420_i64, "identity": {"sourceIp": "203.0.113.1"},
            "requestId": "X", "domainName": "abcdef123.execute-api.us-east-1.amazonaws.com",
            "connectionId": "AAAA=", "apiId": "abcdef123"
        }
    })
}

#[tokio::test]
async fn the_authorizer_takes_the_query_token_or_the_bearer_header_and_allows_invoke() {
    let [k1, _, _] = keys();
    let issuer = issuer(&[k1]).await;
    let v = verifier(&issuer);
    let token = k1.sign(&claims(&issuer.url));
    let arn = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/v1/$connect";
    for (query, headers) in [
        (json!({"access_token": token}), json!({})),
        (
            json!({}),
            json!({"Authorization": format!("Bearer {token}")}),
        ),
    ] {
        let request = serde_json::from_value(authorizer_request(query, headers)).unwrap();
        let response = authorize(&v, &request, Instant::now()).await.unwrap();
        assert_eq!(response, allow("alice", arn));
        let wire = serde_json::to_value(&response).unwrap();
        assert_eq!(wire["principalId"], "alice");
        assert_eq!(wire["context"]["owner"], "alice");
        assert_eq!(wire["policyDocument"]["Statement"][0]["Effect"], "Allow");
        assert_eq!(
            wire["policyDocument"]["Statement"][0]["Action"],
            json!(["execute-api:Invoke"])
        );
        assert_eq!(
            wire["policyDocument"]["Statement"][0]["Resource"],
            json!([arn])
        );
    }
    let none = serde_json::from_value(authorizer_request(json!({}), json!({}))).unwrap();
    assert_eq!(
        authorize(&v, &none, Instant::now()).await.unwrap_err(),
        JwtError::Missing
    );
    let basic = serde_json::from_value(authorizer_request(
        json!({}),
        json!({"Authorization": format!("Basic {token}")}),
    ))
    .unwrap();
    assert_eq!(
        authorize(&v, &basic, Instant::now()).await.unwrap_err(),
        JwtError::Missing
    );
    let bad = serde_json::from_value(authorizer_request(
        json!({"access_token": "not-a-jwt"}),
        json!({}),
    ))
    .unwrap();
    let e = authorize(&v, &bad, Instant::now()).await.unwrap_err();
    assert!(!e.to_string().contains("not-a-jwt"), "{e}");
}
