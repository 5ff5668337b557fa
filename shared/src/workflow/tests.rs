use super::*;
use crate::domain::{ErrorCode, Status};

fn lambda_failure(e: &StepError) -> StepFailure {
    StepFailure {
        error: e.error_type().as_str().into(),
        cause: e.lambda_cause(),
    }
}

#[test]
fn provider_reasons_reach_the_record() {
    let e = StepError::Failed {
        code: ErrorCode::ModerationBlocked,
        message: "Your request was blocked by our moderation system.".into(),
    };
    let (status, reason) = classify_failure(&lambda_failure(&e));
    assert_eq!(status, Status::Failed);
    assert_eq!(reason.code, ErrorCode::ModerationBlocked);
    assert_eq!(
        reason.message,
        "Your request was blocked by our moderation system."
    );
}

#[test]
fn exhausted_retries_keep_the_last_reason() {
    let e = StepError::Retryable {
        code: ErrorCode::ProviderUnavailable,
        message: "503".into(),
    };
    let (status, reason) = classify_failure(&lambda_failure(&e));
    assert_eq!(
        (status, reason.code, reason.message.as_str()),
        (Status::Failed, ErrorCode::ProviderUnavailable, "503")
    );
    // A store fault that outlasted its retries says so, without the store's detail.
    let store = StepError::StoreUnavailable {
        detail: "dispatch failure: dynamodb.internal.example:443 refused".into(),
    };
    assert_eq!(store.error_type(), StepErrorName::Retryable);
    let (_, reason) = classify_failure(&lambda_failure(&store));
    assert_eq!(reason.code, ErrorCode::Internal);
    assert!(!reason.message.contains("example"), "{}", reason.message);
}

#[test]
fn time_outs_end_as_timed_out() {
    let e = StepError::TimedOut {
        message: "too slow".into(),
    };
    let (status, reason) = classify_failure(&lambda_failure(&e));
    assert_eq!(
        (status, reason.code.as_str(), reason.message.as_str()),
        (Status::TimedOut, "timed_out", "too slow")
    );
}

#[test]
fn engine_errors_get_stable_codes_and_no_internals() {
    let timeout = StepFailure {
        error: "States.Timeout".into(),
        cause: String::new(),
    };
    assert_eq!(classify_failure(&timeout).1.code, ErrorCode::Internal);
    assert!(classify_failure(&timeout)
        .1
        .message
        .contains("did not finish in time"));
    let crash = StepFailure {
        error: "Runtime.ExitError".into(),
        cause: "panicked at src/secret/path.rs:12 with sk-123".into(),
    };
    let (status, reason) = classify_failure(&crash);
    assert_eq!(status, Status::Failed);
    assert_eq!(reason.code, ErrorCode::Internal);
    assert!(!reason.message.contains("sk-123") && !reason.message.contains("src/"));
}

#[test]
fn provider_errors_split_by_retryability() {
    use crate::provider::ProviderError;
    let limited = ProviderError::RateLimited {
        retry_after: None,
        message: "slow down".into(),
    };
    assert_eq!(
        StepError::from(limited),
        StepError::Retryable {
            code: ErrorCode::ProviderUnavailable,
            message: "slow down".into()
        }
    );
    let refused = ProviderError::Rejected {
        status: 400,
        code: "moderation_blocked".into(),
        reason: ErrorCode::ModerationBlocked,
        message: "no".into(),
        param: None,
    };
    assert_eq!(
        StepError::from(refused),
        StepError::Failed {
            code: ErrorCode::ModerationBlocked,
            message: "no".into()
        }
    );
}

