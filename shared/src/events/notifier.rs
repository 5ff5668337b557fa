//! The AWS notifier: the jobs table's DynamoDB Stream in, `job.updated` frames out to
//! each of the owner's WebSocket connections (API Gateway Management API).
//!
//! Per stream record (aws-semantics §7):
//! - a job item (`pk` `job#…`; the template's FilterCriteria already drops the rest) is
//!   decoded from its Old and New images; REMOVE records and writes that are not
//!   [`is_notable`] post nothing;
//! - the owner's connections are listed; a failure to list fails that record (it is
//!   reported in `batchItemFailures` with its SequenceNumber, and Lambda retries from it);
//! - the frame is built once and posted to each connection whose subscription wants the
//!   job. `410 Gone` forgets the connection; any other failure of one connection is
//!   logged and skipped: a dead or slow client never holds up a job's events.

use super::connections::Connections;
use super::{is_notable, job_updated};
use crate::domain::Job;
use crate::store::ObjectStore;
use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What posting to one connection came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostOutcome {
    Sent,
    /// `GoneException` (410): the client left; the connection is forgotten.
    Gone,
    /// Anything else (throttled, payload too large, network): logged, skipped.
    Failed(String),
}

/// Where frames go: PostToConnection in AWS.
#[async_trait]
pub trait Poster: Send + Sync {
    /// Post `data` to `connection_id` at `endpoint` (`https://{domain}/{stage}`).
    async fn post(&self, endpoint: &str, connection_id: &str, data: &str) -> PostOutcome;
}

/// What the notifier needs.
#[derive(Clone)]
pub struct NotifierDeps {
    pub connections: Arc<dyn Connections>,
    pub poster: Arc<dyn Poster>,
    /// Presigns the job object's asset links (`api::job_object`), as the api does.
    pub objects: Arc<dyn ObjectStore>,
    /// The api's `URL_TTL_SECS`: the links last as long as the api's own.
    pub url_ttl: Duration,
}

/// What one record came to (for logs and tests).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordReport {
    pub sent: usize,
    pub gone: usize,
    pub failed: usize,
}

/// Why a record must be retried.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("the record's image is not a job: {0}")]
    Undecodable(String),
    #[error("listing the owner's connections failed: {0}")]
    Connections(String),
    #[error("building the job object failed: {0}")]
    View(String),
}

/// The job in an image, `None` when the item is not a job (another item kind).
pub fn job_from_image(image: &serde_dynamo::Item) -> Result<Option<Job>, String> {
    let is_job = matches!(
        image.get("pk"),
        Some(serde_dynamo::AttributeValue::S(pk)) if pk.starts_with("job#")
    );
    if !is_job {
        return Ok(None);
    }
    // `pk` and `gsi_*` are the store's, not the Job's: serde ignores unknown fields.
    serde_dynamo::from_item(image.clone())
        .map(Some)
        .map_err(|e| e.to_string())
}

/// One record: see the module docs.
pub async fn notify_record(
    deps: &NotifierDeps,
    record: &EventRecord,
) -> Result<RecordReport, RecordError> {
    if record.event_name == "REMOVE" {
        return Ok(RecordReport::default());
    }
    let change = &record.change;
    let Some(after) = job_from_image(&change.new_image).map_err(RecordError::Undecodable)? else {
        return Ok(RecordReport::default());
    };
    // An INSERT has no old image: the job is new.
    let before = if change.old_image.is_empty() {
        None
    } else {
        job_from_image(&change.old_image).map_err(RecordError::Undecodable)?
    };
    if !is_notable(before.as_ref(), &after) {
        return Ok(RecordReport::default());
    }
    let connections = deps
        .connections
        .list(&after.owner)
        .await
        .map_err(|e| RecordError::Connections(e.to_string()))?;
    let wanting: Vec<_> = connections
        .into_iter()
        .filter(|c| c.subscription().wants(&after))
        .collect();
    let mut report = RecordReport::default();
    if wanting.is_empty() {
        return Ok(report);
    }
    let job = crate::api::job_object(deps.objects.as_ref(), deps.url_ttl, &after)
        .await
        .map_err(|e| RecordError::View(format!("{e:?}")))?;
    let frame = job_updated(job);
    let frame = &frame;
    let posts = wanting.iter().map(|c| async move {
        let outcome = deps.poster.post(&c.endpoint, &c.connection_id, frame).await;
        (c, outcome)
    });
    for (connection, outcome) in futures::future::join_all(posts).await {
        match outcome {
            PostOutcome::Sent => report.sent += 1,
            PostOutcome::Gone => {
                report.gone += 1;
                if let Err(e) = deps
                    .connections
                    .delete(&connection.owner, &connection.connection_id)
                    .await
                {
                    // The item's ttl removes it later; the job's events go on.
                    tracing::warn!(connection = %connection.connection_id, error = %e, "could not forget a gone connection");
                }
            }
            PostOutcome::Failed(why) => {
                report.failed += 1;
                tracing::warn!(connection = %connection.connection_id, job = %after.id.as_str(), error = %why, "posting a job event failed; skipped");
            }
        }
    }
    Ok(report)
}

/// A whole batch: records in order; each that fails is a batch item failure named by
/// its SequenceNumber. Later records of a failed one's item are reported too, so the
/// retry replays that item's changes in order (Lambda checkpoints at the lowest).
pub async fn notify_batch(deps: &NotifierDeps, event: &Event) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    let mut failed_keys: Vec<&serde_dynamo::Item> = Vec::new();
    for record in &event.records {
        let key = &record.change.keys;
        let result = if failed_keys.contains(&key) {
            Err(RecordError::Connections(
                "an earlier change of this item failed".into(),
            ))
        } else {
            notify_record(deps, record).await
        };
        if let Err(e) = result {
            tracing::warn!(sequence = ?record.change.sequence_number, error = %e, "stream record failed; retried");
            failed_keys.push(key);
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = record.change.sequence_number.clone();
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// [`Poster`] over the API Gateway Management API, one SDK client per stage endpoint.
#[derive(Debug)]
pub struct ManagementApiPoster {
    sdk: aws_config::SdkConfig,
    clients: Mutex<HashMap<String, aws_sdk_apigatewaymanagement::Client>>,
}

impl ManagementApiPoster {
    pub fn new(sdk: aws_config::SdkConfig) -> ManagementApiPoster {
        ManagementApiPoster {
            sdk,
            clients: Mutex::new(HashMap::new()),
        }
    }

    fn client(&self, endpoint: &str) -> aws_sdk_apigatewaymanagement::Client {
        // A poisoned lock only means another post panicked mid-insert; the map is fine.
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients
            .entry(endpoint.to_string())
            .or_insert_with(|| {
                let config = aws_sdk_apigatewaymanagement::config::Builder::from(&self.sdk)
                    .endpoint_url(endpoint)
                    .build();
                aws_sdk_apigatewaymanagement::Client::from_conf(config)
            })
            .clone()
    }
}

#[async_trait]
impl Poster for ManagementApiPoster {
    async fn post(&self, endpoint: &str, connection_id: &str, data: &str) -> PostOutcome {
        let result = self
            .client(endpoint)
            .post_to_connection()
            .connection_id(connection_id)
            .data(aws_sdk_apigatewaymanagement::primitives::Blob::new(
                data.as_bytes(),
            ))
            .send()
            .await;
        match result {
            Ok(_) => PostOutcome::Sent,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_gone_exception()) => {
                PostOutcome::Gone
            }
            Err(e) => PostOutcome::Failed(
                aws_sdk_apigatewaymanagement::error::DisplayErrorContext(&e).to_string(),
            ),
        }
    }
}
