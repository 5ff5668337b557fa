//! Runway end to end: `runway/*` models through the real Runway adapter against the
//! Runway simulator over HTTP, on both stores.

use crate::common::*;
use sora_sim::runway::Route;

on_both_stores!(
    a_runway_job_completes_with_the_providers_bytes,
    a_safety_failure_ends_moderation_blocked_with_runways_message,
    throttling_and_429s_are_waited_out,
    cancel_deletes_the_task_at_runway,
    a_runway_job_is_remixed_from_its_stored_video,
    a_reference_image_reaches_runway_as_the_first_frame,
    negative_keywords_go_in_the_negative_prompt_where_the_model_has_one,
    a_runway_key_drives_any_server_speaking_its_api_across_a_restart,
);

async fn a_runway_job_completes_with_the_providers_bytes(store: Store) {
    let h = Harness::start(store).await;
    let job = create(
        &h,
        ALICE,
        &json!({"script": "A fox runs through snow.", "model": "runway/gen4.5", "seconds": 5}),
    )
    .await;
    assert_eq!(
        (job["provider"].as_str(), job["size"].as_str()),
        (Some("runway"), Some("1280x720"))
    );
    assert_eq!(job["estimated_cost_usd"], 0.6, "5 s at 12 credits/s");
    let done = h.wait_for_end(job["id"].as_str().unwrap(), ALICE).await;
    assert_eq!(done["status"], "completed", "{done}");
    let task = done["provider_video_id"].as_str().unwrap();
    // The exact bytes Runway's signed output link served.
    let expected = sora_sim::runway::expected_output(&runway_config(&h), task).unwrap();
    let (status, bytes) = h
        .fetch(done["assets"]["video"]["url"].as_str().unwrap())
        .await;
    assert_eq!((status, bytes.len()), (StatusCode::OK, expected.len()));
    assert!(bytes == expected, "the stored video is Runway's output");
    // Runway makes no thumbnail or spritesheet: null, and their content is 404.
    assert!(done["assets"]["thumbnail"].is_null() && done["assets"]["spritesheet"].is_null());
    let id = done["id"].as_str().unwrap();
    let (status, _, err) = h
        .call(
            Method::GET,
            &format!("/v1/videos/{id}/content?variant=thumbnail"),
            Some(ALICE),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{err}");
    let (status, headers, _) = h
        .raw(
            Method::GET,
            &format!("/v1/videos/{id}/content"),
            Some(ALICE),
            None,
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::FOUND, "{headers:?}");
    // The charge Runway reported: 5 s × 12 credits, 1 credit = 1 cent.
    assert_eq!(done["cost_usd"], 0.6, "{done}");
    // What went over the wire, as the SDK's types name it.
    let (route, body) = h.runway_last_create();
    assert_eq!(route, Route::TextToVideo);
    assert_eq!(body["model"], "gen4.5");
    assert_eq!(body["ratio"], "1280:720");
    assert_eq!(body["duration"], 5);
}

async fn a_safety_failure_ends_moderation_blocked_with_runways_message(store: Store) {
    let h = Harness::start(store).await;
    let job = create(
        &h,
        ALICE,
        &json!({"prompt": "a fox [sim:moderation_input]", "model": "runway/gen4.5"}),
    )
    .await;
    let done = h.wait_for_end(job["id"].as_str().unwrap(), ALICE).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["error"]["code"], "moderation_blocked", "{done}");
    let message = done["error"]["message"].as_str().unwrap();
    assert!(
        !message.is_empty() && !message.contains("SAFETY."),
        "Runway's own words: {message}"
    );
}

async fn throttling_and_429s_are_waited_out(store: Store) {
    let h = Harness::start(store).await;
    let job = create(
        &h,
        ALICE,
        &json!({"prompt": "a fox [sim:throttled_ms=1500] [sim:rate_limit=2]", "model": "runway/gen4.5"}),
    )
    .await;
    let done = h.wait_for_end(job["id"].as_str().unwrap(), ALICE).await;
    assert_eq!(done["status"], "completed", "{done}");
    let task = h.runway_task(done["provider_video_id"].as_str().unwrap());
    assert!(task.gets >= 2, "polled through THROTTLED: {task:?}");
    assert!(
        h.runway_stats().faults_served >= 2,
        "the 429s were served and outwaited"
    );
}

