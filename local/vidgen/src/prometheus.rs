//! `GET /metrics` on `vidgen serve`: the generation metrics the workflow records through
//! the `metrics` facade (`vidgen_shared::telemetry::job_ended`), in the Prometheus text
//! format as `metrics-exporter-prometheus` renders it. In AWS the same figures are
//! CloudWatch metrics from EMF lines instead.
//!
//! A recorder is global to the process, so one is installed, once, the first time a
//! server is built; every stack in the process (tests start many) serves the same one.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;
use vidgen_shared::telemetry::names;

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How often histogram samples are folded into their buckets between scrapes, so a
/// server nobody scrapes does not keep every sample.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The recorder's buckets: render and queue times from 5 s to 30 min, downloads from
/// 100 ms, costs in dollars.
pub fn builder() -> PrometheusBuilder {
    let buckets = [
        (names::RENDER_SECONDS, names::RENDER_BUCKETS),
        (names::QUEUE_SECONDS, names::RENDER_BUCKETS),
        (names::DOWNLOAD_SECONDS, names::DOWNLOAD_BUCKETS),
        (names::COST_USD, names::COST_BUCKETS),
    ];
    buckets
        .into_iter()
        .fold(PrometheusBuilder::new(), |builder, (name, buckets)| {
            builder
                .set_buckets_for_metric(Matcher::Full(name.into()), buckets)
                // The bucket lists are constants and none is empty.
                .expect("bucket lists are not empty")
        })
}

/// The process's recorder, installed on first use; `None` when another recorder was
/// installed first (then `/metrics` says so).
pub fn handle() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| match builder().install_recorder() {
            Ok(handle) => {
                vidgen_shared::telemetry::describe_metrics();
                let upkeep = handle.clone();
                std::thread::spawn(move || loop {
                    std::thread::sleep(UPKEEP_EVERY);
                    upkeep.run_upkeep();
                });
                Some(handle)
            }
            Err(e) => {
                tracing::warn!(error = %e, "GET /metrics is unavailable: a metrics recorder is already installed");
                None
            }
        })
        .clone()
}

/// `GET /metrics`: no auth, like the contract says (`vidgen serve` only).
pub fn router() -> Router {
    let handle = handle();
    Router::new().route(
        "/metrics",
        get(move || async move { render(handle.as_ref()) }),
    )
}

fn render(handle: Option<&PrometheusHandle>) -> Response {
    match handle {
        Some(handle) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], handle.render()).into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "metrics are unavailable: another metrics recorder was installed first\n",
        )
            .into_response(),
    }
}
