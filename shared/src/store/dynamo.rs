//! The DynamoDB job store.
//!
//! Single-table design, partition key `pk` (S):
//!
//! | item | `pk` | extra attributes |
//! | --- | --- | --- |
//! | job | `job#<id>` | the Job's fields (serde_dynamo), `gsi_owner`, `gsi_created` |
//! | idempotency claim | `idem#<hex owner>#<key>` | the claim's fields, `ttl` |
//! | upload | `upload#<id>` | the Upload's fields, `ttl` |
//! | provider ref | `pref#<provider>#<provider video id>` | `job_id`, `expires_at`, `ttl` (a week) |
//! | owner usage (limits) | `usage#<hex owner>` | `active` (SS of unfinished job ids), `spend` (M: bucket start → cents), `version` |
//!
//! GSI `by_owner` (`gsi_owner` HASH, `gsi_created` RANGE) lists an owner's jobs newest
//! first; `gsi_created` is a fixed-width UTC timestamp so it sorts as text. `ttl` (epoch
//! seconds) lets DynamoDB expire claims and uploads; since expiry is lazy, a claim past
//! its time may be overwritten. Every job write is conditional (`attribute_not_exists`
//! on create, `version = :expected` on update); a job, its claim and its owner's usage
//! (version-checked, so two creates racing at a limit cannot both pass) are written in
//! one transaction, and the write that ends a job releases it from the usage in another.
//! A deleted job's claim stays, marked, until it expires.
//!
//! A job item carries `task_token` only while a webhook wait is armed and
//! `push_received_at` only once a webhook came: absent options are no attribute at all
//! (serde_dynamo leaves `skip_serializing_if` fields out), which the WaitForWebhook
//! condition `attribute_not_exists(push_received_at)` relies on. That write
//! ([`JobStore::arm_webhook_wait`], or the state machine's own UpdateItem) bumps the
//! version too, so a step's put from an earlier read fails instead of dropping the token.

use super::{
    check_video_id, masked, CreateOutcome, IdempotencyRecord, JobStore, Page, ProviderRef,
    StoreError, Upload, LIST_PAGES_PER_CALL, PROVIDER_REF_TTL,
};
use crate::domain::ids::{JobId, Owner};
use crate::domain::{Job, Limits, ProviderId, Status, Usage};
use crate::workflow::contract::{
    WAIT_FOR_WEBHOOK_CONDITION, WAIT_FOR_WEBHOOK_UPDATE, WAIT_FOR_WEBHOOK_VERSION_NAME,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;
use base64::Engine;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

type Item = HashMap<String, AttributeValue>;

pub const OWNER_INDEX: &str = "by_owner";

#[derive(Clone)]
pub struct DynamoJobStore {
    client: Client,
    table: String,
}

fn backend<E: std::error::Error>(e: E) -> StoreError {
    StoreError::Backend(DisplayErrorContext(&e).to_string())
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn job_pk(id: &str) -> String {
    format!("job#{id}")
}

fn provider_ref_pk(provider: ProviderId, video_id: &str) -> String {
    format!("pref#{}#{video_id}", provider.as_str())
}

fn claim_pk(owner: &str, key: &str) -> String {
    format!("idem#{}#{key}", hex::encode(owner))
}

fn sort_time(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string()
}

fn job_item(job: &Job) -> Result<Item, StoreError> {
    let mut item: Item =
        serde_dynamo::to_item(job).map_err(|e| StoreError::Backend(e.to_string()))?;
    item.insert("pk".into(), s(job_pk(&job.id)));
    item.insert("gsi_owner".into(), s(job.owner.as_str()));
    item.insert("gsi_created".into(), s(sort_time(&job.created_at)));
    Ok(item)
}

fn with_ttl<T: serde::Serialize>(
    value: &T,
    pk: String,
    expires_at: &DateTime<Utc>,
) -> Result<Item, StoreError> {
    let mut item: Item =
        serde_dynamo::to_item(value).map_err(|e| StoreError::Backend(e.to_string()))?;
    item.insert("pk".into(), s(pk));
    item.insert(
        "ttl".into(),
        AttributeValue::N(expires_at.timestamp().to_string()),
    );
    Ok(item)
}

fn from_item<T: serde::de::DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Backend(format!("unreadable item: {e}")))
}

