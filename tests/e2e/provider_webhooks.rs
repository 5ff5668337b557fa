//! Webhook-driven jobs: a provider that pushes a signed webhook ends the job's wait on a
//! task token (`WaitForWebhook`), with polling only as the fallback. Real simulators
//! post real, signed webhooks to the running server's `/v1/provider-webhooks/{provider}`.

use crate::common::*;
use sora_sim::fal::FalConfig as FalSimConfig;
use std::time::Duration;
use vidgen::stack::FalChoice;

on_both_stores!(
    a_fal_job_completes_by_webhook_without_a_status_poll,
    a_withheld_webhook_falls_back_to_polling,
    forged_and_stale_webhooks_change_nothing,
    duplicate_deliveries_are_harmless,
    a_fal_error_webhook_ends_the_job_with_the_providers_reason,
    cancel_ends_a_job_waiting_for_its_webhook,
    an_openai_job_completes_by_its_video_completed_webhook,
    without_a_public_url_every_job_polls,
);

/// Renders that outlast the start of the wait, and a webhook wait (scaled by the time
/// scale) long enough for them but short enough for the fallback scenarios.
fn config(dir: &std::path::Path, store: Store, fal: FalSimConfig) -> StackConfig {
    let mut config = fast_config(dir, store);
    config.fal = FalChoice::Simulator(FalSimConfig {
        queue_time: Duration::from_millis(100),
        render_time: Duration::from_millis(600),
        ..fal
    });
    config.workflow.budget_standard = Duration::from_secs(60);
    // 40 s × the time scale (0.05): the wait ends after 2 s without a webhook.
    config.workflow.webhook_wait = Duration::from_secs(40);
    config
}

async fn start(store: Store, fal: FalSimConfig) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), store, fal);
    Harness::with_config(dir, config).await
}

async fn fal_job(h: &Harness, prompt: &str) -> String {
    let job = create(
        h,
        ALICE,
        &json!({"prompt": prompt, "model": "fal/fal-ai/veo3.1", "seconds": 4}),
    )
    .await;
    job["id"].as_str().unwrap().to_string()
}

fn request_id(job: &Value) -> String {
    let video_id = job["provider_video_id"].as_str().unwrap();
    video_id.rsplit('/').next().unwrap().to_string()
}

