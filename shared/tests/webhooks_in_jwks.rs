//! The fal JWKS cache against a real HTTP server on a loopback socket: it fetches once,
//! serves from cache, refetches on expiry and — rate-limited — on a signature no cached
//! key verifies, and turns a down or misbehaving endpoint into typed errors.
//! Times are passed in, so nothing here sleeps.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use base64::Engine as _;
use ed25519_dalek::{Signer, SigningKey};
use http::HeaderMap;
use sha2::{Digest, Sha256};
use vidgen_shared::webhooks_in::fal;
use vidgen_shared::webhooks_in::jwks::{JwksCache, JwksConfig, JwksError};
use vidgen_shared::webhooks_in::WebhookError;

const NOW_UNIX: i64 = 1_760_000_000;
const BODY: &[u8] = br#"{"request_id":"req-1","gateway_request_id":"req-1","status":"OK","payload":{"video":{"url":"https://v3.fal.media/files/x.mp4"}}}"#;

/// What the fake fal key endpoint answers, and how often it was asked.
#[derive(Clone)]
struct KeyServer {
    answer: Arc<Mutex<(StatusCode, String)>>,
    hits: Arc<AtomicUsize>,
}

impl KeyServer {
    fn set(&self, status: StatusCode, body: String) {
        *self.answer.lock().unwrap() = (status, body);
    }
    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn serve_keys(State(server): State<KeyServer>) -> impl IntoResponse {
    server.hits.fetch_add(1, Ordering::SeqCst);
    let (status, body) = server.answer.lock().unwrap().clone();
    (status, [("content-type", "application/json")], body)
}

/// The same answer streamed in chunks, without a content-length.
async fn serve_streamed(State(server): State<KeyServer>) -> impl IntoResponse {
    server.hits.fetch_add(1, Ordering::SeqCst);
    let (status, body) = server.answer.lock().unwrap().clone();
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = body
        .into_bytes()
        .chunks(1000)
        .map(|c| Ok(c.to_vec()))
        .collect();
    (
        status,
        axum::body::Body::from_stream(futures::stream::iter(chunks)),
    )
}

async fn start(body: String) -> (KeyServer, url::Url) {
    let server = KeyServer {
        answer: Arc::new(Mutex::new((StatusCode::OK, body))),
        hits: Arc::new(AtomicUsize::new(0)),
    };
    let app = Router::new()
        .route("/.well-known/jwks.json", get(serve_keys))
        .route("/streamed.json", get(serve_streamed))
        .with_state(server.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let url = format!("http://{addr}/.well-known/jwks.json")
        .parse()
        .unwrap();
    (server, url)
}

fn signing_key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn jwks(seeds: &[u8]) -> String {
    let keys: Vec<_> = seeds
        .iter()
        .map(|seed| {
            let x = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(signing_key(*seed).verifying_key().as_bytes());
            serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": format!("k{seed}")})
        })
        .collect();
    serde_json::json!({ "keys": keys }).to_string()
}

fn config() -> JwksConfig {
    JwksConfig {
        ttl: Duration::from_secs(3600),
        min_refetch_interval: Duration::from_secs(60),
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(2),
        max_body_bytes: 4096,
    }
}

/// A delivery as fal sends it, signed by the key with `seed`.
fn delivery(seed: u8) -> HeaderMap {
    let message = format!(
        "req-1\nuser-9\n{NOW_UNIX}\n{}",
        hex::encode(Sha256::digest(BODY))
    );
    let signature = signing_key(seed).sign(message.as_bytes());
    let mut headers = HeaderMap::new();
    headers.insert("x-fal-webhook-request-id", "req-1".parse().unwrap());
    headers.insert("x-fal-webhook-user-id", "user-9".parse().unwrap());
    headers.insert(
        "x-fal-webhook-timestamp",
        NOW_UNIX.to_string().parse().unwrap(),
    );
    headers.insert(
        "x-fal-webhook-signature",
        hex::encode(signature.to_bytes()).parse().unwrap(),
    );
    headers
}

#[tokio::test]
async fn fetches_once_then_serves_from_cache_until_the_ttl() {
    let (server, url) = start(jwks(&[1, 2])).await;
    let cache = JwksCache::new(url, config()).unwrap();
    let t0 = Instant::now();

    let keys = cache.keys(t0).await.unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(server.hits(), 1);

    // Cache hits, including verifications with either key.
    for seed in [1, 2] {
        let event = fal::verify(&delivery(seed), BODY, &cache, NOW_UNIX, t0)
            .await
            .unwrap();
        assert_eq!(event.request_id, "req-1");
    }
    cache.keys(t0 + Duration::from_secs(3599)).await.unwrap();
    assert_eq!(server.hits(), 1);

    // Expired: fetched again.
    cache.keys(t0 + Duration::from_secs(3600)).await.unwrap();
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn an_unknown_key_refetches_once_and_forgeries_cannot_make_it_hammer() {
    let (server, url) = start(jwks(&[1])).await;
    let cache = JwksCache::new(url, config()).unwrap();
    let t0 = Instant::now();
    cache.keys(t0).await.unwrap();
    assert_eq!(server.hits(), 1);

    // fal rotates: key 2 is published beside key 1 and signs the next delivery. Past the
    // minimum interval, the unknown signature triggers one refetch and then verifies.
    server.set(StatusCode::OK, jwks(&[1, 2]));
    let t1 = t0 + Duration::from_secs(61);
    let event = fal::verify(&delivery(2), BODY, &cache, NOW_UNIX, t1)
        .await
        .unwrap();
    assert_eq!(event.request_id, "req-1");
    assert_eq!(server.hits(), 2);

    // A flood of forgeries (signed by a key fal never published) within the interval:
    // each is refused, none causes a fetch.
    for i in 0..50 {
        let err = fal::verify(
            &delivery(9),
            BODY,
            &cache,
            NOW_UNIX,
            t1 + Duration::from_secs(i),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, WebhookError::BadSignature), "{err}");
        assert_eq!(err.http_status(), 401);
    }
    assert_eq!(server.hits(), 2);

    // Once the interval has passed, a forgery may cause exactly one more fetch.
    let t2 = t1 + Duration::from_secs(60);
    for _ in 0..5 {
        let err = fal::verify(&delivery(9), BODY, &cache, NOW_UNIX, t2)
            .await
            .unwrap_err();
        assert!(matches!(err, WebhookError::BadSignature), "{err}");
    }
    assert_eq!(server.hits(), 3);

    // A new key that appears within the interval is not fetched early: refused now,
    // accepted after the interval (fal retries deliveries for 2 h).
    server.set(StatusCode::OK, jwks(&[1, 2, 3]));
    let err = fal::verify(&delivery(3), BODY, &cache, NOW_UNIX, t2)
        .await
        .unwrap_err();
    assert!(matches!(err, WebhookError::BadSignature), "{err}");
    assert_eq!(server.hits(), 3);
    fal::verify(
        &delivery(3),
        BODY,
        &cache,
        NOW_UNIX,
        t2 + Duration::from_secs(60),
    )
    .await
    .unwrap();
    assert_eq!(server.hits(), 4);
}

#[tokio::test]
async fn a_stale_delivery_never_causes_a_fetch() {
    let (server, url) = start(jwks(&[1])).await;
    let cache = JwksCache::new(url, config()).unwrap();
    let err = fal::verify(&delivery(1), BODY, &cache, NOW_UNIX + 301, Instant::now())
        .await
        .unwrap_err();
    assert!(matches!(err, WebhookError::TimestampTooOld { .. }), "{err}");
    assert_eq!(server.hits(), 0);
}

#[tokio::test]
async fn a_down_endpoint_is_a_typed_error_and_is_not_hammered() {
    // Bind then drop a listener: nothing listens on that port any more.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/.well-known/jwks.json")
        .parse()
        .unwrap();
    let cache = JwksCache::new(url, config()).unwrap();
    let t0 = Instant::now();
    let err = cache.keys(t0).await.unwrap_err();
    assert!(matches!(err, JwksError::Transport(_)), "{err}");

    let err = fal::verify(&delivery(1), BODY, &cache, NOW_UNIX, t0)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            WebhookError::KeysUnavailable(JwksError::RecentlyFailed { .. })
        ),
        "{err}"
    );
    assert_eq!(err.http_status(), 503);
}