/// The index key (table and GSI key attributes) of a job item.
fn index_key(item: &Item) -> Item {
    ["pk", "gsi_owner", "gsi_created"]
        .iter()
        .filter_map(|k| item.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect()
}

/// The opaque list cursor: the GSI key of the last item read (returned or, when the
/// page budget ran out, the last one DynamoDB evaluated).
fn encode_cursor(item_key: &Item) -> Result<String, StoreError> {
    let get = |k: &str| {
        item_key
            .get(k)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .ok_or_else(|| StoreError::Backend(format!("an index key without {k}")))
    };
    let json =
        serde_json::json!({"pk": get("pk")?, "o": get("gsi_owner")?, "c": get("gsi_created")?});
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json.to_string()))
}

/// The longest cursor we make is well under this; longer ones are not decoded.
const MAX_CURSOR_CHARS: usize = 1024;

/// A cursor as [`encode_cursor`] writes it, and nothing else.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CursorKey {
    pk: String,
    o: String,
    c: String,
}

/// Read a cursor back into the GSI key DynamoDB resumes from. Only a key of the exact
/// shape this store writes, for `owner`, is accepted: anything else (another owner's
/// key, a forged id or time that DynamoDB would refuse with a 500) is `InvalidCursor`.
pub(crate) fn decode_cursor(cursor: &str, owner: &str) -> Result<Item, StoreError> {
    if cursor.len() > MAX_CURSOR_CHARS {
        return Err(StoreError::InvalidCursor);
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| StoreError::InvalidCursor)?;
    let key: CursorKey = serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor)?;
    let id_ok = key
        .pk
        .strip_prefix("job#")
        .is_some_and(crate::domain::ids::is_job_id);
    let created_ok = chrono::NaiveDateTime::parse_from_str(&key.c, "%Y-%m-%dT%H:%M:%S%.9fZ")
        .is_ok_and(|t| sort_time(&t.and_utc()) == key.c);
    if key.o != owner || !id_ok || !created_ok {
        return Err(StoreError::InvalidCursor);
    }
    Ok(HashMap::from([
        ("pk".into(), s(key.pk)),
        ("gsi_owner".into(), s(key.o)),
        ("gsi_created".into(), s(key.c)),
    ]))
}

impl DynamoJobStore {
    pub fn new(client: Client, table: impl Into<String>) -> DynamoJobStore {
        DynamoJobStore {
            client,
            table: table.into(),
        }
    }

    async fn get_item(&self, pk: String) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        Ok(out.item)
    }

    fn put(&self, item: Item, condition: &str) -> Result<Put, StoreError> {
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .build()
            .map_err(backend)
    }
}

/// How many times a create (or delete) is tried when it loses a race for the owner's
/// usage item to another transaction.
const CREATE_ATTEMPTS: u32 = 8;

/// A short, jittered pause before trying a lost transaction again.
fn backoff(attempt: u32) -> std::time::Duration {
    let base = 10u64 << attempt.min(5);
    std::time::Duration::from_millis(base + rand::random::<u64>() % base)
}

/// DynamoDB's cancellation reason codes, as it names them.
const NO_REASON: &str = "None";
const CONDITION_FAILED: &str = "ConditionalCheckFailed";
const CONFLICT: &str = "TransactionConflict";

/// The per-item reason codes of a canceled transaction (`None` where DynamoDB gives no
/// code), or `None` when the error is something else.
fn cancellation_reasons<R>(e: &SdkError<TransactWriteItemsError, R>) -> Option<Vec<String>> {
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(t)) => Some(
            t.cancellation_reasons()
                .iter()
                .map(|r| r.code().unwrap_or(NO_REASON).to_string())
                .collect(),
        ),
        _ => None,
    }
}

/// Whether a transaction lost to another one (and may simply be tried again).
fn is_contention<R>(e: &SdkError<TransactWriteItemsError, R>) -> bool {
    cancellation_reasons(e).is_some_and(|r| r.iter().any(|c| c == CONFLICT))
}

/// Why a create's transaction (claim?, jobs…, parent?, usage) was canceled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CreateCancel {
    /// The idempotency key is taken by a live claim.
    ClaimTaken,
    /// A job id exists.
    JobExists,
    /// The primary a variant joins changed since it was read.
    ParentChanged,
    /// Another transaction held one of the items (`TransactionConflict`), or the owner's
    /// usage changed since it was read: read again and retry.
    Contention,
    Other,
}

