//! The embedded job store for one machine: a redb database file under the data dir.
//!
//! Same contract as the DynamoDB store. redb serialises write transactions, which
//! gives the conditional writes and the atomic job + idempotency-claim create.
//! Records are JSON. Listing uses an index table keyed
//! `hex(owner)/created_at/id`, scanned backwards for newest first; the cursor is the
//! hex of the last key returned.

use super::{
    check_video_id, CreateOutcome, IdempotencyRecord, JobStore, Page, ProviderRef, StoreError,
    Upload, LIST_PAGES_PER_CALL, PROVIDER_REF_TTL,
};
use crate::domain::ids::{JobId, Owner};
use crate::domain::{Job, Limits, ProviderId, Status, Usage};
use async_trait::async_trait;
use chrono::Utc;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::path::Path;
use std::sync::Arc;

const JOBS: TableDefinition<&str, &str> = TableDefinition::new("jobs");
const BY_OWNER: TableDefinition<&str, &str> = TableDefinition::new("jobs_by_owner");
const CLAIMS: TableDefinition<&str, &str> = TableDefinition::new("idempotency_claims");
const UPLOADS: TableDefinition<&str, &str> = TableDefinition::new("uploads");
/// hex(owner) → [`Usage`] (unfinished jobs and recent spend), for the limits.
const USAGE: TableDefinition<&str, &str> = TableDefinition::new("usage");
/// `<provider>/<provider video id>` → [`ProviderRef`]: which job a provider's video is.
/// Expired refs are ignored when read and replaced when written.
const PROVIDER_REFS: TableDefinition<&str, &str> = TableDefinition::new("provider_refs");

#[derive(Clone)]
pub struct EmbeddedJobStore {
    db: Arc<Database>,
}

/// Make sure the database file exists readable and writable by its owner only (on
/// unix): created so when new (redb fills an empty file), tightened when it exists.
fn private_file(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Fixed-width timestamps sort lexically in time order.
const OWNER_KEY_TIME: &str = "%Y%m%dT%H%M%S%.9f";

fn owner_key(job: &Job) -> String {
    format!(
        "{}/{}/{}",
        hex::encode(job.owner.as_str()),
        job.created_at.format(OWNER_KEY_TIME),
        job.id
    )
}

/// Whether `key` has the exact shape [`owner_key`] writes, under `prefix` (the owner's):
/// a cursor is only ever such a key.
fn is_index_key_of(key: &str, prefix: &str) -> bool {
    let Some((time, id)) = key.strip_prefix(prefix).and_then(|r| r.split_once('/')) else {
        return false;
    };
    chrono::NaiveDateTime::parse_from_str(time, OWNER_KEY_TIME)
        .is_ok_and(|t| t.format(OWNER_KEY_TIME).to_string() == time)
        && crate::domain::ids::is_job_id(id)
}

fn provider_ref_key(provider: ProviderId, video_id: &str) -> String {
    format!("{}/{video_id}", provider.as_str())
}

fn claim_key(owner: &str, key: &str) -> String {
    format!("{}/{}", hex::encode(owner), key)
}

/// Apply `change` to the owner's usage inside write transaction `tx`.
fn change_usage<T>(
    tx: &redb::WriteTransaction,
    owner: &Owner,
    change: impl FnOnce(&mut Usage) -> T,
) -> Result<T, StoreError> {
    let mut table = tx.open_table(USAGE).map_err(backend)?;
    let key = hex::encode(owner.as_str());
    let raw = table
        .get(key.as_str())
        .map_err(backend)?
        .map(|v| v.value().to_string());
    let mut usage: Usage = raw.map(|r| from_json(&r)).transpose()?.unwrap_or_default();
    let out = change(&mut usage);
    table
        .insert(key.as_str(), to_json(&usage)?.as_str())
        .map_err(backend)?;
    Ok(out)
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(backend)
}

fn from_json<T: serde::de::DeserializeOwned>(raw: &str) -> Result<T, StoreError> {
    serde_json::from_str(raw).map_err(backend)
}

impl EmbeddedJobStore {
    /// Open (or create) the database file.
    pub fn open(path: &Path) -> Result<EmbeddedJobStore, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(backend)?;
        }
        private_file(path).map_err(backend)?;
        let db = Database::create(path).map_err(backend)?;
        let tx = db.begin_write().map_err(backend)?;
        for table in [JOBS, BY_OWNER, CLAIMS, UPLOADS, USAGE, PROVIDER_REFS] {
            tx.open_table(table).map_err(backend)?;
        }
        tx.commit().map_err(backend)?;
        Ok(EmbeddedJobStore { db: Arc::new(db) })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || work(&db))
            .await
            .map_err(backend)?
    }
}

