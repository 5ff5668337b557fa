//! The fal simulator over real sockets: submit, status, result, CDN download, cancel,
//! validation, auth, faults, and webhooks received by a real axum receiver whose
//! signatures are verified independently against the simulator's JWKS.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxStatus};
use axum::routing::post;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sora_sim::fal::{expected_output, FalConfig, FalSimulator, MODERATION_MESSAGE, STALE_BY_SECS};
use sora_sim::{expected_digest, Faults};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const VEO: &str = "fal-ai/veo3.1";

fn fast() -> FalConfig {
    FalConfig {
        queue_time: Duration::from_millis(150),
        render_time: Duration::from_millis(400),
        webhook_retry_base: Duration::from_millis(50),
        webhook_retry_max: Duration::from_millis(200),
        ..FalConfig::default()
    }
}

async fn start(config: FalConfig) -> FalSimulator {
    FalSimulator::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap()
}

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

async fn send(req: reqwest::RequestBuilder) -> (u16, reqwest::header::HeaderMap, Value) {
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, headers, body)
}

async fn submit_to(
    sim: &FalSimulator,
    model: &str,
    input: Value,
    webhook: Option<&str>,
) -> (u16, Value) {
    let mut url = format!("{}/{model}", sim.queue_url());
    if let Some(w) = webhook {
        url = format!(
            "{url}?fal_webhook={}",
            url::form_urlencoded::byte_serialize(w.as_bytes()).collect::<String>()
        );
    }
    let (s, _, b) = send(http().post(url).json(&input)).await;
    (s, b)
}

async fn submit(sim: &FalSimulator, prompt: &str, webhook: Option<&str>) -> Value {
    let (s, b) = submit_to(sim, VEO, json!({ "prompt": prompt }), webhook).await;
    assert_eq!(s, 200, "{b}");
    b
}

async fn get(url: &str) -> (u16, Value) {
    let (s, _, b) = send(http().get(url)).await;
    (s, b)
}

/// Poll the status URL until COMPLETED; returns every status seen.
async fn wait_done(status_url: &str) -> Vec<(u16, Value)> {
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (s, b) = get(status_url).await;
        let done = b["status"] == "COMPLETED";
        seen.push((s, b));
        if done {
            return seen;
        }
        assert!(Instant::now() < deadline, "never completed: {seen:?}");
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
}

/// A webhook receiver: records each POST and answers with the next planned status
/// (then 200).
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
    plan: Arc<Mutex<Vec<u16>>>,
}

