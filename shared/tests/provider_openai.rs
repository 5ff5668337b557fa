//! The real OpenAI client against the Sora simulator over 127.0.0.1: every endpoint,
//! every fault, with the outcome the workflow relies on.

use bytes::Bytes;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use sora_sim::{Faults, SimConfig, Simulator};
use std::time::Duration;
use vidgen_shared::config::Secret;
use vidgen_shared::deadline::Deadline;
use vidgen_shared::provider::openai::{OpenAiConfig, OpenAiProvider};
use vidgen_shared::provider::retry::RetryPolicy;
use vidgen_shared::provider::{
    CreateVideo, ProviderError, ProviderStatus, ReferenceImage, RemixVideo, Variant, VideoProvider,
};
use vidgen_shared::workflow::StepFunction;

const KEY: &str = "sk-test-key";

async fn sim(config: SimConfig) -> Simulator {
    let config = SimConfig {
        api_key: Some(KEY.into()),
        ..config
    };
    Simulator::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap()
}

fn fast_sim() -> SimConfig {
    SimConfig {
        render_time: Duration::from_millis(300),
        faults: Faults {
            retry_after_secs: 0,
            ..Faults::default()
        },
        ..SimConfig::default()
    }
}

fn client(sim: &Simulator) -> OpenAiProvider {
    let mut config = OpenAiConfig::new(sim.base_url(), Secret::new(KEY));
    config.retry = RetryPolicy {
        max_retries: 3,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        max_retry_after: Duration::from_secs(5),
    };
    OpenAiProvider::new(config).unwrap()
}

fn request(prompt: &str) -> CreateVideo {
    CreateVideo {
        prompt: prompt.into(),
        model: "sora-2".into(),
        seconds: 4,
        size: "720x1280".into(),
        negative_prompt: None,
        input_reference: None,
        webhook_url: None,
    }
}

fn remix_of(video_id: &str, prompt: &str) -> RemixVideo {
    RemixVideo {
        source_video_id: video_id.into(),
        source_video_url: None,
        source_video_bytes: None,
        prompt: prompt.into(),
        model: "sora-2".into(),
        seconds: 4,
        size: "720x1280".into(),
    }
}