/// Where each item of a create's transaction sits: claim?, jobs…, parent?, usage.
#[derive(Debug, Clone, Copy)]
struct CreateLayout {
    claim: bool,
    jobs: usize,
    parent: bool,
}

impl CreateLayout {
    fn classify(&self, reasons: &[String]) -> CreateCancel {
        let failed = |i: usize| reasons.get(i).map(String::as_str) == Some(CONDITION_FAILED);
        let first_job = usize::from(self.claim);
        let parent_at = first_job + self.jobs;
        let usage_at = parent_at + usize::from(self.parent);
        if self.claim && failed(0) {
            CreateCancel::ClaimTaken
        } else if (first_job..parent_at).any(failed) {
            CreateCancel::JobExists
        } else if self.parent && failed(parent_at) {
            CreateCancel::ParentChanged
        } else if failed(usage_at) || reasons.iter().any(|r| r == CONFLICT) {
            CreateCancel::Contention
        } else {
            CreateCancel::Other
        }
    }
}

fn usage_pk(owner: &Owner) -> String {
    format!("usage#{}", hex::encode(owner.as_str()))
}

/// A usage item read back: the [`Usage`] and the item's version (0 when there is none).
/// `active` is a string set (so a release is an idempotent `DELETE`), `spend` a map of
/// bucket start → cents.
fn usage_from_item(item: &Item) -> Result<(Usage, u64), StoreError> {
    let bad = |what: &str| StoreError::Backend(format!("unreadable usage item: {what}"));
    let mut usage = Usage::default();
    if let Some(active) = item.get("active") {
        usage.active = active
            .as_ss()
            .map_err(|_| bad("active"))?
            .iter()
            .cloned()
            .collect();
    }
    if let Some(spend) = item.get("spend") {
        for (bucket, cents) in spend.as_m().map_err(|_| bad("spend"))? {
            let bucket: i64 = bucket.parse().map_err(|_| bad("spend bucket"))?;
            let cents: u64 = cents
                .as_n()
                .ok()
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| bad("spend cents"))?;
            usage.spend.insert(bucket, cents);
        }
    }
    let version = match item.get("version") {
        Some(v) => v
            .as_n()
            .ok()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| bad("version"))?,
        None => 0,
    };
    Ok((usage, version))
}

impl DynamoJobStore {
    async fn usage(&self, owner: &Owner) -> Result<(Usage, u64), StoreError> {
        match self.get_item(usage_pk(owner)).await? {
            Some(item) => usage_from_item(&item),
            None => Ok((Usage::default(), 0)),
        }
    }

    /// Write `usage` as version `read + 1`, only if nobody changed it since it was read.
    fn usage_put(&self, owner: &Owner, usage: &Usage, read: u64) -> Result<Put, StoreError> {
        let mut item: Item = HashMap::from([
            ("pk".into(), s(usage_pk(owner))),
            ("version".into(), AttributeValue::N((read + 1).to_string())),
            (
                "spend".into(),
                AttributeValue::M(
                    usage
                        .spend
                        .iter()
                        .map(|(b, c)| (b.to_string(), AttributeValue::N(c.to_string())))
                        .collect(),
                ),
            ),
        ]);
        // DynamoDB has no empty sets: no unfinished jobs is no attribute.
        if !usage.active.is_empty() {
            item.insert(
                "active".into(),
                AttributeValue::Ss(usage.active.iter().cloned().collect()),
            );
        }
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR #v = :v")
            .expression_attribute_names("#v", "version")
            .expression_attribute_values(":v", AttributeValue::N(read.to_string()))
            .build()
            .map_err(backend)
    }

    /// The job no longer counts among its owner's unfinished jobs. Idempotent (a set
    /// `DELETE`); it bumps the version so a create that read the usage before retries.
    fn usage_release(&self, job: &Job) -> Result<Update, StoreError> {
        Update::builder()
            .table_name(&self.table)
            .key("pk", s(usage_pk(&job.owner)))
            .update_expression("DELETE active :id ADD #v :one")
            .expression_attribute_names("#v", "version")
            .expression_attribute_values(":id", AttributeValue::Ss(vec![job.id.to_string()]))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .build()
            .map_err(backend)
    }

