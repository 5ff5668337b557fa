//! The Runway simulator over real sockets: routes, headers, validation, lifecycle,
//! output links, DELETE, markers, run-wide faults, costs and asset fetching.

use axum::http::{header, StatusCode as AxStatus};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::{json, Value};
use sora_sim::content::SAMPLE_MP4;
use sora_sim::runway::{expected_output, Route, RunwayConfig, RunwaySimulator};
use sora_sim::{expected_digest, png_header, Faults};
use std::time::{Duration, Instant};

const VERSION: &str = "2024-11-06";

fn fast() -> RunwayConfig {
    RunwayConfig {
        render_time: Duration::from_millis(400),
        pending_time: Duration::from_millis(100),
        ..RunwayConfig::default()
    }
}

async fn start(config: RunwayConfig) -> RunwaySimulator {
    RunwaySimulator::start("127.0.0.1:0".parse().unwrap(), config)
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
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, headers, body)
}

async fn post(sim: &RunwaySimulator, path: &str, body: Value) -> (u16, Value) {
    let req = http()
        .post(format!("{}{path}", sim.base_url()))
        .header("X-Runway-Version", VERSION)
        .json(&body);
    let (s, _, b) = send(req).await;
    (s, b)
}

async fn task(sim: &RunwaySimulator, id: &str) -> (u16, Value) {
    let req = http()
        .get(format!("{}/v1/tasks/{id}", sim.base_url()))
        .header("X-Runway-Version", VERSION);
    let (s, _, b) = send(req).await;
    (s, b)
}

async fn delete(sim: &RunwaySimulator, id: &str) -> u16 {
    let req = http()
        .delete(format!("{}/v1/tasks/{id}", sim.base_url()))
        .header("X-Runway-Version", VERSION);
    send(req).await.0
}

fn gen45(prompt: &str) -> Value {
    json!({"model": "gen4.5", "promptText": prompt, "ratio": "1280:720", "duration": 5})
}

async fn create(sim: &RunwaySimulator, prompt: &str) -> String {
    let (s, b) = post(sim, "/v1/text_to_video", gen45(prompt)).await;
    assert_eq!(s, 200, "{b}");
    b["id"].as_str().unwrap().to_string()
}

