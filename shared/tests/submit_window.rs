//! The window between the provider making a render and the job record knowing its id
//! (issue 12 #2): one job, one paid render, whatever fails in between. The provider is
//! the real OpenAI client against the simulator over 127.0.0.1; the job store is the
//! real embedded store, and DynamoDB on moto when scripts/test.sh started it (skipped
//! with a message otherwise, failed with `VIDGEN_REQUIRE_AWS_TESTS=1`), behind a wrapper
//! that injects the fault (a failing record write, a cancel or delete landing just
//! before it). Whole workflows run the real definition in the ASL interpreter, as the
//! local engine does.

use asl::{ExecutionOptions, ExecutionOutcome, StateMachine, TaskFailure, TaskHandler};
use async_trait::async_trait;
use chrono::Utc;
use serde_json::{json, Value};
use sora_sim::{SimConfig, Simulator};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use vidgen_shared::aws::{aws_test_env, static_sdk_config};
use vidgen_shared::config::Secret;
use vidgen_shared::deadline::Deadline;
use vidgen_shared::domain::ids::{JobId, Owner};
use vidgen_shared::domain::{Job, Limits, Model, NewJob, ProviderId, Status};
use vidgen_shared::provider::openai::{OpenAiConfig, OpenAiProvider};
use vidgen_shared::provider::{CreateVideo, Providers, VideoProvider};
use vidgen_shared::store::dynamo::{create_table, DynamoJobStore};
use vidgen_shared::store::embedded::EmbeddedJobStore;
use vidgen_shared::store::local_files::LocalObjectStore;
use vidgen_shared::store::{
    update_job, CreateOutcome, IdempotencyRecord, JobStore, Page, StoreError, Upload,
};
use vidgen_shared::workflow::contract::STEP_RESERVE;
use vidgen_shared::workflow::{
    local_substitutions, run_step, StepDeps, StepError, StepFunction, WorkflowConfig, WorkflowState,
};

const DEFINITION: &str = include_str!("../../infra/state-machine.asl.json");
const KEY: &str = "sk-sim";

/// What happens to the write that records the provider's id (the first write that puts
/// a `provider_video_id` on a record that had none).
#[derive(Default)]
struct Faults {
    /// Fail this many of those writes.
    fail_records: AtomicU32,
    /// Fail every one of them while set.
    fail_all_records: AtomicBool,
    /// Cancel the job just before that write (the cancel lands in the window).
    cancel_first: AtomicBool,
    /// Delete the job just before that write.
    delete_first: AtomicBool,
    /// How many record writes were tried.
    record_writes: AtomicU32,
}

/// The real store, with [`Faults`] injected into the record write.
struct FaultyJobs {
    inner: Arc<dyn JobStore>,
    faults: Faults,
}

