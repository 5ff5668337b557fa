//! Each Lambda's settings, read from its environment once, at init — the only place in
//! this crate that reads the environment.
//!
//! [`VARIABLES`] lists every variable: which functions read it, its default and what it
//! means; the README's "Configuration" table is checked against it. Each function loads
//! only what it uses ([`ApiSettings`], [`StepSettings`]): the submit step, which sends no
//! webhooks, never reads `WEBHOOK_SECRET_ARN`, so it needs no permission on that secret.
//!
//! Parsing is a pure function of a lookup (`&dyn Fn(&str) -> Option<String>`), so tests
//! build settings from a map; `from_env` reads the process environment. An unset or blank
//! variable takes its default; a bad value is one [`ConfigError`] naming the variable.

use crate::config::{
    ConfigError, DEFAULT_FAL_JWKS_URL, DEFAULT_FAL_QUEUE_URL, DEFAULT_OPENAI_BASE_URL,
    DEFAULT_RUNWAY_BASE_URL,
};
use crate::domain::{Limits, Model, ProviderId};
use crate::workflow::{StepFunction, WorkflowConfig};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Where settings come from: the value of a variable, `None` when unset.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, as a [`Lookup`].
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The functions of the AWS deployment (`template.yaml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Function {
    Api,
    Submit,
    CheckStatus,
    Download,
    Sweeper,
    /// Delivers the queued `callback_url` webhooks (SQS).
    WebhookSender,
    /// The WebSocket API's `$connect` authorizer (the HTTP API's JWTs).
    WsAuthorizer,
    /// The WebSocket API's routes: connections kept in the connections table.
    WsEvents,
    /// Posts job events to WebSocket connections (the jobs table's stream).
    WsNotifier,
}

impl Function {
    pub const ALL: [Function; 9] = [
        Function::Api,
        Function::Submit,
        Function::CheckStatus,
        Function::Download,
        Function::Sweeper,
        Function::WebhookSender,
        Function::WsAuthorizer,
        Function::WsEvents,
        Function::WsNotifier,
    ];

    /// The function's binary name, as in `template.yaml` and the README.
    pub fn name(self) -> &'static str {
        match self {
            Function::Api => "api",
            Function::Submit => StepFunction::Submit.name(),
            Function::CheckStatus => StepFunction::CheckStatus.name(),
            Function::Download => StepFunction::Download.name(),
            Function::Sweeper => "sweeper",
            Function::WebhookSender => "webhook-sender",
            Function::WsAuthorizer => "ws-authorizer",
            Function::WsEvents => "ws-events",
            Function::WsNotifier => "ws-notifier",
        }
    }
}

impl From<StepFunction> for Function {
    fn from(f: StepFunction) -> Function {
        match f {
            StepFunction::Submit => Function::Submit,
            StepFunction::CheckStatus => Function::CheckStatus,
            StepFunction::Download => Function::Download,
        }
    }
}

/// One environment variable of the AWS deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variable {
    pub name: &'static str,
    /// The functions that read it (`template.yaml` sets it on exactly these).
    pub read_by: &'static [Function],
    /// The value used when unset, as the README shows it; `required` and `unset` are words.
    pub default: &'static str,
    pub meaning: &'static str,
}

/// Shown as the default of a variable that must be set.
pub const REQUIRED: &str = "required";
/// Shown as the default of an optional variable without a value.
pub const UNSET: &str = "unset";

const ALL: &[Function] = &Function::ALL;
/// The functions that touch the job table and the bucket (the notifier presigns the
/// job object's links, so it reads them too).
const STORES: &[Function] = &[
    Function::Api,
    Function::Submit,
    Function::CheckStatus,
    Function::Download,
    Function::Sweeper,
    Function::WsNotifier,
];
const API: &[Function] = &[Function::Api];
/// The functions that start, stop or look up executions.
const ENGINE: &[Function] = &[Function::Api, Function::Sweeper];
const STEPS: &[Function] = &[Function::Submit, Function::CheckStatus, Function::Download];
/// The functions that end jobs, and so queue webhooks.
const ENDERS: &[Function] = &[
    Function::Api,
    Function::CheckStatus,
    Function::Download,
    Function::Sweeper,
];
const PACED: &[Function] = &[Function::Submit, Function::CheckStatus];

/// Every variable the AWS functions read, in the README's order.
pub const VARIABLES: &[Variable] = &[
    Variable {
        name: "TABLE_NAME",
        read_by: STORES,
        default: REQUIRED,
        meaning: "the DynamoDB table (set by the template)",
    },
    Variable {
        name: "BUCKET_NAME",
        read_by: STORES,
        default: REQUIRED,
        meaning: "the S3 bucket (set by the template)",
    },
    Variable {
        name: "STATE_MACHINE_ARN",
        read_by: ENGINE,
        default: REQUIRED,
        meaning: "the workflow (set by the template)",
    },
    Variable {
        name: "VIDGEN_DEFAULT_MODEL",
        read_by: API,
        default: UNSET,
        meaning: "model used when a request names none (an id from `GET /v1/models`); unset = `SORA_MODEL`",
    },
    Variable {
        name: "SORA_MODEL",
        read_by: API,
        default: "sora-2",
        meaning: "the default model when `VIDGEN_DEFAULT_MODEL` is unset (the Python backend's setting)",
    },
    Variable {
        name: "VIDGEN_PROVIDERS",
        read_by: API,
        default: "openai",
        meaning: "providers this deployment has a key for, comma-separated (set by the template); other providers' models answer 400",
    },
    Variable {
        name: "URL_TTL_SECS",
        // The notifier's job objects carry the same links as the api's.
        read_by: &[Function::Api, Function::WsNotifier],
        default: "3600",
        meaning: "lifetime of presigned GET links; at most 43200 (12 h), the life of the role credentials that sign them",
    },
    Variable {
        name: "VIDGEN_EVENTS_URL",
        read_by: API,
        default: UNSET,
        meaning: "`wss://` URL of the events WebSocket (the WebSocket API's stage URL, set by the template); the console served at `/` connects to it; unset = the console polls",
    },
    Variable {
        name: "VIDGEN_MAX_ACTIVE_JOBS",
        read_by: API,
        default: "10",
        meaning: "unfinished jobs one owner may have at once; more answer 429 `rate_limited`",
    },
    Variable {
        name: "VIDGEN_DAILY_BUDGET_USD",
        read_by: API,
        default: "50",
        meaning: "estimated spend (USD) one owner may start per rolling 24 h; more answer 429 `rate_limited`",
    },
    Variable {
        name: "WEBHOOK_QUEUE_URL",
        read_by: ENDERS,
        default: UNSET,
        meaning: "SQS queue the `callback_url` deliveries go on; unset = no webhooks",
    },
    Variable {
        name: "WEBHOOK_SECRET_ARN",
        read_by: &[Function::WebhookSender],
        default: REQUIRED,
        meaning: "secret that signs `callback_url` deliveries",
    },
    Variable {
        name: "OPENAI_SECRET_ARN",
        read_by: STEPS,
        default: UNSET,
        meaning: "secret holding the OpenAI key; unset = no OpenAI models",
    },
    Variable {
        name: "OPENAI_WEBHOOK_SECRET_ARN",
        read_by: API,
        default: UNSET,
        meaning: "secret holding the signing secret (`whsec_…`) of the OpenAI project's webhook endpoint, verified on `/v1/provider-webhooks/openai`; unset = OpenAI webhooks refused",
    },
    Variable {
        name: "OPENAI_WEBHOOKS",
        read_by: &[Function::Submit],
        default: "0",
        meaning: "`1`: OpenAI pushes `video.completed`/`video.failed` to this deployment (set by the template with `OPENAI_WEBHOOK_SECRET_ARN`), so its jobs may wait for the webhook",
    },
    Variable {
        name: "VIDGEN_PUBLIC_URL",
        read_by: &[Function::Submit],
        default: UNSET,
        meaning: "https URL at which this deployment's API is reachable (providers' webhooks go to it + `/v1/provider-webhooks/{provider}`); unset = every job polls",
    },
    Variable {
        name: "OPENAI_BASE_URL",
        read_by: STEPS,
        default: DEFAULT_OPENAI_BASE_URL,
        meaning: "any compatible `/v1/videos` endpoint",
    },
    Variable {
        name: "RUNWAYML_SECRET_ARN",
        read_by: STEPS,
        default: UNSET,
        meaning: "secret holding the Runway key (`RUNWAYML_API_SECRET`); unset = no Runway models",
    },
    Variable {
        name: "RUNWAYML_BASE_URL",
        read_by: STEPS,
        default: DEFAULT_RUNWAY_BASE_URL,
        meaning: "Runway's API host (any server speaking its task API)",
    },
    Variable {
        name: "FAL_SECRET_ARN",
        read_by: STEPS,
        default: UNSET,
        meaning: "secret holding the fal key (`FAL_KEY`); unset = no fal models",
    },
    Variable {
        name: "FAL_QUEUE_URL",
        read_by: STEPS,
        default: DEFAULT_FAL_QUEUE_URL,
        meaning: "fal's queue (any server speaking its queue API)",
    },
    Variable {
        name: "FAL_JWKS_URL",
        read_by: API,
        default: DEFAULT_FAL_JWKS_URL,
        meaning: "the keys fal signs its webhooks with, for the provider-webhook route",
    },
    Variable {
        name: "VIDGEN_BUDGET_SORA2_SECS",
        read_by: &[Function::Submit],
        default: "1200",
        meaning: "time from submit until a sora-2 job ends `timed_out`",
    },
    Variable {
        name: "VIDGEN_BUDGET_SORA2_PRO_SECS",
        read_by: &[Function::Submit],
        default: "2700",
        meaning: "the same for sora-2-pro",
    },
    Variable {
        name: "VIDGEN_MAX_POLLS",
        read_by: &[Function::CheckStatus],
        default: "240",
        meaning: "status checks per job (then `timed_out`)",
    },
    Variable {
        name: "VIDGEN_MIN_WAIT_SECS",
        read_by: PACED,
        default: "5",
        meaning: "lower bound on the wait between checks",
    },
    Variable {
        name: "VIDGEN_MAX_WAIT_SECS",
        read_by: PACED,
        default: "30",
        meaning: "upper bound on the wait between checks",
    },
    Variable {
        name: "JWT_ISSUER",
        read_by: &[Function::WsAuthorizer],
        default: REQUIRED,
        meaning: "issuer of the JWTs the WebSocket `$connect` authorizer accepts (the template's `JwtIssuer`); its keys are found by OIDC discovery",
    },
    Variable {
        name: "JWT_AUDIENCE",
        read_by: &[Function::WsAuthorizer],
        default: REQUIRED,
        meaning: "accepted audiences, comma-separated (`JwtAudience`): a token's `aud` must contain one, or its `client_id` be one",
    },
    Variable {
        name: "CONNECTIONS_TABLE",
        read_by: &[Function::WsEvents, Function::WsNotifier],
        default: REQUIRED,
        meaning: "the DynamoDB table of open WebSocket connections (set by the template)",
    },
    Variable {
        name: "AWS_ENDPOINT_URL",
        read_by: STORES,
        default: UNSET,
        meaning: "endpoint of every AWS service (local servers); S3 then goes path-style",
    },
    Variable {
        name: "AWS_ENDPOINT_URL_S3",
        read_by: STORES,
        default: UNSET,
        meaning: "endpoint of S3 alone; S3 then goes path-style",
    },
    Variable {
        name: "VIDGEN_METRICS_EMF",
        read_by: ENDERS,
        default: "1",
        meaning: "`1`: each job that ends prints one CloudWatch Embedded Metric Format line (namespace `Vidgen`, see Metrics); `0`: none",
    },
    Variable {
        name: "SSL_CERT_FILE",
        read_by: ALL,
        default: UNSET,
        meaning: "a PEM file of extra trusted root certificates (a private CA), added to Mozilla's roots compiled into the binary; the system's certificate store is not read (shared/src/tls.rs)",
    },
    Variable {
        name: "RUST_LOG",
        read_by: ALL,
        default: "info",
        meaning: "log filter",
    },
];

