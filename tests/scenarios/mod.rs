//! The end-to-end scenarios: HTTP request → the state machine (run by the local
//! interpreter) → the Sora simulator over HTTP → stored files → signed link. Each runs
//! against every store backend (`e2e_local.rs`: embedded; `e2e_aws.rs`: DynamoDB on moto
//! and S3 on s3s-fs), so both honour the same contract end to end.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use vidgen_tests::{fast_config, webhook_receiver, Harness, Store, ALICE, BOB};

/// A request body with its content type.
type Body<'a> = Option<(&'a str, String)>;

fn create_body(script: &str) -> Value {
    json!({"script": script, "style": "cinematic", "keywords": ["snow"], "negative_keywords": ["text"]})
}

/// Make a job from a verbatim prompt (simulator markers included) and wait for its end.
async fn run_to_end(h: &Harness, prompt: &str) -> Value {
    let job = create(h, ALICE, &json!({ "prompt": prompt })).await;
    h.wait_for_end(job["id"].as_str().unwrap(), ALICE).await
}

pub async fn create(h: &Harness, token: &str, body: &Value) -> Value {
    let (status, headers, job) = h
        .call(Method::POST, "/v1/videos", Some(token), Some(body))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    let id = job["id"].as_str().unwrap().to_string();
    assert_eq!(headers["location"], format!("/v1/videos/{id}").as_str());
    job
}

pub async fn a_job_runs_to_a_downloadable_video(store: Store) {
    let h = Harness::start(store).await;
    let job = create(&h, ALICE, &create_body("A fox runs through snow.")).await;
    assert_eq!(job["status"], "queued");
    assert_eq!(
        job["prompt"],
        "Style: cinematic.\n\nA fox runs through snow.\n\nInclude: snow.\n\nAvoid: text."
    );
    assert_eq!(job["estimated_cost_usd"], 0.4);
    let keys: Vec<&str> = job
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for k in [
        "id",
        "status",
        "progress",
        "model",
        "seconds",
        "size",
        "prompt",
        "script",
        "style",
        "keywords",
        "negative_keywords",
        "remixed_from",
        "provider_video_id",
        "metadata",
        "created_at",
        "updated_at",
        "completed_at",
        "error",
        "duration_seconds",
        "estimated_cost_usd",
        "assets",
    ] {
        assert!(keys.contains(&k), "the job object has {k}");
    }
    let id = job["id"].as_str().unwrap();
    let done = h.wait_for_end(id, ALICE).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["progress"], 100);
    // The real playing time, read from the MP4's mvhd while it streamed: the simulator's
    // sample lasts 2 s although 4 were asked for.
    assert_eq!(done["duration_seconds"], 2.0);
    let video_id = done["provider_video_id"].as_str().unwrap();
    for variant in ["video", "thumbnail", "spritesheet"] {
        let asset = &done["assets"][variant];
        let (status, bytes) = h.fetch(asset["url"].as_str().unwrap()).await;
        assert_eq!(status, StatusCode::OK);
        let expected = sora_sim::expected_content(h.sim_config(), video_id, variant).unwrap();
        assert_eq!(
            bytes, expected,
            "{variant} bytes match what the simulator served"
        );
        assert_eq!(asset["bytes"], expected.len());
    }
    // The content route redirects to a fresh link.
    let (status, headers, _) = h
        .call(
            Method::GET,
            &format!("/v1/videos/{id}/content?variant=thumbnail"),
            Some(ALICE),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FOUND);
    let (status, bytes) = h.fetch(headers["location"].to_str().unwrap()).await;
    assert_eq!((status, &bytes[8..12]), (StatusCode::OK, &b"WEBP"[..]));
    // A tampered link is refused.
    let url = done["assets"]["video"]["url"]
        .as_str()
        .unwrap()
        .replace("video.mp4", "thumbnail.webp");
    assert_eq!(h.fetch(&url).await.0, StatusCode::FORBIDDEN);
    let report = h.stack.engine.report(id).expect("the execution ended");
    assert!(
        report.transitions >= 5,
        "Submit, Wait, Check, Choice, Download, Done: {report:?}"
    );
}

