//! The sweeper: ends jobs that stay unfinished although no execution runs for them, so
//! no job stays `queued` or `in_progress` forever. Two ways to get there:
//! - the API wrote the record and died before StartExecution (no execution exists);
//! - the execution ended without the record ending, and the EventBridge backstop event
//!   that would have said so was lost (retries exhausted, rule disabled for a while).
//!
//! In AWS a schedule runs it (`SweeperFunction` in template.yaml); `vidgen serve` runs
//! the same [`sweep`] every few minutes. Only jobs untouched for [`STUCK_AFTER`] are looked
//! at: that keeps the engine calls few and leaves a job being created (record written,
//! execution about to start) alone. Ending is the same conditional write the backstop
//! does, so a job that ends meanwhile keeps its own end.

use super::execution_end::ExecutionEnd;
use super::failure::{end_job, unexpected_failure};
use crate::callback::DeliveryQueue;
use crate::domain::{ErrorCode, Job, JobError, Status};
use crate::engine::{ExecutionStatus, WorkflowEngine};
use crate::store::{JobStore, StoreError};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, instrument, warn};

/// A job whose record has not changed for this long is asked about. Far above the API's
/// 29 s between writing a record and starting its execution.
pub const STUCK_AFTER: Duration = Duration::from_secs(15 * 60);

/// What the sweeper needs: the records, the engine to ask, and who tells callbacks.
#[derive(Clone)]
pub struct SweepDeps {
    pub jobs: Arc<dyn JobStore>,
    pub engine: Arc<dyn WorkflowEngine>,
    pub callbacks: Option<Arc<dyn DeliveryQueue>>,
}

/// What one sweep did; the Lambda returns it and logs it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// Unfinished jobs seen.
    pub unfinished: usize,
    /// Of those, untouched long enough to ask the engine about.
    pub checked: usize,
    /// Jobs this sweep ended.
    pub ended: usize,
    /// Engine or store calls that failed; the next sweep tries again.
    pub errors: usize,
}

/// What the record of an unfinished job must say, given its execution; `None` while the
/// execution still runs.
pub fn stuck_outcome(execution: ExecutionStatus) -> Option<(Status, JobError)> {
    let end = match execution {
        ExecutionStatus::Running => return None,
        ExecutionStatus::Missing => {
            return Some((
                Status::Failed,
                JobError::new(
                    ErrorCode::WorkflowStartFailed,
                    "the job's workflow never started; try again",
                ),
            ))
        }
        // Every successful path ends the record first: one that did not is a fault.
        ExecutionStatus::Succeeded => return Some((Status::Failed, unexpected_failure())),
        ExecutionStatus::Failed => ExecutionEnd::Failed,
        ExecutionStatus::TimedOut => ExecutionEnd::TimedOut,
        ExecutionStatus::Aborted => ExecutionEnd::Aborted,
    };
    // The sweeper sees only the status, not the error: the stable reason.
    Some(end.outcome(&super::contract::ExecutionEventDetail::default()))
}

/// Whether `job` has been left alone long enough to be asked about.
fn idle(job: &Job, now: DateTime<Utc>) -> bool {
    (now - job.updated_at)
        .to_std()
        .is_ok_and(|age| age >= STUCK_AFTER)
}

