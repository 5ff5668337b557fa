//! In-process job events for `vidgen serve`: a [`JobStore`] wrapper that publishes every
//! notable write to a broadcast [`JobFeed`]. In AWS the jobs table's DynamoDB Stream
//! plays this part; here every writer (the API, the workflow steps, the sweeper) goes
//! through the one store, so wrapping it sees every change, whoever made it.
//!
//! Publishing never waits: a connection that falls behind the channel's capacity loses
//! its place (`RecvError::Lagged`) instead of holding up a job.

use crate::domain::ids::{JobId, Owner};
use crate::domain::{Job, Limits, ProviderId, Status};
use crate::store::{CreateOutcome, IdempotencyRecord, JobStore, Page, StoreError, Upload};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// How many events a connection may fall behind before it is dropped.
pub const FEED_CAPACITY: usize = 4096;

/// The broadcast of changed jobs.
pub struct JobFeed {
    tx: broadcast::Sender<Arc<Job>>,
    /// The (status, progress) last published per unfinished job, so only notable writes
    /// go out. An ended or deleted job leaves the map: it stays small.
    last: Mutex<HashMap<JobId, (Status, u8)>>,
}

impl Default for JobFeed {
    fn default() -> Self {
        JobFeed::new(FEED_CAPACITY)
    }
}

impl JobFeed {
    pub fn new(capacity: usize) -> JobFeed {
        let (tx, _) = broadcast::channel(capacity.max(1));
        JobFeed {
            tx,
            last: Mutex::new(HashMap::new()),
        }
    }

    /// A receiver of every job published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Job>> {
        self.tx.subscribe()
    }

    /// Publish `job` as written, if its status or progress changed since the last one.
    pub fn publish(&self, job: &Job) {
        let notable = {
            // A poisoned lock only means another publisher panicked mid-insert: the map
            // is still a valid map, so keep using it.
            let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            let now = (job.status, job.progress);
            let before = last.get(&job.id).copied();
            if job.status.is_terminal() {
                last.remove(&job.id);
            } else {
                last.insert(job.id.clone(), now);
            }
            before != Some(now)
        };
        if notable {
            // No receivers is fine: nobody is watching.
            let _ = self.tx.send(Arc::new(job.clone()));
        }
    }

    fn forget(&self, id: &JobId) {
        self.last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }
}

/// A [`JobStore`] that publishes every successful job write to a [`JobFeed`].
pub struct NotifyingJobStore {
    inner: Arc<dyn JobStore>,
    feed: Arc<JobFeed>,
}

impl NotifyingJobStore {
    pub fn new(inner: Arc<dyn JobStore>, feed: Arc<JobFeed>) -> NotifyingJobStore {
        NotifyingJobStore { inner, feed }
    }
}

#[async_trait]
impl JobStore for NotifyingJobStore {
    async fn create_all(
        &self,
        jobs: &[Job],
        parent: Option<&Job>,
        claim: Option<&IdempotencyRecord>,
        limits: &Limits,
    ) -> Result<CreateOutcome, StoreError> {
        let outcome = self.inner.create_all(jobs, parent, claim, limits).await?;
        if matches!(outcome, CreateOutcome::Created) {
            for job in jobs {
                self.feed.publish(job);
            }
        }
        Ok(outcome)
    }
    async fn get(&self, id: &JobId) -> Result<Option<Job>, StoreError> {
        self.inner.get(id).await
    }
    async fn put_if_version(&self, job: &Job) -> Result<(), StoreError> {
        self.inner.put_if_version(job).await?;
        self.feed.publish(job);
        Ok(())
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
        self.inner.delete(id).await?;
        self.feed.forget(id);
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::job::tests::sample_job;
    use chrono::Utc;
    use tokio::sync::broadcast::error::{RecvError, TryRecvError};

    #[test]
    fn only_changes_of_status_or_progress_are_published() {
        let feed = JobFeed::new(16);
        let mut rx = feed.subscribe();
        let mut job = sample_job(Utc::now());
        feed.publish(&job);
        job.version += 1;
        job.provider_video_id = Some("video_1".into());
        feed.publish(&job); // not notable
        job.progress = 50;
        feed.publish(&job);
        job.status = Status::Completed;
        job.progress = 100;
        feed.publish(&job);
        let got: Vec<(Status, u8)> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|j| (j.status, j.progress))
            .collect();
        assert_eq!(
            got,
            [
                (Status::Queued, 0),
                (Status::Queued, 50),
                (Status::Completed, 100)
            ]
        );
        // An ended job is forgotten: the map does not grow with history.
        assert!(feed.last.lock().unwrap().is_empty());
    }

    #[test]
    fn a_receiver_that_falls_behind_is_told_and_never_blocks_the_publisher() {
        let feed = JobFeed::new(2);
        let mut slow = feed.subscribe();
        let mut job = sample_job(Utc::now());
        for p in 0..10 {
            job.progress = p;
            feed.publish(&job); // returns at once although nobody reads
        }
        assert!(matches!(slow.try_recv(), Err(TryRecvError::Lagged(8))));
        assert_eq!(slow.try_recv().map(|j| j.progress).ok(), Some(8));
        drop(feed);
        assert!(slow.blocking_recv().is_ok());
        assert!(matches!(slow.blocking_recv(), Err(RecvError::Closed)));
    }
}