    fn claim_put(&self, claim: &IdempotencyRecord) -> Result<Put, StoreError> {
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(with_ttl(
                claim,
                claim_pk(&claim.owner, &claim.key),
                &claim.expires_at,
            )?))
            .condition_expression("attribute_not_exists(pk) OR #ttl < :now")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(
                ":now",
                AttributeValue::N(Utc::now().timestamp().to_string()),
            )
            .build()
            .map_err(backend)
    }

    /// The stored claim on `claim`'s owner+key, if there is one that has not expired.
    async fn live_claim(
        &self,
        claim: Option<&IdempotencyRecord>,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let Some(claim) = claim else {
            return Ok(None);
        };
        let Some(item) = self.get_item(claim_pk(&claim.owner, &claim.key)).await? else {
            return Ok(None);
        };
        let stored: IdempotencyRecord = from_item(item)?;
        Ok((stored.expires_at > Utc::now()).then_some(stored))
    }
}

fn is_condition_failure<E, R>(e: &SdkError<E, R>, check: impl Fn(&E) -> bool) -> bool {
    e.as_service_error().is_some_and(check)
}

#[async_trait]
impl JobStore for DynamoJobStore {
    async fn create_all(
        &self,
        jobs: &[Job],
        parent: Option<&Job>,
        claim: Option<&IdempotencyRecord>,
        limits: &Limits,
    ) -> Result<CreateOutcome, StoreError> {
        let Some(first) = jobs.first() else {
            return Err(StoreError::Conflict("a create with no job".into()));
        };
        let job_puts = jobs
            .iter()
            .map(|job| self.put(job_item(job)?, "attribute_not_exists(pk)"))
            .collect::<Result<Vec<Put>, StoreError>>()?;
        let parent_put = parent
            .map(|p| {
                let expected = p.version.checked_sub(1).ok_or_else(|| {
                    StoreError::Conflict("a parent's new version must follow its stored one".into())
                })?;
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(job_item(p)?))
                    .condition_expression("#v = :expected")
                    .expression_attribute_names("#v", "version")
                    .expression_attribute_values(
                        ":expected",
                        AttributeValue::N(expected.to_string()),
                    )
                    .build()
                    .map_err(backend)
            })
            .transpose()?;
        let claim_put = claim.map(|c| self.claim_put(c)).transpose()?;
        let layout = CreateLayout {
            claim: claim.is_some(),
            jobs: jobs.len(),
            parent: parent.is_some(),
        };
        for attempt in 1..=CREATE_ATTEMPTS {
            let (mut usage, version) = self.usage(&first.owner).await?;
            if let Err(refusal) = usage.admit_all(jobs, limits, Utc::now()) {
                // A replay of a live key answers its job, limit or not.
                if let Some(existing) = self.live_claim(claim).await? {
                    return Ok(CreateOutcome::KeyExists(existing));
                }
                return Ok(CreateOutcome::LimitReached(refusal));
            }
            let usage_put = self.usage_put(&first.owner, &usage, version)?;
            // The order CreateLayout reads reasons in: claim?, jobs…, parent?, usage.
            let items = claim_put
                .iter()
                .chain(job_puts.iter())
                .chain(parent_put.iter())
                .chain([&usage_put])
                .map(|p| TransactWriteItem::builder().put(p.clone()).build());
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.collect()))
                .send()
                .await;
            let reasons = match result {
                Ok(_) => return Ok(CreateOutcome::Created),
                Err(e) => cancellation_reasons(&e).ok_or_else(|| backend(e))?,
            };
            match layout.classify(&reasons) {
                CreateCancel::ClaimTaken | CreateCancel::Contention => {
                    // The claim is there (a replay), or another transaction holds it or
                    // the owner's usage right now (DynamoDB answers TransactionConflict
                    // to one of two truly concurrent writers): read it and replay the
                    // first job if it is there, else try again on fresh usage.
                    if let Some(existing) = self.live_claim(claim).await? {
                        return Ok(CreateOutcome::KeyExists(existing));
                    }
                    tracing::debug!(job_id = %first.id, attempt, ?reasons, "create lost a race; retrying");
                    tokio::time::sleep(backoff(attempt)).await;
                }
                CreateCancel::JobExists => {
                    return Err(StoreError::Conflict(format!("job {} exists", first.id)))
                }
                CreateCancel::ParentChanged => {
                    return Err(StoreError::Conflict(format!(
                        "job {} changed since it was read",
                        parent.map(|p| p.id.to_string()).unwrap_or_default()
                    )))
                }
                CreateCancel::Other => {
                    return Err(StoreError::Backend(format!(
                        "transaction canceled: {reasons:?}"
                    )))
                }
            }
        }
        Err(StoreError::Backend(format!(
            "creating job {} lost {CREATE_ATTEMPTS} races for its owner's usage",
            first.id
        )))
    }

    async fn get(&self, id: &JobId) -> Result<Option<Job>, StoreError> {
        self.get_item(job_pk(id)).await?.map(from_item).transpose()
    }

    async fn put_if_version(&self, job: &Job) -> Result<(), StoreError> {
        let expected = job
            .version
            .checked_sub(1)
            .ok_or_else(|| StoreError::Conflict("version 0 is only for create".into()))?;
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(job_item(job)?))
            .condition_expression("#v = :expected")
            .expression_attribute_names("#v", "version")
            .expression_attribute_values(":expected", AttributeValue::N(expected.to_string()))
            .build()
            .map_err(backend)?;
        if !job.status.is_terminal() {
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(put.item().clone()))
                .condition_expression("#v = :expected")
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":expected", AttributeValue::N(expected.to_string()))
                .send()
                .await;
            return match result {
                Ok(_) => Ok(()),
                Err(e)
                    if is_condition_failure(&e, |se| {
                        se.is_conditional_check_failed_exception()
                    }) =>
                {
                    Err(StoreError::Conflict(format!("job {} changed", job.id)))
                }
                Err(e) => Err(backend(e)),
            };
        }
        // An ended job leaves the owner's unfinished jobs in the same transaction.
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(
                TransactWriteItem::builder()
                    .update(self.usage_release(job)?)
                    .build(),
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // The version moved on, or a create of the same owner held its usage: either
            // way `update_job` reads again and retries.
            Err(e) => match cancellation_reasons(&e) {
                Some(reasons)
                    if reasons
                        .iter()
                        .all(|r| matches!(r.as_str(), NO_REASON | CONDITION_FAILED | CONFLICT)) =>
                {
                    Err(StoreError::Conflict(format!(
                        "job {} changed ({reasons:?})",
                        job.id
                    )))
                }
                _ => Err(backend(e)),
            },
        }
    }

    async fn list(
        &self,
        owner: &Owner,
        status: Option<Status>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page, StoreError> {
        let limit = limit.max(1) as usize;
        let mut start = cursor.map(|c| decode_cursor(c, owner)).transpose()?;
        let mut jobs = Vec::new();
        // At most LIST_PAGES_PER_CALL Query calls per request (see its docs for why a
        // bound and not a status index); each evaluates at most `limit` items.
        for _ in 0..LIST_PAGES_PER_CALL {
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(OWNER_INDEX)
                .key_condition_expression("gsi_owner = :o")
                .expression_attribute_values(":o", s(owner.as_str()))
                .scan_index_forward(false)
                .limit(limit as i32)
                .set_exclusive_start_key(start.take());
            if let Some(st) = status {
                q = q
                    .filter_expression("#s = :s")
                    .expression_attribute_names("#s", "status")
                    .expression_attribute_values(":s", s(st.as_str()));
            }
            let out = q.send().await.map_err(backend)?;
            let mut items = out.items.unwrap_or_default().into_iter();
            let mut last_key = None;
            for item in items.by_ref() {
                last_key = Some(index_key(&item));
                jobs.push(from_item::<Job>(item)?);
                if jobs.len() == limit {
                    break;
                }
            }
            if jobs.len() == limit {
                // A full page may be the last; DynamoDB cannot tell without reading on.
                // Like DynamoDB's own pagination, a cursor may then lead to an empty page.
                let more = items.next().is_some() || out.last_evaluated_key.is_some();
                let next_cursor = match (more, last_key) {
                    (true, Some(key)) => Some(encode_cursor(&key)?),
                    _ => None,
                };
                return Ok(Page { jobs, next_cursor });
            }
            match out.last_evaluated_key {
                Some(key) => start = Some(key),
                None => {
                    return Ok(Page {
                        jobs,
                        next_cursor: None,
                    })
                }
            }
        }
        // The page budget is spent with fewer than `limit` matches: go on, next time,
        // from where the last Query stopped.
        let next_cursor = start.as_ref().map(encode_cursor).transpose()?;
        Ok(Page { jobs, next_cursor })
    }

    async fn delete(&self, id: &JobId) -> Result<(), StoreError> {
        let Some(job) = self.get(id).await? else {
            return Ok(());
        };
        let delete = Delete::builder()
            .table_name(&self.table)
            .key("pk", s(job_pk(id)))
            .build()
            .map_err(backend)?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().delete(delete.clone()).build())
                .transact_items(
                    TransactWriteItem::builder()
                        .update(self.usage_release(&job)?)
                        .build(),
                )
                .send()
                .await;
            match result {
                Ok(_) => break,
                Err(e) if attempt < CREATE_ATTEMPTS && is_contention(&e) => {
                    tokio::time::sleep(backoff(attempt)).await
                }
                Err(e) => return Err(backend(e)),
            }
        }
        // The claim stays until it expires, marked, so a replay answers 409 instead of
        // starting a new paid job. Only this job's claim: an expired one may have been
        // taken by a newer job since.
        if let Some(key) = &job.idempotency_key {
            let marked = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", s(claim_pk(&job.owner, key)))
                .update_expression("SET job_deleted = :t")
                .condition_expression("attribute_exists(pk) AND job_id = :id")
                .expression_attribute_values(":t", AttributeValue::Bool(true))
                .expression_attribute_values(":id", s(id.as_str()))
                .send()
                .await;
            match marked {
                Ok(_) => {}
                Err(e)
                    if is_condition_failure(&e, |se| {
                        se.is_conditional_check_failed_exception()
                    }) => {}
                Err(e) => return Err(backend(e)),
            }
        }
        Ok(())
    }

    async fn put_upload(&self, upload: &Upload) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(with_ttl(
                upload,
                format!("upload#{}", upload.id),
                &upload.expires_at,
            )?))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn get_upload(&self, id: &str) -> Result<Option<Upload>, StoreError> {
        self.get_item(format!("upload#{id}"))
            .await?
            .map(from_item)
            .transpose()
    }
    async fn arm_webhook_wait(&self, id: &JobId, token: &str) -> Result<(), StoreError> {
        if token.is_empty() {
            return Err(StoreError::Backend(format!(
                "arming job {id}'s webhook wait needs a task token; it is empty"
            )));
        }
        // The very write the state machine's WaitForWebhook makes (see the contract).
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(job_pk(id)))
            .update_expression(WAIT_FOR_WEBHOOK_UPDATE)
            .condition_expression(WAIT_FOR_WEBHOOK_CONDITION)
            .expression_attribute_names("#v", WAIT_FOR_WEBHOOK_VERSION_NAME)
            .expression_attribute_values(":token", s(token))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e, |se| se.is_conditional_check_failed_exception()) => {
                Err(StoreError::Conflict(format!(
                    "job {id} is gone or its provider's webhook came already"
                )))
            }
            Err(e) => Err(StoreError::Backend(masked(
                DisplayErrorContext(&e).to_string(),
                token,
            ))),
        }
    }

    async fn put_provider_ref(
        &self,
        provider: ProviderId,
        video_id: &str,
        job: &JobId,
    ) -> Result<(), StoreError> {
        check_video_id(video_id)?;
        let now = Utc::now();
        let entry = ProviderRef {
            job_id: job.clone(),
            expires_at: now + PROVIDER_REF_TTL,
        };
        // Written again for the same job (a retried Submit) it just lasts longer; a live
        // ref of another job is never overwritten.
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(with_ttl(
                &entry,
                provider_ref_pk(provider, video_id),
                &entry.expires_at,
            )?))
            .condition_expression("attribute_not_exists(pk) OR job_id = :job OR #ttl < :now")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":job", s(job.as_str()))
            .expression_attribute_values(":now", AttributeValue::N(now.timestamp().to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e, |se| se.is_conditional_check_failed_exception()) => {
                Err(StoreError::Conflict(format!(
                    "{} video {video_id:?} is another job's",
                    provider.as_str()
                )))
            }
            Err(e) => Err(backend(e)),
        }
    }

    async fn find_by_provider(
        &self,
        provider: ProviderId,
        video_id: &str,
    ) -> Result<Option<JobId>, StoreError> {
        if check_video_id(video_id).is_err() {
            return Ok(None);
        }
        let Some(item) = self.get_item(provider_ref_pk(provider, video_id)).await? else {
            return Ok(None);
        };
        // DynamoDB drops expired items lazily: one past its time is gone.
        let entry: ProviderRef = from_item(item)?;
        Ok((entry.expires_at > Utc::now()).then_some(entry.job_id))
    }

    /// A filtered Scan: only the local engine calls this, once at start, and only in
    /// AWS mode (`VIDGEN_BACKEND=aws`); Lambdas never scan.
    async fn unfinished(&self) -> Result<Vec<Job>, StoreError> {
        let mut filter = String::from("begins_with(pk, :job) AND NOT #status IN (");
        let mut request = self
            .client
            .scan()
            .table_name(&self.table)
            .consistent_read(true)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":job", s("job#"));
        let terminal = Status::ALL.iter().filter(|st| st.is_terminal());
        for (i, status) in terminal.enumerate() {
            let name = format!(":t{i}");
            filter.push_str(if i == 0 { "" } else { ", " });
            filter.push_str(&name);
            request = request.expression_attribute_values(name, s(status.as_str()));
        }
        filter.push(')');
        let mut pages = request
            .filter_expression(filter)
            .into_paginator()
            .items()
            .send();
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            out.push(from_item(item.map_err(backend)?)?);
        }
        Ok(out)
    }
}