/// The table's entry for `name`. Every name the loaders read is in the table (the tests
/// load every function), so a miss is a bug here.
pub fn variable(name: &str) -> &'static Variable {
    VARIABLES
        .iter()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("{name} is not in settings::VARIABLES"))
}

/// A variable's value; unset and blank are both `None`.
pub fn value(lookup: Lookup, name: &str) -> Option<String> {
    lookup(name).filter(|v| !v.trim().is_empty())
}

/// A variable that must be set.
pub fn required(lookup: Lookup, name: &str) -> Result<String, ConfigError> {
    value(lookup, name).ok_or_else(|| ConfigError {
        var: name.into(),
        message: "is required".into(),
    })
}

/// Parse a raw value, naming the variable when it is bad.
pub fn parse<T: FromStr>(name: &str, raw: &str) -> Result<T, ConfigError>
where
    T::Err: fmt::Display,
{
    raw.trim()
        .parse()
        .map_err(|e: T::Err| invalid(name, raw, e))
}

/// `NAME: "raw" is not valid: why`.
pub fn invalid(name: &str, raw: &str, why: impl fmt::Display) -> ConfigError {
    ConfigError {
        var: name.into(),
        message: format!("{raw:?} is not valid: {why}"),
    }
}

/// An absolute http(s) URL.
pub fn url(name: &str, raw: &str) -> Result<String, ConfigError> {
    let parsed = ::url::Url::parse(raw.trim()).map_err(|e| invalid(name, raw, e))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid(name, raw, "not an http(s) URL"));
    }
    Ok(raw.trim().to_string())
}

