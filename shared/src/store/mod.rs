//! Storage ports: job records ([`JobStore`]) and files ([`ObjectStore`]).
//!
//! AWS adapters: [`dynamo::DynamoJobStore`], [`s3::S3ObjectStore`]. The local stack has
//! embedded ones. All honour the same contracts, exercised by the same tests.

pub mod dynamo;
pub mod embedded;
pub mod local_files;
pub mod s3;
pub mod update;

use crate::domain::ids::{JobId, Owner};
use crate::domain::{Job, Limits, ProviderId, Refusal, Status};
use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub use update::update_job;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write lost: the item exists, or changed since it was read.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A cursor that did not come from us.
    #[error("invalid cursor")]
    InvalidCursor,
    /// A streamed body failed while being stored; nothing was kept.
    #[error("upload source failed: {0}")]
    Source(String),
    /// The backend failed; the message is for logs, not for API callers.
    #[error("storage backend error: {0}")]
    Backend(String),
}

/// An `Idempotency-Key` claim: which job a key made, and for which body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    pub owner: Owner,
    pub key: String,
    /// SHA-256 of the canonical request (route + body), hex.
    pub request_hash: String,
    pub job_id: JobId,
    pub expires_at: DateTime<Utc>,
    /// The job was deleted: the claim stays until it expires, so a replay of the key
    /// answers 409 instead of starting (and billing) a new job.
    #[serde(default)]
    pub job_deleted: bool,
}

/// What a create did.
#[derive(Debug, Clone, PartialEq)]
pub enum CreateOutcome {
    Created,
    /// The idempotency key was already claimed (and not expired): here is that claim.
    /// Nothing was written.
    KeyExists(IdempotencyRecord),
    /// The owner is at one of its [`Limits`]; nothing was written.
    LimitReached(Refusal),
}

/// A reference-image upload slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upload {
    pub id: String,
    pub owner: Owner,
    pub content_type: String,
    pub bytes: u64,
    pub key: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// How long a [`JobStore::put_provider_ref`] lasts: far past any render and its
/// provider's last webhook retry, after which DynamoDB's TTL may drop it.
pub const PROVIDER_REF_TTL: chrono::TimeDelta = chrono::TimeDelta::days(7);

/// The longest provider video id a provider ref is kept for. Real ones are far
/// shorter (a fal `<model>/requests/<uuid>` path, an OpenAI `video_…`); the bound keeps
/// the key well inside DynamoDB's 2048-byte partition key.
pub const MAX_PROVIDER_VIDEO_ID_BYTES: usize = 1024;

/// A provider ref as both stores keep it: whose video it is, and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ProviderRef {
    pub job_id: JobId,
    pub expires_at: DateTime<Utc>,
}

/// Whether `video_id` can be a provider ref's key; the error names what is wrong.
pub(crate) fn check_video_id(video_id: &str) -> Result<(), StoreError> {
    if video_id.is_empty() {
        return Err(StoreError::Backend(
            "a provider ref needs a provider video id; it is empty".into(),
        ));
    }
    if video_id.len() > MAX_PROVIDER_VIDEO_ID_BYTES {
        return Err(StoreError::Backend(format!(
            "a provider video id is {} bytes; a provider ref takes at most {MAX_PROVIDER_VIDEO_ID_BYTES}",
            video_id.len()
        )));
    }
    Ok(())
}

/// `message` with every occurrence of `secret` masked: a backend's error text may echo
/// what it was sent, and a task token must never reach a log.
pub(crate) fn masked(message: String, secret: &str) -> String {
    if secret.is_empty() {
        return message;
    }
    message.replace(secret, "<task token>")
}

/// How many index pages of `limit` entries one [`JobStore::list`] call reads at most.
///
/// A status filter is applied after the owner index is read, so without a bound one
/// request over an owner with thousands of jobs and few matches would read them all (in
/// DynamoDB, thousands of Query calls inside one API request). With it, a call reads at
/// most `LIST_PAGES_PER_CALL × limit` index entries and, when it stops early, returns
/// what matched so far (possibly nothing) with a cursor to go on from: a page may hold
/// fewer than `limit` jobs and still have a `next_cursor`.
///
/// Why a bound rather than a second index by owner+status: such a GSI (projecting the
/// whole job) would be rewritten on every job write — progress updates included — for
/// every job, to speed up a query clients rarely make; a keys-only one would need a
/// BatchGetItem per page and a re-check of each (eventually consistent) status, and
/// either needs a backfill of existing items. The bound keeps the per-request cost fixed
/// and walking all pages with a filter costs what walking them without one does.
pub const LIST_PAGES_PER_CALL: usize = 5;

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub jobs: Vec<Job>,
    pub next_cursor: Option<String>,
}