#[test]
fn waits_follow_the_hint_within_bounds() {
    let cfg = WorkflowConfig {
        min_wait: std::time::Duration::from_secs(5),
        max_wait: std::time::Duration::from_secs(30),
        ..Default::default()
    };
    let secs = std::time::Duration::from_secs;
    assert_eq!(next_wait_seconds(None, 0, &cfg), 5);
    assert_eq!(next_wait_seconds(None, 1, &cfg), 8);
    assert_eq!(next_wait_seconds(None, 3, &cfg), 17);
    assert_eq!(next_wait_seconds(None, 100, &cfg), 30);
    assert_eq!(next_wait_seconds(Some(secs(12)), 9, &cfg), 12);
    assert_eq!(
        next_wait_seconds(Some(std::time::Duration::from_millis(1500)), 0, &cfg),
        5
    );
    assert_eq!(next_wait_seconds(Some(secs(600)), 0, &cfg), 30);
    // The largest hints a provider header can produce stay within bounds, no panic.
    assert_eq!(
        next_wait_seconds(Some(crate::provider::retry::MAX_HINT), 0, &cfg),
        30
    );
    assert_eq!(
        next_wait_seconds(Some(std::time::Duration::MAX), u32::MAX, &cfg),
        30
    );
    assert_eq!(next_wait_seconds(None, u32::MAX, &cfg), 30);
}

#[test]
fn state_round_trips_through_json() {
    let id = crate::domain::job::tests::sample_id();
    let start: WorkflowState = serde_json::from_value(WorkflowState::start(&id)).unwrap();
    assert_eq!(start.job_id, id);
    assert_eq!(start.next, Next::Wait);
    assert_eq!(start.polls, 0);
    let json = serde_json::to_value(WorkflowState {
        next: Next::Download,
        ..start
    })
    .unwrap();
    assert_eq!(json["next"], "download");
}

#[test]
fn a_step_error_of_every_name_round_trips_through_record_failure() {
    // Whatever a step raises, RecordFailure reads its name and payload back.
    let errors = [
        StepError::Retryable {
            code: ErrorCode::ProviderUnavailable,
            message: "m".into(),
        },
        StepError::Failed {
            code: ErrorCode::VideoGenerationFailed,
            message: "m".into(),
        },
        StepError::TimedOut {
            message: "m".into(),
        },
    ];
    for e in errors {
        let name = StepErrorName::from_name(e.error_type().as_str());
        assert_eq!(name, Some(e.error_type()));
        let (_, reason) = classify_failure(&lambda_failure(&e));
        assert_eq!(reason.message, "m", "{e:?}");
    }
}

#[tokio::test]
async fn transport_failures_reach_the_record_without_host_or_port() {
    use crate::config::Secret;
    use crate::provider::openai::{OpenAiConfig, OpenAiProvider};
    use crate::provider::retry::RetryPolicy;
    use crate::provider::VideoProvider;
    // A port nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut config = OpenAiConfig::new(
        format!("http://127.0.0.1:{port}/v1"),
        Secret::new("sk-test"),
    );
    config.retry = RetryPolicy::none();
    let provider = OpenAiProvider::new(config).unwrap();
    let e = provider.retrieve("video_1").await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::ProviderUnavailable);
    let step = StepError::from(e);
    assert_eq!(step.error_type(), StepErrorName::Retryable);
    let cause = step.lambda_cause();
    let (status, reason) = classify_failure(&lambda_failure(&step));
    assert_eq!(status, Status::Failed);
    assert_eq!(reason.code, ErrorCode::ProviderUnavailable);
    assert_eq!(reason.message, "could not reach the provider");
    for text in [reason.message.as_str(), cause.as_str()] {
        assert!(
            !text.contains("127.0.0.1") && !text.contains(&port.to_string()),
            "{text}"
        );
    }
}

#[test]
fn transport_details_never_reach_the_record() {
    use crate::provider::ProviderError;
    let e = ProviderError::Transport {
        message: "connection failed: dns error for api.internal.example:8443".into(),
    };
    let (_, reason) = classify_failure(&lambda_failure(&StepError::from(e)));
    assert_eq!(reason.message, "could not reach the provider");
}