pub async fn moderation_at_create_fails_the_job_with_the_providers_reason(store: Store) {
    let h = Harness::start(store).await;
    let done = run_to_end(&h, "bad [sim:moderation_create]").await;
    assert_eq!(done["status"], "failed");
    assert_eq!(done["error"]["code"], "moderation_blocked");
    assert!(done["error"]["message"]
        .as_str()
        .unwrap()
        .contains("moderation"));
    assert_eq!(h.sim_stats().creates, 1, "a refusal is not retried");
}

pub async fn moderation_at_the_end_fails_the_job(store: Store) {
    let h = Harness::start(store).await;
    let done = run_to_end(&h, "bad later [sim:moderation_end]").await;
    assert_eq!(
        (done["status"].as_str(), done["error"]["code"].as_str()),
        (Some("failed"), Some("moderation_blocked"))
    );
    assert!(done["assets"].is_null());
}

pub async fn provider_faults_are_retried_to_success(store: Store) {
    let h = Harness::start(store).await;
    let done = run_to_end(&h, "flaky [sim:server_error=2] [sim:rate_limit=1]").await;
    assert_eq!(done["status"], "completed", "{done}");
    assert!(h.sim_stats().faults_served >= 3);
    assert_eq!(h.sim_stats().creates, 1, "exactly one video was made");
}

pub async fn a_render_that_never_finishes_times_out(store: Store) {
    let h = Harness::start(store).await;
    let done = run_to_end(&h, "forever [sim:never_finish]").await;
    assert_eq!(done["status"], "timed_out", "{done}");
    assert_eq!(done["error"]["code"], "timed_out");
}

