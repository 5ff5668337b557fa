//! The step Lambdas' glue: payloads in, Lambda error types out, as the state
//! machine's Retry/Catch expect them. Real stores and the real client against the
//! simulator, no AWS.

use serde_json::json;
use std::sync::Arc;
use vidgen_shared::config::Secret;
use vidgen_shared::lambda_glue::handle_step;
use vidgen_shared::provider::openai::{OpenAiConfig, OpenAiProvider};
use vidgen_shared::store::embedded::EmbeddedJobStore;
use vidgen_shared::store::local_files::LocalObjectStore;
use vidgen_shared::workflow::{StepDeps, StepFunction, WorkflowConfig};

#[tokio::test]
async fn payloads_route_to_steps_and_errors_keep_their_types() {
    let sim = sora_sim::Simulator::start(
        "127.0.0.1:0".parse().unwrap(),
        sora_sim::SimConfig::default(),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let deps = StepDeps {
        jobs: Arc::new(EmbeddedJobStore::open(&dir.path().join("jobs.redb")).unwrap()),
        objects: Arc::new(LocalObjectStore::new(
            dir.path().join("files"),
            "http://127.0.0.1:9".into(),
            b"k".to_vec(),
        )),
        provider: Arc::new(
            OpenAiProvider::new(OpenAiConfig::new(sim.base_url(), Secret::new("k"))).unwrap(),
        ),
        config: WorkflowConfig::default(),
    };
    let bad = handle_step(&deps, StepFunction::Submit, json!({"no_job_id": 1}))
        .await
        .unwrap_err();
    assert_eq!(bad.error_type, "Failed");
    let payload: serde_json::Value = serde_json::from_str(&bad.error_message).unwrap();
    assert_eq!(payload["code"], "invalid_input");

    let missing = handle_step(
        &deps,
        StepFunction::CheckStatus,
        json!({"job_id": "vid_01JNOPE", "provider_video_id": "video_x"}),
    )
    .await
    .unwrap_err();
    assert_eq!(missing.error_type, "Failed");
    assert!(missing.error_message.contains("job_not_found"));

    // RecordFailure's payload goes to the failure recorder; a deleted job is fine.
    let recorded = handle_step(
        &deps,
        StepFunction::CheckStatus,
        json!({"job_id": "vid_01JNOPE", "failure": {"Error": "States.Timeout", "Cause": ""}}),
    )
    .await
    .unwrap();
    assert_eq!(recorded, json!({"job_id": "vid_01JNOPE", "status": null}));
}
