//! The Sora simulator's OpenAI webhooks over real sockets: a real axum receiver records
//! each POST, and the receiver we ship (`vidgen_shared::webhooks_in::openai`) verifies
//! the signatures, so the two cannot drift apart unnoticed.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxStatus};
use axum::routing::post;
use serde_json::{json, Value};
use sora_sim::{SimConfig, Simulator, WebhookEndpoint};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vidgen_shared::webhooks_in::openai::{verify, OpenAiEventKind, OpenAiWebhookSecret};
use vidgen_shared::webhooks_in::WebhookError;

/// 32 bytes of 0x2a, as a dashboard would show a secret.
const SECRET: &str = "whsec_KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=";

fn config(url: &str) -> SimConfig {
    SimConfig {
        render_time: Duration::from_millis(300),
        webhook: Some(WebhookEndpoint {
            url: url.into(),
            secret: SECRET.into(),
        }),
        webhook_retry_base: Duration::from_millis(50),
        webhook_retry_max: Duration::from_millis(200),
        ..SimConfig::default()
    }
}

async fn start(config: SimConfig) -> Simulator {
    Simulator::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap()
}

/// Create a video; its id.
async fn create(sim: &Simulator, prompt: &str) -> String {
    let r = reqwest::Client::new()
        .post(format!("{}/videos", sim.base_url()))
        .json(&json!({"prompt": prompt, "model": "sora-2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    body["id"].as_str().unwrap().to_string()
}

/// A webhook receiver: records each POST and answers with the next planned status
/// (then 200).
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<(HeaderMap, Bytes, Instant)>>>,
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
        r.got.lock().unwrap().push((headers, body, Instant::now()));
        let mut plan = r.plan.lock().unwrap();
        if plan.is_empty() {
            AxStatus::OK
        } else {
            AxStatus::from_u16(plan.remove(0)).unwrap()
        }
    }

    fn got(&self) -> Vec<(HeaderMap, Bytes, Instant)> {
        self.got.lock().unwrap().clone()
    }

    async fn wait_for(&self, n: usize) -> Vec<(HeaderMap, Bytes, Instant)> {
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

fn secret() -> OpenAiWebhookSecret {
    OpenAiWebhookSecret::parse(SECRET).unwrap()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[tokio::test]
async fn completed_video_pushes_a_signed_video_completed_event() {
    let (rx, url) = Receiver::start(vec![]).await;
    let sim = start(config(&url)).await;
    let created = Instant::now();
    let id = create(&sim, "a fox").await;
    let got = rx.wait_for(1).await;
    let (headers, body, at) = &got[0];
    // Not before the render ends.
    assert!(at.duration_since(created) >= Duration::from_millis(250));
    let event = verify(headers, body, &secret(), now()).expect("the shipped receiver accepts it");
    assert_eq!(
        event.kind,
        OpenAiEventKind::VideoCompleted {
            video_id: id.clone()
        }
    );
    assert!(event.event_id.starts_with("evt_"));
    assert!(event.webhook_id.starts_with("msg_"));
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(
        headers["user-agent"],
        "OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)"
    );
    let json: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(json["object"], "event");
    assert_eq!(json["data"], json!({ "id": id }));
    // The video itself is completed by then.
    let video: Value = reqwest::get(format!("{}/videos/{id}", sim.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(video["status"], "completed");
    tokio::time::sleep(Duration::from_millis(150)).await;
    let stats = sim.stats();
    assert_eq!((stats.webhooks_sent, stats.webhooks_acknowledged), (1, 1));
    assert_eq!(rx.got().len(), 1, "one acknowledged delivery only");
}

#[tokio::test]
async fn failed_video_pushes_video_failed() {
    let (rx, url) = Receiver::start(vec![]).await;
    let sim = start(config(&url)).await;
    let id = create(&sim, "a fox [sim:fail]").await;
    let got = rx.wait_for(1).await;
    let event = verify(&got[0].0, &got[0].1, &secret(), now()).unwrap();
    assert_eq!(event.kind, OpenAiEventKind::VideoFailed { video_id: id });
}

#[tokio::test]
async fn refused_deliveries_are_retried_with_the_same_webhook_id() {
    let (rx, url) = Receiver::start(vec![500, 404]).await;
    let sim = start(config(&url)).await;
    create(&sim, "a fox").await;
    let got = rx.wait_for(3).await;
    let ids: Vec<_> = got
        .iter()
        .map(|(h, _, _)| h["webhook-id"].clone())
        .collect();
    assert!(ids.iter().all(|i| *i == ids[0]), "{ids:?}");
    // Backoff: the second retry waits about twice the first.
    let first = got[1].2.duration_since(got[0].2);
    let second = got[2].2.duration_since(got[1].2);
    assert!(first >= Duration::from_millis(45), "{first:?}");
    assert!(second >= Duration::from_millis(95), "{second:?}");
    // Every attempt is signed validly.
    for (h, b, _) in &got {
        verify(h, b, &secret(), now()).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stats = sim.stats();
    assert_eq!((stats.webhooks_sent, stats.webhooks_acknowledged), (3, 1));
}

#[tokio::test]
async fn delivery_gives_up_after_the_configured_attempts() {
    let (rx, url) = Receiver::start(vec![503; 10]).await;
    let sim = start(SimConfig {
        webhook_attempts: 2,
        ..config(&url)
    })
    .await;
    create(&sim, "a fox").await;
    rx.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(rx.got().len(), 2);
    assert_eq!(sim.stats().webhooks_acknowledged, 0);
}

#[tokio::test]
async fn withheld_webhooks_never_arrive() {
    let (rx, url) = Receiver::start(vec![]).await;
    let sim = start(config(&url)).await;
    create(&sim, "a fox [sim:webhook_withhold]").await;
    // A run-wide switch does the same.
    let (rx2, url2) = Receiver::start(vec![]).await;
    let sim2 = start(SimConfig {
        withhold_webhooks: true,
        ..config(&url2)
    })
    .await;
    create(&sim2, "a fox").await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(rx.got().is_empty() && rx2.got().is_empty());
    assert_eq!(sim.stats().webhooks_withheld, 1);
    assert_eq!(sim.stats().webhooks_sent, 0);
    assert_eq!(sim2.stats().webhooks_withheld, 1);
}

#[tokio::test]
async fn no_endpoint_means_no_webhooks() {
    let (rx, _url) = Receiver::start(vec![]).await;
    let sim = start(SimConfig {
        render_time: Duration::from_millis(100),
        ..SimConfig::default()
    })
    .await;
    create(&sim, "a fox").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(rx.got().is_empty());
    assert_eq!(sim.stats().webhooks_sent, 0);
}

#[tokio::test]
async fn forged_and_stale_webhooks_are_refused_by_our_receiver() {
    let (rx, url) = Receiver::start(vec![]).await;
    let sim = start(config(&url)).await;
    create(&sim, "a fox [sim:webhook_forge]").await;
    let got = rx.wait_for(1).await;
    let refused = verify(&got[0].0, &got[0].1, &secret(), now()).unwrap_err();
    assert!(matches!(refused, WebhookError::BadSignature), "{refused}");

    let (rx, url) = Receiver::start(vec![]).await;
    let sim = start(SimConfig {
        stale_timestamp: true,
        ..config(&url)
    })
    .await;
    create(&sim, "a fox").await;
    let got = rx.wait_for(1).await;
    let stamped: i64 = got[0].0["webhook-timestamp"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(now() - stamped >= sora_sim::webhook::STALE_BY_SECS - 2);
    let refused = verify(&got[0].0, &got[0].1, &secret(), now()).unwrap_err();
    assert!(
        matches!(refused, WebhookError::TimestampTooOld { .. }),
        "{refused}"
    );
    // Signed validly for its (old) time: only the window refuses it.
    verify(&got[0].0, &got[0].1, &secret(), stamped).unwrap();
}

#[tokio::test]
async fn duplicates_and_delays() {
    let (rx, url) = Receiver::start(vec![]).await;
    let sim = start(config(&url)).await;
    create(&sim, "a fox [sim:webhook_duplicate]").await;
    let got = rx.wait_for(2).await;
    assert_eq!(got[0].0["webhook-id"], got[1].0["webhook-id"]);
    assert_eq!(got[0].1, got[1].1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(rx.got().len(), 2);
    assert_eq!(sim.stats().webhooks_sent, 2);

    let (rx, url) = Receiver::start(vec![]).await;
    let sim = start(config(&url)).await;
    let created = Instant::now();
    create(&sim, "a fox [sim:webhook_delay_ms=700]").await;
    let got = rx.wait_for(1).await;
    assert!(
        got[0].2.duration_since(created) >= Duration::from_millis(950),
        "render 300 ms + delay 700 ms"
    );
}

#[tokio::test]
async fn unusable_endpoints_are_refused_at_start() {
    for (url, secret, says) in [
        ("ftp://127.0.0.1/hook", SECRET, "http or https"),
        ("http://127.0.0.1/hook", "whsec_%%%", "base64"),
        ("http://127.0.0.1/hook", "", "empty"),
    ] {
        let err = Simulator::start(
            "127.0.0.1:0".parse().unwrap(),
            SimConfig {
                webhook: Some(WebhookEndpoint {
                    url: url.into(),
                    secret: secret.into(),
                }),
                ..SimConfig::default()
            },
        )
        .await
        .err()
        .expect("refused");
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains(says), "{err}");
    }
}
