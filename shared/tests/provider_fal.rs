//! The real fal client against the fal simulator over 127.0.0.1: submit, status
//! phases, result, download, cancel, and the refusals and faults the workflow relies on.

use futures::StreamExt;
use sora_sim::fal::{expected_output, FalConfig as SimConfig, FalSimulator, MODERATION_MESSAGE};
use std::time::Duration;
use vidgen_shared::config::Secret;
use vidgen_shared::domain::ErrorCode;
use vidgen_shared::provider::fal::{FalProvider, FalQueueConfig, OUTPUT_RETENTION};
use vidgen_shared::provider::retry::RetryPolicy;
use vidgen_shared::provider::{
    CreateVideo, ProviderError, ProviderStatus, ProviderVideo, RecentSearch, ReferenceImage,
    Variant, VideoProbe, VideoProvider,
};

const KEY: &str = "fal_key_0123456789abcdef";

fn fast() -> SimConfig {
    SimConfig {
        queue_time: Duration::from_millis(300),
        render_time: Duration::from_millis(600),
        api_key: Some(KEY.into()),
        ..SimConfig::default()
    }
}

async fn sim(config: SimConfig) -> FalSimulator {
    FalSimulator::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap()
}

fn client_with(queue_url: String, key: &str, retries: u32) -> FalProvider {
    let mut config = FalQueueConfig::new(queue_url, Secret::new(key));
    config.retry = RetryPolicy {
        max_retries: retries,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        max_retry_after: Duration::from_secs(5),
    };
    config.min_poll_interval = Duration::ZERO;
    FalProvider::new(config).unwrap()
}

fn client(sim: &FalSimulator) -> FalProvider {
    client_with(sim.queue_url(), KEY, 3)
}

fn request(prompt: &str) -> CreateVideo {
    CreateVideo {
        prompt: prompt.into(),
        model: "fal-ai/veo3.1".into(),
        seconds: 8,
        size: "1280x720".into(),
        negative_prompt: Some("blur".into()),
        input_reference: None,
        webhook_url: None,
    }
}

/// The request id: the video id's last segment.
fn request_id(video_id: &str) -> String {
    video_id.rsplit('/').next().unwrap().to_string()
}