/// One pass over the unfinished jobs. Fails only when the jobs cannot be listed.
#[instrument(skip_all)]
pub async fn sweep(deps: &SweepDeps, now: DateTime<Utc>) -> Result<SweepReport, StoreError> {
    let unfinished = deps.jobs.unfinished().await?;
    let mut report = SweepReport {
        unfinished: unfinished.len(),
        ..SweepReport::default()
    };
    for job in unfinished.iter().filter(|j| idle(j, now)) {
        report.checked += 1;
        let execution = match deps.engine.status(&job.id).await {
            Ok(status) => status,
            Err(e) => {
                warn!(job_id = %job.id, error = %e, "could not look up the execution");
                report.errors += 1;
                continue;
            }
        };
        let Some((status, reason)) = stuck_outcome(execution) else {
            continue;
        };
        info!(job_id = %job.id, execution = ?execution, "ending a stuck job");
        match end_job(
            deps.jobs.as_ref(),
            deps.callbacks.as_ref(),
            &job.id,
            status,
            reason,
        )
        .await
        {
            Ok(Some(recorded)) if recorded == status => report.ended += 1,
            Ok(_) => {}
            Err(e) => {
                warn!(job_id = %job.id, error = %e, "could not end a stuck job");
                report.errors += 1;
            }
        }
    }
    info!(?report, "sweep done");
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{JobId, Owner};
    use crate::domain::{Limits, Model, NewJob};
    use crate::engine::EngineError;
    use crate::store::embedded::EmbeddedJobStore;
    use crate::store::update_job;
    use std::collections::HashMap;
    use std::sync::Mutex;

    /// An engine that knows a fixed status per execution and counts the questions.
    #[derive(Default)]
    struct KnownExecutions {
        statuses: HashMap<String, ExecutionStatus>,
        asked: Mutex<Vec<String>>,
    }

    #[async_trait::async_trait]
    impl WorkflowEngine for KnownExecutions {
        async fn start(&self, _: &str, _: &serde_json::Value) -> Result<(), EngineError> {
            unreachable!("the sweeper never starts executions")
        }
        async fn stop(&self, _: &str, _: &str) -> Result<(), EngineError> {
            unreachable!("the sweeper never stops executions")
        }
        async fn status(&self, job_id: &str) -> Result<ExecutionStatus, EngineError> {
            self.asked.lock().unwrap().push(job_id.to_string());
            self.statuses
                .get(job_id)
                .copied()
                .ok_or_else(|| EngineError::Backend("no such test execution".into()))
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

    async fn job(store: &EmbeddedJobStore, touched: DateTime<Utc>) -> JobId {
        let new = NewJob::new(&Owner::new("alice"), Model::SORA_2, 4, "720x1280", "p");
        let job = Job::new(new, touched);
        store.create(&job, None, &Limits::UNLIMITED).await.unwrap();
        job.id
    }

    #[test]
    fn a_running_execution_is_left_alone_and_every_other_ends_the_job() {
        assert_eq!(stuck_outcome(ExecutionStatus::Running), None);
        let code = |e| stuck_outcome(e).map(|(status, reason)| (status, reason.code));
        assert_eq!(
            code(ExecutionStatus::Missing),
            Some((Status::Failed, ErrorCode::WorkflowStartFailed))
        );
        assert_eq!(
            code(ExecutionStatus::Aborted),
            Some((Status::Failed, ErrorCode::WorkflowStopped))
        );
        assert_eq!(
            code(ExecutionStatus::TimedOut),
            Some((Status::TimedOut, ErrorCode::TimedOut))
        );
        assert_eq!(
            code(ExecutionStatus::Failed),
            Some((Status::Failed, ErrorCode::Internal))
        );
        assert_eq!(
            code(ExecutionStatus::Succeeded),
            Some((Status::Failed, ErrorCode::Internal))
        );
    }

    #[tokio::test]
    async fn stuck_jobs_end_saying_why_and_live_or_fresh_ones_are_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedJobStore::open(&dir.path().join("jobs")).unwrap());
        let now = Utc::now();
        let old = now - chrono::Duration::minutes(20);
        let never_started = job(&store, old).await;
        let backstop_lost = job(&store, old).await;
        let running = job(&store, old).await;
        let just_created = job(&store, now - chrono::Duration::seconds(20)).await;
        let lookup_fails = job(&store, old).await;
        let engine = KnownExecutions {
            statuses: HashMap::from([
                (never_started.to_string(), ExecutionStatus::Missing),
                (backstop_lost.to_string(), ExecutionStatus::TimedOut),
                (running.to_string(), ExecutionStatus::Running),
                (just_created.to_string(), ExecutionStatus::Missing),
            ]),
            ..KnownExecutions::default()
        };
        let engine = Arc::new(engine);
        let deps = SweepDeps {
            jobs: store.clone(),
            engine: engine.clone(),
            callbacks: None,
        };

        let report = sweep(&deps, now).await.unwrap();

        assert_eq!(
            report,
            SweepReport {
                unfinished: 5,
                checked: 4,
                ended: 2,
                errors: 1
            }
        );
        let record = |id: JobId| {
            let store = store.clone();
            async move { store.get(&id).await.unwrap().unwrap() }
        };
        let ended = record(never_started).await;
        assert_eq!(ended.status, Status::Failed);
        assert_eq!(
            ended.error.map(|e| e.code),
            Some(ErrorCode::WorkflowStartFailed)
        );
        assert_eq!(record(backstop_lost).await.status, Status::TimedOut);
        assert_eq!(record(running).await.status, Status::Queued);
        assert_eq!(record(just_created.clone()).await.status, Status::Queued);
        assert_eq!(record(lookup_fails).await.status, Status::Queued);
        assert!(
            !engine
                .asked
                .lock()
                .unwrap()
                .contains(&just_created.to_string()),
            "a job touched within STUCK_AFTER is not even asked about"
        );
    }

    #[tokio::test]
    async fn a_job_that_ended_meanwhile_keeps_its_own_end() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedJobStore::open(&dir.path().join("jobs")).unwrap());
        let now = Utc::now();
        let id = job(&store, now - chrono::Duration::minutes(30)).await;
        update_job(store.as_ref(), &id, |j| j.mark_canceled(now))
            .await
            .unwrap();
        let engine = KnownExecutions {
            statuses: HashMap::from([(id.to_string(), ExecutionStatus::Missing)]),
            ..KnownExecutions::default()
        };
        let deps = SweepDeps {
            jobs: store.clone(),
            engine: Arc::new(engine),
            callbacks: None,
        };
        let report = sweep(&deps, now).await.unwrap();
        assert_eq!(report.unfinished, 0);
        assert_eq!(
            store.get(&id).await.unwrap().unwrap().status,
            Status::Canceled
        );
    }
}
