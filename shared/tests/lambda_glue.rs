//! The step Lambdas' glue: payloads in, Lambda error types out, as the state
//! machine's Retry/Catch expect them. Real stores and the real client against the
//! simulator, no AWS.

// Only the contract's job fixture and the template's event transformer are used here.
#[allow(dead_code)]
mod common {
    pub mod job_store_contract;
    pub mod template;
}

use chrono::Utc;
use serde_json::json;
use std::sync::Arc;
use vidgen_shared::config::Secret;
use vidgen_shared::deadline::Deadline;
use vidgen_shared::domain::{Limits, ProviderId};
use vidgen_shared::lambda_glue::handle_step;
use vidgen_shared::provider::openai::{OpenAiConfig, OpenAiProvider};
use vidgen_shared::provider::Providers;
use vidgen_shared::store::embedded::EmbeddedJobStore;
use vidgen_shared::store::local_files::LocalObjectStore;
use vidgen_shared::store::update_job;
use vidgen_shared::workflow::{StepDeps, StepFunction, WorkflowConfig};

/// One invocation, with the deadline Lambda would give it.
async fn step(
    deps: &StepDeps,
    function: StepFunction,
    payload: serde_json::Value,
) -> Result<serde_json::Value, vidgen_shared::lambda_glue::LambdaError> {
    let deadline = Deadline::after(function.lambda_timeout());
    handle_step(deps, function, payload, deadline).await
}

async fn deps(dir: &std::path::Path) -> (StepDeps, sora_sim::Simulator) {
    deps_with(dir, sora_sim::SimConfig::default()).await
}

async fn deps_with(
    dir: &std::path::Path,
    sim: sora_sim::SimConfig,
) -> (StepDeps, sora_sim::Simulator) {
    let sim = sora_sim::Simulator::start("127.0.0.1:0".parse().unwrap(), sim)
        .await
        .unwrap();
    let deps = StepDeps {
        jobs: Arc::new(EmbeddedJobStore::open(&dir.join("jobs.redb")).unwrap()),
        objects: Arc::new(LocalObjectStore::new(
            dir.join("files"),
            "http://127.0.0.1:9".into(),
            b"k".to_vec(),
        )),
        providers: Providers::only(
            ProviderId::OpenAi,
            Arc::new(
                OpenAiProvider::new(OpenAiConfig::new(sim.base_url(), Secret::new("k"))).unwrap(),
            ),
        ),
        config: WorkflowConfig::default(),
    };
    (deps, sim)
}

#[tokio::test]
async fn payloads_route_to_steps_and_errors_keep_their_types() {
    let dir = tempfile::tempdir().unwrap();
    let (deps, _sim) = deps(dir.path()).await;
    let bad = step(&deps, StepFunction::Submit, json!({"no_job_id": 1}))
        .await
        .unwrap_err();
    assert_eq!(bad.error_type, "Failed");
    let payload: serde_json::Value = serde_json::from_str(&bad.error_message).unwrap();
    assert_eq!(payload["code"], "internal");
    assert!(payload["message"].as_str().unwrap().contains("job_id"));

    // check-status takes only its tagged inputs: an untagged state is refused, not guessed.
    let untagged = step(
        &deps,
        StepFunction::CheckStatus,
        json!({"job_id": "vid_01JNOPE", "provider_video_id": "video_x"}),
    )
    .await
    .unwrap_err();
    assert_eq!(untagged.error_type, "Failed");
    assert!(untagged.error_message.contains("action"));

    let missing = step(
        &deps,
        StepFunction::CheckStatus,
        json!({"action": "poll", "state": {"job_id": "vid_01JNOPE", "provider_video_id": "video_x"}}),
    )
    .await
    .unwrap_err();
    assert_eq!(missing.error_type, "Failed");
    let payload: serde_json::Value = serde_json::from_str(&missing.error_message).unwrap();
    assert_eq!(payload["code"], "not_found");

    // RecordFailure's payload goes to the failure recorder; a deleted job is fine.
    let recorded = step(
        &deps,
        StepFunction::CheckStatus,
        json!({"action": "record_failure", "job_id": "vid_01JNOPE", "failure": {"Error": "States.Timeout", "Cause": ""}}),
    )
    .await
    .unwrap();
    assert_eq!(recorded, json!({"job_id": "vid_01JNOPE", "status": null}));
}