async fn cancel_deletes_the_task_at_runway(store: Store) {
    let h = Harness::start(store).await;
    let job = create(
        &h,
        ALICE,
        &json!({"prompt": "a fox [sim:never_finish]", "model": "runway/gen4.5"}),
    )
    .await;
    let id = job["id"].as_str().unwrap();
    let mut task = None;
    for _ in 0..300 {
        let (_, _, now) = h
            .call(Method::GET, &format!("/v1/videos/{id}"), Some(ALICE), None)
            .await;
        if let Some(id) = now["provider_video_id"].as_str() {
            task = Some(id.to_string());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let task = task.expect("the job reached Runway within 30 s");
    let (status, _, canceled) = h
        .call(
            Method::POST,
            &format!("/v1/videos/{id}/cancel"),
            Some(ALICE),
            None,
        )
        .await;
    assert_eq!(
        (status, canceled["status"].as_str()),
        (StatusCode::OK, Some("canceled"))
    );
    h.wait_until_idle().await;
    assert!(
        h.runway_task(&task).cancelled,
        "DELETE /v1/tasks/{{id}} reached Runway"
    );
}

async fn a_runway_job_is_remixed_from_its_stored_video(store: Store) {
    let h = Harness::start(store).await;
    let job = create(
        &h,
        ALICE,
        &json!({"prompt": "a fox", "model": "runway/gen4.5"}),
    )
    .await;
    let id = job["id"].as_str().unwrap();
    assert_eq!(h.wait_for_end(id, ALICE).await["status"], "completed");
    let (status, _, remix) = h
        .call(
            Method::POST,
            &format!("/v1/videos/{id}/remix"),
            Some(ALICE),
            Some(&json!({"prompt": "make it night"})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{remix}");
    let done = h.wait_for_end(remix["id"].as_str().unwrap(), ALICE).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["remixed_from"], id);
    let (route, body) = h.runway_last_create();
    assert_eq!(route, Route::VideoToVideo);
    assert_eq!(body["promptText"], "make it night");
    // Runway read our stored video: the simulator's own sample.
    let task = h.runway_task(done["provider_video_id"].as_str().unwrap());
    let fetched = task.fetched.first().expect("the source video was read");
    assert_eq!(
        fetched.bytes,
        sora_sim::content::SAMPLE_MP4.len() as u64,
        "{fetched:?}"
    );
}

async fn a_reference_image_reaches_runway_as_the_first_frame(store: Store) {
    let h = Harness::start(store).await;
    let png = sora_sim::png_header(1280, 720);
    let upload_id = upload_png(&h, &png).await;
    let body = json!({"script": "From this frame.", "model": "runway/gen4.5",
        "input_reference": {"upload_id": upload_id}});
    let job = create(&h, ALICE, &body).await;
    let done = h.wait_for_end(job["id"].as_str().unwrap(), ALICE).await;
    assert_eq!(done["status"], "completed", "{done}");
    let (route, _) = h.runway_last_create();
    assert_eq!(route, Route::ImageToVideo);
    let task = h.runway_task(done["provider_video_id"].as_str().unwrap());
    let image = task.fetched.first().expect("the image was read");
    assert_eq!(
        (image.bytes, image.dimensions),
        (png.len() as u64, Some((1280, 720)))
    );
}

async fn negative_keywords_go_in_the_negative_prompt_where_the_model_has_one(store: Store) {
    let h = Harness::start(store).await;
    let body = json!({"script": "A fox.", "negative_keywords": ["text", "blur"],
        "model": "runway/veo3.1", "seconds": 4, "size": "1920x1080"});
    let job = create(&h, ALICE, &body).await;
    assert_eq!(
        job["prompt"], "A fox.",
        "no Avoid line: the model has a field for it"
    );
    let done = h.wait_for_end(job["id"].as_str().unwrap(), ALICE).await;
    assert_eq!(done["status"], "completed", "{done}");
    let (_, sent) = h.runway_last_create();
    assert_eq!(sent["negativePrompt"], "text, blur");
    assert_eq!(
        (sent["ratio"].as_str(), sent["duration"].as_u64()),
        (Some("1920:1080"), Some(4))
    );
}

/// `RUNWAYML_API_SECRET` and `RUNWAYML_BASE_URL` pointing at a server that speaks
/// Runway's API (the simulator, started apart as a stranger would run it): the live
/// adapter, with Runway's real 5 s floor between polls and the Wait states at full
/// length; one server life ends mid-render and the next adopts the same task.
async fn a_runway_key_drives_any_server_speaking_its_api_across_a_restart(store: Store) {
    let key = "key_live_test";
    let runway = sora_sim::runway::RunwaySimulator::start(
        "127.0.0.1:0".parse().unwrap(),
        sora_sim::runway::RunwayConfig {
            api_key: Some(key.into()),
            // Long enough for two polls: the gap between them is what is measured.
            render_time: std::time::Duration::from_secs(6),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("RUNWAYML_API_SECRET", key.to_string()),
        ("RUNWAYML_BASE_URL", runway.base_url()),
        ("VIDGEN_DEFAULT_MODEL", "runway/gen4.5".to_string()),
    ];
    let lookup = |name: &str| env.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone());
    let base = fast_config(dir.path(), store);
    let (backend, tokens) = (base.backend.clone(), base.tokens.clone());
    let mut config = base
        .apply_settings(&lookup)
        .expect("the settings are valid");
    // The environment names no store or users: keep the test's.
    config.backend = backend;
    config.tokens = tokens;
    config.time_scale = 1.0;
    // The workflow itself would poll every 1-2 s (fast_config): only the adapter's
    // floor holds it to Runway's 5 s.
    config.workflow.budget_standard = std::time::Duration::from_secs(60);
    assert!(matches!(
        config.runway,
        vidgen::stack::RunwayChoice::Live { .. }
    ));
    let h = Harness::with_config(dir, config.clone()).await;
    assert!(h
        .stack
        .provider_name
        .contains(&format!("Runway API at {}", runway.base_url())));
    let job = create(&h, ALICE, &json!({"script": "Across a restart."})).await;
    assert_eq!(
        job["model"], "runway/gen4.5",
        "the deployment's default model"
    );
    let id = job["id"].as_str().unwrap().to_string();
    let h = restart_mid_render(h, &id, config).await;
    let done = h.wait_for_end(&id, ALICE).await;
    assert_eq!(done["status"], "completed", "{done}");
    let task_id = done["provider_video_id"].as_str().unwrap();
    assert_eq!(
        runway.stats().creates(),
        1,
        "the resumed workflow adopted Runway's task"
    );
    let task = runway.task(task_id).unwrap();
    let gap = task.min_get_gap.expect("polled more than once");
    assert!(
        gap >= std::time::Duration::from_millis(4900),
        "polled every {gap:?}: never faster than 5 s"
    );
    let expected = sora_sim::runway::expected_output(runway.config(), task_id).unwrap();
    let (status, bytes) = h
        .fetch(done["assets"]["video"]["url"].as_str().unwrap())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(bytes == expected, "the stored video is the server's output");
}

fn runway_config(h: &Harness) -> sora_sim::runway::RunwayConfig {
    h.runway_sim_config().clone()
}
