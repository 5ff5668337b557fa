//! The real Runway client against the Runway simulator over 127.0.0.1: every route,
//! the faults the workflow relies on, and what travels (or must not) on the wire.
//!
//! Where the simulator cannot stage a fault on one call only (its per-task faults hit
//! the create first), a small recording proxy in front of it injects the answer.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use bytes::Bytes;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use sora_sim::runway::{expected_output, Route, RunwayConfig as SimConfig, RunwaySimulator};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vidgen_shared::config::Secret;
use vidgen_shared::domain::ErrorCode;
use vidgen_shared::provider::retry::RetryPolicy;
use vidgen_shared::provider::runway::{RunwayConfig, RunwayProvider};
use vidgen_shared::provider::{
    CreateVideo, ProviderError, ProviderStatus, ProviderVideo, ReferenceImage, RemixVideo, Variant,
    VideoProvider,
};

const KEY: &str = "key_0123456789abcdef0123456789abcdef";

fn fast() -> SimConfig {
    SimConfig {
        render_time: Duration::from_millis(400),
        pending_time: Duration::from_millis(100),
        api_key: Some(KEY.into()),
        ..SimConfig::default()
    }
}

async fn sim(config: SimConfig) -> RunwaySimulator {
    RunwaySimulator::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap()
}

fn client_at(base_url: String, key: &str) -> RunwayProvider {
    let mut config = RunwayConfig::new(base_url, Secret::new(key));
    config.retry = RetryPolicy {
        max_retries: 3,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        max_retry_after: Duration::from_secs(5),
    };
    config.min_poll_interval = Duration::ZERO;
    RunwayProvider::new(config).unwrap()
}

fn client(sim: &RunwaySimulator) -> RunwayProvider {
    client_at(sim.base_url(), KEY)
}

fn request(prompt: &str) -> CreateVideo {
    CreateVideo {
        prompt: prompt.into(),
        model: "gen4.5".into(),
        seconds: 5,
        size: "1280x720".into(),
        negative_prompt: None,
        input_reference: None,
        webhook_url: None,
    }
}

