//! `vidgen`'s environment, read here and nowhere else in this crate. [`VARIABLES`] lists
//! every variable, including the CLI arguments clap takes from the environment
//! (`VIDGEN_API`, `VIDGEN_TOKEN`, `VIDGEN_EVENTS_URL`, `VIDGEN_DATA_DIR`); the README's local configuration
//! table is checked against it.
//!
//! Parsing is a pure function of a lookup ([`StackConfig::apply_settings`]), so tests
//! build a stack's settings from a map; [`StackConfig::apply_env`] reads the process
//! environment.

use crate::stack::{
    parse_tokens, AwsBackend, Backend, FalChoice, ProviderChoice, RunwayChoice, StackConfig,
};
use vidgen_shared::config::{
    ConfigError, Secret, DEFAULT_FAL_JWKS_URL, DEFAULT_FAL_QUEUE_URL, DEFAULT_OPENAI_BASE_URL,
    DEFAULT_RUNWAY_BASE_URL,
};
use vidgen_shared::domain::Model;
use vidgen_shared::settings::{self as shared, Lookup};
use vidgen_shared::webhooks_in::openai::OpenAiWebhookSecret;

/// The process environment, as a [`Lookup`].
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// One environment variable of `vidgen`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variable {
    pub name: &'static str,
    /// The value used when unset, as the README shows it (`unset` is a word).
    pub default: &'static str,
    pub meaning: &'static str,
}

const UNSET: &str = shared::UNSET;

/// `RUST_LOG` when unset: a server logs its work, a one-shot command shows a progress bar.
pub const LOG_SERVE: &str = "info";
pub const LOG_COMMAND: &str = "warn";

/// Every variable `vidgen` reads, in the README's order.
pub const VARIABLES: &[Variable] = &[
    Variable {
        name: "OPENAI_API_KEY",
        default: UNSET,
        meaning: "provider key; unset = the built-in simulator",
    },
    Variable {
        name: "OPENAI_BASE_URL",
        default: DEFAULT_OPENAI_BASE_URL,
        meaning: "any compatible /v1/videos endpoint (with OPENAI_API_KEY)",
    },
    Variable {
        name: "RUNWAYML_API_SECRET",
        default: UNSET,
        meaning: "Runway key; unset = the built-in Runway simulator for runway/* models",
    },
    Variable {
        name: "RUNWAYML_BASE_URL",
        default: DEFAULT_RUNWAY_BASE_URL,
        meaning:
            "Runway's API host, or any server speaking its task API (with RUNWAYML_API_SECRET)",
    },
    Variable {
        name: "FAL_KEY",
        default: UNSET,
        meaning: "fal key; unset = the built-in fal simulator for fal/* models",
    },
    Variable {
        name: "FAL_QUEUE_URL",
        default: DEFAULT_FAL_QUEUE_URL,
        meaning: "fal's queue, or any server speaking its queue API (with FAL_KEY)",
    },
    Variable {
        name: "FAL_JWKS_URL",
        default: DEFAULT_FAL_JWKS_URL,
        meaning: "the keys fal signs its webhooks with (with FAL_KEY)",
    },
    Variable {
        name: "VIDGEN_DEFAULT_MODEL",
        default: UNSET,
        meaning:
            "model used when a request names none (an id from GET /v1/models); unset = SORA_MODEL",
    },
    Variable {
        name: "SORA_MODEL",
        default: "sora-2",
        meaning: "the default model when VIDGEN_DEFAULT_MODEL is unset",
    },
    Variable {
        name: "VIDGEN_MAX_ACTIVE_JOBS",
        default: "10",
        meaning: "unfinished jobs one owner may have at once; more answer 429 rate_limited",
    },
    Variable {
        name: "VIDGEN_DAILY_BUDGET_USD",
        default: "50",
        meaning: "estimated spend (USD) one owner may start per rolling 24 h; more answer 429",
    },
    Variable {
        name: "VIDGEN_BUDGET_SORA2_SECS",
        default: "1200",
        meaning: "time from submit until a job ends timed_out (every model but sora-2-pro); short for soaks",
    },
    Variable {
        name: "VIDGEN_BUDGET_SORA2_PRO_SECS",
        default: "2700",
        meaning: "the same for sora-2-pro",
    },
    Variable {
        name: "VIDGEN_LOCAL_TOKENS",
        default: UNSET,
        meaning: "owner:token,…; unset = single-user",
    },
    Variable {
        name: "VIDGEN_DATA_DIR",
        default: ".vidgen",
        meaning: "embedded store, files and kept secrets (a CLI argument, read by clap)",
    },
    Variable {
        name: "VIDGEN_WEBHOOK_SECRET",
        default: UNSET,
        meaning: "signs callback_url deliveries; unset = one kept in the data dir",
    },
    Variable {
        name: "VIDGEN_PUBLIC_URL",
        default: UNSET,
        meaning: "URL at which providers reach this server's /v1/provider-webhooks/{provider} (https, or http to 127.0.0.1/localhost); unset = every job polls",
    },
    Variable {
        name: "OPENAI_WEBHOOK_SECRET",
        default: UNSET,
        meaning: "the OpenAI project's webhook signing secret (whsec_…); set = OpenAI pushes video.completed/video.failed; unset with the simulator and VIDGEN_PUBLIC_URL = one made per run",
    },
    Variable {
        name: "VIDGEN_BACKEND",
        default: "embedded",
        meaning: "embedded, or aws: DynamoDB + S3",
    },
    Variable {
        name: "VIDGEN_AWS_CREATE_MISSING",
        default: "0",
        meaning: "1 or true: create the table and bucket if missing",
    },
    Variable {
        name: "TABLE_NAME",
        default: UNSET,
        meaning: "the DynamoDB table, required with VIDGEN_BACKEND=aws",
    },
    Variable {
        name: "BUCKET_NAME",
        default: UNSET,
        meaning: "the S3 bucket, required with VIDGEN_BACKEND=aws",
    },
    Variable {
        name: "AWS_ENDPOINT_URL",
        default: UNSET,
        meaning: "local AWS servers; S3 then goes path-style",
    },
    Variable {
        name: "AWS_ENDPOINT_URL_S3",
        default: UNSET,
        meaning: "a local S3 server; S3 then goes path-style",
    },
    Variable {
        name: "VIDGEN_API",
        default: "http://127.0.0.1:8080",
        meaning: "the API the client commands talk to (a CLI argument, read by clap)",
    },
    Variable {
        name: "VIDGEN_TOKEN",
        default: UNSET,
        meaning: "bearer token for that API (a CLI argument, read by clap)",
    },
    Variable {
        name: "VIDGEN_EVENTS_URL",
        default: UNSET,
        meaning: "the events WebSocket the CLI follows jobs on; unset = that API's own /v1/events (a CLI argument, read by clap)",
    },
    Variable {
        name: "SSL_CERT_FILE",
        default: UNSET,
        meaning: "a PEM file of extra trusted root certificates (a private CA, a TLS-intercepting proxy), added to Mozilla's roots compiled into the binary; the system's certificate store is not read",
    },
    Variable {
        name: "RUST_LOG",
        default: "info for serve, else warn",
        meaning: "log filter",
    },
];