#[async_trait]
impl JobStore for FaultyJobs {
    async fn create_all(
        &self,
        jobs: &[Job],
        parent: Option<&Job>,
        claim: Option<&IdempotencyRecord>,
        limits: &Limits,
    ) -> Result<CreateOutcome, StoreError> {
        self.inner.create_all(jobs, parent, claim, limits).await
    }
    async fn get(&self, id: &JobId) -> Result<Option<Job>, StoreError> {
        self.inner.get(id).await
    }
    async fn put_if_version(&self, job: &Job) -> Result<(), StoreError> {
        let stored = self.inner.get(&job.id).await?;
        let records_the_id = job.provider_video_id.is_some()
            && stored
                .as_ref()
                .is_some_and(|s| s.provider_video_id.is_none());
        if records_the_id {
            let f = &self.faults;
            f.record_writes.fetch_add(1, Ordering::SeqCst);
            if f.cancel_first.swap(false, Ordering::SeqCst) {
                update_job(self.inner.as_ref(), &job.id, |j| {
                    j.mark_canceled(Utc::now())
                })
                .await
                .expect("the injected cancel is written");
            }
            if f.delete_first.swap(false, Ordering::SeqCst) {
                self.inner.delete(&job.id).await?;
            }
            let take_one = f
                .fail_records
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if take_one || f.fail_all_records.load(Ordering::SeqCst) {
                return Err(StoreError::Backend(
                    "injected: the record write failed".into(),
                ));
            }
        }
        self.inner.put_if_version(job).await
    }
    async fn list(
        &self,
        owner: &Owner,
        status: Option<Status>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page, StoreError> {
        self.inner.list(owner, status, limit, cursor).await
    }
    async fn delete(&self, id: &JobId) -> Result<(), StoreError> {
        self.inner.delete(id).await
    }
    async fn put_upload(&self, upload: &Upload) -> Result<(), StoreError> {
        self.inner.put_upload(upload).await
    }
    async fn get_upload(&self, id: &str) -> Result<Option<Upload>, StoreError> {
        self.inner.get_upload(id).await
    }
    async fn unfinished(&self) -> Result<Vec<Job>, StoreError> {
        self.inner.unfinished().await
    }
    async fn arm_webhook_wait(&self, id: &JobId, token: &str) -> Result<(), StoreError> {
        self.inner.arm_webhook_wait(id, token).await
    }
    async fn put_provider_ref(
        &self,
        provider: ProviderId,
        video_id: &str,
        job: &JobId,
    ) -> Result<(), StoreError> {
        self.inner.put_provider_ref(provider, video_id, job).await
    }
    async fn find_by_provider(
        &self,
        provider: ProviderId,
        video_id: &str,
    ) -> Result<Option<JobId>, StoreError> {
        self.inner.find_by_provider(provider, video_id).await
    }
}

struct World {
    sim: Simulator,
    jobs: Arc<FaultyJobs>,
    deps: StepDeps,
    provider: OpenAiProvider,
    _dir: tempfile::TempDir,
}

#[derive(Debug, Clone, Copy)]
enum Store {
    Embedded,
    Dynamo,
}

/// The stores to run on: the embedded one always, DynamoDB when moto is configured.
fn stores() -> Vec<Store> {
    let mut stores = vec![Store::Embedded];
    if aws_test_env(["MOTO_ENDPOINT"]).is_some() {
        stores.push(Store::Dynamo);
    }
    stores
}

async fn job_store(store: Store, dir: &std::path::Path) -> Arc<dyn JobStore> {
    match store {
        Store::Embedded => Arc::new(EmbeddedJobStore::open(&dir.join("jobs.redb")).unwrap()),
        Store::Dynamo => {
            let [endpoint] = aws_test_env(["MOTO_ENDPOINT"]).expect("moto is configured");
            let client =
                aws_sdk_dynamodb::Client::new(&static_sdk_config(&endpoint, "testing", "testing"));
            let table = format!(
                "vidgen-window-{}",
                ulid::Ulid::new().to_string().to_lowercase()
            );
            create_table(&client, &table).await.unwrap();
            Arc::new(DynamoJobStore::new(client, table))
        }
    }
}

async fn world(store: Store) -> World {
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulator::start(
        "127.0.0.1:0".parse().unwrap(),
        SimConfig {
            api_key: Some(KEY.into()),
            render_time: Duration::from_millis(300),
            ..SimConfig::default()
        },
    )
    .await
    .unwrap();
    let jobs = Arc::new(FaultyJobs {
        inner: job_store(store, dir.path()).await,
        faults: Faults::default(),
    });
    let provider =
        OpenAiProvider::new(OpenAiConfig::new(sim.base_url(), Secret::new(KEY))).unwrap();
    let deps = StepDeps {
        jobs: jobs.clone(),
        objects: Arc::new(LocalObjectStore::new(
            dir.path().join("files"),
            "http://127.0.0.1:9".into(),
            b"k".to_vec(),
        )),
        providers: Providers::only(ProviderId::OpenAi, Arc::new(provider.clone())),
        config: WorkflowConfig {
            min_wait: Duration::from_secs(1),
            max_wait: Duration::from_secs(2),
            ..WorkflowConfig::default()
        },
    };
    World {
        sim,
        jobs,
        deps,
        provider,
        _dir: dir,
    }
}

impl World {
    async fn job(&self, prompt: &str) -> Job {
        self.job_with(NewJob::new(
            &Owner::new("alice"),
            Model::SORA_2,
            4,
            "720x1280",
            prompt,
        ))
        .await
    }