/// An on/off setting: `0` or `false` is off; `1` or `true` is on; anything else is an
/// error naming the variable rather than a silent "off".
pub fn switch(name: &str, raw: &str) -> Result<bool, ConfigError> {
    match raw.trim() {
        "0" | "false" => Ok(false),
        "1" | "true" => Ok(true),
        _ => Err(invalid(name, raw, "not one of 1, true, 0, false")),
    }
}

/// The deployment's public base URL (`VIDGEN_PUBLIC_URL`), without a trailing slash:
/// absolute, `https`, with a host, no user info, query or fragment (webhook URLs are
/// built by appending paths to it). `allow_local_http`: plain `http` is also accepted
/// to a loopback host (`vidgen serve` on one machine, its simulators calling back).
pub fn public_url(name: &str, raw: &str, allow_local_http: bool) -> Result<String, ConfigError> {
    let trimmed = raw.trim().trim_end_matches('/');
    let parsed = ::url::Url::parse(trimmed).map_err(|e| invalid(name, raw, e))?;
    let loopback = match parsed.host() {
        Some(::url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(::url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(::url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err(invalid(name, raw, "has no host")),
    };
    match parsed.scheme() {
        "https" => {}
        "http" if allow_local_http && loopback => {}
        "http" if allow_local_http => {
            return Err(invalid(
                name,
                raw,
                "plain http is allowed only to 127.0.0.1, ::1 or localhost; use https",
            ))
        }
        _ => return Err(invalid(name, raw, "not an https URL")),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid(name, raw, "must not carry a user name or password"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(invalid(name, raw, "must not have a query or a fragment"));
    }
    Ok(trimmed.to_string())
}

/// `VIDGEN_EVENTS_URL`: an absolute `wss://` URL with a host, no user info or fragment
/// (the console appends `?access_token=`; browsers refuse mixed content, so never `ws://`).
pub fn events_url(name: &str, raw: &str) -> Result<String, ConfigError> {
    let trimmed = raw.trim();
    let parsed = ::url::Url::parse(trimmed).map_err(|e| invalid(name, raw, e))?;
    if parsed.scheme() != "wss" {
        return Err(invalid(name, raw, "not a wss:// URL"));
    }
    if parsed.host().is_none() {
        return Err(invalid(name, raw, "has no host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid(name, raw, "must not carry a user name or password"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(invalid(name, raw, "must not have a query or a fragment"));
    }
    Ok(trimmed.to_string())
}

/// Any non-blank text, trimmed.
pub fn text(_name: &str, raw: &str) -> Result<String, ConfigError> {
    Ok(raw.trim().to_string())
}

/// `VIDGEN_PROVIDERS`: provider ids, comma-separated, at least one.
pub fn provider_list(name: &str, raw: &str) -> Result<Vec<ProviderId>, ConfigError> {
    let mut out = Vec::new();
    for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        // The error quotes the whole value and names the item that is wrong.
        let id = item
            .parse::<ProviderId>()
            .map_err(|e| invalid(name, raw, e))?;
        if !out.contains(&id) {
            out.push(id);
        }
    }
    if out.is_empty() {
        return Err(invalid(name, raw, "names no provider"));
    }
    Ok(out)
}

/// A `tracing` filter (`info`, `vidgen_shared=debug,warn`, …).
pub fn log_filter(name: &str, raw: &str) -> Result<String, ConfigError> {
    tracing_subscriber::EnvFilter::try_new(raw.trim()).map_err(|e| invalid(name, raw, e))?;
    Ok(raw.trim().to_string())
}

/// `VIDGEN_MAX_ACTIVE_JOBS`: a whole number, at least 1.
pub fn max_active_jobs(name: &str, raw: &str) -> Result<u32, ConfigError> {
    match parse::<u32>(name, raw)? {
        0 => Err(invalid(name, raw, "must be at least 1")),
        n => Ok(n),
    }
}

/// `VIDGEN_DAILY_BUDGET_USD`: a positive dollar amount, kept in cents.
pub fn daily_budget_cents(name: &str, raw: &str) -> Result<u64, ConfigError> {
    crate::domain::usage::parse_usd_cents(raw).map_err(|why| invalid(name, raw, why))
}

/// Whether S3 needs path-style addressing: an endpoint override (for every service or for
/// S3 alone) means a local server, which does not resolve bucket subdomains.
pub fn s3_force_path_style(lookup: Lookup) -> bool {
    let every_service = value(lookup, "AWS_ENDPOINT_URL");
    let s3 = value(lookup, "AWS_ENDPOINT_URL_S3");
    every_service.is_some() || s3.is_some()
}

/// Reads variables with their defaults from [`VARIABLES`].
struct Reader<'a> {
    lookup: Lookup<'a>,
}

impl Reader<'_> {
    fn required(&self, name: &str) -> Result<String, ConfigError> {
        debug_assert_eq!(variable(name).default, REQUIRED, "{name}");
        required(self.lookup, name)
    }

    /// An optional variable, checked by `check` when set.
    fn checked_optional<T>(
        &self,
        name: &str,
        check: impl Fn(&str, &str) -> Result<T, ConfigError>,
    ) -> Result<Option<T>, ConfigError> {
        debug_assert_eq!(variable(name).default, UNSET, "{name}");
        value(self.lookup, name)
            .map(|raw| check(name, &raw))
            .transpose()
    }

    /// The value, or the table's default, checked by `check`.
    fn checked<T>(
        &self,
        name: &str,
        check: impl Fn(&str, &str) -> Result<T, ConfigError>,
    ) -> Result<T, ConfigError> {
        match value(self.lookup, name) {
            Some(raw) => check(name, &raw),
            None => Ok(check(name, variable(name).default)
                .unwrap_or_else(|e| panic!("the default of {name} is bad: {e}"))),
        }
    }

    fn parsed<T: FromStr>(&self, name: &str) -> Result<T, ConfigError>
    where
        T::Err: fmt::Display,
    {
        self.checked(name, parse)
    }

    fn seconds(&self, name: &str) -> Result<Duration, ConfigError> {
        self.parsed(name).map(Duration::from_secs)
    }

    /// `VIDGEN_DEFAULT_MODEL`, else `SORA_MODEL` (whose default is sora-2). Both are
    /// checked: the template sets both, and a bad `SORA_MODEL` must not pass unseen
    /// because the other one wins.
    fn default_model(&self) -> Result<Model, ConfigError> {
        let sora_model = self.parsed("SORA_MODEL")?;
        Ok(self
            .checked_optional("VIDGEN_DEFAULT_MODEL", parse::<Model>)?
            .unwrap_or(sora_model))
    }

    fn limits(&self) -> Result<Limits, ConfigError> {
        Ok(Limits {
            max_active_jobs: self.checked("VIDGEN_MAX_ACTIVE_JOBS", max_active_jobs)?,
            daily_budget_cents: self.checked("VIDGEN_DAILY_BUDGET_USD", daily_budget_cents)?,
        })
    }

    /// `SSL_CERT_FILE`: extra trusted roots for [`crate::tls::init`], which reads the file.
    fn cert_file(&self) -> Result<Option<std::path::PathBuf>, ConfigError> {
        self.checked_optional("SSL_CERT_FILE", |_, raw| Ok(raw.into()))
    }

    fn common(&self) -> Result<Common, ConfigError> {
        Ok(Common {
            table: self.required("TABLE_NAME")?,
            bucket: self.required("BUCKET_NAME")?,
            s3_force_path_style: s3_force_path_style(self.lookup),
            log_filter: self.checked("RUST_LOG", log_filter)?,
            cert_file: self.cert_file()?,
        })
    }
}

/// What every function reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Common {
    /// `TABLE_NAME`.
    pub table: String,
    /// `BUCKET_NAME`.
    pub bucket: String,
    /// `AWS_ENDPOINT_URL` or `AWS_ENDPOINT_URL_S3` is set.
    pub s3_force_path_style: bool,
    /// `RUST_LOG`.
    pub log_filter: String,
    /// `SSL_CERT_FILE`.
    pub cert_file: Option<std::path::PathBuf>,
}

/// The api function's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSettings {
    pub common: Common,
    /// `STATE_MACHINE_ARN`.
    pub state_machine_arn: String,
    /// `VIDGEN_DEFAULT_MODEL`, else `SORA_MODEL`.
    pub default_model: Model,
    /// `VIDGEN_PROVIDERS`.
    pub providers: Vec<ProviderId>,
    /// `URL_TTL_SECS`.
    pub url_ttl: Duration,
    /// `WEBHOOK_QUEUE_URL`: cancel ends a job, so the api queues webhooks too.
    pub webhook_queue_url: Option<String>,
    /// `VIDGEN_MAX_ACTIVE_JOBS` and `VIDGEN_DAILY_BUDGET_USD`.
    pub limits: Limits,
    /// `OPENAI_WEBHOOK_SECRET_ARN`: the webhook route verifies OpenAI's deliveries with
    /// this secret; `None` when OpenAI sends none.
    pub openai_webhook_secret_arn: Option<String>,
    /// `FAL_JWKS_URL`: the keys fal's webhooks are verified with.
    pub fal_jwks_url: String,
    /// `VIDGEN_METRICS_EMF`: cancel ends jobs, so the api prints metric lines too.
    pub metrics_emf: bool,
    /// `VIDGEN_EVENTS_URL`: the events WebSocket the console connects to.
    pub events_url: Option<String>,
}

impl ApiSettings {
    pub fn from_lookup(lookup: Lookup) -> Result<ApiSettings, ConfigError> {
        let r = Reader { lookup };
        let default_model = r.default_model()?;
        let providers = r.checked("VIDGEN_PROVIDERS", provider_list)?;
        if !providers.contains(&default_model.provider()) {
            let var = if value(lookup, "VIDGEN_DEFAULT_MODEL").is_some() {
                "VIDGEN_DEFAULT_MODEL"
            } else {
                "SORA_MODEL"
            };
            return Err(ConfigError {
                var: var.into(),
                message: format!(
                    "the default model {default_model} needs a {} key, and VIDGEN_PROVIDERS names only {}",
                    default_model.provider(),
                    providers.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")
                ),
            });
        }
        Ok(ApiSettings {
            common: r.common()?,
            state_machine_arn: r.required("STATE_MACHINE_ARN")?,
            default_model,
            providers,
            url_ttl: crate::api::check_url_ttl(r.seconds("URL_TTL_SECS")?)?,
            webhook_queue_url: r.checked_optional("WEBHOOK_QUEUE_URL", url)?,
            limits: r.limits()?,
            openai_webhook_secret_arn: r.checked_optional("OPENAI_WEBHOOK_SECRET_ARN", text)?,
            fal_jwks_url: r.checked("FAL_JWKS_URL", url)?,
            metrics_emf: r.checked("VIDGEN_METRICS_EMF", switch)?,
            events_url: r.checked_optional("VIDGEN_EVENTS_URL", events_url)?,
        })
    }

    pub fn from_env() -> Result<ApiSettings, ConfigError> {
        ApiSettings::from_lookup(&process_env)
    }
}

/// A step function's settings: only what that step uses.
#[derive(Debug, Clone)]
pub struct StepSettings {
    pub function: StepFunction,
    pub common: Common,
    /// `OPENAI_SECRET_ARN`: `None` when this deployment has no OpenAI key.
    pub openai_secret_arn: Option<String>,
    /// `OPENAI_BASE_URL`.
    pub openai_base_url: String,
    /// `RUNWAYML_SECRET_ARN`: `None` when this deployment has no Runway key.
    pub runway_secret_arn: Option<String>,
    /// `RUNWAYML_BASE_URL`.
    pub runway_base_url: String,
    /// `FAL_SECRET_ARN`: `None` when this deployment has no fal key.
    pub fal_secret_arn: Option<String>,
    /// `FAL_QUEUE_URL`.
    pub fal_queue_url: String,
    /// `OPENAI_WEBHOOKS` (submit only): the OpenAI adapter reports that it pushes.
    pub openai_webhooks: bool,
    /// The `VIDGEN_*` budgets and pace this step reads; the rest keep their defaults.
    /// `callbacks` is `None` here: wiring fills it from the webhook secret.
    pub workflow: WorkflowConfig,
    /// `WEBHOOK_QUEUE_URL`, read by the steps that end jobs (check-status records
    /// failures, download-to-s3 completes); never by submit.
    pub webhook_queue_url: Option<String>,
    /// `VIDGEN_METRICS_EMF`, read by the same steps (the ones that end jobs).
    pub metrics_emf: bool,
}

impl StepSettings {
    pub fn from_lookup(
        function: StepFunction,
        lookup: Lookup,
    ) -> Result<StepSettings, ConfigError> {
        let r = Reader { lookup };
        let mut workflow = WorkflowConfig::default();
        if function == StepFunction::Submit {
            workflow.budget_standard = r.seconds("VIDGEN_BUDGET_SORA2_SECS")?;
            workflow.budget_slow = r.seconds("VIDGEN_BUDGET_SORA2_PRO_SECS")?;
        }
        if function == StepFunction::CheckStatus {
            workflow.max_polls = r.parsed("VIDGEN_MAX_POLLS")?;
        }
        let mut openai_webhooks = false;
        if function == StepFunction::Submit {
            // Only submit decides between waiting for a webhook and polling.
            workflow.public_url = r.checked_optional("VIDGEN_PUBLIC_URL", |name, raw| {
                public_url(name, raw, false)
            })?;
            openai_webhooks = r.checked("OPENAI_WEBHOOKS", switch)?;
        }
        if matches!(function, StepFunction::Submit | StepFunction::CheckStatus) {
            workflow.min_wait = r.seconds("VIDGEN_MIN_WAIT_SECS")?;
            workflow.max_wait = r.seconds("VIDGEN_MAX_WAIT_SECS")?;
        }
        let (webhook_queue_url, metrics_emf) = match function {
            StepFunction::Submit => (None, false),
            StepFunction::CheckStatus | StepFunction::Download => (
                r.checked_optional("WEBHOOK_QUEUE_URL", url)?,
                r.checked("VIDGEN_METRICS_EMF", switch)?,
            ),
        };
        Ok(StepSettings {
            function,
            common: r.common()?,
            openai_secret_arn: r.checked_optional("OPENAI_SECRET_ARN", text)?,
            openai_base_url: r.checked("OPENAI_BASE_URL", url)?,
            runway_secret_arn: r.checked_optional("RUNWAYML_SECRET_ARN", text)?,
            runway_base_url: r.checked("RUNWAYML_BASE_URL", url)?,
            fal_secret_arn: r.checked_optional("FAL_SECRET_ARN", text)?,
            fal_queue_url: r.checked("FAL_QUEUE_URL", url)?,
            openai_webhooks,
            workflow,
            webhook_queue_url,
            metrics_emf,
        })
    }

    pub fn from_env(function: StepFunction) -> Result<StepSettings, ConfigError> {
        StepSettings::from_lookup(function, &process_env)
    }
}

/// The sweeper's settings (`workflow::sweep`): the records, the engine, webhooks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweeperSettings {
    pub common: Common,
    /// `STATE_MACHINE_ARN`: the executions it asks about.
    pub state_machine_arn: String,
    /// `WEBHOOK_QUEUE_URL`: a job it ends tells its callback.
    pub webhook_queue_url: Option<String>,
    /// `VIDGEN_METRICS_EMF`: a job it ends prints its metric line.
    pub metrics_emf: bool,
}