async fn wait_until_done(p: &OpenAiProvider, id: &str) -> vidgen_shared::provider::ProviderVideo {
    for _ in 0..200 {
        let v = p.retrieve(id).await.unwrap();
        if matches!(v.status, ProviderStatus::Completed | ProviderStatus::Failed) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("video {id} never finished");
}

async fn collect(p: &OpenAiProvider, id: &str, variant: Variant) -> Result<Vec<u8>, ProviderError> {
    let mut content = p.download(id, variant).await?;
    let mut out = Vec::new();
    while let Some(chunk) = content.body.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

#[tokio::test]
async fn create_poll_and_download_every_variant() {
    let s = sim(fast_sim()).await;
    let p = client(&s);
    let v = p.create(&request("A fox in the snow")).await.unwrap();
    assert!(v.id.starts_with("video_"));
    assert_eq!(v.status, ProviderStatus::Queued);
    assert!(
        matches!(
            p.download(&v.id, Variant::Video).await,
            Err(ProviderError::NotFound { .. })
        ),
        "content before completion is 404"
    );
    let mut saw_progress = false;
    loop {
        let now = p.retrieve(&v.id).await.unwrap();
        saw_progress |= now.status == ProviderStatus::InProgress && now.progress > 0;
        if now.status == ProviderStatus::Completed {
            assert_eq!(now.progress, 100);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(saw_progress, "progress rose while rendering");
    for (variant, name) in [
        (Variant::Video, "video"),
        (Variant::Thumbnail, "thumbnail"),
        (Variant::Spritesheet, "spritesheet"),
    ] {
        let got = collect(&p, &v.id, variant).await.unwrap();
        assert_eq!(
            Some(got),
            sora_sim::expected_content(s.config(), &v.id, "4", name),
            "{name}"
        );
    }
    let content = p.download(&v.id, Variant::Thumbnail).await.unwrap();
    assert_eq!(content.content_type.as_deref(), Some("image/webp"));
}

#[tokio::test]
async fn a_reference_image_travels_as_a_file_part() {
    let s = sim(fast_sim()).await;
    let p = client(&s);
    let png = sora_sim::png_header(720, 1280);
    let mut req = request("from this frame");
    req.input_reference = Some(ReferenceImage {
        bytes: Bytes::from(png),
        content_type: "image/png".into(),
        file_name: "reference.png".into(),
    });
    assert!(p.create(&req).await.is_ok());
    // The simulator checks pixel size like the provider: a mismatch is a 400.
    req.size = "1280x720".into();
    let err = p.create(&req).await.unwrap_err();
    assert!(
        matches!(err, ProviderError::Rejected { status: 400, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn remix_and_delete() {
    let s = sim(fast_sim()).await;
    let p = client(&s);
    let v = p.create(&request("day")).await.unwrap();
    let err = p.remix(&remix_of(&v.id, "night")).await.unwrap_err();
    assert!(
        matches!(err, ProviderError::Rejected { status: 400, .. }),
        "remix before completion: {err:?}"
    );
    wait_until_done(&p, &v.id).await;
    let r = p.remix(&remix_of(&v.id, "night")).await.unwrap();
    assert_ne!(r.id, v.id);
    p.delete(&v.id).await.unwrap();
    assert!(matches!(
        p.retrieve(&v.id).await,
        Err(ProviderError::NotFound { .. })
    ));
    assert_eq!(s.stats().remixes, 2);
}

#[tokio::test]
async fn rate_limits_are_waited_out() {
    let s = sim(fast_sim()).await;
    let p = client(&s);
    let v = p.create(&request("busy [sim:rate_limit=2]")).await.unwrap();
    assert_eq!(s.stats().faults_served, 2, "two 429s, then success");
    assert_eq!(s.stats().creates, 1, "the 429s were not counted as creates");
    assert!(p.retrieve(&v.id).await.is_ok());
}

#[tokio::test]
async fn too_many_rate_limits_surface_as_retryable() {
    let s = sim(fast_sim()).await;
    let p = client(&s);
    let err = p
        .create(&request("very busy [sim:rate_limit=10]"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProviderError::RateLimited { .. }) && err.is_retryable(),
        "{err:?}"
    );
    assert_eq!(s.stats().faults_served, 4, "one try plus three retries");
}

#[tokio::test]
async fn server_errors_are_retried_on_reads_but_not_on_create() {
    let s = sim(fast_sim()).await;
    let p = client(&s);
    let v = p.create(&request("x")).await.unwrap();
    // Reads are retried through 5xx: two faults, then success, in one call.
    let s2 = sim(SimConfig {
        faults: Faults {
            server_error_first: 2,
            retry_after_secs: 0,
            ..Faults::default()
        },
        ..fast_sim()
    })
    .await;
    let p2 = client(&s2);
    let err = p2.create(&request("y")).await.unwrap_err();
    // A create that may have reached the provider is not repeated here: one fault
    // served, the error is retryable for the caller (the workflow's retry).
    assert!(
        matches!(err, ProviderError::Unavailable { .. }) && err.is_retryable(),
        "{err:?}"
    );
    assert_eq!(s2.stats().faults_served, 1);
    assert!(p2.retrieve("video_missing").await.is_err());
    assert_eq!(
        s2.stats().faults_served,
        2,
        "the retrieve met the second 5xx and retried"
    );
    assert!(p.retrieve(&v.id).await.is_ok());
}

#[tokio::test]
async fn retrieves_survive_transient_server_errors() {
    let s = sim(fast_sim()).await;
    let p = client(&s);
    // The marker's faults apply to this job's requests; the create takes the first.
    let err = p
        .create(&request("flaky [sim:server_error=3]"))
        .await
        .unwrap_err();
    assert!(err.is_retryable());
    let v = p.create(&request("flaky [sim:server_error=3]")).await;
    assert!(v.is_err(), "the second create meets the second fault");
    let v = p
        .create(&request("flaky [sim:server_error=3]"))
        .await
        .unwrap_err();
    assert!(v.is_retryable());
    let v = p
        .create(&request("flaky [sim:server_error=3]"))
        .await
        .unwrap();
    assert!(p.retrieve(&v.id).await.is_ok());
}

#[tokio::test]
async fn moderation_at_create_is_final() {
    let s = sim(fast_sim()).await;
    let p = client(&s);
    let err = p
        .create(&request("bad [sim:moderation_create]"))
        .await
        .unwrap_err();
    match &err {
        ProviderError::Rejected {
            status: 400,
            code,
            reason,
            ..
        } => {
            assert_eq!(code, "moderation_blocked");
            assert_eq!(*reason, vidgen_shared::domain::ErrorCode::ModerationBlocked);
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.is_retryable());
    assert_eq!(s.stats().creates, 1, "not retried");
}

#[tokio::test]
async fn moderation_at_the_end_fails_the_video() {
    let s = sim(fast_sim()).await;
    let p = client(&s);
    let v = p
        .create(&request("bad later [sim:moderation_end]"))
        .await
        .unwrap();
    let done = wait_until_done(&p, &v.id).await;
    assert_eq!(done.status, ProviderStatus::Failed);
    let e = done.error.unwrap();
    assert_eq!(e.code, vidgen_shared::domain::ErrorCode::ModerationBlocked);
    assert_eq!(e.provider_code.as_deref(), Some("moderation_blocked"));
    assert!(e.message.contains("moderation"));
}

#[tokio::test]
async fn never_finishing_jobs_stay_in_progress() {
    let s = sim(fast_sim()).await;
    let p = client(&s);
    let v = p
        .create(&request("forever [sim:never_finish]"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let now = p.retrieve(&v.id).await.unwrap();
    assert_eq!(now.status, ProviderStatus::InProgress);
    assert!(now.progress < 100);
}

#[tokio::test]
async fn a_reset_download_is_an_error_not_a_short_file() {
    let s = sim(SimConfig {
        download_chunk: 1024,
        ..fast_sim()
    })
    .await;
    let p = client(&s);
    let v = p
        .create(&request(
            "cut [sim:video_bytes=100000] [sim:reset_download=20000]",
        ))
        .await
        .unwrap();
    wait_until_done(&p, &v.id).await;
    let err = collect(&p, &v.id, Variant::Video).await.unwrap_err();
    assert!(
        matches!(err, ProviderError::Transport { .. }) && err.is_retryable(),
        "{err:?}"
    );
}

#[tokio::test]
async fn slow_downloads_arrive_whole() {
    let s = sim(SimConfig {
        download_chunk: 4096,
        ..fast_sim()
    })
    .await;
    let p = client(&s);
    let v = p
        .create(&request(
            "slow [sim:video_bytes=40000] [sim:slow_download=200000]",
        ))
        .await
        .unwrap();
    wait_until_done(&p, &v.id).await;
    let got = collect(&p, &v.id, Variant::Video).await.unwrap();
    let digest: [u8; 32] = Sha256::digest(&got).into();
    assert_eq!(got.len(), 40_000);
    assert_eq!(digest, sora_sim::expected_digest(&v.id, 40_000));
}

#[tokio::test]
async fn a_wrong_key_is_refused_without_retries() {
    let s = sim(fast_sim()).await;
    let mut config = OpenAiConfig::new(s.base_url(), Secret::new("sk-wrong"));
    config.retry.base_delay = Duration::from_millis(1);
    let p = OpenAiProvider::new(config).unwrap();
    let err = p.create(&request("x")).await.unwrap_err();
    assert!(
        matches!(err, ProviderError::Rejected { status: 401, ref code, .. } if code == "invalid_api_key"),
        "{err:?}"
    );
    assert!(
        !err.to_string().contains("sk-wrong"),
        "the key never appears in errors"
    );
}

#[tokio::test]
async fn an_unreachable_provider_is_a_retryable_error_that_sent_nothing() {
    // Bind then drop: nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = OpenAiConfig::new(format!("http://127.0.0.1:{port}/v1"), Secret::new(KEY));
    config.retry = RetryPolicy {
        max_retries: 1,
        base_delay: Duration::from_millis(1),
        ..RetryPolicy::default()
    };
    let p = OpenAiProvider::new(config).unwrap();
    let err = p.retrieve("video_x").await.unwrap_err();
    assert!(
        matches!(err, ProviderError::NotSent { .. }) && err.is_retryable(),
        "{err:?}"
    );
    // A create that never left made nothing: submit may simply ask again.
    assert!(!p.create(&request("x")).await.unwrap_err().may_have_acted());
}

/// A client with the workflow's own retry policy (up to 4 retries, `Retry-After` up to
/// 120 s honoured) and a deadline `budget` away.
fn client_until(sim: &Simulator, budget: Duration) -> std::sync::Arc<dyn VideoProvider> {
    OpenAiProvider::new(OpenAiConfig::new(sim.base_url(), Secret::new(KEY)))
        .unwrap()
        .with_deadline(Deadline::after(budget))
}

/// Issue 12 #3: a 429 asking for 100 s, inside a check-status budget of 80 s. Before,
/// the client slept the 100 s (past the Lambda's 45 s), and Lambda killed it.
#[tokio::test]
async fn a_retry_after_longer_than_the_budget_is_handed_back_not_slept() {
    let s = sim(SimConfig {
        faults: Faults {
            rate_limit_first: 1,
            retry_after_secs: 100,
            ..Faults::default()
        },
        ..fast_sim()
    })
    .await;
    let p = client_until(&s, StepFunction::CheckStatus.in_process_budget());
    let started = std::time::Instant::now();
    let err = tokio::time::timeout(Duration::from_secs(20), p.retrieve("video_x"))
        .await
        .expect("the client answered instead of sleeping 100 s")
        .unwrap_err();
    assert!(
        matches!(err, ProviderError::RateLimited { retry_after: Some(d), .. } if d == Duration::from_secs(100)),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(s.stats().faults_served, 1, "no second request");
}

/// A short wait with time for a whole request after it is still made in-process.
#[tokio::test]
async fn retries_that_end_before_the_deadline_are_made() {
    let s = sim(SimConfig {
        faults: Faults {
            rate_limit_first: 2,
            retry_after_secs: 1,
            ..Faults::default()
        },
        ..fast_sim()
    })
    .await;
    let p = client_until(&s, StepFunction::Submit.in_process_budget());
    p.create(&request("x")).await.unwrap();
    assert_eq!((s.stats().faults_served, s.stats().creates), (2, 1));
}

/// The same 1 s wait, when a request after it could outlast the deadline: handed back.
#[tokio::test]
async fn a_retry_with_no_room_for_a_request_after_it_is_handed_back() {
    let s = sim(SimConfig {
        faults: Faults {
            rate_limit_first: 1,
            retry_after_secs: 1,
            ..Faults::default()
        },
        ..fast_sim()
    })
    .await;
    // 30 s left: a 1 s wait plus a 60 s request does not fit.
    let p = client_until(&s, Duration::from_secs(30));
    let err = p.retrieve("video_x").await.unwrap_err();
    assert!(matches!(err, ProviderError::RateLimited { .. }), "{err:?}");
    assert_eq!(s.stats().faults_served, 1);
}

/// Past the deadline, nothing is sent at all, and the caller knows nothing was made.
#[tokio::test]
async fn nothing_is_sent_after_the_deadline() {
    let s = sim(fast_sim()).await;
    let p = client_until(&s, Duration::ZERO);
    let err = p.create(&request("x")).await.unwrap_err();
    assert!(matches!(err, ProviderError::NotSent { .. }), "{err:?}");
    assert!(err.is_retryable() && !err.may_have_acted());
    assert_eq!(
        s.stats(),
        sora_sim::SimStats::default(),
        "no request reached it"
    );
}
