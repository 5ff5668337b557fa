//! Cancel against the timing AWS allows: Step Functions emits the ABORTED event of a
//! stopped execution at once, and the EventBridge backstop may run before the cancel's
//! own write. The engine double below runs that backstop inside `stop`, the worst case.

use crate::api::{handle, ApiConfig, ApiDeps};
use crate::config::Secret;
use crate::domain::ids::{JobId, Owner};
use crate::domain::{Job, Limits, Model, NewJob, ProviderId, Status};
use crate::engine::{EngineError, ExecutionStatus, WorkflowEngine};
use crate::provider::openai::{OpenAiConfig, OpenAiProvider};
use crate::provider::Providers;
use crate::store::embedded::EmbeddedJobStore;
use crate::store::local_files::LocalObjectStore;
use crate::store::{update_job, JobStore, ObjectStore};
use crate::workflow::{record_execution_end, ExecutionEnd, StepDeps, WorkflowConfig};
use bytes::Bytes;
use std::sync::Arc;

/// Stopping an execution delivers its ABORTED event to the backstop before returning.
struct AbortedEventFirst(StepDeps);

#[async_trait::async_trait]
impl WorkflowEngine for AbortedEventFirst {
    async fn start(&self, _job_id: &str, _input: &serde_json::Value) -> Result<(), EngineError> {
        Ok(())
    }

    async fn stop(&self, job_id: &str, _cause: &str) -> Result<(), EngineError> {
        let id = JobId::parse(job_id).expect("executions are named after jobs");
        record_execution_end(&self.0, &id, ExecutionEnd::Aborted, &Default::default())
            .await
            .expect("the backstop ran");
        Ok(())
    }

    async fn status(&self, _job_id: &str) -> Result<ExecutionStatus, EngineError> {
        Ok(ExecutionStatus::Aborted)
    }

    async fn send_task_success(
        &self,
        _token: &str,
        _output: &serde_json::Value,
    ) -> Result<crate::engine::CallbackAnswer, EngineError> {
        Ok(crate::engine::CallbackAnswer::Closed)
    }
    async fn send_task_failure(
        &self,
        _token: &str,
        _error: &str,
        _cause: &str,
    ) -> Result<crate::engine::CallbackAnswer, EngineError> {
        Ok(crate::engine::CallbackAnswer::Closed)
    }
}

#[tokio::test]
async fn a_cancel_ends_canceled_even_when_the_aborted_event_arrives_first() {
    let dir = tempfile::tempdir().unwrap();
    let jobs: Arc<dyn JobStore> = Arc::new(EmbeddedJobStore::open(&dir.path().join("j")).unwrap());
    let objects: Arc<dyn ObjectStore> = Arc::new(LocalObjectStore::new(
        dir.path().join("files"),
        "http://127.0.0.1:9".into(),
        b"k".to_vec(),
    ));
    // The backstop never calls the provider; port 9 (discard) is never dialled.
    let provider = OpenAiProvider::new(OpenAiConfig::new(
        "http://127.0.0.1:9/v1",
        Secret::new("unused"),
    ))
    .unwrap();
    let step_deps = StepDeps {
        jobs: jobs.clone(),
        objects: objects.clone(),
        providers: Providers::only(ProviderId::OpenAi, Arc::new(provider)),
        config: WorkflowConfig::default(),
    };
    let deps = ApiDeps {
        jobs: jobs.clone(),
        objects,
        engine: Arc::new(AbortedEventFirst(step_deps)),
        config: ApiConfig::default(),
        webhooks: Arc::new(crate::webhooks_in::receiver::ProviderWebhooks::none()),
    };
    let owner = Owner::new("alice");
    let job = Job::new(
        NewJob::new(&owner, Model::SORA_2, 4, "720x1280", "a fox"),
        chrono::Utc::now(),
    );
    jobs.create(&job, None, &Limits::UNLIMITED).await.unwrap();
    update_job(jobs.as_ref(), &job.id, |j| {
        j.mark_submitted("video_1", chrono::Utc::now())
    })
    .await
    .unwrap();

    let request = http::Request::post(format!("/v1/videos/{}/cancel", job.id))
        .body(Bytes::new())
        .unwrap();
    let answer = handle(&deps, Some(owner.as_str()), request).await;
    assert_eq!(answer.status(), 200, "{:?}", answer.body());
    let stored = jobs.get(&job.id).await.unwrap().unwrap();
    assert_eq!(stored.status, Status::Canceled, "{:?}", stored.error);
    assert_eq!(stored.error, None);
}