#[tokio::test]
async fn error_answers_are_typed_and_retried_only_after_the_interval() {
    let (server, url) = start(String::new()).await;
    server.set(StatusCode::INTERNAL_SERVER_ERROR, "oops".into());
    let cache = JwksCache::new(url, config()).unwrap();
    let t0 = Instant::now();
    assert_eq!(cache.keys(t0).await.unwrap_err(), JwksError::Status(500));
    assert!(matches!(
        cache.keys(t0 + Duration::from_secs(59)).await.unwrap_err(),
        JwksError::RecentlyFailed { .. }
    ));
    assert_eq!(server.hits(), 1);

    // Recovered: the next attempt after the interval succeeds.
    server.set(StatusCode::OK, jwks(&[1]));
    let keys = cache.keys(t0 + Duration::from_secs(60)).await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn oversized_or_keyless_sets_are_refused() {
    let big = format!(r#"{{"keys":[],"padding":"{}"}}"#, "x".repeat(10_000));
    let (server, url) = start(big).await;
    let cache = JwksCache::new(url, config()).unwrap();
    let t0 = Instant::now();
    assert_eq!(
        cache.keys(t0).await.unwrap_err(),
        JwksError::TooLarge { limit: 4096 }
    );

    server.set(
        StatusCode::OK,
        r#"{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}"#.into(),
    );
    let later = t0 + Duration::from_secs(60);
    assert_eq!(cache.keys(later).await.unwrap_err(), JwksError::NoUsableKey);
}

#[tokio::test]
async fn a_streamed_body_without_length_is_capped_too() {
    let big = format!(r#"{{"keys":[],"padding":"{}"}}"#, "x".repeat(10_000));
    let (server, url) = start(big).await;
    let url = url.join("/streamed.json").unwrap();
    let cache = JwksCache::new(url, config()).unwrap();
    let t0 = Instant::now();
    assert_eq!(
        cache.keys(t0).await.unwrap_err(),
        JwksError::TooLarge { limit: 4096 }
    );
    // A small streamed set is read whole.
    server.set(StatusCode::OK, jwks(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
    let keys = cache.keys(t0 + Duration::from_secs(60)).await.unwrap();
    assert_eq!(keys.len(), 10);
    assert_eq!(server.hits(), 2);
}
