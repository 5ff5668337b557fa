//! Read-modify-write of a job record with optimistic concurrency.
//!
//! Every change to a job goes through here: the domain method decides whether the
//! change is allowed (status never goes backwards), the store's conditional write makes
//! sure nobody else changed the record in between, and a lost race is retried on
//! fresh data. One way to update a job, for every backend.

use super::{JobStore, StoreError};
use crate::domain::ids::JobId;
use crate::domain::Job;

/// Why an update did not happen.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError<E> {
    #[error("job {0} not found")]
    NotFound(String),
    /// The change function refused (e.g. a forbidden status transition).
    #[error(transparent)]
    Refused(E),
    #[error(transparent)]
    Store(#[from] StoreError),
}

const MAX_ATTEMPTS: u32 = 8;

/// Apply `change` to the stored job and write it back. Returns the job as written.
pub async fn update_job<E, F>(
    store: &dyn JobStore,
    id: &JobId,
    mut change: F,
) -> Result<Job, UpdateError<E>>
where
    F: FnMut(&mut Job) -> Result<(), E> + Send,
    E: Send,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut job = store
            .get(id)
            .await?
            .ok_or_else(|| UpdateError::NotFound(id.to_string()))?;
        change(&mut job).map_err(UpdateError::Refused)?;
        job.version += 1;
        match store.put_if_version(&job).await {
            Ok(()) => return Ok(job),
            Err(StoreError::Conflict(_)) if attempt < MAX_ATTEMPTS => {
                tracing::debug!(
                    job_id = %id,
                    attempt,
                    "lost an update race; retrying on fresh data"
                );
                continue;
            }
            Err(e) => return Err(e.into()),
        }
    }
}