impl SweeperSettings {
    pub fn from_lookup(lookup: Lookup) -> Result<SweeperSettings, ConfigError> {
        let r = Reader { lookup };
        Ok(SweeperSettings {
            common: r.common()?,
            state_machine_arn: r.required("STATE_MACHINE_ARN")?,
            webhook_queue_url: r.checked_optional("WEBHOOK_QUEUE_URL", url)?,
            metrics_emf: r.checked("VIDGEN_METRICS_EMF", switch)?,
        })
    }

    pub fn from_env() -> Result<SweeperSettings, ConfigError> {
        SweeperSettings::from_lookup(&process_env)
    }
}

/// The webhook-sender function's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderSettings {
    /// `WEBHOOK_SECRET_ARN`: only this function may read the signing secret.
    pub webhook_secret_arn: String,
    /// `RUST_LOG`.
    pub log_filter: String,
    /// `SSL_CERT_FILE`.
    pub cert_file: Option<std::path::PathBuf>,
}

impl SenderSettings {
    pub fn from_lookup(lookup: Lookup) -> Result<SenderSettings, ConfigError> {
        let r = Reader { lookup };
        Ok(SenderSettings {
            webhook_secret_arn: r.required("WEBHOOK_SECRET_ARN")?,
            log_filter: r.checked("RUST_LOG", log_filter)?,
            cert_file: r.cert_file()?,
        })
    }