    async fn job_with(&self, new: NewJob) -> Job {
        let job = Job::new(new, Utc::now());
        self.jobs
            .create(&job, None, &Limits::UNLIMITED)
            .await
            .unwrap();
        job
    }

    async fn stored(&self, id: &JobId) -> Option<Job> {
        self.jobs.get(id).await.unwrap()
    }

    /// One submit invocation with Lambda's full time.
    async fn submit(&self, job: &Job) -> Result<Value, StepError> {
        let f = StepFunction::Submit;
        run_step(
            &self.deps,
            f,
            WorkflowState::start(&job.id),
            Deadline::after(f.lambda_timeout()),
        )
        .await
    }

    /// The ids of the videos the simulator holds, read from its list endpoint.
    async fn sim_videos(&self) -> Vec<String> {
        let list: Value = reqwest::Client::new()
            .get(format!("{}/videos?limit=100", self.sim.base_url()))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["id"].as_str().unwrap().to_string())
            .collect()
    }

    /// The job's request made at the simulator directly, as a lost create would have.
    async fn render_directly(&self, job: &Job) -> String {
        self.provider
            .create(&CreateVideo {
                prompt: job.prompt.clone(),
                model: job.model.as_str().into(),
                seconds: job.seconds,
                size: job.size.as_str().into(),
                negative_prompt: None,
                input_reference: None,
                webhook_url: None,
            })
            .await
            .unwrap()
            .id
    }

    /// Put the submit mark on the record, as a submit whose answer was lost left it.
    async fn mark(&self, job: &Job) {
        let at = Utc::now();
        update_job(self.jobs.as_ref(), &job.id, |j| {
            j.mark_submit_attempted(None, at)
        })
        .await
        .unwrap();
    }

    /// Run the job's whole workflow on the real definition. The first submit invocation
    /// gets a deadline `first_submit` away (Lambda's full time for the rest); after it,
    /// record writes stop failing.
    async fn run_workflow(&self, job: &Job, first_submit: Duration) -> (ExecutionOutcome, u32) {
        let machine = StateMachine::parse(DEFINITION, &local_substitutions()).unwrap();
        let steps = Steps {
            world: self,
            first_submit,
            submits: AtomicU32::new(0),
        };
        let report = machine
            .execute(
                WorkflowState::start(&job.id),
                &steps,
                ExecutionOptions {
                    // Task timeouts scale too: 120 s × 0.1 still outlasts a first submit
                    // that spends its short deadline retrying the record write.
                    time_scale: 0.1,
                    execution_name: job.id.to_string(),
                    ..ExecutionOptions::default()
                },
            )
            .await;
        (report.outcome, steps.submits.load(Ordering::SeqCst))
    }
}

/// The local engine's Task handler, with a chosen deadline for the first submit.
struct Steps<'a> {
    world: &'a World,
    first_submit: Duration,
    submits: AtomicU32,
}

#[async_trait]
impl TaskHandler for Steps<'_> {
    async fn invoke(&self, _resource: &str, input: Value) -> Result<Value, TaskFailure> {
        let function = StepFunction::from_name(input["FunctionName"].as_str().unwrap()).unwrap();
        let first =
            function == StepFunction::Submit && self.submits.fetch_add(1, Ordering::SeqCst) == 0;
        let timeout = if first {
            self.first_submit
        } else {
            function.lambda_timeout()
        };
        let out = run_step(
            &self.world.deps,
            function,
            input["Payload"].clone(),
            Deadline::after(timeout),
        )
        .await;
        if first {
            self.world
                .jobs
                .faults
                .fail_all_records
                .store(false, Ordering::SeqCst);
        }
        match out {
            Ok(out) => Ok(json!({ "Payload": out, "StatusCode": 200 })),
            Err(e) => Err(TaskFailure {
                error: e.error_type().as_str().into(),
                cause: e.lambda_cause(),
            }),
        }
    }
}

