//! Generation metrics: one hook, [`job_ended`], called right after a job's terminal
//! write succeeded (a write that lost a race records nothing), wherever that happens:
//! the download step (`completed`), the failure recorders (`failed`, `timed_out`: the
//! workflow's RecordFailure, the execution-ended backstop, the sweeper, a failed start)
//! and the api (`canceled`).
//!
//! It records through the `metrics` facade, so code records once for both deployments:
//! `vidgen serve` installs a Prometheus recorder and serves it at `GET /metrics`; in
//! Lambda no recorder is installed and the sink is one CloudWatch Embedded Metric
//! Format line on stdout ([`super::emf`]), printed when [`emit_emf`] switched it on
//! (`VIDGEN_METRICS_EMF`, on by default in the Lambdas).

use super::emf;
use crate::domain::{ErrorCode, Job, Status, Timings};
use chrono::{DateTime, Utc};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

/// The metric names, shared by the Prometheus side and the EMF documents (and the tests
/// that hold the dashboard to them).
pub mod names {
    /// Prometheus: jobs that ended, by `model`, `status` and `error_code` (`none` when
    /// the job did not fail).
    pub const JOBS_ENDED: &str = "vidgen_jobs_ended_total";
    /// Prometheus histograms of completed jobs, by `model`.
    pub const QUEUE_SECONDS: &str = "vidgen_queue_seconds";
    pub const RENDER_SECONDS: &str = "vidgen_render_seconds";
    pub const DOWNLOAD_SECONDS: &str = "vidgen_download_seconds";
    /// Prometheus: bytes stored for completed jobs, by `model`.
    pub const DOWNLOAD_BYTES: &str = "vidgen_download_bytes_total";
    /// Prometheus histogram of what each job cost, by `model`: its sum is the spend.
    pub const COST_USD: &str = "vidgen_job_cost_usd";

    /// Buckets for render (and queue) seconds: 5 s to 30 min, as renders run.
    pub const RENDER_BUCKETS: &[f64] = &[
        5.0, 10.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0, 900.0, 1200.0, 1800.0,
    ];
    /// Buckets for download seconds: a few MB from the provider, 100 ms to 5 min.
    pub const DOWNLOAD_BUCKETS: &[f64] = &[0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];
    /// Buckets for a job's cost in USD.
    pub const COST_BUCKETS: &[f64] = &[0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0];
}

/// How a job ended, as the metrics count it (`timed_out` is a failure whose code says so).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Completed,
    Failed(ErrorCode),
    Canceled,
}

/// What one ended job contributes to the metrics: a plain summary of its record.
#[derive(Debug, Clone, PartialEq)]
pub struct JobEnd {
    pub job_id: String,
    pub model: &'static str,
    pub status: Status,
    pub outcome: Outcome,
    /// When it ended: the EMF document's timestamp.
    pub ended_at: DateTime<Utc>,
    /// Stage times; render and download only for completed jobs, whose render counts.
    pub timings: Option<Timings>,
    /// Bytes stored (every asset), completed jobs only.
    pub download_bytes: Option<u64>,
    /// What the job cost: the provider's charge where it said one (moderated renders
    /// are charged too), else the estimate for a completed job; `None` when nothing is
    /// known to have been spent.
    pub cost_usd: Option<f64>,
}

impl JobEnd {
    /// The summary of a job that has ended; `None` while it runs.
    pub fn of(job: &Job) -> Option<JobEnd> {
        let outcome = match job.status {
            Status::Completed => Outcome::Completed,
            Status::Canceled => Outcome::Canceled,
            Status::Failed | Status::TimedOut => {
                Outcome::Failed(job.error.as_ref().map(|e| e.code).unwrap_or(
                    if job.status == Status::TimedOut {
                        ErrorCode::TimedOut
                    } else {
                        ErrorCode::Internal
                    },
                ))
            }
            Status::Queued | Status::InProgress | Status::Downloading => return None,
        };
        let completed = outcome == Outcome::Completed;
        Some(JobEnd {
            job_id: job.id.to_string(),
            model: job.model.as_str(),
            status: job.status,
            outcome,
            ended_at: job.completed_at.unwrap_or(job.updated_at),
            timings: job.timings().filter(|_| completed),
            download_bytes: job.assets.as_ref().filter(|_| completed).map(|a| {
                a.video.bytes
                    + a.thumbnail.as_ref().map_or(0, |t| t.bytes)
                    + a.spritesheet.as_ref().map_or(0, |s| s.bytes)
            }),
            cost_usd: job.cost_usd.or(completed.then_some(job.estimated_cost_usd)),
        })
    }

    /// The `error_code` label: the failure's code, `none` otherwise.
    pub fn error_code(&self) -> &'static str {
        match self.outcome {
            Outcome::Failed(code) => code.as_str(),
            Outcome::Completed | Outcome::Canceled => "none",
        }
    }
}

/// Say what each metric is and its unit, for the recorder's `# HELP` lines; call once
/// the recorder is installed.
pub fn describe_metrics() {
    use metrics::Unit;
    metrics::describe_counter!(
        names::JOBS_ENDED,
        Unit::Count,
        "Jobs that ended, by model, status and error code"
    );
    metrics::describe_histogram!(
        names::QUEUE_SECONDS,
        Unit::Seconds,
        "Completed jobs: from recorded to accepted by the provider"
    );
    metrics::describe_histogram!(
        names::RENDER_SECONDS,
        Unit::Seconds,
        "Completed jobs: from accepted by the provider to the render done"
    );
    metrics::describe_histogram!(
        names::DOWNLOAD_SECONDS,
        Unit::Seconds,
        "Completed jobs: from the render done to every asset stored"
    );
    metrics::describe_counter!(
        names::DOWNLOAD_BYTES,
        Unit::Bytes,
        "Bytes stored for completed jobs"
    );
    metrics::describe_histogram!(
        names::COST_USD,
        "What each job cost in USD: the provider's charge, else the estimate"
    );
}