/// EventBridge's "Execution Status Change", as Step Functions sends it (shape from the
/// Step Functions user guide), for an execution named after the job, reshaped by the
/// rule's input transformer exactly as `template.yaml` declares it.
fn execution_event(job_id: &str, status: &str) -> serde_json::Value {
    common::template::Template::load()
        .transform_execution_event(&raw_execution_event(job_id, status))
}

fn raw_execution_event(job_id: &str, status: &str) -> serde_json::Value {
    let arn = format!("arn:aws:states:us-east-1:123456789012:execution:vidgen-jobs:{job_id}");
    json!({
        "version": "0",
        "id": "315c1398-40ff-a850-213b-158f73e60175",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": "123456789012",
        "time": "2026-11-25T19:42:21Z",
        "region": "us-east-1",
        "resources": [arn],
        "detail": {
            "executionArn": arn,
            "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:vidgen-jobs",
            "name": job_id,
            "status": status,
            "startDate": 1_764_000_000_000u64,
            "stopDate": 1_764_003_600_000u64,
            "input": "{}",
            "output": null
        }
    })
}

#[tokio::test]
async fn execution_events_record_how_an_execution_ended_once() {
    let dir = tempfile::tempdir().unwrap();
    let (deps, _sim) = deps(dir.path()).await;
    let running = common::job_store_contract::job("alice", None, 0);
    let done = common::job_store_contract::job("alice", None, 1);
    for job in [&running, &done] {
        deps.jobs
            .create(job, None, &Limits::UNLIMITED)
            .await
            .unwrap();
        update_job(deps.jobs.as_ref(), &job.id, |j| {
            j.mark_submitted("video_1", Utc::now())
        })
        .await
        .unwrap();
    }
    update_job(deps.jobs.as_ref(), &done.id, |j| {
        j.mark_canceled(Utc::now())
    })
    .await
    .unwrap();

    // Still running or succeeded: nothing to record.
    for status in ["RUNNING", "SUCCEEDED"] {
        let out = step(
            &deps,
            StepFunction::CheckStatus,
            execution_event(&running.id, status),
        )
        .await
        .unwrap();
        assert_eq!(out["status"], serde_json::Value::Null);
    }
    assert_eq!(
        deps.jobs
            .get(&running.id)
            .await
            .unwrap()
            .unwrap()
            .status
            .as_str(),
        "in_progress"
    );

    // The state machine's own timeout ends the job as timed_out, saying why.
    let out = step(
        &deps,
        StepFunction::CheckStatus,
        execution_event(&running.id, "TIMED_OUT"),
    )
    .await
    .unwrap();
    assert_eq!(out["status"], "timed_out");
    let job = deps.jobs.get(&running.id).await.unwrap().unwrap();
    assert_eq!(
        job.error.as_ref().map(|e| e.code.as_str()),
        Some("timed_out")
    );
    assert!(job.completed_at.is_some());

    // A later event, or one for a job that had already ended, changes nothing.
    let again = step(
        &deps,
        StepFunction::CheckStatus,
        execution_event(&running.id, "FAILED"),
    )
    .await
    .unwrap();
    assert_eq!(again["status"], "timed_out");
    let aborted = step(
        &deps,
        StepFunction::CheckStatus,
        execution_event(&done.id, "ABORTED"),
    )
    .await
    .unwrap();
    assert_eq!(aborted["status"], "canceled");
    // A deleted job is fine.
    let gone = step(
        &deps,
        StepFunction::CheckStatus,
        execution_event("vid_01JGONE", "FAILED"),
    )
    .await
    .unwrap();
    assert_eq!(gone["status"], serde_json::Value::Null);
}