/// The execution's state transitions, once it has ended.
async fn transitions(h: &Harness, id: &str) -> u64 {
    for _ in 0..200 {
        if let Some(report) = h.stack.engine.report(id) {
            return report.transitions;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the execution of {id} did not end");
}

async fn a_fal_job_completes_by_webhook_without_a_status_poll(store: Store) {
    let h = start(store, FalSimConfig::default()).await;
    let id = fal_job(&h, "A fox runs through snow.").await;
    let done = h.wait_for_end(&id, ALICE).await;
    assert_eq!(done["status"], "completed", "{done}");
    let rid = request_id(&done);
    let sim = h.fal_sim();
    let info = sim.request(&rid).unwrap();
    assert_eq!(info.status_requests, 0, "no status poll at all: {info:?}");
    assert_eq!(info.webhooks_acknowledged, 1, "{info:?}");
    let hook = info.webhook_url.as_deref().unwrap();
    assert!(
        hook.starts_with(&format!(
            "{}/v1/provider-webhooks/fal?job_id=",
            h.stack.base_url
        )),
        "{hook}"
    );
    // The bytes fal's result named are in storage.
    let expected = sora_sim::fal::expected_output(sim.config(), &rid).unwrap();
    let (status, bytes) = h
        .fetch(done["assets"]["video"]["url"].as_str().unwrap())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(bytes == expected, "the stored video is fal's output");
    let n = transitions(&h, &id).await;
    assert!(n <= 6, "callback mode takes {n} transitions");
}

async fn a_withheld_webhook_falls_back_to_polling(store: Store) {
    let h = start(
        store,
        FalSimConfig {
            withhold_webhooks: true,
            ..FalSimConfig::default()
        },
    )
    .await;
    let id = fal_job(&h, "Nobody says it is done.").await;
    let done = h.wait_for_end(&id, ALICE).await;
    assert_eq!(done["status"], "completed", "{done}");
    let info = h.fal_sim().request(&request_id(&done)).unwrap();
    assert!(info.webhook_withheld, "{info:?}");
    assert!(info.status_requests >= 1, "the fallback polled: {info:?}");
    assert_eq!(info.downloads, 1);
}

async fn forged_and_stale_webhooks_change_nothing(store: Store) {
    for fal in [
        FalSimConfig {
            forge_signature: true,
            ..FalSimConfig::default()
        },
        FalSimConfig {
            stale_timestamp: true,
            ..FalSimConfig::default()
        },
    ] {
        let forged = fal.forge_signature;
        let h = start(store, fal).await;
        let id = fal_job(&h, "A signature nobody made.").await;
        let done = h.wait_for_end(&id, ALICE).await;
        // Refused with 401 every time, so the job completes by the polling fallback.
        assert_eq!(done["status"], "completed", "forged={forged}: {done}");
        let info = h.fal_sim().request(&request_id(&done)).unwrap();
        assert!(info.webhooks_sent >= 1, "{info:?}");
        assert_eq!(info.webhooks_acknowledged, 0, "forged={forged}: {info:?}");
        assert!(info.status_requests >= 1, "forged={forged}: {info:?}");
    }

    // By hand: unsigned and badly signed deliveries are refused and change nothing.
    let h = start(
        store,
        FalSimConfig {
            withhold_webhooks: true,
            ..FalSimConfig::default()
        },
    )
    .await;
    let id = fal_job(&h, "Waiting.").await;
    let before = wait_for_status(&h, &id, "in_progress").await;
    let body = json!({"request_id": request_id(&before), "status": "OK", "payload": {}});
    let path = format!("/v1/provider-webhooks/fal?job_id={id}");
    let (status, _, err) = h
        .raw(
            Method::POST,
            &path,
            None,
            Some(("application/json", body.to_string())),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(err["error"]["field"], "x-fal-webhook-request-id", "{err}");
    let now = chrono::Utc::now().timestamp().to_string();
    let (status, _, err) = h
        .raw(
            Method::POST,
            &path,
            None,
            Some(("application/json", body.to_string())),
            &[
                ("x-fal-webhook-request-id", &request_id(&before)),
                ("x-fal-webhook-user-id", "sim-user"),
                ("x-fal-webhook-timestamp", &now),
                ("x-fal-webhook-signature", &"ab".repeat(64)),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{err}");
    let (_, _, after) = h
        .call(Method::GET, &format!("/v1/videos/{id}"), Some(ALICE), None)
        .await;
    assert_eq!(after["status"], before["status"], "{after}");
    assert_eq!(
        after["updated_at"], before["updated_at"],
        "nothing changed: {after}"
    );
    // An unknown provider is no route.
    let (status, _, _) = h
        .raw(
            Method::POST,
            "/v1/provider-webhooks/runway",
            None,
            Some(("application/json", "{}".into())),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    h.wait_for_end(&id, ALICE).await;
}

async fn duplicate_deliveries_are_harmless(store: Store) {
    let h = start(
        store,
        FalSimConfig {
            duplicate_webhooks: true,
            ..FalSimConfig::default()
        },
    )
    .await;
    let id = fal_job(&h, "Said twice.").await;
    let done = h.wait_for_end(&id, ALICE).await;
    assert_eq!(done["status"], "completed", "{done}");
    let info = h.fal_sim().request(&request_id(&done)).unwrap();
    assert_eq!(info.webhooks_sent, 2, "{info:?}");
    assert_eq!(info.webhooks_acknowledged, 2, "both answered 2xx: {info:?}");
    assert_eq!(info.status_requests, 0, "{info:?}");
    assert_eq!(info.downloads, 1, "downloaded once: {info:?}");
}

async fn a_fal_error_webhook_ends_the_job_with_the_providers_reason(store: Store) {
    let h = start(store, FalSimConfig::default()).await;
    let id = fal_job(&h, "a fox [sim:moderation_end]").await;
    let done = h.wait_for_end(&id, ALICE).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["error"]["code"], "moderation_blocked", "{done}");
    let info = h.fal_sim().request(&request_id(&done)).unwrap();
    assert_eq!(info.webhooks_acknowledged, 1, "{info:?}");
    assert_eq!(info.downloads, 0, "{info:?}");
}

async fn cancel_ends_a_job_waiting_for_its_webhook(store: Store) {
    let h = start(
        store,
        FalSimConfig {
            render_time: Duration::from_secs(30),
            ..FalSimConfig::default()
        },
    )
    .await;
    let id = fal_job(&h, "Canceled while it waits.").await;
    wait_for_status(&h, &id, "in_progress").await;
    let (status, _, job) = h
        .call(
            Method::POST,
            &format!("/v1/videos/{id}/cancel"),
            Some(ALICE),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{job}");
    let done = h.wait_for_end(&id, ALICE).await;
    assert_eq!(done["status"], "canceled", "{done}");
    h.wait_until_idle().await;
    let info = h.fal_sim().request(&request_id(&done)).unwrap();
    assert!(info.cancel_requested || info.cancelled, "{info:?}");
}

async fn wait_for_status(h: &Harness, id: &str, want: &str) -> Value {
    for _ in 0..400 {
        let (_, _, job) = h
            .call(Method::GET, &format!("/v1/videos/{id}"), Some(ALICE), None)
            .await;
        if job["status"] == want && !job["provider_video_id"].is_null() {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("job {id} never became {want}");
}

async fn an_openai_job_completes_by_its_video_completed_webhook(store: Store) {
    // The OpenAI simulator is configured like a dashboard endpoint: it pushes to this
    // stack's route, signed with a secret made for the run.
    let h = start(store, FalSimConfig::default()).await;
    let job = create(
        &h,
        ALICE,
        &json!({"prompt": "A heron lands.", "model": "sora-2"}),
    )
    .await;
    let id = job["id"].as_str().unwrap();
    let done = h.wait_for_end(id, ALICE).await;
    assert_eq!(done["status"], "completed", "{done}");
    let stats = h.sim_stats();
    assert_eq!(stats.retrieves, 0, "no status poll: {stats:?}");
    assert_eq!(stats.webhooks_acknowledged, 1, "{stats:?}");
    let n = transitions(&h, id).await;
    assert!(n <= 6, "callback mode takes {n} transitions");
}

async fn without_a_public_url_every_job_polls(store: Store) {
    // A live provider could not reach 127.0.0.1: with one configured and no
    // VIDGEN_PUBLIC_URL, the stack offers no webhook URL and jobs poll.
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), store, FalSimConfig::default());
    let fal = sora_sim::fal::FalSimulator::start(
        "127.0.0.1:0".parse().unwrap(),
        FalSimConfig {
            api_key: Some("live-key".into()),
            queue_time: Duration::from_millis(100),
            render_time: Duration::from_millis(600),
            ..FalSimConfig::default()
        },
    )
    .await
    .unwrap();
    config.fal = FalChoice::Live {
        queue_url: fal.queue_url(),
        api_key: vidgen_shared::config::Secret::new("live-key"),
        jwks_url: fal.jwks_url(),
    };
    let h = Harness::with_config(dir, config).await;
    let id = fal_job(&h, "Polled.").await;
    let done = h.wait_for_end(&id, ALICE).await;
    assert_eq!(done["status"], "completed", "{done}");
    let info = fal.request(&request_id(&done)).unwrap();
    assert_eq!(info.webhook_url, None, "no webhook URL offered: {info:?}");
    assert!(info.status_requests >= 1, "{info:?}");
    let n = transitions(&h, &id).await;
    assert!(
        n > 6,
        "polling takes more transitions than callback mode: {n}"
    );
}