fn payload_code(e: &StepError) -> String {
    let payload: Value = serde_json::from_str(&e.payload()).unwrap();
    payload["code"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_failing_record_write_is_retried_in_process_and_one_render_is_made() {
    for store in stores() {
        println!("store: {store:?}");
        let w = world(store).await;
        let job = w.job("a fox in the snow").await;
        w.jobs.faults.fail_records.store(3, Ordering::SeqCst);
        let (outcome, submits) = w
            .run_workflow(&job, StepFunction::Submit.lambda_timeout())
            .await;
        assert!(
            matches!(outcome, ExecutionOutcome::Succeeded(_)),
            "{outcome:?}"
        );
        let stored = w.stored(&job.id).await.unwrap();
        assert_eq!(stored.status, Status::Completed, "{:?}", stored.error);
        assert_eq!(w.sim.stats().creates, 1, "exactly one render");
        assert_eq!(
            submits, 1,
            "the write was retried inside the one invocation"
        );
        assert_eq!(w.jobs.faults.record_writes.load(Ordering::SeqCst), 4);
        assert_eq!(w.sim_videos().await, [stored.provider_video_id.unwrap()]);
    }
}

/// The record write fails for the whole first invocation (until its deadline): the
/// workflow's retry finds the mark, adopts the render the provider made, and the job
/// completes with that one render. Before the fix, the retry created a second video.
#[tokio::test]
async fn a_record_write_lost_until_the_deadline_is_adopted_not_made_again() {
    for store in stores() {
        println!("store: {store:?}");
        let w = world(store).await;
        let job = w.job("a heron at dawn").await;
        w.jobs.faults.fail_all_records.store(true, Ordering::SeqCst);
        // In-process provider calls get 1 s, the record write ~6 s: the test stays short.
        let (outcome, submits) = w
            .run_workflow(&job, STEP_RESERVE + Duration::from_secs(1))
            .await;
        assert!(
            matches!(outcome, ExecutionOutcome::Succeeded(_)),
            "{outcome:?}"
        );
        let stored = w.stored(&job.id).await.unwrap();
        assert_eq!(stored.status, Status::Completed, "{:?}", stored.error);
        assert_eq!(submits, 2, "the first submit gave up at its deadline");
        assert!(w.jobs.faults.record_writes.load(Ordering::SeqCst) > 2);
        assert_eq!(w.sim.stats().creates, 1, "exactly one render was ever made");
        assert_eq!(w.sim_videos().await, [stored.provider_video_id.unwrap()]);
    }
}

#[tokio::test]
async fn a_submit_that_finds_the_mark_adopts_the_render_the_provider_shows() {
    for store in stores() {
        println!("store: {store:?}");
        let w = world(store).await;
        let job = w.job("a lighthouse in a storm").await;
        w.mark(&job).await;
        // Another job's request, made at the same time, is not mistaken for this one.
        w.provider
            .create(&CreateVideo {
                prompt: "a lighthouse in a storm".into(),
                model: "sora-2".into(),
                seconds: 8,
                size: "720x1280".into(),
                negative_prompt: None,
                input_reference: None,
                webhook_url: None,
            })
            .await
            .unwrap();
        let made = w.render_directly(&job).await;
        let out = w.submit(&job).await.unwrap();
        assert_eq!(out["provider_video_id"], made);
        let stored = w.stored(&job.id).await.unwrap();
        assert_eq!(stored.provider_video_id.as_deref(), Some(made.as_str()));
        assert_eq!(stored.status, Status::InProgress);
        assert_eq!(w.sim.stats().creates, 2, "nothing was created by submit");
    }
}

#[tokio::test]
async fn a_submit_that_finds_the_mark_and_no_render_asks_once() {
    for store in stores() {
        println!("store: {store:?}");
        let w = world(store).await;
        let job = w.job("a kite over dunes").await;
        w.mark(&job).await;
        let out = w.submit(&job).await.unwrap();
        assert_eq!(w.sim.stats().creates, 1);
        assert_eq!(
            w.sim_videos().await,
            [out["provider_video_id"].as_str().unwrap()]
        );
    }
}

#[tokio::test]
async fn a_submit_that_cannot_tell_which_render_is_its_own_ends_submit_uncertain() {
    for store in stores() {
        println!("store: {store:?}");
        let w = world(store).await;
        // Two renders of the very same request: either could be this job's.
        let job = w.job("a tram in the rain").await;
        w.mark(&job).await;
        w.render_directly(&job).await;
        w.render_directly(&job).await;
        let e = w.submit(&job).await.unwrap_err();
        assert_eq!(e.error_type().as_str(), "Failed", "{e}");
        assert_eq!(payload_code(&e), "submit_uncertain");
        assert_eq!(w.sim.stats().creates, 2, "no third render");

        // One render fits, but the job had a reference image the provider's list does not
        // show: it may be another owner's render from another image.
        let with_image = w
            .job_with(NewJob {
                input_reference: Some("up_01JREFIMAGE".into()),
                ..NewJob::new(
                    &Owner::new("alice"),
                    Model::SORA_2,
                    4,
                    "720x1280",
                    "a bridge at night",
                )
            })
            .await;
        w.mark(&with_image).await;
        w.render_directly(&with_image).await;
        let e = w.submit(&with_image).await.unwrap_err();
        assert_eq!(payload_code(&e), "submit_uncertain", "{e}");
        assert_eq!(w.sim.stats().creates, 3);
        assert_eq!(
            w.stored(&with_image.id).await.unwrap().provider_video_id,
            None
        );
    }
}

/// A cancel (or a delete) lands between the provider's answer and the record: the job
/// stays canceled (or gone), and the render nobody will use is deleted at the provider.
#[tokio::test]
async fn a_render_orphaned_by_a_cancel_or_delete_in_the_window_is_deleted() {
    for (store, delete) in stores().into_iter().flat_map(|s| [(s, false), (s, true)]) {
        println!("store: {store:?}, delete: {delete}");
        let w = world(store).await;
        // Renders at once, so the provider accepts its deletion.
        let job = w.job("a glacier calving [sim:render_ms=1]").await;
        if delete {
            w.jobs.faults.delete_first.store(true, Ordering::SeqCst);
        } else {
            w.jobs.faults.cancel_first.store(true, Ordering::SeqCst);
        }
        let e = w.submit(&job).await.unwrap_err();
        assert_eq!(w.sim.stats().creates, 1);
        assert_eq!(
            w.sim.stats().deletes,
            1,
            "delete={delete}: the orphan was deleted"
        );
        assert!(w.sim_videos().await.is_empty(), "delete={delete}");
        if delete {
            assert_eq!(payload_code(&e), "not_found");
            assert!(w.stored(&job.id).await.is_none());
        } else {
            assert_eq!(e, StepError::JobEnded);
            let stored = w.stored(&job.id).await.unwrap();
            assert_eq!(stored.status, Status::Canceled);
            assert_eq!(stored.provider_video_id, None);
        }
    }
}

/// A 429 at create made nothing: the mark comes off, and the retry asks again.
#[tokio::test]
async fn a_create_refused_with_429_leaves_no_mark() {
    for store in stores() {
        println!("store: {store:?}");
        let w = world(store).await;
        // Six 429s outlast the client's own four retries.
        let job = w.job("a comet [sim:rate_limit=6]").await;
        let e = w.submit(&job).await.unwrap_err();
        assert_eq!(e.error_type().as_str(), "Retryable", "{e}");
        assert_eq!(w.stored(&job.id).await.unwrap().submit_attempted_at, None);
        let out = w.submit(&job).await.unwrap();
        assert!(out["provider_video_id"].as_str().is_some());
        assert_eq!(w.sim.stats().creates, 1);
    }
}