/// Poll until the task leaves the given statuses; returns every answer seen.
async fn follow(sim: &RunwaySimulator, id: &str, deadline: Duration) -> Vec<Value> {
    let end = Instant::now() + deadline;
    let mut seen = Vec::new();
    loop {
        let (s, b) = task(sim, id).await;
        assert_eq!(s, 200, "{b}");
        let status = b["status"].as_str().unwrap().to_string();
        seen.push(b);
        if ["SUCCEEDED", "FAILED", "CANCELLED"].contains(&status.as_str()) || Instant::now() > end {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn final_state(sim: &RunwaySimulator, id: &str) -> Value {
    follow(sim, id, Duration::from_secs(5)).await.pop().unwrap()
}

/// A tiny server for the assets a task names.
async fn asset_server() -> String {
    let app = axum::Router::new()
        .route(
            "/image.png",
            get(|| async { ([(header::CONTENT_TYPE, "image/png")], png_header(1280, 720)) }),
        )
        .route(
            "/video.mp4",
            get(|| async { ([(header::CONTENT_TYPE, "video/mp4")], SAMPLE_MP4) }),
        )
        .route(
            "/text",
            get(|| async { ([(header::CONTENT_TYPE, "text/plain")], "hello") }),
        )
        .route(
            "/octet",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "application/octet-stream")],
                    png_header(8, 8),
                )
            }),
        )
        .route(
            "/no-head",
            get(|method: axum::http::Method| async move {
                if method == axum::http::Method::HEAD {
                    // What an S3 link presigned for GET answers to HEAD.
                    AxStatus::FORBIDDEN.into_response()
                } else {
                    ([(header::CONTENT_TYPE, "image/png")], png_header(8, 8)).into_response()
                }
            }),
        )
        .route(
            "/chunked",
            get(|| async {
                let chunks = futures::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from(
                    png_header(8, 8),
                ))]);
                (
                    [(header::CONTENT_TYPE, "image/png")],
                    axum::body::Body::from_stream(chunks),
                )
            }),
        )
        .route(
            "/redirect",
            get(|| async { (AxStatus::FOUND, [(header::LOCATION, "/image.png")]).into_response() }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[tokio::test]
async fn each_create_route_answers_an_id_and_an_estimated_cost() {
    let sim = start(fast()).await;
    let assets = asset_server().await;
    let (s, b) = post(&sim, "/v1/text_to_video", gen45("a fox")).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["estimatedCost"], json!({"credits": 60.0}));
    assert_eq!(b["id"].as_str().unwrap().len(), 36);

    let i2v = json!({"model": "veo3.1", "ratio": "1280:720", "duration": 4, "audio": false,
                     "promptImage": [{"uri": format!("{assets}/image.png"), "position": "first"}],
                     "negativePrompt": "rain"});
    let (s, b) = post(&sim, "/v1/image_to_video", i2v.clone()).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["estimatedCost"], json!({"credits": 80.0}));
    let info = sim.task(b["id"].as_str().unwrap()).unwrap();
    assert_eq!(info.fetched.len(), 1);
    assert_eq!(info.fetched[0].field, "promptImage[0].uri");
    assert_eq!(info.fetched[0].content_type, "image/png");
    assert_eq!(info.fetched[0].bytes, png_header(1280, 720).len() as u64);
    assert_eq!(info.fetched[0].dimensions, Some((1280, 720)));
    // The exact wire body is kept for tests of the client.
    assert_eq!(sim.last_create(), Some((Route::ImageToVideo, i2v)));

    let v2v =
        json!({"model": "aleph2", "videoUri": format!("{assets}/video.mp4"), "promptText": "snow"});
    let (s, b) = post(&sim, "/v1/video_to_video", v2v).await;
    assert_eq!(s, 200, "{b}");
    let id = b["id"].as_str().unwrap().to_string();
    let info = sim.task(&id).unwrap();
    assert_eq!(info.fetched[0].bytes, SAMPLE_MP4.len() as u64);
    assert_eq!(info.fetched[0].content_type, "video/mp4");
    assert_eq!(final_state(&sim, &id).await["status"], "SUCCEEDED");

    let stats = sim.stats();
    assert_eq!(
        (
            stats.text_to_video,
            stats.image_to_video,
            stats.video_to_video
        ),
        (1, 1, 1)
    );
    assert_eq!(stats.creates(), 3);
}

#[tokio::test]
async fn every_request_needs_the_version_header() {
    let sim = start(fast()).await;
    let id = create(&sim, "p").await;
    let url = format!("{}/v1/text_to_video", sim.base_url());
    let (s, _, b) = send(http().post(&url).json(&gen45("p"))).await;
    assert_eq!(s, 400);
    assert!(
        b["error"].as_str().unwrap().contains("X-Runway-Version"),
        "{b}"
    );
    let (s, _, b) = send(
        http()
            .post(&url)
            .header("X-Runway-Version", "2023-01-01")
            .json(&gen45("p")),
    )
    .await;
    assert_eq!(s, 400);
    assert!(b["error"].as_str().unwrap().contains("2023-01-01"), "{b}");
    let get_url = format!("{}/v1/tasks/{id}", sim.base_url());
    assert_eq!(send(http().get(&get_url)).await.0, 400);
    assert_eq!(send(http().delete(&get_url)).await.0, 400);
    assert_eq!(sim.stats().creates(), 1, "refused requests create nothing");
}