impl Receiver {
    async fn start(plan: Vec<u16>) -> (Receiver, String) {
        let r = Receiver {
            got: Default::default(),
            plan: Arc::new(Mutex::new(plan)),
        };
        let app = axum::Router::new()
            .route("/hook", post(Self::hook))
            .with_state(r.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (r, url)
    }

    async fn hook(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> AxStatus {
        r.got.lock().unwrap().push((headers, body));
        let mut plan = r.plan.lock().unwrap();
        if plan.is_empty() {
            AxStatus::OK
        } else {
            AxStatus::from_u16(plan.remove(0)).unwrap()
        }
    }

    fn got(&self) -> Vec<(HeaderMap, Bytes)> {
        self.got.lock().unwrap().clone()
    }

    async fn wait_for(&self, n: usize) -> Vec<(HeaderMap, Bytes)> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.got().len() < n {
            assert!(
                Instant::now() < deadline,
                "only {} webhooks",
                self.got().len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.got()
    }
}

/// The JWKS keys, fetched over HTTP as a receiver does.
async fn jwks_keys(sim: &FalSimulator) -> Vec<VerifyingKey> {
    let (s, jwks) = get(&sim.jwks_url()).await;
    assert_eq!(s, 200);
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            assert_eq!(k["kty"], "OKP");
            assert_eq!(k["crv"], "Ed25519");
            let x: [u8; 32] = URL_SAFE_NO_PAD
                .decode(k["x"].as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap();
            VerifyingKey::from_bytes(&x).unwrap()
        })
        .collect()
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).unwrap().to_str().unwrap()
}

/// Verify a delivery as fal documents, independently of the simulator's code.
fn verifies(keys: &[VerifyingKey], h: &HeaderMap, body: &[u8]) -> bool {
    let message = format!(
        "{}\n{}\n{}\n{}",
        header(h, "x-fal-webhook-request-id"),
        header(h, "x-fal-webhook-user-id"),
        header(h, "x-fal-webhook-timestamp"),
        hex::encode(Sha256::digest(body))
    );
    let Ok(sig) = hex::decode(header(h, "x-fal-webhook-signature")) else {
        return false;
    };
    let Ok(sig) = <[u8; 64]>::try_from(sig.as_slice()) else {
        return false;
    };
    let sig = Signature::from_bytes(&sig);
    keys.iter()
        .any(|k| k.verify(message.as_bytes(), &sig).is_ok())
}

fn timestamp_skew(h: &HeaderMap) -> i64 {
    let ts: i64 = header(h, "x-fal-webhook-timestamp").parse().unwrap();
    chrono::Utc::now().timestamp() - ts
}

#[tokio::test]
async fn submit_poll_result_and_download() {
    // Long enough phases that the first status is still queued on a busy machine.
    let sim = start(FalConfig {
        queue_time: Duration::from_millis(500),
        render_time: Duration::from_millis(800),
        ..fast()
    })
    .await;
    let sub = submit(&sim, "a fox", None).await;
    let id = sub["request_id"].as_str().unwrap();
    assert!(sub["gateway_request_id"].is_string());
    let base = format!("{}/fal-ai/veo3.1/requests/{id}", sim.queue_url());
    assert_eq!(sub["response_url"], base);
    assert_eq!(sub["status_url"], format!("{base}/status"));
    assert_eq!(sub["cancel_url"], format!("{base}/cancel"));

    let seen = wait_done(sub["status_url"].as_str().unwrap()).await;
    let (first_code, first) = &seen[0];
    assert_eq!(
        (*first_code, first["status"].as_str()),
        (202, Some("IN_QUEUE"))
    );
    assert_eq!(first["queue_position"], 0);
    // fal_client reads `logs` unconditionally: the key is there, null unless asked for.
    assert!(seen.iter().any(|(c, b)| *c == 202
        && b["status"] == "IN_PROGRESS"
        && b.get("logs") == Some(&Value::Null)));
    let (last_code, last) = seen.last().unwrap();
    assert_eq!(*last_code, 200);
    assert!(last.as_object().unwrap().contains_key("logs"));
    assert!(last["error"].is_null());
    let (_, with_logs) = get(&format!("{}?logs=1", sub["status_url"].as_str().unwrap())).await;
    assert!(with_logs["logs"].is_array());

    let (s, result) = get(sub["response_url"].as_str().unwrap()).await;
    assert_eq!(s, 200, "{result}");
    let video = &result["video"];
    assert_eq!(video["content_type"], "video/mp4");
    let bytes = http()
        .get(video["url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(video["file_size"], bytes.len());
    assert_eq!(bytes.as_ref(), expected_output(sim.config(), id).unwrap());

    let stats = sim.stats();
    assert_eq!(
        (stats.submits, stats.result_fetches, stats.downloads),
        (1, 1, 1)
    );
    assert_eq!(stats.status_requests, seen.len() as u64 + 1);
    assert_eq!(
        sim.request(id).unwrap().status_requests,
        seen.len() as u64 + 1
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn generated_content_matches_its_digest_and_sub_paths_read_back_under_the_app() {
    let sim = start(fast()).await;
    let (s, sub) = submit_to(
        &sim,
        "fal-ai/veo3.1/fast",
        json!({"prompt": "p [sim:video_bytes=300000] [sim:render_ms=50]"}),
        None,
    )
    .await;
    assert_eq!(s, 200, "{sub}");
    let id = sub["request_id"].as_str().unwrap();
    assert!(sub["status_url"]
        .as_str()
        .unwrap()
        .contains(&format!("/fal-ai/veo3.1/requests/{id}/status")));
    wait_done(sub["status_url"].as_str().unwrap()).await;
    let (_, result) = get(sub["response_url"].as_str().unwrap()).await;
    assert_eq!(result["video"]["file_size"], 300_000);
    let bytes = reqwest::get(result["video"]["url"].as_str().unwrap())
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let digest: [u8; 32] = Sha256::digest(&bytes).into();
    assert_eq!(digest, expected_digest(id, 300_000));
    // The full model path is not where requests live.
    let (s, _) = get(&format!(
        "{}/fal-ai/veo3.1/fast/requests/{id}/status",
        sim.queue_url()
    ))
    .await;
    assert_ne!(s, 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn webhook_is_signed_with_the_jwks_key_and_replaces_polling() {
    let sim = start(fast()).await;
    let (rx, hook) = Receiver::start(vec![]).await;
    let sub = submit(&sim, "a heron", Some(&hook)).await;
    let id = sub["request_id"].as_str().unwrap();
    let got = rx.wait_for(1).await;
    let (h, body) = &got[0];
    assert_eq!(header(h, "x-fal-webhook-request-id"), id);
    assert_eq!(header(h, "x-fal-webhook-user-id"), "sim-user");
    assert!(timestamp_skew(h).abs() <= 5);
    assert!(verifies(&jwks_keys(&sim).await, h, body));
    // Python's separators: a receiver that re-serialises before hashing fails.
    assert!(std::str::from_utf8(body)
        .unwrap()
        .contains("\"status\": \"OK\""));
    let v: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(v["request_id"], id);
    assert_eq!(v["gateway_request_id"], sub["gateway_request_id"]);
    assert!(v["error"].is_null() && v["payload_error"].is_null());
    assert!(v["payload"]["video"]["url"].is_string());
    // Tampering breaks it.
    let mut forged = body.to_vec();
    forged.push(b' ');
    assert!(!verifies(&jwks_keys(&sim).await, h, &forged));

    tokio::time::sleep(Duration::from_millis(200)).await;
    let stats = sim.stats();
    assert_eq!(
        stats.status_requests, 0,
        "a webhook-driven job polls nothing"
    );
    assert_eq!((stats.webhooks_sent, stats.webhooks_acknowledged), (1, 1));
    assert_eq!(rx.got().len(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn refused_webhooks_are_retried_with_backoff_until_acknowledged() {
    let sim = start(fast()).await;
    let (rx, hook) = Receiver::start(vec![500, 503]).await;
    let sub = submit(&sim, "p [sim:render_ms=50]", Some(&hook)).await;
    let got = rx.wait_for(3).await;
    let keys = jwks_keys(&sim).await;
    assert!(got.iter().all(|(h, b)| verifies(&keys, h, b)));
    assert!(
        got.windows(2).all(|w| w[0].1 == w[1].1),
        "same body each attempt"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(rx.got().len(), 3);
    let info = sim.request(sub["request_id"].as_str().unwrap()).unwrap();
    assert_eq!((info.webhooks_sent, info.webhooks_acknowledged), (3, 1));

    // A receiver that never accepts gets exactly the configured attempts.
    let sim = start(FalConfig {
        webhook_attempts: 3,
        ..fast()
    })
    .await;
    let (rx, hook) = Receiver::start(vec![500; 10]).await;
    submit(&sim, "p [sim:render_ms=50]", Some(&hook)).await;
    rx.wait_for(3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rx.got().len(), 3);
    assert_eq!(sim.stats().webhooks_acknowledged, 0);
}

#[tokio::test]
async fn withheld_forged_stale_and_duplicate_switches() {
    // Withheld, run-wide: the client must fall back to polling.
    let sim = start(FalConfig {
        withhold_webhooks: true,
        ..fast()
    })
    .await;
    let (rx, hook) = Receiver::start(vec![]).await;
    let sub = submit(&sim, "p", Some(&hook)).await;
    wait_done(sub["status_url"].as_str().unwrap()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(rx.got().is_empty());
    assert!(
        sim.request(sub["request_id"].as_str().unwrap())
            .unwrap()
            .webhook_withheld
    );
    sim.shutdown().await;

    // Per job, by markers, side by side with a good job.
    let sim = start(fast()).await;
    let keys = jwks_keys(&sim).await;
    let (rx, hook) = Receiver::start(vec![]).await;
    let good = submit(&sim, "good [sim:render_ms=50]", Some(&hook)).await;
    let withheld = submit(
        &sim,
        "[sim:webhook_withhold] [sim:render_ms=50]",
        Some(&hook),
    )
    .await;
    let forged = submit(&sim, "[sim:webhook_forge] [sim:render_ms=50]", Some(&hook)).await;
    let stale = submit(&sim, "[sim:webhook_stale] [sim:render_ms=50]", Some(&hook)).await;
    let dup = submit(
        &sim,
        "[sim:webhook_duplicate] [sim:render_ms=50]",
        Some(&hook),
    )
    .await;
    let got = rx.wait_for(5).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got_for = |sub: &Value| -> Vec<(HeaderMap, Bytes)> {
        let id = sub["request_id"].as_str().unwrap();
        got.iter()
            .filter(|(h, _)| header(h, "x-fal-webhook-request-id") == id)
            .cloned()
            .collect()
    };
    assert_eq!(rx.got().len(), 5);
    let g = got_for(&good);
    assert_eq!(g.len(), 1);
    assert!(verifies(&keys, &g[0].0, &g[0].1));
    assert!(got_for(&withheld).is_empty());
    let f = got_for(&forged);
    assert_eq!(f.len(), 1);
    assert!(
        !verifies(&keys, &f[0].0, &f[0].1),
        "a forged signature must not verify"
    );
    let s = got_for(&stale);
    assert!(
        verifies(&keys, &s[0].0, &s[0].1),
        "stale is validly signed, only old"
    );
    assert!((timestamp_skew(&s[0].0) - STALE_BY_SECS).abs() <= 5);
    let d = got_for(&dup);
    assert_eq!(d.len(), 2);
    assert_eq!(d[0].1, d[1].1);
    assert!(d.iter().all(|(h, b)| verifies(&keys, h, b)));
    sim.shutdown().await;

    // Run-wide forged / stale / duplicate / delay.
    let sim = start(FalConfig {
        forge_signature: true,
        stale_timestamp: true,
        duplicate_webhooks: true,
        webhook_delay: Duration::from_millis(300),
        ..fast()
    })
    .await;
    let keys = jwks_keys(&sim).await;
    let (rx, hook) = Receiver::start(vec![]).await;
    let t0 = Instant::now();
    submit(&sim, "p [sim:render_ms=50]", Some(&hook)).await;
    let got = rx.wait_for(2).await;
    assert!(t0.elapsed() >= Duration::from_millis(500));
    assert!(got
        .iter()
        .all(|(h, b)| !verifies(&keys, h, b) && timestamp_skew(h) >= STALE_BY_SECS - 5));
    sim.shutdown().await;
}

#[tokio::test]
async fn failures_arrive_as_error_webhooks_and_model_errors() {
    let sim = start(fast()).await;
    let keys = jwks_keys(&sim).await;
    let (rx, hook) = Receiver::start(vec![]).await;
    let moderated = submit(&sim, "[sim:moderation_end] [sim:render_ms=50]", Some(&hook)).await;
    let failed = submit(&sim, "[sim:fail] [sim:render_ms=50]", Some(&hook)).await;
    let got = rx.wait_for(2).await;
    let body_for = |sub: &Value| -> Value {
        let id = sub["request_id"].as_str().unwrap();
        let (h, b) = got
            .iter()
            .find(|(h, _)| header(h, "x-fal-webhook-request-id") == id)
            .unwrap();
        assert!(verifies(&keys, h, b));
        serde_json::from_slice(b).unwrap()
    };
    let m = body_for(&moderated);
    assert_eq!(m["status"], "ERROR");
    assert_eq!(m["error"], "Invalid status code: 422");
    assert_eq!(m["payload"]["detail"][0]["msg"], MODERATION_MESSAGE);
    let f = body_for(&failed);
    assert_eq!(
        (f["status"].as_str(), f["error"].as_str()),
        (Some("ERROR"), Some("Invalid status code: 500"))
    );

    let (s, status) = get(moderated["status_url"].as_str().unwrap()).await;
    assert_eq!((s, status["status"].as_str()), (200, Some("COMPLETED")));
    assert_eq!(status["error"], MODERATION_MESSAGE);
    let (s, h, result) = send(http().get(moderated["response_url"].as_str().unwrap())).await;
    assert_eq!(s, 422);
    assert_eq!(result["detail"][0]["loc"], json!(["body", "prompt"]));
    assert_eq!(
        h.get("x-fal-error-type").unwrap(),
        "content_policy_violation"
    );
    let (s, result) = get(failed["response_url"].as_str().unwrap()).await;
    assert_eq!(
        (s, result),
        (500, json!({"detail": "Internal Server Error"}))
    );

    // Moderation of the input: accepted at submit, fails once it runs.
    let input = submit(&sim, "[sim:moderation_create]", None).await;
    let seen = wait_done(input["status_url"].as_str().unwrap()).await;
    assert_eq!(seen.last().unwrap().1["error"], MODERATION_MESSAGE);
    sim.shutdown().await;
}

#[tokio::test]
async fn cancel_semantics() {
    // A long queue, so "queued" holds however slow the machine is.
    let sim = start(FalConfig {
        queue_time: Duration::from_secs(5),
        ..fast()
    })
    .await;
    let (rx, hook) = Receiver::start(vec![]).await;
    let put = |url: &str| http().put(url.to_string());

    // Queued: removed; it ends at once and its webhook says so.
    let q = submit(&sim, "queued", Some(&hook)).await;
    let behind = submit(&sim, "behind", None).await;
    let behind_status = behind["status_url"].as_str().unwrap();
    let (s, st) = get(behind_status).await;
    assert_eq!((s, &st["queue_position"]), (202, &json!(1)));
    let cancelled = Instant::now();
    let (s, _, b) = send(put(q["cancel_url"].as_str().unwrap())).await;
    assert_eq!((s, b), (200, json!({"status": "OK"})));
    // Removed from the queue: the one behind moves up.
    assert_eq!(get(behind_status).await.1["queue_position"], 0);
    let got = rx.wait_for(1).await;
    // At the cancel, not at the end the request would have had (5.4 s after submit).
    assert!(
        cancelled.elapsed() < Duration::from_secs(3),
        "{:?}",
        cancelled.elapsed()
    );
    let v: Value = serde_json::from_slice(&got[0].1).unwrap();
    assert_eq!(
        (v["status"].as_str(), v["payload"].is_null()),
        (Some("ERROR"), true)
    );
    let (s, st) = get(q["status_url"].as_str().unwrap()).await;
    assert_eq!((s, st["status"].as_str()), (200, Some("COMPLETED")));
    assert!(st["error"].is_string());
    assert_eq!(get(q["response_url"].as_str().unwrap()).await.0, 400);
    assert!(
        sim.request(q["request_id"].as_str().unwrap())
            .unwrap()
            .cancelled
    );

    assert_eq!(sim.stats().cancels, 1);
    sim.shutdown().await;

    // Running: signalled only; the hosted model runs to the end.
    let sim = start(FalConfig {
        queue_time: Duration::from_millis(100),
        ..fast()
    })
    .await;
    let r = submit(&sim, "running [sim:render_ms=1500]", None).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (s, _, b) = send(put(r["cancel_url"].as_str().unwrap())).await;
    assert_eq!((s, b), (202, json!({"status": "CANCELLATION_REQUESTED"})));
    let seen = wait_done(r["status_url"].as_str().unwrap()).await;
    assert!(seen.last().unwrap().1["error"].is_null());
    assert!(
        sim.request(r["request_id"].as_str().unwrap())
            .unwrap()
            .cancel_requested
    );

    // Ended, unknown.
    let (s, _, b) = send(put(r["cancel_url"].as_str().unwrap())).await;
    assert_eq!((s, b), (400, json!({"status": "ALREADY_COMPLETED"})));
    let unknown = format!(
        "{}/fal-ai/veo3.1/requests/00000000-0000-4000-8000-000000000000/cancel",
        sim.queue_url()
    );
    let (s, _, b) = send(put(&unknown)).await;
    assert_eq!((s, b), (404, json!({"status": "NOT_FOUND"})));
    assert_eq!(sim.stats().cancels, 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn validation_names_each_field() {
    let sim = start(fast()).await;
    let (s, b) = submit_to(
        &sim,
        VEO,
        json!({"duration": "5s", "resolution": "4k"}),
        None,
    )
    .await;
    assert_eq!(s, 422);
    let fields: Vec<&Value> = b["detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| &d["loc"][1])
        .collect();
    assert_eq!(
        fields,
        [&json!("prompt"), &json!("duration"), &json!("resolution")]
    );
    assert_eq!(b["detail"][1]["msg"], "Input should be '4s', '6s' or '8s'");

    let (s, b) = submit_to(
        &sim,
        "fal-ai/veo3.1/image-to-video",
        json!({"prompt": "p"}),
        None,
    )
    .await;
    assert_eq!(
        (s, &b["detail"][0]["loc"]),
        (422, &json!(["body", "image_url"]))
    );
    let (s, b) = submit_to(
        &sim,
        "fal-ai/kling-video/v2.1/master/text-to-video",
        json!({"prompt": "p", "duration": 5}),
        None,
    )
    .await;
    assert_eq!(
        (s, &b["detail"][0]["loc"]),
        (422, &json!(["body", "duration"]))
    );
    let (s, _) = submit_to(
        &sim,
        "fal-ai/wan/v2.2-a14b/text-to-video",
        json!({"prompt": "p", "resolution": "580p"}),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let (s, b) = submit_to(&sim, "fal-ai/no-such-model", json!({"prompt": "p"}), None).await;
    assert_eq!(s, 404);
    assert!(b["detail"]
        .as_str()
        .unwrap()
        .contains("fal-ai/no-such-model"));
    let (s, _, b) = send(
        http()
            .post(format!("{}/{VEO}", sim.queue_url()))
            .body("{not json"),
    )
    .await;
    assert_eq!(
        (s, b["detail"][0]["type"].as_str()),
        (422, Some("json_invalid"))
    );
    let (s, _, sub) = send(
        http()
            .post(format!("{}/{VEO}", sim.queue_url()))
            .header(
                "X-Fal-Object-Lifecycle-Preference",
                r#"{"expiration_duration_seconds": 3600}"#,
            )
            .json(&json!({"prompt": "p"})),
    )
    .await;
    assert_eq!(s, 200);
    let info = sim.request(sub["request_id"].as_str().unwrap()).unwrap();
    assert_eq!(
        info.object_lifecycle,
        Some(json!({"expiration_duration_seconds": 3600}))
    );
    let (s, _) = submit_to(&sim, VEO, json!({"prompt": "p"}), Some("ftp://x")).await;
    assert_eq!(s, 400);
    let (s, _, b) = send(
        http()
            .post(format!("{}/{VEO}", sim.queue_url()))
            .header("X-Fal-Object-Lifecycle-Preference", "3600")
            .json(&json!({"prompt": "p"})),
    )
    .await;
    assert_eq!(s, 422);
    assert_eq!(
        b["detail"][0]["loc"],
        json!(["header", "x-fal-object-lifecycle-preference"])
    );
    assert_eq!(
        sim.request_ids().len(),
        2,
        "only the valid submits made requests"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn auth_with_a_key() {
    let sim = start(FalConfig {
        api_key: Some("sekrit".into()),
        render_time: Duration::from_secs(30),
        ..fast()
    })
    .await;
    let url = format!("{}/{VEO}", sim.queue_url());
    for auth in [None, Some("Bearer sekrit"), Some("Key wrong")] {
        let mut req = http().post(&url).json(&json!({"prompt": "p"}));
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        let (s, _, b) = send(req).await;
        assert_eq!(s, 401, "{auth:?}");
        assert!(!b.to_string().contains("sekrit"), "the key is never echoed");
    }
    let (s, _, sub) = send(
        http()
            .post(&url)
            .header("Authorization", "Key sekrit")
            .json(&json!({"prompt": "p"})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(get(sub["status_url"].as_str().unwrap()).await.0, 401);
    let (s, _, _) = send(
        http()
            .get(sub["status_url"].as_str().unwrap())
            .header("Authorization", "Key sekrit"),
    )
    .await;
    assert_eq!(s, 202);
    assert_eq!(get(&sim.jwks_url()).await.0, 200, "the JWKS is public");
    assert_eq!(sim.stats().submits, 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn rate_limits_and_server_errors() {
    let sim = start(FalConfig {
        faults: Faults {
            rate_limit_first: 1,
            server_error_first: 2,
            retry_after_secs: 2,
            ..Faults::default()
        },
        ..fast()
    })
    .await;
    let url = format!("{}/{VEO}", sim.queue_url());
    let (s, h, _) = send(http().post(&url).json(&json!({"prompt": "p"}))).await;
    assert_eq!(
        (s, h.get("retry-after").unwrap().to_str().unwrap()),
        (429, "2")
    );
    let mut got = Vec::new();
    for _ in 0..2 {
        got.push(
            send(http().post(&url).json(&json!({"prompt": "p"})))
                .await
                .0,
        );
    }
    assert_eq!(got, [500, 503]);
    assert_eq!(sim.stats().submits, 0, "faulted submits make no request");
    // Per job: the first request about it (the submit) is refused, the retry accepted.
    let job = json!({"prompt": "job [sim:rate_limit=1] [sim:render_ms=30000]"});
    assert_eq!(send(http().post(&url).json(&job)).await.0, 429);
    let (s, _, sub) = send(http().post(&url).json(&job)).await;
    assert_eq!(s, 200);
    assert_eq!(get(sub["status_url"].as_str().unwrap()).await.0, 202);
    assert_eq!(sim.stats().faults_served, 4);
    assert_eq!(sim.stats().submits, 1);
    sim.shutdown().await;
}
