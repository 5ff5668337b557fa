//! CloudWatch Embedded Metric Format: the document one ended job prints as one stdout
//! line in Lambda, which CloudWatch Logs turns into metrics (no API call, no extra
//! permission). Shape: `{"_aws": {"Timestamp", "CloudWatchMetrics": [{"Namespace",
//! "Dimensions", "Metrics": [{"Name", "Unit"}]}]}, <dimension and metric members>}`;
//! every name a directive references is a root member.
//!
//! Dimensions are few and bounded (the model, and a failure's error code) so the
//! metric count stays small; the job id is a plain property, for finding the job's
//! logs, never a dimension.

use super::job_ended::{JobEnd, Outcome};
use serde_json::{json, Map, Value};

/// The namespace of every vidgen metric (the dashboard reads it).
pub const NAMESPACE: &str = "Vidgen";

/// The EMF metric names and their units, as the dashboard and the tests know them.
pub mod metric {
    pub const JOBS_COMPLETED: &str = "JobsCompleted";
    pub const JOBS_FAILED: &str = "JobsFailed";
    pub const JOBS_CANCELED: &str = "JobsCanceled";
    pub const QUEUE_SECONDS: &str = "QueueSeconds";
    pub const RENDER_SECONDS: &str = "RenderSeconds";
    pub const DOWNLOAD_SECONDS: &str = "DownloadSeconds";
    pub const DOWNLOAD_BYTES: &str = "DownloadBytes";
    pub const ESTIMATED_COST_USD: &str = "EstimatedCostUsd";
}

/// The dimension keys.
pub const MODEL: &str = "Model";
pub const ERROR_CODE: &str = "ErrorCode";

/// The dimension sets a document of `outcome` declares: every job by model; failures
/// also by model and error code.
pub fn dimension_sets(outcome: Outcome) -> Vec<Vec<&'static str>> {
    match outcome {
        Outcome::Failed(_) => vec![vec![MODEL], vec![MODEL, ERROR_CODE]],
        Outcome::Completed | Outcome::Canceled => vec![vec![MODEL]],
    }
}

/// The EMF document of one ended job. Values that are not known (no timings on an old
/// record, nothing spent) are left out, metric and member both.
pub fn document(end: &JobEnd) -> Value {
    let counter = match end.outcome {
        Outcome::Completed => metric::JOBS_COMPLETED,
        Outcome::Failed(_) => metric::JOBS_FAILED,
        Outcome::Canceled => metric::JOBS_CANCELED,
    };
    let timings = end.timings.as_ref();
    let values: [(&str, &str, Option<f64>); 6] = [
        (counter, "Count", Some(1.0)),
        (
            metric::QUEUE_SECONDS,
            "Seconds",
            timings.map(|t| t.queue_seconds),
        ),
        (
            metric::RENDER_SECONDS,
            "Seconds",
            timings.and_then(|t| t.render_seconds),
        ),
        (
            metric::DOWNLOAD_SECONDS,
            "Seconds",
            timings.and_then(|t| t.download_seconds),
        ),
        (
            metric::DOWNLOAD_BYTES,
            "Bytes",
            end.download_bytes.map(|b| b as f64),
        ),
        (metric::ESTIMATED_COST_USD, "None", end.cost_usd),
    ];
    let mut root = Map::new();
    let mut metrics = Vec::new();
    for (name, unit, value) in values {
        if let Some(value) = value {
            metrics.push(json!({ "Name": name, "Unit": unit }));
            root.insert(name.into(), json!(value));
        }
    }
    root.insert(MODEL.into(), json!(end.model));
    if let Outcome::Failed(code) = end.outcome {
        root.insert(ERROR_CODE.into(), json!(code.as_str()));
    }
    // Properties for reading the logs; not dimensions, so they cost no metrics.
    root.insert("JobId".into(), json!(end.job_id));
    root.insert("Status".into(), json!(end.status.as_str()));
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": end.ended_at.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": dimension_sets(end.outcome),
                "Metrics": metrics,
            }],
        }),
    );
    Value::Object(root)
}

#[cfg(test)]
pub(crate) mod tests;