#[tokio::test]
async fn a_configured_key_is_required_and_never_echoed() {
    let sim = start(RunwayConfig {
        api_key: Some("key_secret".into()),
        ..fast()
    })
    .await;
    let url = format!("{}/v1/text_to_video", sim.base_url());
    let base = || {
        http()
            .post(&url)
            .header("X-Runway-Version", VERSION)
            .json(&gen45("p"))
    };
    let (s, _, b) = send(base()).await;
    assert_eq!(s, 401, "{b}");
    let (s, _, b) = send(base().bearer_auth("key_wrong")).await;
    assert_eq!(s, 401);
    assert!(!b.to_string().contains("key_wrong"), "{b}");
    let (s, _, b) = send(base().bearer_auth("key_secret")).await;
    assert_eq!(s, 200, "{b}");
    let id = b["id"].as_str().unwrap();
    let get_url = format!("{}/v1/tasks/{id}", sim.base_url());
    let (s, _, _) = send(http().get(&get_url).header("X-Runway-Version", VERSION)).await;
    assert_eq!(s, 401);
    // The output link is signed: fetched without any auth header.
    let end = Instant::now() + Duration::from_secs(5);
    let output = loop {
        let (_, _, b) = send(
            http()
                .get(&get_url)
                .header("X-Runway-Version", VERSION)
                .bearer_auth("key_secret"),
        )
        .await;
        if b["status"] == "SUCCEEDED" || Instant::now() > end {
            break b["output"][0].as_str().unwrap().to_string();
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    };
    let r = http().get(&output).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn validation_errors_name_the_field() {
    let sim = start(fast()).await;
    let cases = [
        (
            "/v1/text_to_video",
            json!({"model": "gen4.5", "promptText": "x", "ratio": "960:960", "duration": 5}),
            "ratio",
        ),
        (
            "/v1/text_to_video",
            json!({"model": "gen4.5", "promptText": "x".repeat(1001), "ratio": "1280:720", "duration": 5}),
            "promptText",
        ),
        (
            "/v1/text_to_video",
            json!({"model": "gen4.5", "promptText": "x", "ratio": "1280:720", "duration": 5, "negativePrompt": "rain"}),
            "negativePrompt",
        ),
        (
            "/v1/text_to_video",
            json!({"model": "veo3.1", "promptText": "x", "ratio": "1280:720", "duration": 5}),
            "duration",
        ),
        (
            "/v1/text_to_video",
            json!({"model": "gen4.5", "promptText": "x", "ratio": "1280:720"}),
            "duration",
        ),
        (
            "/v1/text_to_video",
            json!({"model": "gen4_turbo", "promptText": "x"}),
            "model",
        ),
        (
            "/v1/image_to_video",
            json!({"model": "gen4.5", "promptText": "x", "ratio": "1280:720", "duration": 5, "promptImage": [{"uri": "https://x/a.png", "position": "last"}]}),
            "promptImage[0].position",
        ),
        (
            "/v1/video_to_video",
            json!({"model": "aleph2", "promptText": "x"}),
            "videoUri",
        ),
    ];
    for (path, body, field) in cases {
        let (s, b) = post(&sim, path, body).await;
        assert_eq!(s, 400, "{b}");
        assert!(b["error"].as_str().unwrap().contains(field), "{field}: {b}");
        let issue_path: Vec<String> = b["issues"][0]["path"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.to_string().trim_matches('"').to_string())
            .collect();
        assert_eq!(issue_path.join("."), field.replace("[0]", ".0"), "{b}");
    }
    let (s, _, b) = send(
        http()
            .post(format!("{}/v1/text_to_video", sim.base_url()))
            .header("X-Runway-Version", VERSION)
            .body("{not json"),
    )
    .await;
    assert_eq!(s, 400);
    assert!(b["error"].as_str().unwrap().contains("JSON"), "{b}");
    assert!(sim.task_ids().is_empty(), "no task from a bad request");
}

#[tokio::test]
async fn a_task_goes_pending_throttled_running_succeeded() {
    let sim = start(fast()).await;
    let id = create(&sim, "a fox [sim:throttled_ms=300]").await;
    let seen = follow(&sim, &id, Duration::from_secs(5)).await;
    let statuses: Vec<&str> = seen.iter().map(|b| b["status"].as_str().unwrap()).collect();
    let mut order = statuses.clone();
    order.dedup();
    assert_eq!(
        order,
        ["PENDING", "THROTTLED", "RUNNING", "SUCCEEDED"],
        "{statuses:?}"
    );
    let mut last = 0.0;
    for b in &seen {
        assert_eq!(b["id"], id.as_str());
        chrono::DateTime::parse_from_rfc3339(b["createdAt"].as_str().unwrap()).unwrap();
        match b["status"].as_str().unwrap() {
            "RUNNING" => {
                let p = b["progress"].as_f64().unwrap();
                assert!((0.0..=1.0).contains(&p) && p >= last, "{b}");
                last = p;
                assert_eq!(b["estimatedCost"], json!({"credits": 60.0}));
            }
            "SUCCEEDED" => {
                // `cost.credits` is an integer, `estimatedCost.credits` a float.
                assert_eq!(b["cost"], json!({"credits": 60}));
                assert!(b.get("estimatedCost").is_none());
                assert_eq!(b["output"].as_array().unwrap().len(), 1);
            }
            _ => {
                assert!(b.get("progress").is_none(), "{b}");
                assert_eq!(b["estimatedCost"], json!({"credits": 60.0}));
            }
        }
    }
    let (s, b) = task(&sim, "00000000-0000-4000-8000-000000000000").await;
    assert_eq!(s, 404);
    assert!(b["error"].is_string());
}

#[tokio::test]
async fn output_links_expire_and_each_get_mints_a_fresh_one() {
    let sim = start(RunwayConfig {
        output_url_ttl: Duration::from_millis(400),
        ..fast()
    })
    .await;
    let id = create(&sim, "p").await;
    let first = final_state(&sim, &id).await;
    let url1 = first["output"][0].as_str().unwrap().to_string();
    let bytes = http()
        .get(&url1)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        bytes.as_ref(),
        expected_output(sim.config(), &id).unwrap().as_slice()
    );
    let (_, again) = task(&sim, &id).await;
    let url2 = again["output"][0].as_str().unwrap().to_string();
    assert_ne!(url1, url2);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(http().get(&url1).send().await.unwrap().status(), 403);
    assert_eq!(http().get(&url2).send().await.unwrap().status(), 403);
    let (_, fresh) = task(&sim, &id).await;
    let url3 = fresh["output"][0].as_str().unwrap();
    assert_eq!(http().get(url3).send().await.unwrap().status(), 200);
    let tampered = url3.replace("expires=", "expires=9");
    assert_eq!(http().get(&tampered).send().await.unwrap().status(), 403);
    let stats = sim.stats();
    assert_eq!((stats.downloads, stats.expired_downloads), (2, 2));
}

#[tokio::test]
async fn delete_cancels_a_live_task_and_deletes_an_ended_one() {
    let sim = start(fast()).await;
    let live = create(&sim, "p [sim:never_finish]").await;
    assert_eq!(delete(&sim, &live).await, 204);
    let (_, b) = task(&sim, &live).await;
    assert_eq!(b["status"], "CANCELLED");
    assert_eq!(b["cost"], json!({"credits": 0}));
    // A cancelled task has ended: a second DELETE deletes it.
    assert_eq!(delete(&sim, &live).await, 204);
    assert_eq!(task(&sim, &live).await.0, 404);
    assert_eq!(delete(&sim, &live).await, 404);

    let done = create(&sim, "q").await;
    let end = final_state(&sim, &done).await;
    let output = end["output"][0].as_str().unwrap().to_string();
    assert_eq!(delete(&sim, &done).await, 204);
    assert_eq!(task(&sim, &done).await.0, 404);
    assert_eq!(http().get(&output).send().await.unwrap().status(), 404);
    let stats = sim.stats();
    assert_eq!((stats.cancels, stats.deletes), (1, 2));
    assert!(sim.task(&done).unwrap().deleted);
}

async fn failure_of(sim: &RunwaySimulator, prompt: &str) -> (String, String, Value) {
    let id = create(sim, prompt).await;
    let b = final_state(sim, &id).await;
    assert_eq!(b["status"], "FAILED", "{b}");
    (
        b["failureCode"].as_str().unwrap().to_string(),
        b["failure"].as_str().unwrap().to_string(),
        b["cost"].clone(),
    )
}

#[tokio::test]
async fn failure_markers_end_the_task_with_runways_codes() {
    let sim = start(fast()).await;
    let (code, text, cost) = failure_of(&sim, "p [sim:moderation_input]").await;
    assert_eq!(code, "SAFETY.INPUT.TEXT");
    assert!(!text.is_empty());
    // Runway charges moderated generations like successful ones; other failures are
    // refunded.
    assert_eq!(cost, json!({"credits": 60}));
    let (code, _, cost) = failure_of(&sim, "p [sim:moderation_end]").await;
    assert_eq!(
        (code.as_str(), cost),
        ("SAFETY.OUTPUT.VIDEO", json!({"credits": 60}))
    );
    let (code, _, cost) = failure_of(&sim, "p [sim:fail]").await;
    assert_eq!(
        (code.as_str(), cost),
        ("INTERNAL.BAD_OUTPUT.CODE01", json!({"credits": 0}))
    );
    // Input moderation fails as soon as the task leaves PENDING; output moderation only
    // after it ran.
    let id = create(&sim, "q [sim:moderation_end]").await;
    let seen = follow(&sim, &id, Duration::from_secs(5)).await;
    assert!(seen.iter().any(|b| b["status"] == "RUNNING"));
    let id = create(&sim, "q [sim:moderation_input]").await;
    let seen = follow(&sim, &id, Duration::from_secs(5)).await;
    assert!(!seen.iter().any(|b| b["status"] == "RUNNING"));
}

#[tokio::test]
async fn never_finish_stalls_and_render_ms_sets_the_pace() {
    let sim = start(fast()).await;
    let id = create(&sim, "p [sim:never_finish]").await;
    tokio::time::sleep(Duration::from_millis(900)).await;
    let (_, b) = task(&sim, &id).await;
    assert_eq!(b["status"], "RUNNING");
    assert!(b["progress"].as_f64().unwrap() < 0.9, "{b}");
    let slow = create(&sim, "p [sim:render_ms=5000]").await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let (_, b) = task(&sim, &slow).await;
    assert_eq!(b["status"], "RUNNING", "{b}");
    assert!(b["progress"].as_f64().unwrap() < 0.5, "{b}");
}

#[tokio::test]
async fn rate_limit_and_server_error_markers() {
    let sim = start(fast()).await;
    let body = gen45("p [sim:rate_limit=2]");
    let url = format!("{}/v1/text_to_video", sim.base_url());
    for _ in 0..2 {
        let (s, h, b) = send(
            http()
                .post(&url)
                .header("X-Runway-Version", VERSION)
                .json(&body),
        )
        .await;
        assert_eq!(s, 429, "{b}");
        assert!(
            h.get("retry-after").is_none(),
            "Runway documents no Retry-After"
        );
        assert!(b["error"].is_string());
    }
    let (s, b) = post(&sim, "/v1/text_to_video", body).await;
    assert_eq!(s, 200, "{b}");

    let body = gen45("p [sim:server_error=4]");
    let mut codes = Vec::new();
    for _ in 0..4 {
        codes.push(post(&sim, "/v1/text_to_video", body.clone()).await.0);
    }
    assert_eq!(codes, [502, 503, 504, 502]);
    assert_eq!(post(&sim, "/v1/text_to_video", body).await.0, 200);
    assert_eq!(sim.stats().faults_served, 6);
    assert_eq!(
        sim.stats().text_to_video,
        2,
        "faulted requests create nothing"
    );
}

#[tokio::test]
async fn run_wide_faults() {
    let sim = start(RunwayConfig {
        faults: Faults {
            rate_limit_first: 1,
            server_error_first: 3,
            moderation_at_create: true,
            ..Faults::default()
        },
        ..fast()
    })
    .await;
    let mut codes = Vec::new();
    for _ in 0..5 {
        codes.push(post(&sim, "/v1/text_to_video", gen45("p")).await.0);
    }
    assert_eq!(codes, [429, 502, 503, 504, 200]);
    let id = sim.task_ids().pop().unwrap();
    assert_eq!(
        final_state(&sim, &id).await["failureCode"],
        "SAFETY.INPUT.TEXT"
    );

    let sim = start(RunwayConfig {
        faults: Faults {
            moderation_at_end: true,
            ..Faults::default()
        },
        ..fast()
    })
    .await;
    let id = create(&sim, "p").await;
    assert_eq!(
        final_state(&sim, &id).await["failureCode"],
        "SAFETY.OUTPUT.VIDEO"
    );

    let sim = start(RunwayConfig {
        faults: Faults {
            never_finish: true,
            ..Faults::default()
        },
        throttled_time: Duration::from_millis(200),
        ..fast()
    })
    .await;
    let id = create(&sim, "p").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(task(&sim, &id).await.1["status"], "THROTTLED");
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(task(&sim, &id).await.1["status"], "RUNNING");
}

#[tokio::test]
async fn download_markers_shape_the_output() {
    let sim = start(RunwayConfig {
        download_chunk: 1024,
        ..fast()
    })
    .await;
    let id = create(&sim, "p [sim:video_bytes=100000]").await;
    let url = final_state(&sim, &id).await["output"][0]
        .as_str()
        .unwrap()
        .to_string();
    let r = http().get(&url).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "video/mp4");
    let body = r.bytes().await.unwrap();
    assert_eq!(body.len(), 100_000);
    let digest: [u8; 32] = {
        use sha2::Digest;
        sha2::Sha256::digest(&body).into()
    };
    assert_eq!(digest, expected_digest(&id, 100_000));

    let id = create(&sim, "p [sim:reset_download=4096]").await;
    let url = final_state(&sim, &id).await["output"][0]
        .as_str()
        .unwrap()
        .to_string();
    // Hyper may not have flushed the headers before the cut: the failure shows at the
    // send or in the body, never as a short success.
    let outcome = match http().get(&url).send().await {
        Ok(r) => r.bytes().await.map(|b| b.len()),
        Err(e) => Err(e),
    };
    assert!(outcome.is_err(), "{outcome:?}");

    let id = create(&sim, "p [sim:slow_download=20000]").await;
    let url = final_state(&sim, &id).await["output"][0]
        .as_str()
        .unwrap()
        .to_string();
    let started = Instant::now();
    let body = http()
        .get(&url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(body.as_ref(), SAMPLE_MP4);
    let floor = SAMPLE_MP4.len() as f64 / 20000.0 * 0.8;
    assert!(
        started.elapsed().as_secs_f64() >= floor,
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn costs_follow_the_model_and_duration() {
    let sim = start(fast()).await;
    let cases = [
        (
            json!({"model": "gen4.5", "promptText": "x", "ratio": "720:1280", "duration": 10}),
            120,
        ),
        (
            json!({"model": "veo3.1", "promptText": "x", "ratio": "720:1280"}),
            320,
        ),
        (
            json!({"model": "veo3.1", "promptText": "x", "ratio": "720:1280", "audio": false, "duration": 6}),
            120,
        ),
        (
            json!({"model": "veo3.1_fast", "promptText": "x", "ratio": "720:1280", "duration": 4}),
            60,
        ),
    ];
    for (body, credits) in cases {
        let (s, b) = post(&sim, "/v1/text_to_video", body.clone()).await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(b["estimatedCost"]["credits"], credits as f64, "{body}");
    }
}

#[tokio::test]
async fn assets_are_read_and_unusable_ones_refused_naming_the_field() {
    let sim = start(fast()).await;
    let assets = asset_server().await;
    let i2v = |uri: String| json!({"model": "gen4.5", "promptText": "x", "ratio": "1280:720", "duration": 5, "promptImage": uri});
    // A data URI is decoded, not fetched.
    use base64::Engine;
    let data = base64::engine::general_purpose::STANDARD.encode(png_header(720, 1280));
    let (s, b) = post(
        &sim,
        "/v1/image_to_video",
        i2v(format!("data:image/png;base64,{data}")),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let info = sim.task(b["id"].as_str().unwrap()).unwrap();
    assert_eq!(info.fetched[0].source, "data");
    assert_eq!(info.fetched[0].dimensions, Some((720, 1280)));

    // An asset that cannot be used is a 400 naming the field and the reason; no task.
    let before = sim.task_ids().len();
    for (path, why) in [
        ("/missing", "404"),
        ("/text", "Content-Type"),
        ("/octet", "Content-Type"),
        ("/redirect", "302"),
        ("/no-head", "HEAD"),
        ("/chunked", "Content-Length"),
    ] {
        let (s, b) = post(&sim, "/v1/image_to_video", i2v(format!("{assets}{path}"))).await;
        assert_eq!(s, 400, "{path}: {b}");
        let error = b["error"].as_str().unwrap();
        assert!(
            error.contains("promptImage") && error.contains(why),
            "{path}: {error}"
        );
        assert_eq!(b["issues"][0]["path"], json!(["promptImage"]));
    }
    let (s, b) = post(
        &sim,
        "/v1/image_to_video",
        i2v("data:application/octet-stream;base64,AAAA".into()),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(sim.task_ids().len(), before);
    // Without the HEAD rule, a GET-only link is read.
    let lax = start(RunwayConfig {
        require_head: false,
        ..fast()
    })
    .await;
    let (s, b) = post(&lax, "/v1/image_to_video", i2v(format!("{assets}/no-head"))).await;
    assert_eq!(s, 200, "{b}");

    let (s, b) = post(
        &sim,
        "/v1/image_to_video",
        i2v("http://example.com/a.png".into()),
    )
    .await;
    assert_eq!(s, 400);
    assert!(b["error"].as_str().unwrap().contains("promptImage"), "{b}");
    let strict = start(RunwayConfig {
        allow_http_assets: false,
        ..fast()
    })
    .await;
    let (s, _) = post(
        &strict,
        "/v1/image_to_video",
        i2v(format!("{assets}/image.png")),
    )
    .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn the_shortest_gap_between_polls_is_recorded() {
    let sim = start(fast()).await;
    let id = create(&sim, "p").await;
    assert_eq!(sim.task(&id).unwrap().min_get_gap, None);
    task(&sim, &id).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    task(&sim, &id).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    task(&sim, &id).await;
    let info = sim.task(&id).unwrap();
    assert_eq!(info.gets, 3);
    let gap = info.min_get_gap.unwrap();
    assert!(
        gap >= Duration::from_millis(150) && gap < Duration::from_millis(300),
        "{gap:?}"
    );
    assert_eq!(sim.stats().retrieves, 3);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_runways_error_body() {
    let sim = start(fast()).await;
    let (s, _, b) = send(http().get(format!("{}/v1/nope", sim.base_url()))).await;
    assert_eq!(s, 404);
    assert!(b["error"].is_string());
    let (s, _, b) = send(http().get(format!("{}/v1/text_to_video", sim.base_url()))).await;
    assert_eq!(s, 405);
    assert!(b["error"].is_string());
}