    pub fn from_env() -> Result<SenderSettings, ConfigError> {
        SenderSettings::from_lookup(&process_env)
    }
}

/// The `$connect` authorizer's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizerSettings {
    /// `JWT_ISSUER`.
    pub issuer: String,
    /// `JWT_AUDIENCE`, split on commas, trimmed, blanks dropped.
    pub audiences: Vec<String>,
    /// `RUST_LOG`.
    pub log_filter: String,
    /// `SSL_CERT_FILE`.
    pub cert_file: Option<std::path::PathBuf>,
}

impl AuthorizerSettings {
    pub fn from_lookup(lookup: Lookup) -> Result<AuthorizerSettings, ConfigError> {
        let r = Reader { lookup };
        let issuer = url("JWT_ISSUER", &r.required("JWT_ISSUER")?)?;
        let raw = r.required("JWT_AUDIENCE")?;
        let audiences: Vec<String> = raw
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(String::from)
            .collect();
        if audiences.is_empty() {
            return Err(invalid("JWT_AUDIENCE", &raw, "names no audience"));
        }
        Ok(AuthorizerSettings {
            issuer,
            audiences,
            log_filter: r.checked("RUST_LOG", log_filter)?,
            cert_file: r.cert_file()?,
        })
    }

    pub fn from_env() -> Result<AuthorizerSettings, ConfigError> {
        AuthorizerSettings::from_lookup(&process_env)
    }
}