/// Issue 12 #3 at the step: a poll answered 429 with `Retry-After: 100` ends at once as
/// `Retryable` (Step Functions' Retry waits), where before the client slept the 100 s
/// past check-status's 45 s Lambda Timeout and Lambda killed it (`Sandbox.Timedout`,
/// which no Retry matches: the job failed as internal).
#[tokio::test]
async fn a_long_retry_after_makes_the_step_retryable_before_its_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let (deps, sim) = deps_with(
        dir.path(),
        sora_sim::SimConfig {
            faults: sora_sim::Faults {
                rate_limit_first: 1,
                retry_after_secs: 100,
                ..sora_sim::Faults::default()
            },
            ..sora_sim::SimConfig::default()
        },
    )
    .await;
    let job = common::job_store_contract::job("alice", None, 0);
    deps.jobs
        .create(&job, None, &Limits::UNLIMITED)
        .await
        .unwrap();
    update_job(deps.jobs.as_ref(), &job.id, |j| {
        j.mark_submitted("video_1", Utc::now())
    })
    .await
    .unwrap();
    let started = std::time::Instant::now();
    let poll =
        json!({"action": "poll", "state": {"job_id": job.id, "provider_video_id": "video_1"}});
    let e = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        step(&deps, StepFunction::CheckStatus, poll),
    )
    .await
    .expect("the step answered instead of sleeping")
    .unwrap_err();
    assert_eq!(e.error_type, "Retryable", "{}", e.error_message);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(sim.stats().faults_served, 1);
}

/// The Lambda path of the generation metrics: the steps' own entry point, against the
/// simulator over HTTP, records each ended job once through the `metrics` facade (with
/// a Prometheus recorder installed for this thread only; in Lambda the same hook prints
/// the EMF line). A current-thread runtime keeps every step on this thread.
#[test]
fn the_steps_that_end_jobs_record_them_once() {
    use metrics_exporter_prometheus::PrometheusBuilder;
    let recorder = PrometheusBuilder::new().build_recorder();
    let metrics = recorder.handle();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (completed, failed) = metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            let sim = sora_sim::SimConfig {
                render_time: std::time::Duration::from_millis(300),
                ..sora_sim::SimConfig::default()
            };
            let (deps, _sim) = deps_with(dir.path(), sim).await;
            let job = common::job_store_contract::job("alice", None, 0);
            deps.jobs
                .create(&job, None, &Limits::UNLIMITED)
                .await
                .unwrap();
            let mut state = step(&deps, StepFunction::Submit, json!({"job_id": job.id}))
                .await
                .unwrap();
            for _ in 0..100 {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                let poll = json!({"action": "poll", "state": state});
                state = step(&deps, StepFunction::CheckStatus, poll).await.unwrap();
                if state["next"] == "download" {
                    break;
                }
            }
            assert_eq!(state["next"], "download", "{state}");
            let done = step(&deps, StepFunction::Download, state.clone())
                .await
                .unwrap();
            assert_eq!(done["next"], "done");
            // A retried download of the completed job records nothing more.
            step(&deps, StepFunction::Download, state).await.unwrap();

            let other = common::job_store_contract::job("alice", None, 1);
            deps.jobs
                .create(&other, None, &Limits::UNLIMITED)
                .await
                .unwrap();
            let failure = json!({"action": "record_failure", "job_id": other.id,
                "failure": {"Error": "States.Timeout", "Cause": ""}});
            step(&deps, StepFunction::CheckStatus, failure.clone())
                .await
                .unwrap();
            // RecordFailure again (a redelivered backstop): the job already ended.
            step(&deps, StepFunction::CheckStatus, failure)
                .await
                .unwrap();
            (
                deps.jobs.get(&job.id).await.unwrap().unwrap(),
                deps.jobs.get(&other.id).await.unwrap().unwrap(),
            )
        })
    });
    let text = metrics.render();
    let render = completed.timings().unwrap().render_seconds.unwrap();
    for line in [
        r#"vidgen_jobs_ended_total{model="sora-2",status="completed",error_code="none"} 1"#
            .to_string(),
        r#"vidgen_jobs_ended_total{model="sora-2",status="failed",error_code="internal"} 1"#
            .to_string(),
        r#"vidgen_render_seconds_count{model="sora-2"} 1"#.to_string(),
        format!(r#"vidgen_render_seconds_sum{{model="sora-2"}} {render}"#),
    ] {
        assert!(text.lines().any(|l| l == line), "no {line} in:\n{text}");
    }
    assert_eq!(failed.status.as_str(), "failed");
}