async fn wait_until_done(p: &RunwayProvider, id: &str) -> ProviderVideo {
    for _ in 0..300 {
        let v = p.retrieve(id).await.unwrap();
        if matches!(v.status, ProviderStatus::Completed | ProviderStatus::Failed) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("task {id} never finished");
}

async fn collect(p: &RunwayProvider, id: &str) -> Result<Vec<u8>, ProviderError> {
    let mut content = p.download(id, Variant::Video).await?;
    let mut out = Vec::new();
    while let Some(chunk) = content.body.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

/// The task as the simulator shows it on the wire (for comparing with the adapter).
async fn raw_task(sim: &RunwaySimulator, id: &str) -> serde_json::Value {
    reqwest::Client::new()
        .get(format!("{}/v1/tasks/{id}", sim.base_url()))
        .bearer_auth(KEY)
        .header("X-Runway-Version", "2024-11-06")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[tokio::test]
async fn text_to_video_completes_and_downloads_the_sims_bytes() {
    let config = SimConfig {
        // Several MB, so the body streams in many chunks.
        video_bytes: Some(3 * 1024 * 1024 + 17),
        ..fast()
    };
    let s = sim(config).await;
    let p = client(&s);
    let v = p.create(&request("A fox in the snow")).await.unwrap();
    assert_eq!(v.status, ProviderStatus::Queued);
    assert_eq!(v.cost_cents, Some(60), "gen4.5: 12 credits/s x 5 s");
    let (route, body) = s.last_create().unwrap();
    assert_eq!(route, Route::TextToVideo);
    assert_eq!(
        body,
        serde_json::json!({"model":"gen4.5","promptText":"A fox in the snow","ratio":"1280:720","duration":5})
    );
    assert!(
        matches!(
            p.download(&v.id, Variant::Video).await,
            Err(ProviderError::NotFound { .. })
        ),
        "no output before the task succeeds"
    );
    let mut saw_progress = false;
    let done = loop {
        let now = p.retrieve(&v.id).await.unwrap();
        saw_progress |= now.status == ProviderStatus::InProgress && now.progress > 0;
        if now.status != ProviderStatus::Queued && now.status != ProviderStatus::InProgress {
            break now;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(saw_progress, "progress rose while running");
    assert_eq!(
        (done.status, done.progress, done.cost_cents),
        (ProviderStatus::Completed, 100, Some(60))
    );
    let got = collect(&p, &v.id).await.unwrap();
    let want = expected_output(s.config(), &v.id).unwrap();
    assert_eq!(got.len(), want.len());
    assert_eq!(Sha256::digest(&got), Sha256::digest(&want));
    let content = p.download(&v.id, Variant::Video).await.unwrap();
    assert_eq!(content.content_length, Some(want.len() as u64));
    // Runway makes no thumbnail or spritesheet.
    for variant in [Variant::Thumbnail, Variant::Spritesheet] {
        assert!(matches!(
            p.download(&v.id, variant).await,
            Err(ProviderError::NotFound { .. })
        ));
    }
    assert_eq!(p.variants(), Variant::VIDEO_ONLY);
}

#[tokio::test]
async fn veo_gets_audio_and_the_negative_prompt() {
    let s = sim(fast()).await;
    let p = client(&s);
    let mut req = request("Waves at dusk");
    req.model = "veo3.1".into();
    req.seconds = 8;
    req.negative_prompt = Some("people, text".into());
    let v = p.create(&req).await.unwrap();
    let (_, body) = s.last_create().unwrap();
    assert_eq!(body["audio"], true);
    assert_eq!(body["negativePrompt"], "people, text");
    assert_eq!(
        wait_until_done(&p, &v.id).await.status,
        ProviderStatus::Completed
    );
}

#[tokio::test]
async fn image_to_video_sends_a_data_uri_the_sim_decodes() {
    let s = sim(fast()).await;
    let p = client(&s);
    let png = sora_sim::png_header(1280, 720);
    let mut req = request("from this frame");
    req.input_reference = Some(ReferenceImage {
        bytes: Bytes::from(png.clone()),
        content_type: "image/png".into(),
        file_name: "reference.png".into(),
    });
    let v = p.create(&req).await.unwrap();
    let (route, body) = s.last_create().unwrap();
    assert_eq!(route, Route::ImageToVideo);
    assert_eq!(body["promptImage"][0]["position"], "first");
    assert!(body["promptImage"][0]["uri"]
        .as_str()
        .unwrap()
        .starts_with("data:image/png;base64,"));
    let info = s.task(&v.id).unwrap();
    assert_eq!(info.fetched.len(), 1);
    assert_eq!(info.fetched[0].source, "data");
    assert_eq!(info.fetched[0].content_type, "image/png");
    assert_eq!(info.fetched[0].bytes, png.len() as u64);
    assert_eq!(info.fetched[0].dimensions, Some((1280, 720)));
    assert_eq!(
        wait_until_done(&p, &v.id).await.status,
        ProviderStatus::Completed
    );
}

#[tokio::test]
async fn an_image_over_the_data_uri_limit_is_refused_without_a_request() {
    let s = sim(fast()).await;
    let p = client(&s);
    let mut req = request("from this frame");
    req.input_reference = Some(ReferenceImage {
        bytes: Bytes::from(vec![0u8; 4 * 1024 * 1024]),
        content_type: "image/png".into(),
        file_name: "reference.png".into(),
    });
    let e = p.create(&req).await.unwrap_err();
    assert!(
        matches!(&e, ProviderError::Rejected { param: Some(p), .. } if p == "promptImage"),
        "{e:?}"
    );
    assert!(!e.may_have_acted());
    assert_eq!(s.stats().creates(), 0);
}

#[tokio::test]
async fn video_to_video_fetches_the_link_it_is_given() {
    let s = sim(fast()).await;
    let p = client(&s);
    let assets = serve(axum::Router::new().route(
        "/stored/source.mp4",
        get(|| async {
            (
                [(header::CONTENT_TYPE, "video/mp4")],
                sora_sim::content::SAMPLE_MP4,
            )
        }),
    ))
    .await;
    let url = format!("{assets}/stored/source.mp4");
    let v = p
        .remix(&RemixVideo {
            source_video_id: "task-of-the-source".into(),
            source_video_url: Some(url.clone()),
            source_video_bytes: None,
            prompt: "make it snow".into(),
            model: "gen4.5".into(),
            seconds: 5,
            size: "1280x720".into(),
        })
        .await
        .unwrap();
    assert_eq!(v.status, ProviderStatus::Queued);
    let (route, body) = s.last_create().unwrap();
    assert_eq!(route, Route::VideoToVideo);
    assert_eq!(
        body,
        serde_json::json!({"model":"aleph2","videoUri":url,"promptText":"make it snow"})
    );
    let info = s.task(&v.id).unwrap();
    assert_eq!(info.fetched[0].source, "url");
    assert_eq!(
        info.fetched[0].bytes,
        sora_sim::content::SAMPLE_MP4.len() as u64
    );
    assert_eq!(
        wait_until_done(&p, &v.id).await.status,
        ProviderStatus::Completed
    );
}

#[tokio::test]
async fn throttled_is_queued() {
    let s = sim(fast()).await;
    let p = client(&s);
    let v = p
        .create(&request("busy hour [sim:throttled_ms=1500]"))
        .await
        .unwrap();
    let mut seen_throttled = false;
    for _ in 0..100 {
        if raw_task(&s, &v.id).await["status"] == "THROTTLED" {
            seen_throttled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(seen_throttled, "the simulator throttles the task");
    let now = p.retrieve(&v.id).await.unwrap();
    assert_eq!(
        raw_task(&s, &v.id).await["status"],
        "THROTTLED",
        "still throttled"
    );
    assert_eq!((now.status, now.error), (ProviderStatus::Queued, None));
    assert_eq!(
        wait_until_done(&p, &v.id).await.status,
        ProviderStatus::Completed
    );
}

#[tokio::test]
async fn an_input_safety_failure_is_moderation_blocked_with_runways_message() {
    let s = sim(fast()).await;
    let p = client(&s);
    let v = p
        .create(&request("something refused [sim:moderation_input]"))
        .await
        .unwrap();
    let done = wait_until_done(&p, &v.id).await;
    let wire = raw_task(&s, &v.id).await;
    assert_eq!(done.status, ProviderStatus::Failed);
    let error = done.error.unwrap();
    assert_eq!(error.code, ErrorCode::ModerationBlocked);
    assert_eq!(error.provider_code.as_deref(), Some("SAFETY.INPUT.TEXT"));
    assert_eq!(error.message, wire["failure"].as_str().unwrap());
}

#[tokio::test]
async fn rate_limited_and_shed_creates_are_retried() {
    let s = sim(fast()).await;
    let p = client(&s);
    // 429: Runway did nothing, so trying again is safe.
    let v = p
        .create(&request("two 429s [sim:rate_limit=2]"))
        .await
        .unwrap();
    assert_eq!(s.stats().faults_served, 2);
    assert_eq!(s.task_ids(), vec![v.id.clone()]);
    // 502/503/504: Runway shed the request before acting on it (its docs: retry with
    // backoff), so a create is tried again and makes exactly one task. (A 500 or a
    // timeout may have made one: those are never retried in-process; see
    // `runway::tests::http_errors_map_as_runways_docs_say`.)
    let w = p
        .create(&request("two shed [sim:server_error=2]"))
        .await
        .unwrap();
    assert_eq!(s.stats().faults_served, 4);
    assert_eq!(s.task_ids().len(), 2);
    assert!(s.task_ids().contains(&w.id));
}

/// What a proxy in front of the simulator saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    authorization: Option<String>,
    version: Option<String>,
}

#[derive(Clone)]
struct Proxy {
    upstream: String,
    client: reqwest::Client,
    /// Statuses to answer, in turn, to `GET /v1/tasks/…` instead of forwarding.
    inject: Arc<Mutex<VecDeque<u16>>>,
    /// `Retry-After` sent with each injected answer.
    retry_after: Arc<Mutex<Option<String>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

async fn forward(State(proxy): State<Proxy>, request: Request) -> Response {
    let method = request.method().clone();
    let path = request
        .uri()
        .path_and_query()
        .map_or("/".to_string(), |p| p.to_string());
    let headers = request.headers().clone();
    let text = |h: &HeaderMap, name: &str| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    proxy.seen.lock().unwrap().push(Seen {
        method: method.to_string(),
        path: path.clone(),
        authorization: text(&headers, "authorization"),
        version: text(&headers, "x-runway-version"),
    });
    if method == axum::http::Method::GET && path.starts_with("/v1/tasks/") {
        if let Some(status) = proxy.inject.lock().unwrap().pop_front() {
            let status = StatusCode::from_u16(status).unwrap();
            let mut response = (status, r#"{"error":"injected"}"#).into_response();
            if let Some(after) = proxy.retry_after.lock().unwrap().clone() {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, after.parse().unwrap());
            }
            return response;
        }
    }
    let body = axum::body::to_bytes(request.into_body(), usize::MAX)
        .await
        .unwrap();
    let mut upstream = proxy
        .client
        .request(method, format!("{}{path}", proxy.upstream))
        .body(body);
    for name in ["authorization", "x-runway-version", "content-type"] {
        if let Some(v) = text(&headers, name) {
            upstream = upstream.header(name, v);
        }
    }
    let answer = upstream.send().await.unwrap();
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap();
    let content_type = text(answer.headers(), "content-type");
    let bytes = answer.bytes().await.unwrap();
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    if let Some(ct) = content_type {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, ct.parse().unwrap());
    }
    response
}

async fn proxy_to(sim: &RunwaySimulator, inject: &[u16]) -> (String, Proxy) {
    let proxy = Proxy {
        upstream: sim.base_url(),
        client: reqwest::Client::new(),
        inject: Arc::new(Mutex::new(inject.iter().copied().collect())),
        retry_after: Arc::default(),
        seen: Arc::default(),
    };
    let url = serve(
        axum::Router::new()
            .fallback(any(forward))
            .with_state(proxy.clone()),
    )
    .await;
    (url, proxy)
}

#[tokio::test]
async fn reads_are_retried_through_429_and_5xx() {
    let s = sim(fast()).await;
    let (url, proxy) = proxy_to(&s, &[429, 503, 429]).await;
    let p = client_at(url, KEY);
    let v = p.create(&request("a lighthouse")).await.unwrap();
    let now = p.retrieve(&v.id).await.unwrap();
    assert_eq!(now.id, v.id);
    let gets = proxy
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.method == "GET")
        .count();
    assert_eq!(gets, 4, "three refused tries, then the answer");
    // Out of retries: the last error is handed back, still retryable.
    proxy.inject.lock().unwrap().extend([429, 429, 429, 429]);
    let e = p.retrieve(&v.id).await.unwrap_err();
    assert!(matches!(e, ProviderError::RateLimited { .. }), "{e:?}");
}

#[tokio::test]
async fn a_retry_after_is_honoured() {
    let s = sim(fast()).await;
    let (url, proxy) = proxy_to(&s, &[]).await;
    let p = client_at(url, KEY);
    let v = p.create(&request("a lighthouse")).await.unwrap();
    proxy.inject.lock().unwrap().push_back(429);
    *proxy.retry_after.lock().unwrap() = Some("1".into());
    let started = std::time::Instant::now();
    p.retrieve(&v.id).await.unwrap();
    // The backoff alone would wait at most 50 ms.
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn every_api_call_carries_the_key_and_the_version_header() {
    let s = sim(fast()).await;
    let (url, proxy) = proxy_to(&s, &[]).await;
    let p = client_at(url, KEY);
    let v = p.create(&request("a lighthouse")).await.unwrap();
    wait_until_done(&p, &v.id).await;
    collect(&p, &v.id).await.unwrap();
    p.delete(&v.id).await.unwrap();
    let seen = proxy.seen.lock().unwrap().clone();
    let methods: std::collections::BTreeSet<_> = seen.iter().map(|s| s.method.as_str()).collect();
    assert_eq!(
        methods,
        ["DELETE", "GET", "POST"].into_iter().collect(),
        "{seen:?}"
    );
    for s in &seen {
        assert!(s.path.starts_with("/v1/"), "{s:?}");
        assert_eq!(s.authorization.as_deref(), Some(&*format!("Bearer {KEY}")));
        assert_eq!(s.version.as_deref(), Some("2024-11-06"));
    }
}

#[tokio::test]
async fn the_output_link_is_fetched_without_our_headers() {
    // A stand-in for Runway whose task's output is a link on the same server, which
    // records what reached it.
    let got: Arc<Mutex<Option<HeaderMap>>> = Arc::default();
    let recorded = got.clone();
    let base = Arc::new(Mutex::new(String::new()));
    let link_base = base.clone();
    let app = axum::Router::new()
        .route(
            "/v1/tasks/{id}",
            get(move || {
                let base = link_base.lock().unwrap().clone();
                async move {
                    axum::Json(serde_json::json!({
                        "id": "t1", "status": "SUCCEEDED", "createdAt": "2026-01-01T00:00:00Z",
                        "output": [format!("{base}/signed/out.mp4?sig=abc")],
                    }))
                }
            }),
        )
        .route(
            "/signed/out.mp4",
            get(move |headers: HeaderMap| async move {
                *recorded.lock().unwrap() = Some(headers);
                ([(header::CONTENT_TYPE, "video/mp4")], "MP4BYTES")
            }),
        );
    let url = serve(app).await;
    *base.lock().unwrap() = url.clone();
    let p = client_at(url, KEY);
    assert_eq!(collect(&p, "t1").await.unwrap(), b"MP4BYTES");
    let headers = got.lock().unwrap().clone().unwrap();
    assert!(headers.get("authorization").is_none(), "{headers:?}");
    assert!(headers.get("x-runway-version").is_none(), "{headers:?}");
}

#[tokio::test]
async fn an_expired_output_link_is_not_found() {
    let s = sim(SimConfig {
        output_url_ttl: Duration::ZERO,
        ..fast()
    })
    .await;
    let p = client(&s);
    let v = p.create(&request("gone quickly")).await.unwrap();
    wait_until_done(&p, &v.id).await;
    let e = collect(&p, &v.id).await.unwrap_err();
    assert!(matches!(e, ProviderError::NotFound { .. }), "{e:?}");
    assert_eq!(s.stats().expired_downloads, 1);
}

#[tokio::test]
async fn a_download_cut_short_is_an_error_not_a_short_file() {
    let s = sim(SimConfig {
        video_bytes: Some(1024 * 1024),
        ..fast()
    })
    .await;
    let p = client(&s);
    let v = p
        .create(&request("cut [sim:reset_download=65536]"))
        .await
        .unwrap();
    wait_until_done(&p, &v.id).await;
    let e = collect(&p, &v.id).await.unwrap_err();
    assert!(matches!(e, ProviderError::Transport { .. }), "{e:?}");
}

#[tokio::test]
async fn delete_cancels_a_running_task_then_deletes_it() {
    let s = sim(fast()).await;
    let p = client(&s);
    let v = p
        .create(&request("forever [sim:never_finish]"))
        .await
        .unwrap();
    p.delete(&v.id).await.unwrap();
    assert_eq!(s.stats().cancels, 1);
    assert!(s.task(&v.id).unwrap().cancelled);
    let now = p.retrieve(&v.id).await.unwrap();
    assert_eq!(now.status, ProviderStatus::Failed);
    assert_eq!(
        now.error.unwrap().provider_code.as_deref(),
        Some("CANCELLED")
    );
    // The cancelled task is deleted next; after that it is gone, which is no error.
    p.delete(&v.id).await.unwrap();
    assert_eq!(s.stats().deletes, 1);
    p.delete(&v.id).await.unwrap();
    assert!(matches!(
        p.retrieve(&v.id).await,
        Err(ProviderError::NotFound { .. })
    ));
}

#[tokio::test]
async fn a_bad_key_is_refused_and_never_echoed() {
    let s = sim(fast()).await;
    let wrong = "key_ffffffffffffffffffffffffffffffffffffffff";
    let p = client_at(s.base_url(), wrong);
    let e = p.create(&request("a fox")).await.unwrap_err();
    assert!(
        matches!(
            e,
            ProviderError::Rejected {
                status: 401,
                reason: ErrorCode::ProviderRejected,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(!e.may_have_acted());
    for shown in [e.to_string(), format!("{e:?}"), format!("{p:?}")] {
        assert!(!shown.contains(wrong), "{shown}");
        assert!(!shown.contains(KEY), "{shown}");
    }
    let e = p
        .retrieve("00000000-0000-0000-0000-000000000000")
        .await
        .unwrap_err();
    assert!(!format!("{e:?}").contains(wrong));
}

#[tokio::test]
async fn a_prompt_over_runways_limit_is_refused_without_a_request() {
    let s = sim(fast()).await;
    let p = client(&s);
    let e = p.create(&request(&"é".repeat(1001))).await.unwrap_err();
    assert!(
        matches!(&e, ProviderError::Rejected { param: Some(p), .. } if p == "promptText"),
        "{e:?}"
    );
    assert_eq!(s.stats().creates(), 0);
}

#[tokio::test]
async fn a_refusal_keeps_runways_message() {
    let s = sim(fast()).await;
    let p = client(&s);
    // gen4.5 text-to-video takes only 1280:720 and 720:1280.
    let mut req = request("tall and wide");
    req.size = "1920x1080".into();
    let e = p.create(&req).await.unwrap_err();
    match &e {
        ProviderError::Rejected {
            status: 400,
            reason: ErrorCode::ProviderRejected,
            message,
            ..
        } => assert!(message.contains("ratio"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert!(!e.may_have_acted() && !e.is_retryable());
    assert!(s.task_ids().is_empty());
}

#[tokio::test]
async fn a_deadline_bounds_retries_and_sends() {
    use vidgen_shared::deadline::Deadline;
    let s = sim(fast()).await;
    let (url, proxy) = proxy_to(&s, &[]).await;
    let p = client_at(url, KEY);
    let v = p.create(&request("a lighthouse")).await.unwrap();
    // A deadline already passed: nothing is sent.
    let late = p.with_deadline(Deadline::after(Duration::ZERO));
    let sent = proxy.seen.lock().unwrap().len();
    let e = late.retrieve(&v.id).await.unwrap_err();
    assert!(matches!(e, ProviderError::NotSent { .. }), "{e:?}");
    assert_eq!(proxy.seen.lock().unwrap().len(), sent);
    // A 429 whose retry would not fit before the deadline is handed back at once.
    proxy.inject.lock().unwrap().extend([429, 429, 429]);
    let short = p.with_deadline(Deadline::after(Duration::from_millis(500)));
    let e = short.retrieve(&v.id).await.unwrap_err();
    assert!(matches!(e, ProviderError::RateLimited { .. }), "{e:?}");
    assert_eq!(proxy.seen.lock().unwrap().len(), sent + 1, "one try only");
    assert_eq!(short.min_poll_interval(), Duration::ZERO);
}