/// The WebSocket routes' settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsEventsSettings {
    /// `CONNECTIONS_TABLE`.
    pub connections_table: String,
    /// `RUST_LOG`.
    pub log_filter: String,
    /// `SSL_CERT_FILE`.
    pub cert_file: Option<std::path::PathBuf>,
}

impl WsEventsSettings {
    pub fn from_lookup(lookup: Lookup) -> Result<WsEventsSettings, ConfigError> {
        let r = Reader { lookup };
        Ok(WsEventsSettings {
            connections_table: r.required("CONNECTIONS_TABLE")?,
            log_filter: r.checked("RUST_LOG", log_filter)?,
            cert_file: r.cert_file()?,
        })
    }

    pub fn from_env() -> Result<WsEventsSettings, ConfigError> {
        WsEventsSettings::from_lookup(&process_env)
    }
}

/// The notifier's settings: the connections, and what the job object's links need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifierSettings {
    pub common: Common,
    /// `CONNECTIONS_TABLE`.
    pub connections_table: String,
    /// `URL_TTL_SECS`: the links in a frame live as long as the api's.
    pub url_ttl: Duration,
}

impl NotifierSettings {
    pub fn from_lookup(lookup: Lookup) -> Result<NotifierSettings, ConfigError> {
        let r = Reader { lookup };
        Ok(NotifierSettings {
            common: r.common()?,
            connections_table: r.required("CONNECTIONS_TABLE")?,
            url_ttl: crate::api::check_url_ttl(r.seconds("URL_TTL_SECS")?)?,
        })
    }

    pub fn from_env() -> Result<NotifierSettings, ConfigError> {
        NotifierSettings::from_lookup(&process_env)
    }
}

/// Test support: the rows of the README table under `heading`, cells of each
/// `| `…` | … |` line. The README's configuration tables are checked against
/// [`VARIABLES`] (and `vidgen serve`'s own table) with it.
#[doc(hidden)]
pub fn readme_table_rows(readme: &str, heading: &str) -> Vec<Vec<String>> {
    let section = readme
        .split_once(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("README has no {heading:?}"))
        .1;
    let section = section.split("\n#").next().unwrap_or_default();
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            l.trim()
                .trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests;