/// Whether [`job_ended`] prints EMF lines. Off unless a Lambda's init switched it on.
static EMF: AtomicBool = AtomicBool::new(false);

/// Print an EMF line for every ended job from now on (Lambda init, from its settings).
pub fn emit_emf(on: bool) {
    EMF.store(on, Ordering::Relaxed);
}

/// A job's terminal write succeeded: record it. Call once per successful terminal write.
pub fn job_ended(job: &Job) {
    if EMF.load(Ordering::Relaxed) {
        ended(job, Some(&mut std::io::stdout().lock()));
    } else {
        ended(job, None);
    }
}

/// [`job_ended`], with the EMF line (if any) written to `emf`.
fn ended(job: &Job, emf: Option<&mut dyn Write>) {
    let Some(end) = JobEnd::of(job) else {
        tracing::warn!(job_id = %job.id, status = %job.status, "job_ended for a job that runs");
        return;
    };
    record(&end);
    if let Some(out) = emf {
        // One write of one line: CloudWatch takes each stdout line as one log event.
        let line = format!("{}\n", emf::document(&end));
        if let Err(e) = out.write_all(line.as_bytes()).and_then(|()| out.flush()) {
            tracing::warn!(error = %e, "could not write the metrics line");
        }
    }
}

/// Record `end` through the `metrics` facade (a no-op where no recorder is installed).
pub fn record(end: &JobEnd) {
    let model = end.model;
    metrics::counter!(
        names::JOBS_ENDED,
        "model" => model,
        "status" => end.status.as_str(),
        "error_code" => end.error_code(),
    )
    .increment(1);
    if let Some(t) = &end.timings {
        metrics::histogram!(names::QUEUE_SECONDS, "model" => model).record(t.queue_seconds);
        if let Some(render) = t.render_seconds {
            metrics::histogram!(names::RENDER_SECONDS, "model" => model).record(render);
        }
        if let Some(download) = t.download_seconds {
            metrics::histogram!(names::DOWNLOAD_SECONDS, "model" => model).record(download);
        }
    }
    if let Some(bytes) = end.download_bytes {
        metrics::counter!(names::DOWNLOAD_BYTES, "model" => model).increment(bytes);
    }
    if let Some(cost) = end.cost_usd {
        metrics::histogram!(names::COST_USD, "model" => model).record(cost);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::job::tests::sample_job;
    use crate::domain::{Asset, Assets, JobError};
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusRecorder};

    /// A recorder like `vidgen serve`'s, for one test (installed thread-locally).
    pub(crate) fn recorder() -> PrometheusRecorder {
        PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full(names::RENDER_SECONDS.into()),
                names::RENDER_BUCKETS,
            )
            .expect("buckets are not empty")
            .build_recorder()
    }

    fn completed(render_ms: i64) -> Job {
        let t0 = Utc::now();
        let mut job = sample_job(t0);
        job.mark_submitted("video_1", t0).unwrap();
        job.mark_downloading(t0 + chrono::Duration::milliseconds(render_ms))
            .unwrap();
        let video = Asset {
            key: "k".into(),
            bytes: 300,
            content_type: "video/mp4".into(),
        };
        let assets = Assets {
            video,
            thumbnail: None,
            spritesheet: None,
        };
        job.mark_completed(
            assets,
            None,
            t0 + chrono::Duration::milliseconds(render_ms + 10),
        )
        .unwrap();
        job
    }

    #[test]
    fn an_ended_job_is_recorded_once_and_prints_one_emf_line() {
        let recorder = recorder();
        let handle = recorder.handle();
        let mut out = Vec::new();
        metrics::with_local_recorder(&recorder, || {
            ended(&completed(12_000), Some(&mut out));
            ended(&completed(50_000), None);
            let mut failed = sample_job(Utc::now());
            failed
                .mark_ended(
                    Status::Failed,
                    JobError::new(ErrorCode::ModerationBlocked, "no"),
                    Utc::now(),
                )
                .unwrap();
            ended(&failed, None);
            // A running job is no end: nothing recorded.
            ended(&sample_job(Utc::now()), None);
        });
        let text = handle.render();
        for line in [
            r#"vidgen_render_seconds_bucket{model="sora-2",le="10"} 0"#,
            r#"vidgen_render_seconds_bucket{model="sora-2",le="20"} 1"#,
            r#"vidgen_render_seconds_bucket{model="sora-2",le="60"} 2"#,
            r#"vidgen_render_seconds_count{model="sora-2"} 2"#,
            r#"vidgen_render_seconds_sum{model="sora-2"} 62"#,
            r#"vidgen_jobs_ended_total{model="sora-2",status="completed",error_code="none"} 2"#,
            r#"vidgen_jobs_ended_total{model="sora-2",status="failed",error_code="moderation_blocked"} 1"#,
            r#"vidgen_download_bytes_total{model="sora-2"} 600"#,
        ] {
            assert!(text.lines().any(|l| l == line), "no {line} in:\n{text}");
        }
        assert!(!text.contains("status=\"queued\""), "{text}");
        let printed = String::from_utf8(out).unwrap();
        assert_eq!(printed.matches('\n').count(), 1, "{printed}");
        let doc: serde_json::Value = serde_json::from_str(printed.trim_end()).unwrap();
        crate::telemetry::emf::tests::assert_valid_emf(&doc);
        assert_eq!(doc["RenderSeconds"], 12.0);
    }
}
