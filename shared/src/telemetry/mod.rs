//! Structured logging. JSON in Lambda (CloudWatch parses it), compact text locally.
//! Every job-scoped span or event carries `job_id`; secrets are never logged.

use tracing_subscriber::{fmt, EnvFilter};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

/// Install the global subscriber once; later calls are no-ops (tests call it freely).
/// `filter` is the `RUST_LOG` setting (checked by the settings; a bad one logs `info`).
pub fn init(format: LogFormat, filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt().with_env_filter(filter).with_target(false);
    let _ = match format {
        // Lambda adds its own timestamps and request ids to every line.
        LogFormat::Json => builder.json().without_time().flatten_event(true).try_init(),
        // Locally logs go to stderr, so command output on stdout stays clean, and are
        // coloured only on a terminal (no escape codes in redirected logs).
        LogFormat::Text => builder
            .compact()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
    };
}

pub mod emf;
mod job_ended;

pub use job_ended::{describe_metrics, emit_emf, job_ended, names, JobEnd, Outcome};