pub async fn cancel_stops_the_workflow(store: Store) {
    let h = Harness::start(store).await;
    let job = create(&h, ALICE, &json!({"prompt": "slow [sim:never_finish]"})).await;
    let id = job["id"].as_str().unwrap();
    let (status, _, canceled) = h
        .call(
            Method::POST,
            &format!("/v1/videos/{id}/cancel"),
            Some(ALICE),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{canceled}");
    assert_eq!(canceled["status"], "canceled");
    for _ in 0..100 {
        if !h.stack.engine.is_running(id) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(!h.stack.engine.is_running(id), "the execution stopped");
    let (status, _, err) = h
        .call(
            Method::POST,
            &format!("/v1/videos/{id}/cancel"),
            Some(ALICE),
            None,
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("conflict"))
    );
    let (_, _, still) = h
        .call(Method::GET, &format!("/v1/videos/{id}"), Some(ALICE), None)
        .await;
    assert_eq!(still["status"], "canceled", "it never goes backwards");
}

pub async fn remix_makes_a_new_job_from_a_completed_one(store: Store) {
    let h = Harness::start(store).await;
    let first = create(&h, ALICE, &create_body("Day.")).await;
    let id = first["id"].as_str().unwrap();
    let remix_path = format!("/v1/videos/{id}/remix");
    let night = json!({"prompt": "make it night"});
    let (status, _, early) = h
        .call(Method::POST, &remix_path, Some(ALICE), Some(&night))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{early}");
    h.wait_for_end(id, ALICE).await;
    let (status, _, remix) = h
        .call(Method::POST, &remix_path, Some(ALICE), Some(&night))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{remix}");
    assert_eq!(remix["remixed_from"], id);
    let done = h.wait_for_end(remix["id"].as_str().unwrap(), ALICE).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(h.sim_stats().remixes, 1);
}

pub async fn an_idempotent_retry_returns_the_first_job_and_starts_nothing(store: Store) {
    let h = Harness::start(store).await;
    let body = create_body("Once.");
    let key = [("idempotency-key", "retry-42")];
    let send = |b: &Value| {
        h.raw(
            Method::POST,
            "/v1/videos",
            Some(ALICE),
            Some(("application/json", b.to_string())),
            &key,
        )
    };
    let (s1, _, first) = send(&body).await;
    let (s2, _, second) = send(&body).await;
    assert_eq!((s1, s2), (StatusCode::ACCEPTED, StatusCode::OK));
    assert_eq!(first["id"], second["id"]);
    let (s3, _, conflict) = send(&create_body("Something else.")).await;
    assert_eq!(s3, StatusCode::CONFLICT, "{conflict}");
    h.wait_for_end(first["id"].as_str().unwrap(), ALICE).await;
    assert_eq!(h.sim_stats().creates, 1, "one provider job");
    let (_, _, page) = h.call(Method::GET, "/v1/videos", Some(ALICE), None).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
}

pub async fn other_owners_get_404_and_strangers_401(store: Store) {
    let h = Harness::start(store).await;
    let job = create(&h, ALICE, &create_body("Mine.")).await;
    let id = job["id"].as_str().unwrap();
    for (method, path) in [
        (Method::GET, format!("/v1/videos/{id}")),
        (Method::POST, format!("/v1/videos/{id}/cancel")),
        (Method::DELETE, format!("/v1/videos/{id}")),
        (Method::GET, format!("/v1/videos/{id}/content")),
    ] {
        let (status, _, body) = h.call(method.clone(), &path, Some(BOB), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(body["error"]["code"], "not_found");
        let (unknown, _, _) = h
            .call(
                method,
                &path.replace(id, "vid_01JZZZZZZZZZZZZZZZZZZZZZZZ"),
                Some(ALICE),
                None,
            )
            .await;
        assert_eq!(
            unknown,
            StatusCode::NOT_FOUND,
            "unknown ids answer the same"
        );
    }
    let (status, _, _) = h
        .call(
            Method::POST,
            &format!("/v1/videos/{id}/remix"),
            Some(BOB),
            Some(&json!({"prompt": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, _, bobs) = h.call(Method::GET, "/v1/videos", Some(BOB), None).await;
    assert!(bobs["data"].as_array().unwrap().is_empty());
    let (status, _, err) = h.call(Method::GET, "/v1/videos", Some("wrong"), None).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    let (status, _, health) = h.call(Method::GET, "/v1/health", None, None).await;
    assert_eq!(
        (status, health["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
}

pub async fn bad_requests_answer_the_contract_and_leave_nothing_behind(store: Store) {
    let h = Harness::start(store).await;
    let cases: Vec<(Body, StatusCode, Option<&str>)> = vec![
        (
            Some((
                "application/json",
                json!({"script": "x", "seconds": 10}).to_string(),
            )),
            StatusCode::BAD_REQUEST,
            Some("seconds"),
        ),
        (
            Some((
                "application/json",
                json!({"script": "x", "colour": 1}).to_string(),
            )),
            StatusCode::BAD_REQUEST,
            Some("colour"),
        ),
        (
            Some(("application/json", json!({"style": "anime"}).to_string())),
            StatusCode::BAD_REQUEST,
            Some("script"),
        ),
        (
            Some((
                "application/json",
                json!({"script": "x", "size": "1792x1024"}).to_string(),
            )),
            StatusCode::BAD_REQUEST,
            Some("size"),
        ),
        (
            Some((
                "application/json",
                json!({"script": "x", "input_reference": {"upload_id": "up_nope"}}).to_string(),
            )),
            StatusCode::BAD_REQUEST,
            Some("input_reference"),
        ),
        (
            Some(("application/json", "{\"script\":".to_string())),
            StatusCode::BAD_REQUEST,
            None,
        ),
        (
            Some(("text/plain", "hello".to_string())),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            None,
        ),
        (
            Some((
                "application/json",
                format!("{{\"script\":\"{}\"}}", "x".repeat(70_000)),
            )),
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
        ),
    ];
    for (body, status, field) in cases {
        let (got, headers, err) = h
            .raw(Method::POST, "/v1/videos", Some(ALICE), body, &[])
            .await;
        assert_eq!(got, status, "{err}");
        assert_eq!(err["error"]["field"].as_str(), field, "{err}");
        assert!(err["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
        assert!(headers.contains_key("x-request-id"));
    }
    let (_, _, page) = h.call(Method::GET, "/v1/videos", Some(ALICE), None).await;
    assert!(
        page["data"].as_array().unwrap().is_empty(),
        "nothing was written"
    );
    assert_eq!(h.sim_stats().creates, 0, "nothing was started");
}

pub async fn listing_pages_newest_first_and_filters(store: Store) {
    let h = Harness::start(store).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            create(
                &h,
                ALICE,
                &json!({"prompt": format!("clip {i} [sim:never_finish]")}),
            )
            .await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    h.call(
        Method::POST,
        &format!("/v1/videos/{}/cancel", ids[0]),
        Some(ALICE),
        None,
    )
    .await;
    let (_, _, page) = h
        .call(Method::GET, "/v1/videos?limit=2", Some(ALICE), None)
        .await;
    let got: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, [ids[2].as_str(), ids[1].as_str()]);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, _, next) = h
        .call(
            Method::GET,
            &format!("/v1/videos?limit=2&cursor={cursor}"),
            Some(ALICE),
            None,
        )
        .await;
    assert_eq!(next["data"][0]["id"], ids[0].as_str());
    assert!(next["next_cursor"].is_null());
    let (_, _, canceled) = h
        .call(Method::GET, "/v1/videos?status=canceled", Some(ALICE), None)
        .await;
    assert_eq!(canceled["data"].as_array().unwrap().len(), 1);
    let (status, _, err) = h
        .call(Method::GET, "/v1/videos?limit=500", Some(ALICE), None)
        .await;
    assert_eq!(
        (status, err["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("limit"))
    );
}

pub async fn delete_removes_the_record_and_the_files(store: Store) {
    let h = Harness::start(store).await;
    let job = create(&h, ALICE, &create_body("Gone soon.")).await;
    let id = job["id"].as_str().unwrap();
    let done = h.wait_for_end(id, ALICE).await;
    let url = done["assets"]["video"]["url"].as_str().unwrap().to_string();
    let (status, _, _) = h
        .call(
            Method::DELETE,
            &format!("/v1/videos/{id}"),
            Some(ALICE),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        h.call(Method::GET, &format!("/v1/videos/{id}"), Some(ALICE), None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.fetch(&url).await.0,
        StatusCode::NOT_FOUND,
        "the file is gone too"
    );
}

pub async fn a_reference_image_upload_feeds_the_first_frame(store: Store) {
    let h = Harness::start(store).await;
    let png = sora_sim::png_header(720, 1280);
    let (status, _, up) = h
        .call(
            Method::POST,
            "/v1/uploads",
            Some(ALICE),
            Some(&json!({"content_type": "image/png", "bytes": png.len()})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{up}");
    let upload_id = up["upload_id"].as_str().unwrap();
    // Not uploaded yet: refused, naming the field.
    let body = json!({"script": "From this frame.", "input_reference": {"upload_id": upload_id}});
    let (status, _, err) = h
        .call(Method::POST, "/v1/videos", Some(ALICE), Some(&body))
        .await;
    assert_eq!(
        (status, err["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("input_reference"))
    );
    let put = reqwest::Client::new().put(up["url"].as_str().unwrap());
    let wrong = put
        .try_clone()
        .unwrap()
        .header("content-type", "image/jpeg")
        .body(png.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        wrong.status(),
        StatusCode::FORBIDDEN,
        "the link pins the content type"
    );
    let ok = put
        .header("content-type", "image/png")
        .body(png)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    // Another owner cannot use it.
    let (status, _, _) = h
        .call(Method::POST, "/v1/videos", Some(BOB), Some(&body))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let job = create(&h, ALICE, &body).await;
    let done = h.wait_for_end(job["id"].as_str().unwrap(), ALICE).await;
    assert_eq!(
        done["status"], "completed",
        "the simulator accepted the 720x1280 frame: {done}"
    );
}

pub async fn jobs_survive_a_restart_and_finish(store: Store) {
    // One provider for both lives of the server, as in real use.
    let key = "sk-restart";
    let sim = sora_sim::Simulator::start(
        "127.0.0.1:0".parse().unwrap(),
        sora_sim::SimConfig {
            render_time: std::time::Duration::from_secs(2),
            api_key: Some(key.into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = fast_config(dir.path(), store);
    config.provider = vidgen::stack::ProviderChoice::OpenAi {
        base_url: sim.base_url(),
        api_key: vidgen_shared::config::Secret::new(key),
    };
    let h = Harness::with_config(dir, config.clone()).await;
    let job = create(&h, ALICE, &create_body("Across a restart.")).await;
    let id = job["id"].as_str().unwrap().to_string();
    // Wait until the provider has the job, then stop the server mid-render.
    for _ in 0..200 {
        let (_, _, now) = h
            .call(Method::GET, &format!("/v1/videos/{id}"), Some(ALICE), None)
            .await;
        if now["status"] == "in_progress" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let Harness { stack, dir, .. } = h;
    stack.shutdown().await;
    let h = Harness::with_config(dir, config).await;
    let done = h.wait_for_end(&id, ALICE).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        sim.stats().creates,
        1,
        "the resumed workflow reused the provider's video"
    );
}

pub async fn callbacks_are_told_with_a_signed_event(store: Store) {
    const SECRET: &str = "whsec_dGhlIGUyZSB0ZXN0cycgd2ViaG9vayBzZWNyZXQ=";
    let dir = tempfile::tempdir().unwrap();
    let mut config = fast_config(dir.path(), store);
    config.webhook_secret = Some(vidgen_shared::config::Secret::new(SECRET));
    let h = Harness::with_config(dir, config).await;
    let (url, seen) = webhook_receiver().await;
    let ok = create(
        &h,
        ALICE,
        &json!({"script": "Told when done.", "callback_url": url}),
    )
    .await;
    let refused = create(
        &h,
        ALICE,
        &json!({"prompt": "no [sim:moderation_create]", "callback_url": url}),
    )
    .await;
    for job in [&ok, &refused] {
        h.wait_for_end(job["id"].as_str().unwrap(), ALICE).await;
    }
    let mut deliveries = Vec::new();
    for _ in 0..100 {
        deliveries = seen.lock().unwrap().clone();
        if deliveries.len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let signer =
        vidgen_shared::callback::WebhookSigner::new(&vidgen_shared::config::Secret::new(SECRET))
            .unwrap();
    let mut kinds = Vec::new();
    for d in &deliveries {
        let header = |name: &str| d.headers[name].to_str().unwrap().to_string();
        let timestamp: i64 = header("webhook-timestamp").parse().unwrap();
        assert!(
            signer.verify(
                &header("webhook-id"),
                timestamp,
                &d.body,
                &header("webhook-signature"),
                chrono::Utc::now().timestamp(),
                std::time::Duration::from_secs(300),
            ),
            "the signature verifies with the configured secret"
        );
        let event: Value = serde_json::from_slice(&d.body).unwrap();
        assert_eq!(event["object"], "event");
        assert!(event["data"].get("url").is_none(), "no links in events");
        kinds.push((
            event["data"]["id"].as_str().unwrap().to_string(),
            event["type"].as_str().unwrap().to_string(),
        ));
    }
    kinds.sort();
    let mut expected = vec![
        (
            ok["id"].as_str().unwrap().to_string(),
            "video.completed".to_string(),
        ),
        (
            refused["id"].as_str().unwrap().to_string(),
            "video.failed".to_string(),
        ),
    ];
    expected.sort();
    assert_eq!(kinds, expected, "one event per job, saying how it ended");
}

/// One `#[tokio::test]` per scenario, for a store backend; a backend whose servers are
/// not running (plain `cargo test` without scripts/test.sh) says so and passes.
macro_rules! scenario_tests {
    ($store:expr) => {
        scenario_tests!(@each $store;
            a_job_runs_to_a_downloadable_video,
            moderation_at_create_fails_the_job_with_the_providers_reason,
            moderation_at_the_end_fails_the_job,
            provider_faults_are_retried_to_success,
            a_render_that_never_finishes_times_out,
            cancel_stops_the_workflow,
            remix_makes_a_new_job_from_a_completed_one,
            an_idempotent_retry_returns_the_first_job_and_starts_nothing,
            other_owners_get_404_and_strangers_401,
            bad_requests_answer_the_contract_and_leave_nothing_behind,
            listing_pages_newest_first_and_filters,
            delete_removes_the_record_and_the_files,
            a_reference_image_upload_feeds_the_first_frame,
            jobs_survive_a_restart_and_finish,
            callbacks_are_told_with_a_signed_event
        );
    };
    (@each $store:expr; $($name:ident),*) => {
        $(
            #[tokio::test]
            async fn $name() {
                if $store.available() {
                    scenarios::$name($store).await;
                }
            }
        )*
    };
}