fn default_of(name: &str) -> &'static str {
    VARIABLES
        .iter()
        .find(|v| v.name == name)
        .map(|v| v.default)
        .unwrap_or_else(|| panic!("{name} is not in settings::VARIABLES"))
}

/// The value, or the table's default.
fn or_default(lookup: Lookup, name: &str) -> String {
    shared::value(lookup, name).unwrap_or_else(|| default_of(name).to_string())
}

/// An on/off setting: unset, `0` or `false` is off; `1` or `true` is on; anything else
/// is an error naming the variable rather than a silent "off".
fn switch(lookup: Lookup, name: &str) -> Result<bool, ConfigError> {
    match or_default(lookup, name).trim() {
        "0" | "false" => Ok(false),
        "1" | "true" => Ok(true),
        other => Err(shared::invalid(name, other, "not one of 1, true, 0, false")),
    }
}

/// A job time budget in whole seconds, at least one (a zero budget would end every job
/// before its first check).
fn budget(lookup: Lookup, name: &str) -> Result<std::time::Duration, ConfigError> {
    let raw = or_default(lookup, name);
    match shared::parse::<u64>(name, &raw)? {
        0 => Err(shared::invalid(name, &raw, "must be at least 1")),
        secs => Ok(std::time::Duration::from_secs(secs)),
    }
}

/// The log filter: `RUST_LOG`, else [`LOG_SERVE`] for a server or [`LOG_COMMAND`].
pub fn log_filter(lookup: Lookup, serving: bool) -> Result<String, ConfigError> {
    match shared::value(lookup, "RUST_LOG") {
        Some(raw) => shared::log_filter("RUST_LOG", &raw),
        None if serving => Ok(LOG_SERVE.into()),
        None => Ok(LOG_COMMAND.into()),
    }
}