#[async_trait]
pub trait JobStore: Send + Sync {
    /// Write a new job (version 0) only if its id is free, together with its idempotency
    /// claim when given and the owner's usage (one more unfinished job, its estimated
    /// spend) — all or nothing, so creates racing at a limit cannot both pass. A live
    /// claim on the same owner+key wins: nothing is written and the claim is returned
    /// (even when the owner is at a limit). Over a limit, nothing is written.
    async fn create(
        &self,
        job: &Job,
        claim: Option<&IdempotencyRecord>,
        limits: &Limits,
    ) -> Result<CreateOutcome, StoreError> {
        self.create_all(std::slice::from_ref(job), None, claim, limits)
            .await
    }
    /// [`JobStore::create`] for the jobs of one request (a primary and its variants),
    /// all or nothing, counted against the limits together. `parent`, when given, is a
    /// primary that gains these jobs as variants: its new state (version bumped), written
    /// in the same transaction only if its stored version is one less — else `Conflict`
    /// and nothing is written.
    async fn create_all(
        &self,
        jobs: &[Job],
        parent: Option<&Job>,
        claim: Option<&IdempotencyRecord>,
        limits: &Limits,
    ) -> Result<CreateOutcome, StoreError>;
    async fn get(&self, id: &JobId) -> Result<Option<Job>, StoreError>;
    /// Replace the job if its stored version is `job.version - 1`; else `Conflict`.
    /// Callers use [`update_job`], which reads, applies a domain change and retries.
    /// Writing an ended job releases its place among the owner's unfinished jobs in the
    /// same transaction.
    async fn put_if_version(&self, job: &Job) -> Result<(), StoreError>;
    /// The owner's jobs, newest first, optionally of one status. The cursor is opaque.
    /// Reads at most [`LIST_PAGES_PER_CALL`] × `limit` index entries: with a status
    /// filter a page may hold fewer than `limit` jobs (even none) and still a cursor.
    /// Following cursors yields every matching job exactly once.
    async fn list(
        &self,
        owner: &Owner,
        status: Option<Status>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page, StoreError>;
    /// Remove the job (releasing its usage). Its idempotency claim, if any, stays until it
    /// expires, marked `job_deleted`. Deleting a missing job is fine.
    async fn delete(&self, id: &JobId) -> Result<(), StoreError>;
    async fn put_upload(&self, upload: &Upload) -> Result<(), StoreError>;
    async fn get_upload(&self, id: &str) -> Result<Option<Upload>, StoreError>;
    /// Every job that has not ended, in no particular order. The local engine resumes
    /// their workflows after a restart (in AWS, Step Functions keeps them running).
    async fn unfinished(&self) -> Result<Vec<Job>, StoreError>;
    /// The state machine's `WaitForWebhook` write (in AWS the state machine makes it
    /// itself, through the `aws-sdk:dynamodb:updateItem` integration, with the same
    /// expressions — see `workflow::contract`): store `token` as the job's
    /// `task_token` and bump its version, only if the job exists and no webhook has
    /// arrived for it (`push_received_at` absent); else `Conflict`.
    async fn arm_webhook_wait(&self, id: &JobId, token: &str) -> Result<(), StoreError>;
    /// Remember that the provider's video `video_id` is `job`'s, so a webhook that names
    /// only the video (OpenAI's) finds the job. Idempotent; kept for a week.
    ///
    /// A ref that names another job (and has not expired) is kept: `Conflict`.
    async fn put_provider_ref(
        &self,
        provider: ProviderId,
        video_id: &str,
        job: &JobId,
    ) -> Result<(), StoreError>;
    /// The job [`JobStore::put_provider_ref`] recorded for the provider's video, unless
    /// that ref has expired. An id no ref could have (empty, too long) finds nothing.
    async fn find_by_provider(
        &self,
        provider: ProviderId,
        video_id: &str,
    ) -> Result<Option<JobId>, StoreError>;
}

/// A presigned (or locally signed) link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedUrl {
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub bytes: u64,
    pub content_type: Option<String>,
}

pub type ByteStream = BoxStream<'static, Result<Bytes, StoreError>>;

#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Store a stream under `key`, all or nothing: on any error no object is visible
    /// (multipart uploads are aborted). Returns the bytes written.
    /// Memory stays bounded whatever the size.
    async fn put_stream(
        &self,
        key: &str,
        content_type: &str,
        body: ByteStream,
    ) -> Result<u64, StoreError>;
    /// Read a small object whole (reference images), refusing more than `max_bytes`.
    async fn get_bytes(
        &self,
        key: &str,
        max_bytes: u64,
    ) -> Result<Option<(Bytes, ObjectMeta)>, StoreError>;
    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StoreError>;
    /// Delete; a missing object is fine.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// A link that GETs the object until it expires.
    async fn presign_get(&self, key: &str, ttl: Duration) -> Result<SignedUrl, StoreError>;
    /// A link that PUTs exactly one object of this type (and length) until it expires.
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        bytes: u64,
        ttl: Duration,
    ) -> Result<SignedUrl, StoreError>;
}