/// Create the table as template.yaml declares it (for local runs and tests; production
/// uses the template).
pub async fn create_table(client: &Client, table: &str) -> Result<(), StoreError> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
        Projection, ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
    };
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(backend)
    };
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(backend)
    };
    let result = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk")?)
        .attribute_definitions(attr("gsi_owner")?)
        .attribute_definitions(attr("gsi_created")?)
        .key_schema(key("pk", KeyType::Hash)?)
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(OWNER_INDEX)
                .key_schema(key("gsi_owner", KeyType::Hash)?)
                .key_schema(key("gsi_created", KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .map_err(backend)?,
        )
        .send()
        .await;
    match result {
        Ok(_) => {}
        Err(e) if is_condition_failure(&e, |se| se.is_resource_in_use_exception()) => return Ok(()),
        Err(e) => return Err(backend(e)),
    }
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("ttl")
                .enabled(true)
                .build()
                .map_err(backend)?,
        )
        .send()
        .await
        .map_err(backend)?;
    Ok(())
}

#[cfg(test)]
mod cursor_tests {
    use super::*;

    fn cursor(pk: &str, owner: &str, created: &str) -> String {
        let json = serde_json::json!({"pk": pk, "o": owner, "c": created});
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json.to_string())
    }

    #[test]
    fn real_cursors_round_trip() {
        let id = crate::domain::ids::new_job_id();
        let created = sort_time(&chrono::Utc::now());
        let key: Item = HashMap::from([
            ("pk".into(), s(job_pk(&id))),
            ("gsi_owner".into(), s("alice")),
            ("gsi_created".into(), s(&created)),
        ]);
        let c = encode_cursor(&key).expect("a full key");
        assert_eq!(decode_cursor(&c, "alice").unwrap(), key);
        assert!(matches!(
            decode_cursor(&c, "bob"),
            Err(StoreError::InvalidCursor)
        ));
    }

    /// Decodable cursors whose key DynamoDB would refuse (a 500) or that were never ours.
    #[test]
    fn forged_cursors_are_refused_before_dynamodb_sees_them() {
        let id = crate::domain::ids::new_job_id();
        let created = sort_time(&chrono::Utc::now());
        let pk = job_pk(&id);
        for forged in [
            cursor("job#", "alice", &created),
            cursor(&format!("job#{}", "x".repeat(3000)), "alice", &created),
            cursor("job#vid_not-a-ulid", "alice", &created),
            cursor(&pk, "alice", ""),
            cursor(&pk, "alice", &"9".repeat(2000)),
            cursor(&pk, "alice", "yesterday"),
            cursor(&pk, "bob", &created),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("[1,2]"),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
                serde_json::json!({"pk": pk, "o": "alice", "c": created, "x": 1}).to_string(),
            ),
        ] {
            assert!(
                matches!(
                    decode_cursor(&forged, "alice"),
                    Err(StoreError::InvalidCursor)
                ),
                "{forged}"
            );
        }
        assert!(decode_cursor(&cursor(&pk, "alice", &created), "alice").is_ok());
    }
}