impl StackConfig {
    /// Apply `OPENAI_API_KEY`, `OPENAI_BASE_URL`, `RUNWAYML_API_SECRET`,
    /// `RUNWAYML_BASE_URL`, `FAL_KEY`, `FAL_QUEUE_URL`, `FAL_JWKS_URL`, `VIDGEN_DEFAULT_MODEL`,
    /// `SORA_MODEL`, `VIDGEN_BUDGET_SORA2_SECS`, `VIDGEN_BUDGET_SORA2_PRO_SECS`, `VIDGEN_LOCAL_TOKENS`, `VIDGEN_WEBHOOK_SECRET`, `VIDGEN_PUBLIC_URL`,
    /// `OPENAI_WEBHOOK_SECRET`, and `VIDGEN_BACKEND` (`embedded`, or `aws` with
    /// `TABLE_NAME`, `BUCKET_NAME`, `VIDGEN_AWS_CREATE_MISSING` and the endpoints).
    pub fn apply_settings(mut self, lookup: Lookup) -> anyhow::Result<StackConfig> {
        self.backend = match or_default(lookup, "VIDGEN_BACKEND").trim() {
            "embedded" => Backend::Embedded,
            "aws" => Backend::Aws(AwsBackend {
                table: shared::required(lookup, "TABLE_NAME")?,
                bucket: shared::required(lookup, "BUCKET_NAME")?,
                create_missing: switch(lookup, "VIDGEN_AWS_CREATE_MISSING")?,
                clients: None,
                s3_force_path_style: shared::s3_force_path_style(lookup),
            }),
            other => {
                return Err(
                    shared::invalid("VIDGEN_BACKEND", other, "not one of embedded, aws").into(),
                )
            }
        };
        if let Some(key) = shared::value(lookup, "OPENAI_API_KEY") {
            let base_url = or_default(lookup, "OPENAI_BASE_URL");
            self.provider = ProviderChoice::OpenAi {
                base_url: shared::url("OPENAI_BASE_URL", &base_url)?,
                api_key: Secret::new(key.trim()),
            };
        }
        if let Some(key) = shared::value(lookup, "RUNWAYML_API_SECRET") {
            let base_url = or_default(lookup, "RUNWAYML_BASE_URL");
            self.runway = RunwayChoice::Live {
                base_url: shared::url("RUNWAYML_BASE_URL", &base_url)?,
                api_key: Secret::new(key.trim()),
            };
        }
        if let Some(key) = shared::value(lookup, "FAL_KEY") {
            self.fal = FalChoice::Live {
                queue_url: shared::url("FAL_QUEUE_URL", &or_default(lookup, "FAL_QUEUE_URL"))?,
                api_key: Secret::new(key.trim()),
                jwks_url: shared::url("FAL_JWKS_URL", &or_default(lookup, "FAL_JWKS_URL"))?,
            };
        }
        self.api.policy.default_model = match shared::value(lookup, "VIDGEN_DEFAULT_MODEL") {
            Some(id) => shared::parse::<Model>("VIDGEN_DEFAULT_MODEL", &id)?,
            None => shared::parse::<Model>("SORA_MODEL", &or_default(lookup, "SORA_MODEL"))?,
        };
        self.api.limits.max_active_jobs = shared::max_active_jobs(
            "VIDGEN_MAX_ACTIVE_JOBS",
            &or_default(lookup, "VIDGEN_MAX_ACTIVE_JOBS"),
        )?;
        self.api.limits.daily_budget_cents = shared::daily_budget_cents(
            "VIDGEN_DAILY_BUDGET_USD",
            &or_default(lookup, "VIDGEN_DAILY_BUDGET_USD"),
        )?;
        self.workflow.budget_standard = budget(lookup, "VIDGEN_BUDGET_SORA2_SECS")?;
        self.workflow.budget_slow = budget(lookup, "VIDGEN_BUDGET_SORA2_PRO_SECS")?;
        if let Some(secret) = shared::value(lookup, "VIDGEN_WEBHOOK_SECRET") {
            self.webhook_secret = Some(Secret::new(secret.trim()));
        }
        if let Some(raw) = shared::value(lookup, "VIDGEN_PUBLIC_URL") {
            self.workflow.public_url = Some(shared::public_url("VIDGEN_PUBLIC_URL", &raw, true)?);
        }
        if let Some(secret) = shared::value(lookup, "OPENAI_WEBHOOK_SECRET") {
            // Checked now, so a bad secret is named before anything starts.
            OpenAiWebhookSecret::parse(&secret)
                .map_err(|e| shared::invalid("OPENAI_WEBHOOK_SECRET", "<redacted>", e))?;
            self.openai_webhook_secret = Some(Secret::new(secret.trim()));
        }
        if let Some(raw) = shared::value(lookup, "VIDGEN_LOCAL_TOKENS") {
            self.tokens = parse_tokens(&raw)?;
        }
        Ok(self)
    }

    /// [`StackConfig::apply_settings`] from the process environment.
    pub fn apply_env(self) -> anyhow::Result<StackConfig> {
        self.apply_settings(&process_env)
    }
}

#[cfg(test)]
mod tests;
