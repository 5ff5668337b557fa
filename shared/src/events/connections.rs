//! The AWS WebSocket API's open connections, one DynamoDB item each (`ConnectionsTable`):
//!
//! | attribute | what |
//! |---|---|
//! | `owner` (S, partition key) | the authorizer's `sub`: whose jobs the connection hears about |
//! | `connection_id` (S, sort key) | API Gateway's connection id |
//! | `endpoint` (S) | `https://{domainName}/{stage}`, where PostToConnection goes |
//! | `job_ids` (L of S, optional) | the `subscribe` narrowing; absent = all the owner's jobs |
//! | `ttl` (N) | connect time + 2 h 10 min: API Gateway closes a connection at 2 h, and a missed `$disconnect` (best-effort) must not leave the item forever |
//!
//! The notifier lists an owner's connections with one Query on the partition key.

use super::Subscription;
use crate::domain::ids::{JobId, Owner};
use crate::store::StoreError;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};
use std::collections::{BTreeSet, HashMap};

/// How long after connecting an item may outlive a missed `$disconnect`.
pub const CONNECTION_TTL_SECS: i64 = 2 * 3600 + 10 * 60;

/// One open connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub owner: Owner,
    pub connection_id: String,
    /// `https://{domain}/{stage}`: the Management API endpoint of its stage.
    pub endpoint: String,
    /// The `subscribe` narrowing, `None` for all of the owner's jobs.
    pub job_ids: Option<BTreeSet<JobId>>,
}

impl Connection {
    pub fn subscription(&self) -> Subscription {
        Subscription::with_jobs(self.owner.clone(), self.job_ids.clone())
    }
}

/// Where connections are kept (DynamoDB in AWS; tests may use the same).
#[async_trait]
pub trait Connections: Send + Sync {
    /// Store a new connection, `connected_at` setting its expiry.
    async fn put(
        &self,
        connection: &Connection,
        connected_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Forget a connection; forgetting one that is not there is fine.
    async fn delete(&self, owner: &Owner, connection_id: &str) -> Result<(), StoreError>;
    /// Narrow a stored connection. `Ok(false)` when there is no such connection (it
    /// went, or never connected through `$connect`): nothing is written then.
    async fn set_job_ids(
        &self,
        owner: &Owner,
        connection_id: &str,
        job_ids: &BTreeSet<JobId>,
    ) -> Result<bool, StoreError>;
    /// Every stored connection of `owner`.
    async fn list(&self, owner: &Owner) -> Result<Vec<Connection>, StoreError>;
}

/// [`Connections`] in a DynamoDB table of the shape in the module docs.
#[derive(Debug, Clone)]
pub struct DynamoConnections {
    client: Client,
    table: String,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn backend<E: std::fmt::Display>(what: &str, e: E) -> StoreError {
    StoreError::Backend(format!("connections table: {what}: {e}"))
}

fn sdk<E, R>(what: &str, e: aws_sdk_dynamodb::error::SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    backend(what, aws_sdk_dynamodb::error::DisplayErrorContext(e))
}

fn job_id_list(ids: &BTreeSet<JobId>) -> AttributeValue {
    AttributeValue::L(ids.iter().map(|id| s(id.as_str())).collect())
}

fn connection_from(item: &HashMap<String, AttributeValue>) -> Result<Connection, StoreError> {
    let text = |name: &str| {
        item.get(name)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .ok_or_else(|| backend("unreadable item", format!("no string {name}")))
    };
    let job_ids = match item.get("job_ids") {
        None | Some(AttributeValue::Null(_)) => None,
        Some(AttributeValue::L(list)) => Some(
            list.iter()
                .map(|v| {
                    v.as_s()
                        .ok()
                        .and_then(|raw| JobId::parse(raw))
                        .ok_or_else(|| backend("unreadable item", "job_ids holds a non-job id"))
                })
                .collect::<Result<BTreeSet<JobId>, StoreError>>()?,
        ),
        Some(_) => return Err(backend("unreadable item", "job_ids is not a list")),
    };
    Ok(Connection {
        owner: Owner::new(text("owner")?),
        connection_id: text("connection_id")?,
        endpoint: text("endpoint")?,
        job_ids,
    })
}

impl DynamoConnections {
    pub fn new(client: Client, table: impl Into<String>) -> DynamoConnections {
        DynamoConnections {
            client,
            table: table.into(),
        }
    }

    fn key(owner: &Owner, connection_id: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([
            ("owner".to_string(), s(owner.as_str())),
            ("connection_id".to_string(), s(connection_id)),
        ])
    }
}

#[async_trait]
impl Connections for DynamoConnections {
    async fn put(
        &self,
        connection: &Connection,
        connected_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut item = DynamoConnections::key(&connection.owner, &connection.connection_id);
        item.insert("endpoint".into(), s(&connection.endpoint));
        item.insert(
            "ttl".into(),
            AttributeValue::N((connected_at.timestamp() + CONNECTION_TTL_SECS).to_string()),
        );
        if let Some(ids) = &connection.job_ids {
            item.insert("job_ids".into(), job_id_list(ids));
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| sdk("put", e))?;
        Ok(())
    }

    async fn delete(&self, owner: &Owner, connection_id: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(DynamoConnections::key(owner, connection_id)))
            .send()
            .await
            .map_err(|e| sdk("delete", e))?;
        Ok(())
    }

    async fn set_job_ids(
        &self,
        owner: &Owner,
        connection_id: &str,
        job_ids: &BTreeSet<JobId>,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(DynamoConnections::key(owner, connection_id)))
            .update_expression("SET job_ids = :ids")
            // Only a connection `$connect` stored: an update would otherwise create a
            // half item (no endpoint, no ttl) that never expires.
            .condition_expression("attribute_exists(connection_id)")
            .expression_attribute_values(":ids", job_id_list(job_ids))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(sdk("set job_ids", e)),
        }
    }

    async fn list(&self, owner: &Owner) -> Result<Vec<Connection>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#o = :o")
                .expression_attribute_names("#o", "owner")
                .expression_attribute_values(":o", s(owner.as_str()))
                .set_exclusive_start_key(start.take())
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| sdk("query", e))?;
            for item in page.items() {
                out.push(connection_from(item)?);
            }
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => return Ok(out),
            }
        }
    }
}

/// Create the connections table as the template does (tests, local tools). Creating
/// one that exists is fine.
pub async fn create_table(client: &Client, table: &str) -> Result<(), StoreError> {
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| backend("table definition", e))
    };
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(|e| backend("table definition", e))
    };
    let result = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("owner")?)
        .attribute_definitions(attr("connection_id")?)
        .key_schema(key("owner", KeyType::Hash)?)
        .key_schema(key("connection_id", KeyType::Range)?)
        .send()
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(sdk("create table", e)),
    }
}