#[cfg(test)]
mod cancel_tests {
    use super::*;

    fn codes(c: &[&str]) -> Vec<String> {
        c.iter().map(|s| s.to_string()).collect()
    }

    /// DynamoDB cancels one of two truly concurrent transactions on the same item with
    /// `TransactionConflict` (moto serialises them, so only this can show it): a create
    /// that meets it re-reads the claim and replays, or retries; it is not a 500.
    #[test]
    fn a_transaction_conflict_is_contention_not_a_failure() {
        use CreateCancel::*;
        let cases: &[(&[&str], bool, CreateCancel)] = &[
            (&[CONDITION_FAILED, NO_REASON, NO_REASON], true, ClaimTaken),
            (&[CONFLICT, NO_REASON, NO_REASON], true, Contention),
            (&[NO_REASON, NO_REASON, CONFLICT], true, Contention),
            (&[NO_REASON, NO_REASON, CONDITION_FAILED], true, Contention),
            (&[NO_REASON, CONDITION_FAILED, NO_REASON], true, JobExists),
            (&[CONDITION_FAILED, NO_REASON], false, JobExists),
            (&[NO_REASON, CONDITION_FAILED], false, Contention),
            (&[NO_REASON, "ThrottlingError"], false, Other),
        ];
        for (reasons, has_claim, expected) in cases {
            let layout = CreateLayout {
                claim: *has_claim,
                jobs: 1,
                parent: false,
            };
            assert_eq!(layout.classify(&codes(reasons)), *expected, "{reasons:?}");
        }
    }