#[async_trait]
impl JobStore for EmbeddedJobStore {
    async fn create_all(
        &self,
        jobs: &[Job],
        parent: Option<&Job>,
        claim: Option<&IdempotencyRecord>,
        limits: &Limits,
    ) -> Result<CreateOutcome, StoreError> {
        let new_jobs = jobs.to_vec();
        let parent = parent.cloned();
        let claim = claim.cloned();
        let limits = *limits;
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(backend)?;
            {
                let mut claims = tx.open_table(CLAIMS).map_err(backend)?;
                if let Some(claim) = &claim {
                    let key = claim_key(&claim.owner, &claim.key);
                    let existing = claims
                        .get(key.as_str())
                        .map_err(backend)?
                        .map(|v| v.value().to_string());
                    if let Some(raw) = existing {
                        let existing: IdempotencyRecord = from_json(&raw)?;
                        if existing.expires_at > Utc::now() {
                            return Ok(CreateOutcome::KeyExists(existing));
                        }
                    }
                    claims
                        .insert(key.as_str(), to_json(claim)?.as_str())
                        .map_err(backend)?;
                }
                let Some(owner) = new_jobs.first().map(|j| j.owner.clone()) else {
                    return Err(StoreError::Conflict("a create with no job".into()));
                };
                // Under redb's single writer, so two creates cannot both pass a limit.
                // Dropping the transaction without commit discards everything.
                let admitted =
                    change_usage(&tx, &owner, |u| u.admit_all(&new_jobs, &limits, Utc::now()))?;
                if let Err(refusal) = admitted {
                    return Ok(CreateOutcome::LimitReached(refusal));
                }
                let mut table = tx.open_table(JOBS).map_err(backend)?;
                if let Some(parent) = &parent {
                    let stored = table
                        .get(parent.id.as_str())
                        .map_err(backend)?
                        .map(|v| v.value().to_string());
                    let current: Option<Job> = stored.map(|r| from_json(&r)).transpose()?;
                    if current.map(|c| c.version + 1) != Some(parent.version) {
                        return Err(StoreError::Conflict(format!(
                            "job {} changed since it was read",
                            parent.id
                        )));
                    }
                    table
                        .insert(parent.id.as_str(), to_json(parent)?.as_str())
                        .map_err(backend)?;
                }
                let mut index = tx.open_table(BY_OWNER).map_err(backend)?;
                for job in &new_jobs {
                    if table.get(job.id.as_str()).map_err(backend)?.is_some() {
                        // Dropping the transaction without commit discards the claim too.
                        return Err(StoreError::Conflict(format!("job {} exists", job.id)));
                    }
                    table
                        .insert(job.id.as_str(), to_json(job)?.as_str())
                        .map_err(backend)?;
                    index
                        .insert(owner_key(job).as_str(), job.id.as_str())
                        .map_err(backend)?;
                }
            }
            tx.commit().map_err(backend)?;
            Ok(CreateOutcome::Created)
        })
        .await
    }

    async fn get(&self, id: &JobId) -> Result<Option<Job>, StoreError> {
        let id = id.to_string();
        self.blocking(move |db| {
            let tx = db.begin_read().map_err(backend)?;
            let jobs = tx.open_table(JOBS).map_err(backend)?;
            let raw = jobs
                .get(id.as_str())
                .map_err(backend)?
                .map(|v| v.value().to_string());
            raw.map(|r| from_json(&r)).transpose()
        })
        .await
    }

    async fn put_if_version(&self, job: &Job) -> Result<(), StoreError> {
        let job = job.clone();
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(backend)?;
            {
                let mut jobs = tx.open_table(JOBS).map_err(backend)?;
                let stored = jobs
                    .get(job.id.as_str())
                    .map_err(backend)?
                    .map(|v| v.value().to_string());
                let Some(stored) = stored else {
                    return Err(StoreError::Conflict(format!("job {} is gone", job.id)));
                };
                let stored: Job = from_json(&stored)?;
                if stored.version + 1 != job.version {
                    return Err(StoreError::Conflict(format!("job {} changed", job.id)));
                }
                jobs.insert(job.id.as_str(), to_json(&job)?.as_str())
                    .map_err(backend)?;
            }
            if job.status.is_terminal() {
                change_usage(&tx, &job.owner, |u| u.release(job.id.as_str()))?;
            }
            tx.commit().map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn list(
        &self,
        owner: &Owner,
        status: Option<Status>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page, StoreError> {
        let prefix = format!("{}/", hex::encode(owner.as_str()));
        let upper = match cursor {
            Some(c) => hex::decode(c)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .filter(|k| is_index_key_of(k, &prefix))
                .ok_or(StoreError::InvalidCursor)?,
            // '0' sorts right after '/', so this bounds every key of the owner.
            None => format!("{}0", hex::encode(owner.as_str())),
        };
        let limit = limit.max(1) as usize;
        self.blocking(move |db| {
            let tx = db.begin_read().map_err(backend)?;
            let index = tx.open_table(BY_OWNER).map_err(backend)?;
            let jobs = tx.open_table(JOBS).map_err(backend)?;
            // The same bound as DynamoDB's pages (LIST_PAGES_PER_CALL): at most this many
            // index entries per call, so a status filter over a long history stays cheap.
            let budget = LIST_PAGES_PER_CALL * limit;
            let mut out = Vec::new();
            let mut last_examined: Option<String> = None;
            let mut next_cursor = None;
            for (examined, entry) in index
                .range(prefix.as_str()..upper.as_str())
                .map_err(backend)?
                .rev()
                .enumerate()
            {
                let (k, id) = entry.map_err(backend)?;
                if out.len() == limit || examined == budget {
                    // Entries remain: go on, next time, after the last one read.
                    next_cursor = last_examined.map(hex::encode);
                    break;
                }
                last_examined = Some(k.value().to_string());
                let Some(raw) = jobs
                    .get(id.value())
                    .map_err(backend)?
                    .map(|v| v.value().to_string())
                else {
                    continue;
                };
                let job: Job = from_json(&raw)?;
                if status.is_none_or(|s| s == job.status) {
                    out.push(job);
                }
            }
            Ok(Page {
                jobs: out,
                next_cursor,
            })
        })
        .await
    }

    async fn delete(&self, id: &JobId) -> Result<(), StoreError> {
        let id = id.to_string();
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(backend)?;
            {
                let mut jobs = tx.open_table(JOBS).map_err(backend)?;
                let stored = jobs
                    .remove(id.as_str())
                    .map_err(backend)?
                    .map(|v| v.value().to_string());
                if let Some(raw) = stored {
                    let job: Job = from_json(&raw)?;
                    tx.open_table(BY_OWNER)
                        .map_err(backend)?
                        .remove(owner_key(&job).as_str())
                        .map_err(backend)?;
                    change_usage(&tx, &job.owner, |u| u.release(job.id.as_str()))?;
                    if let Some(key) = &job.idempotency_key {
                        // Kept, marked, until it expires: a replay answers 409.
                        let mut claims = tx.open_table(CLAIMS).map_err(backend)?;
                        let key = claim_key(&job.owner, key);
                        let raw = claims
                            .get(key.as_str())
                            .map_err(backend)?
                            .map(|v| v.value().to_string());
                        if let Some(raw) = raw {
                            let mut claim: IdempotencyRecord = from_json(&raw)?;
                            if claim.job_id == job.id {
                                claim.job_deleted = true;
                                claims
                                    .insert(key.as_str(), to_json(&claim)?.as_str())
                                    .map_err(backend)?;
                            }
                        }
                    }
                }
            }
            tx.commit().map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn put_upload(&self, upload: &Upload) -> Result<(), StoreError> {
        let upload = upload.clone();
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(backend)?;
            tx.open_table(UPLOADS)
                .map_err(backend)?
                .insert(upload.id.as_str(), to_json(&upload)?.as_str())
                .map_err(backend)?;
            tx.commit().map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn get_upload(&self, id: &str) -> Result<Option<Upload>, StoreError> {
        let id = id.to_string();
        self.blocking(move |db| {
            let tx = db.begin_read().map_err(backend)?;
            let t = tx.open_table(UPLOADS).map_err(backend)?;
            let raw = t
                .get(id.as_str())
                .map_err(backend)?
                .map(|v| v.value().to_string());
            raw.map(|r| from_json(&r)).transpose()
        })
        .await
    }
    async fn arm_webhook_wait(&self, id: &JobId, token: &str) -> Result<(), StoreError> {
        if token.is_empty() {
            return Err(StoreError::Backend(format!(
                "arming job {id}'s webhook wait needs a task token; it is empty"
            )));
        }
        let id = id.clone();
        let token = token.to_string();
        // WaitForWebhook's UpdateItem (workflow::contract) in one write transaction: the
        // check and the write cannot be split by another writer.
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(backend)?;
            {
                let mut jobs = tx.open_table(JOBS).map_err(backend)?;
                let stored = jobs
                    .get(id.as_str())
                    .map_err(backend)?
                    .map(|v| v.value().to_string());
                let mut job: Job = match stored {
                    Some(raw) => from_json(&raw)?,
                    None => return Err(StoreError::Conflict(format!("job {id} is gone"))),
                };
                if job.push_received_at.is_some() {
                    return Err(StoreError::Conflict(format!(
                        "job {id}'s provider webhook came already"
                    )));
                }
                job.task_token = Some(token.into());
                job.version += 1;
                jobs.insert(id.as_str(), to_json(&job)?.as_str())
                    .map_err(backend)?;
            }
            tx.commit().map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn put_provider_ref(
        &self,
        provider: ProviderId,
        video_id: &str,
        job: &JobId,
    ) -> Result<(), StoreError> {
        check_video_id(video_id)?;
        let key = provider_ref_key(provider, video_id);
        let video_id = video_id.to_string();
        let now = Utc::now();
        let entry = ProviderRef {
            job_id: job.clone(),
            expires_at: now + PROVIDER_REF_TTL,
        };
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(backend)?;
            {
                let mut refs = tx.open_table(PROVIDER_REFS).map_err(backend)?;
                let stored = refs
                    .get(key.as_str())
                    .map_err(backend)?
                    .map(|v| v.value().to_string());
                // Again for the same job it just lasts longer; a live ref of another
                // job is never overwritten (as DynamoDB's conditional put).
                if let Some(raw) = stored {
                    let old: ProviderRef = from_json(&raw)?;
                    if old.job_id != entry.job_id && old.expires_at > now {
                        return Err(StoreError::Conflict(format!(
                            "{} video {video_id:?} is another job's",
                            provider.as_str()
                        )));
                    }
                }
                refs.insert(key.as_str(), to_json(&entry)?.as_str())
                    .map_err(backend)?;
            }
            tx.commit().map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn find_by_provider(
        &self,
        provider: ProviderId,
        video_id: &str,
    ) -> Result<Option<JobId>, StoreError> {
        if check_video_id(video_id).is_err() {
            return Ok(None);
        }
        let key = provider_ref_key(provider, video_id);
        self.blocking(move |db| {
            let tx = db.begin_read().map_err(backend)?;
            let refs = tx.open_table(PROVIDER_REFS).map_err(backend)?;
            let raw = refs
                .get(key.as_str())
                .map_err(backend)?
                .map(|v| v.value().to_string());
            let Some(raw) = raw else {
                return Ok(None);
            };
            let entry: ProviderRef = from_json(&raw)?;
            Ok((entry.expires_at > Utc::now()).then_some(entry.job_id))
        })
        .await
    }

    async fn unfinished(&self) -> Result<Vec<Job>, StoreError> {
        self.blocking(|db| {
            let tx = db.begin_read().map_err(backend)?;
            let jobs = tx.open_table(JOBS).map_err(backend)?;
            let mut out = Vec::new();
            for entry in jobs.iter().map_err(backend)? {
                let (_, v) = entry.map_err(backend)?;
                let job: Job = from_json(v.value())?;
                if !job.status.is_terminal() {
                    out.push(job);
                }
            }
            Ok(out)
        })
        .await
    }
}
