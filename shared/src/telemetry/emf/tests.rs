use super::*;
use crate::domain::job::tests::sample_job;
use crate::domain::{Asset, Assets, ErrorCode, Job, JobError, Status};
use chrono::{Duration, TimeZone, Utc};
use serde_json::json;

/// The units CloudWatch accepts (`MetricDatum.Unit`).
const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// Hold `doc` to the EMF specification: a millisecond timestamp, each directive's
/// namespace, dimension sets of at most 30 keys whose members are root strings of at
/// most 1024 characters, at most 100 metrics with valid units whose members are root
/// numbers. Panics naming what is wrong.
pub(crate) fn assert_valid_emf(doc: &Value) {
    let aws = &doc["_aws"];
    assert!(aws["Timestamp"].is_i64(), "Timestamp: {doc}");
    let directives = aws["CloudWatchMetrics"].as_array().expect("directives");
    assert!(!directives.is_empty());
    for d in directives {
        assert!(d["Namespace"].as_str().is_some_and(|n| !n.is_empty()));
        for set in d["Dimensions"].as_array().expect("Dimensions") {
            let keys = set.as_array().expect("a dimension set");
            assert!(!keys.is_empty() && keys.len() <= 30, "{set}");
            for key in keys {
                let member = &doc[key.as_str().expect("a key")];
                let value = member.as_str().unwrap_or_else(|| panic!("{key}: {doc}"));
                assert!(!value.is_empty() && value.chars().count() <= 1024);
            }
        }
        let metrics = d["Metrics"].as_array().expect("Metrics");
        assert!(!metrics.is_empty() && metrics.len() <= 100);
        for m in metrics {
            let name = m["Name"].as_str().expect("Name");
            assert!(doc[name].is_number(), "{name} is not a root number: {doc}");
            let unit = m["Unit"].as_str().expect("Unit");
            assert!(UNITS.contains(&unit), "{unit}");
        }
    }
}

fn at(ms: i64) -> chrono::DateTime<Utc> {
    Utc.timestamp_millis_opt(1_780_000_000_000 + ms)
        .single()
        .expect("a valid instant")
}

fn asset(bytes: u64) -> Asset {
    Asset {
        key: "k".into(),
        bytes,
        content_type: "video/mp4".into(),
    }
}

fn completed() -> Job {
    let mut job = sample_job(at(0));
    job.mark_submitted("video_1", at(1_500)).unwrap();
    job.mark_downloading(at(41_500)).unwrap();
    let assets = Assets {
        video: asset(1_000),
        thumbnail: Some(asset(20)),
        spritesheet: None,
    };
    job.mark_completed(assets, Some(4.0), at(43_750)).unwrap();
    job
}

#[test]
fn a_completed_job_is_counted_timed_and_weighed_by_model() {
    let doc = document(&JobEnd::of(&completed()).unwrap());
    assert_valid_emf(&doc);
    assert_eq!(
        doc,
        json!({
            "_aws": {
                "Timestamp": at(43_750).timestamp_millis(),
                "CloudWatchMetrics": [{
                    "Namespace": "Vidgen",
                    "Dimensions": [["Model"]],
                    "Metrics": [
                        {"Name": "JobsCompleted", "Unit": "Count"},
                        {"Name": "QueueSeconds", "Unit": "Seconds"},
                        {"Name": "RenderSeconds", "Unit": "Seconds"},
                        {"Name": "DownloadSeconds", "Unit": "Seconds"},
                        {"Name": "DownloadBytes", "Unit": "Bytes"},
                        {"Name": "EstimatedCostUsd", "Unit": "None"},
                    ],
                }],
            },
            "Model": "sora-2",
            "JobId": "vid_01ARZ3NDEKTSV4RRFFQ69G5FAV",
            "Status": "completed",
            "JobsCompleted": 1.0,
            "QueueSeconds": 1.5,
            "RenderSeconds": 40.0,
            "DownloadSeconds": 2.25,
            "DownloadBytes": 1020.0,
            "EstimatedCostUsd": 0.4,
        })
    );
    // One log line: CloudWatch reads each line as one event.
    assert!(!doc.to_string().contains('\n'));
}

#[test]
fn a_failure_is_also_counted_by_its_error_code_and_shows_no_render_time() {
    let mut job = sample_job(at(0));
    job.mark_submitted("video_1", at(1_000)).unwrap();
    job.record_cost(Some(12));
    job.mark_ended(
        Status::Failed,
        JobError::new(ErrorCode::ModerationBlocked, "blocked"),
        at(9_000),
    )
    .unwrap();
    let doc = document(&JobEnd::of(&job).unwrap());
    assert_valid_emf(&doc);
    let directive = &doc["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(
        directive["Dimensions"],
        json!([["Model"], ["Model", "ErrorCode"]])
    );
    assert_eq!(
        directive["Metrics"],
        json!([
            {"Name": "JobsFailed", "Unit": "Count"},
            {"Name": "EstimatedCostUsd", "Unit": "None"},
        ])
    );
    assert_eq!(doc["ErrorCode"], "moderation_blocked");
    assert_eq!(doc["EstimatedCostUsd"], 0.12, "what the provider charged");
    assert!(doc.get("RenderSeconds").is_none() && doc.get("QueueSeconds").is_none());

    // A time-out is a failure with its own code; nothing was charged.
    let mut late = sample_job(at(0));
    late.mark_ended(
        Status::TimedOut,
        JobError::new(ErrorCode::TimedOut, "slow"),
        at(5),
    )
    .unwrap();
    let doc = document(&JobEnd::of(&late).unwrap());
    assert_valid_emf(&doc);
    assert_eq!(
        (doc["Status"].as_str(), doc["ErrorCode"].as_str()),
        (Some("timed_out"), Some("timed_out"))
    );
    assert_eq!(doc["JobsFailed"], 1.0);
    assert!(doc.get("EstimatedCostUsd").is_none());
}

#[test]
fn a_cancel_is_counted_by_model_only() {
    let mut job = sample_job(at(0));
    job.mark_canceled(at(2_000) + Duration::milliseconds(1))
        .unwrap();
    let doc = document(&JobEnd::of(&job).unwrap());
    assert_valid_emf(&doc);
    assert_eq!(
        doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["Model"]])
    );
    assert_eq!(doc["JobsCanceled"], 1.0);
    assert!(doc.get("ErrorCode").is_none());
    assert_eq!(doc["_aws"]["Timestamp"], at(2_001).timestamp_millis());
}

#[test]
fn a_running_job_has_no_end_to_count() {
    let mut job = sample_job(at(0));
    assert_eq!(JobEnd::of(&job), None);
    job.mark_submitted("video_1", at(1)).unwrap();
    job.mark_downloading(at(2)).unwrap();
    assert_eq!(JobEnd::of(&job), None);
}

#[test]
fn the_checker_catches_a_bad_document() {
    let good = document(&JobEnd::of(&completed()).unwrap());
    let mut unreferenced = good.clone();
    unreferenced
        .as_object_mut()
        .unwrap()
        .remove("RenderSeconds");
    let mut bad_unit = good.clone();
    bad_unit["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = json!("Jobs");
    let mut no_dimension = good;
    no_dimension.as_object_mut().unwrap().remove("Model");
    for doc in [unreferenced, bad_unit, no_dimension] {
        let caught = std::panic::catch_unwind(|| assert_valid_emf(&doc));
        assert!(caught.is_err(), "{doc}");
    }
}