    /// With variants the transaction holds claim?, several jobs, a parent, then usage:
    /// each reason is read at its own item.
    #[test]
    fn reasons_are_read_at_their_items_when_a_create_has_several() {
        use CreateCancel::*;
        let layout = CreateLayout {
            claim: true,
            jobs: 2,
            parent: true,
        };
        let cases: &[(&[&str], CreateCancel)] = &[
            (
                &[NO_REASON, NO_REASON, CONDITION_FAILED, NO_REASON, NO_REASON],
                JobExists,
            ),
            (
                &[NO_REASON, NO_REASON, NO_REASON, CONDITION_FAILED, NO_REASON],
                ParentChanged,
            ),
            (
                &[NO_REASON, NO_REASON, NO_REASON, NO_REASON, CONDITION_FAILED],
                Contention,
            ),
            (
                &[CONDITION_FAILED, NO_REASON, NO_REASON, NO_REASON, NO_REASON],
                ClaimTaken,
            ),
        ];
        for (reasons, expected) in cases {
            assert_eq!(layout.classify(&codes(reasons)), *expected, "{reasons:?}");
        }
    }
}

#[cfg(test)]
mod item_tests {
    use super::*;
    use crate::domain::ids::Owner;
    use crate::domain::{Model, NewJob};

    /// WaitForWebhook's condition tests `attribute_not_exists(push_received_at)`: an
    /// absent option must be no attribute at all, not a NULL one.
    #[test]
    fn absent_webhook_fields_are_no_attributes() {
        let mut job = Job::new(
            NewJob::new(&Owner::new("o"), Model::SORA_2, 4, "720x1280", "a fox"),
            Utc::now(),
        );
        let item = job_item(&job).unwrap();
        assert!(!item.contains_key("task_token"), "{item:?}");
        assert!(!item.contains_key("push_received_at"), "{item:?}");
        job.task_token = Some("tok".into());
        job.push_received_at = Some(Utc::now());
        let item = job_item(&job).unwrap();
        assert_eq!(item.get("task_token"), Some(&s("tok")));
        assert!(matches!(
            item.get("push_received_at"),
            Some(AttributeValue::S(_))
        ));
        assert_eq!(from_item::<Job>(item).unwrap(), job, "and they read back");
    }
}