async fn wait_until_done(p: &FalProvider, id: &str) -> ProviderVideo {
    for _ in 0..300 {
        let v = p.retrieve(id).await.unwrap();
        if matches!(v.status, ProviderStatus::Completed | ProviderStatus::Failed) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{id} never ended");
}

async fn body_of(p: &FalProvider, id: &str) -> Vec<u8> {
    let content = p.download(id, Variant::Video).await.unwrap();
    let mut body = content.body;
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

#[tokio::test]
async fn a_render_goes_through_queue_progress_result_and_download() {
    let sim = sim(fast()).await;
    let p = client(&sim);
    let created = p.create(&request("a fox in snow")).await.unwrap();
    assert!(
        created.id.starts_with("fal-ai/veo3.1/requests/"),
        "{}",
        created.id
    );
    assert_eq!(created.status, ProviderStatus::Queued);
    let rid = request_id(&created.id);
    let info = sim.request(&rid).unwrap();
    assert_eq!(info.model_id, "fal-ai/veo3.1");
    assert_eq!(
        info.input,
        serde_json::json!({"prompt": "a fox in snow", "duration": "8s", "aspect_ratio": "16:9",
            "resolution": "720p", "generate_audio": true, "negative_prompt": "blur"})
    );
    assert_eq!(info.webhook_url, None);
    assert_eq!(
        info.object_lifecycle,
        Some(serde_json::json!({"expiration_duration_seconds": OUTPUT_RETENTION.as_secs()}))
    );

    assert_eq!(
        p.retrieve(&created.id).await.unwrap().status,
        ProviderStatus::Queued
    );
    let mut saw_progress = false;
    let done = loop {
        let v = p.retrieve(&created.id).await.unwrap();
        saw_progress |= v.status == ProviderStatus::InProgress;
        if v.status != ProviderStatus::Queued && v.status != ProviderStatus::InProgress {
            break v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(saw_progress, "IN_PROGRESS (202) is read as in progress");
    assert_eq!(done.status, ProviderStatus::Completed);
    assert_eq!(done.progress, 100);
    assert_eq!(done.error, None);
    assert!(
        sim.stats().result_fetches >= 1,
        "COMPLETED is confirmed by the result"
    );

    let bytes = body_of(&p, &created.id).await;
    assert_eq!(bytes, expected_output(sim.config(), &rid).unwrap());
    assert_eq!(sim.request(&rid).unwrap().downloads, 1);
    assert_eq!(p.variants(), Variant::VIDEO_ONLY);
    assert!(p.download(&created.id, Variant::Thumbnail).await.is_err());
    assert!(p.pushes());
    sim.shutdown().await;
}

#[tokio::test]
async fn the_webhook_url_is_passed_through_encoded() {
    let sim = sim(SimConfig {
        withhold_webhooks: true,
        ..fast()
    })
    .await;
    let p = client(&sim);
    let hook = "https://vidgen.example/v1/provider-webhooks/fal?job_id=job_1&x=a b";
    let created = p
        .create(&CreateVideo {
            webhook_url: Some(hook.into()),
            ..request("a fox")
        })
        .await
        .unwrap();
    let info = sim.request(&request_id(&created.id)).unwrap();
    assert_eq!(info.webhook_url.as_deref(), Some(hook));
    sim.shutdown().await;
}

#[tokio::test]
async fn an_image_goes_to_the_image_to_video_endpoint() {
    let sim = sim(fast()).await;
    let p = client(&sim);
    let created = p
        .create(&CreateVideo {
            input_reference: Some(ReferenceImage {
                bytes: bytes::Bytes::from_static(b"\x89PNG\r\n"),
                content_type: "image/png".into(),
                file_name: "a.png".into(),
            }),
            ..request("a fox")
        })
        .await
        .unwrap();
    // The app part of the id: status and result live under `fal-ai/veo3.1`.
    assert!(created.id.starts_with("fal-ai/veo3.1/requests/"));
    let info = sim.request(&request_id(&created.id)).unwrap();
    assert_eq!(info.model_id, "fal-ai/veo3.1/image-to-video");
    assert!(info.input["image_url"]
        .as_str()
        .unwrap()
        .starts_with("data:image/png;base64,"));
    assert_eq!(
        wait_until_done(&p, &created.id).await.status,
        ProviderStatus::Completed
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn kling_and_wan_inputs_are_accepted() {
    let sim = sim(fast()).await;
    let p = client(&sim);
    for (model, seconds, size) in [
        (
            "fal-ai/kling-video/v2.1/master/text-to-video",
            10,
            "1080x1920",
        ),
        ("fal-ai/wan/v2.2-a14b/text-to-video", 5, "720x1280"),
        ("fal-ai/veo3.1/fast", 4, "1920x1080"),
    ] {
        let created = p
            .create(&CreateVideo {
                model: model.into(),
                seconds,
                size: size.into(),
                ..request("a fox")
            })
            .await
            .unwrap_or_else(|e| panic!("{model}: {e:?}"));
        assert_eq!(
            sim.request(&request_id(&created.id)).unwrap().model_id,
            model
        );
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn a_failed_or_moderated_render_ends_failed_with_our_code() {
    let sim = sim(fast()).await;
    let p = client(&sim);
    let moderated = p
        .create(&request("a fox [sim:moderation_end]"))
        .await
        .unwrap();
    let failed = p.create(&request("a fox [sim:fail]")).await.unwrap();
    let v = wait_until_done(&p, &moderated.id).await;
    assert_eq!(v.status, ProviderStatus::Failed);
    let e = v.error.unwrap();
    assert_eq!(e.code, ErrorCode::ModerationBlocked);
    assert_eq!(e.message, MODERATION_MESSAGE);
    let v = wait_until_done(&p, &failed.id).await;
    assert_eq!(v.status, ProviderStatus::Failed);
    assert_eq!(v.error.unwrap().code, ErrorCode::VideoGenerationFailed);
    // No video to download.
    assert!(matches!(
        p.download(&moderated.id, Variant::Video).await,
        Err(ProviderError::NotFound { .. })
    ));
    sim.shutdown().await;
}

#[tokio::test]
async fn cancel_stops_a_queued_request_and_tolerates_ended_or_unknown_ones() {
    let sim = sim(SimConfig {
        queue_time: Duration::from_secs(30),
        ..fast()
    })
    .await;
    let p = client(&sim);
    let created = p.create(&request("a fox")).await.unwrap();
    p.delete(&created.id).await.unwrap();
    let info = sim.request(&request_id(&created.id)).unwrap();
    assert!(info.cancelled);
    // Ended (cancelled) now: ALREADY_COMPLETED is fine.
    p.delete(&created.id).await.unwrap();
    // Unknown: NOT_FOUND is fine.
    p.delete("fal-ai/veo3.1/requests/nosuchrequest")
        .await
        .unwrap();
    assert_eq!(sim.stats().cancels, 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_bad_key_is_refused_and_never_echoed() {
    let sim = sim(fast()).await;
    let secret = "fal_wrong_key_SECRET";
    let p = client_with(sim.queue_url(), secret, 3);
    let err = p.create(&request("a fox")).await.unwrap_err();
    assert!(
        matches!(err, ProviderError::Rejected { status: 401, .. }),
        "{err:?}"
    );
    assert!(!format!("{err:?}").contains(secret));
    assert_eq!(sim.stats().submits, 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_422_names_the_field() {
    let sim = sim(fast()).await;
    let p = client(&sim);
    // 5 s is not a Veo duration: fal's validation refuses it.
    let err = p
        .create(&CreateVideo {
            seconds: 5,
            ..request("a fox")
        })
        .await
        .unwrap_err();
    match &err {
        ProviderError::Rejected {
            status: 422,
            param: Some(param),
            message,
            ..
        } => {
            assert_eq!(param, "duration");
            assert!(
                message.contains("duration") && message.contains("'8s'"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.may_have_acted());
    sim.shutdown().await;
}

#[tokio::test]
async fn a_429_is_retried_after_its_hint_then_handed_back() {
    let sim = sim(fast()).await;
    let p = client(&sim);
    // One 429, retried after Retry-After (1 s in the simulator), then accepted.
    let started = std::time::Instant::now();
    let created = p
        .create(&request("a fox [sim:rate_limit=1]"))
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "Retry-After honoured"
    );
    assert!(!created.id.is_empty());
    // With no retries left, the 429 itself comes back with its hint.
    let none = client_with(sim.queue_url(), KEY, 0);
    let err = none
        .create(&request("a bear [sim:rate_limit=1]"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(1)),
            message: "Rate limit exceeded. Please retry later.".into()
        }
    );
    assert!(err.is_retryable() && !err.may_have_acted());
    sim.shutdown().await;
}

#[tokio::test]
async fn fal_cannot_be_searched_and_does_not_remix() {
    let sim = sim(fast()).await;
    let p = client(&sim);
    let probe = VideoProbe {
        prompt: "a fox".into(),
        model: "fal-ai/veo3.1".into(),
        seconds: 8,
        size: "1280x720".into(),
        remixed_from: None,
        created_from: 0,
        created_until: 1,
    };
    assert!(matches!(
        p.find_recent(&probe).await.unwrap(),
        RecentSearch::Inconclusive { .. }
    ));
    // A malformed id never reaches the network.
    assert!(matches!(
        p.retrieve("../../etc/passwd").await,
        Err(ProviderError::NotFound { .. })
    ));
    assert_eq!(sim.stats().status_requests, 0);
    sim.shutdown().await;
}
