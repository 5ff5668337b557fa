//! Everything `vidgen serve` runs, wired together: stores, provider, engine, server.

use crate::deployment::Deployment;
use crate::engine::LocalEngine;
use crate::server::{self, AppState};
use anyhow::Context;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use sora_sim::fal::{FalConfig as FalSimConfig, FalSimulator};
use sora_sim::runway::{RunwayConfig as RunwaySimConfig, RunwaySimulator};
use sora_sim::{SimConfig, Simulator, WebhookEndpoint};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::info;
use vidgen_shared::api::ValidationPolicy;
use vidgen_shared::api::{ApiConfig, ApiDeps};
use vidgen_shared::callback::{BackgroundDeliveries, CallbackSender, WebhookSigner};
use vidgen_shared::config::Secret;
use vidgen_shared::domain::ProviderId;
use vidgen_shared::events::feed::{JobFeed, NotifyingJobStore};
use vidgen_shared::provider::fal::{FalProvider, FalQueueConfig};
use vidgen_shared::provider::openai::{OpenAiConfig, OpenAiProvider};
use vidgen_shared::provider::runway::{RunwayConfig, RunwayProvider};
use vidgen_shared::provider::{Providers, VideoProvider};
use vidgen_shared::store::dynamo::DynamoJobStore;
use vidgen_shared::store::embedded::EmbeddedJobStore;
use vidgen_shared::store::local_files::LocalObjectStore;
use vidgen_shared::store::s3::S3ObjectStore;
use vidgen_shared::store::{JobStore, ObjectStore};
use vidgen_shared::webhooks_in::openai::OpenAiWebhookSecret;
use vidgen_shared::webhooks_in::receiver::ProviderWebhooks;
use vidgen_shared::webhooks_in::WebhookConfig;
use vidgen_shared::workflow::sweep::{sweep, SweepDeps, SweepReport};
use vidgen_shared::workflow::{StepDeps, WorkflowConfig};

/// OpenAI's webhooks for this run: the secret the route verifies with (`None`: OpenAI
/// jobs poll) and, for the simulator, the endpoint it pushes to.
struct OpenAiWebhooks {
    secret: Option<Secret>,
    simulator: Option<WebhookEndpoint>,
}

/// The path of the webhook route, after the public URL.
pub const OPENAI_WEBHOOK_PATH: &str = "/v1/provider-webhooks/openai";

/// A live OpenAI pushes when `OPENAI_WEBHOOK_SECRET` is set (its dashboard endpoint is
/// the user's business). The simulator is configured like a dashboard: when the stack
/// has a public URL, it pushes there, signed with `OPENAI_WEBHOOK_SECRET` or a secret
/// made for this run; without a public URL nothing could reach us, so it pushes nothing.
fn openai_webhooks(config: &StackConfig, public_url: Option<&str>) -> OpenAiWebhooks {
    match (&config.provider, public_url) {
        (ProviderChoice::OpenAi { .. }, _) | (ProviderChoice::Simulator(_), None) => {
            OpenAiWebhooks {
                secret: config.openai_webhook_secret.clone(),
                simulator: None,
            }
        }
        (ProviderChoice::Simulator(_), Some(public_url)) => {
            let secret = config.openai_webhook_secret.clone().unwrap_or_else(|| {
                Secret::new(format!(
                    "whsec_{}",
                    BASE64.encode(rand::random::<[u8; 32]>())
                ))
            });
            OpenAiWebhooks {
                simulator: Some(WebhookEndpoint {
                    url: format!("{public_url}{OPENAI_WEBHOOK_PATH}"),
                    secret: secret.expose().to_string(),
                }),
                secret: Some(secret),
            }
        }
    }
}

/// How often `vidgen serve` sweeps for stuck jobs (the template's schedule in AWS).
const SWEEP_EVERY: Duration = Duration::from_secs(10 * 60);

/// Which provider the stack talks to.
// Built once per stack; boxing the simulator's config would only add noise at every use.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum ProviderChoice {
    /// The real API (or any compatible one) at this base URL.
    OpenAi { base_url: String, api_key: Secret },
    /// The built-in simulator, started on 127.0.0.1, reached over HTTP by the same client.
    Simulator(SimConfig),
}

/// Which Runway the stack talks to.
#[derive(Debug, Clone)]
pub enum RunwayChoice {
    /// Runway's API (or any server speaking it) at this host, with this key.
    Live { base_url: String, api_key: Secret },
    /// The built-in Runway simulator, reached over HTTP by the same client. Polled
    /// at the workflow's own pace: the 5 s floor is Runway's, not the simulator's.
    Simulator(RunwaySimConfig),
}

/// Which fal queue the stack talks to.
#[derive(Debug, Clone)]
pub enum FalChoice {
    /// fal's queue (or any server speaking it) with this key; `jwks_url` publishes the
    /// keys its webhooks are signed with.
    Live {
        queue_url: String,
        api_key: Secret,
        jwks_url: String,
    },
    /// The built-in fal simulator, reached over HTTP by the same client.
    Simulator(FalSimConfig),
}

/// Where job records and files live.
#[derive(Debug, Clone, Default)]
pub enum Backend {
    /// redb under the data dir; files under `<data dir>/files`, served by this server
    /// through signed links.
    #[default]
    Embedded,
    /// DynamoDB and S3 (or local servers that speak their protocols), the stores the
    /// Lambdas use; links are S3 presigned URLs. The workflow still runs in-process.
    Aws(AwsBackend),
}

#[derive(Debug, Clone)]
pub struct AwsBackend {
    pub table: String,
    pub bucket: String,
    /// Create the table (as template.yaml declares it) and the bucket when missing:
    /// for local emulators, never needed after `sam deploy`.
    pub create_missing: bool,
    /// Ready clients, or `None` to build them from the environment (`AWS_REGION`,
    /// `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_S3`, credentials…).
    pub clients: Option<(aws_sdk_dynamodb::Client, aws_sdk_s3::Client)>,
    /// For clients built here: S3 goes path-style (an endpoint override is set).
    pub s3_force_path_style: bool,
}

#[derive(Debug, Clone)]
pub struct StackConfig {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    pub backend: Backend,
    pub provider: ProviderChoice,
    pub runway: RunwayChoice,
    pub fal: FalChoice,
    /// `(token, owner)`; empty means single-user (owner `local`).
    pub tokens: Vec<(String, String)>,
    pub time_scale: f64,
    pub workflow: WorkflowConfig,
    pub api: ApiConfig,
    /// Signs `callback_url` deliveries (`whsec_…` or raw); `None` = a secret made once
    /// and kept in the data dir (`webhook-secret`), so receivers can verify locally too.
    pub webhook_secret: Option<Secret>,
    /// `OPENAI_WEBHOOK_SECRET`: the OpenAI project's webhook signing secret. With the
    /// simulator and a public URL (`workflow.public_url`) but no secret, one is made
    /// for the run and the simulator is configured to push to this stack.
    pub openai_webhook_secret: Option<Secret>,
    /// The functions' Lambda settings (timeouts, the execution-ended rule): those of the
    /// compiled-in `template.yaml`; tests shorten timeouts.
    pub deployment: Deployment,
}

impl StackConfig {
    /// Local defaults: the simulator renders in 3 s and the workflow polls every second.
    pub fn local(addr: SocketAddr, data_dir: PathBuf) -> StackConfig {
        StackConfig {
            addr,
            data_dir,
            backend: Backend::Embedded,
            provider: ProviderChoice::Simulator(SimConfig::default()),
            runway: RunwayChoice::Simulator(RunwaySimConfig::default()),
            fal: FalChoice::Simulator(FalSimConfig::default()),
            tokens: Vec::new(),
            time_scale: 1.0,
            workflow: WorkflowConfig {
                min_wait: Duration::from_secs(1),
                max_wait: Duration::from_secs(5),
                ..WorkflowConfig::default()
            },
            api: ApiConfig {
                policy: ValidationPolicy {
                    allow_private_callbacks: true,
                    ..ValidationPolicy::default()
                },
                ..ApiConfig::default()
            },
            webhook_secret: None,
            openai_webhook_secret: None,
            deployment: Deployment::embedded().expect(
                "the compiled-in template.yaml gives the local engine its Lambda settings \
                 (checked by deployment::tests)",
            ),
        }
    }
}

/// `alice:tok1,bob:tok2` → `[(tok1, alice), (tok2, bob)]`. A bad entry is named by
/// its position (1-based, counting every comma-separated entry) and its owner when it
/// has one, never by its text: that may be a token.
pub fn parse_tokens(raw: &str) -> anyhow::Result<Vec<(String, String)>> {
    raw.split(',')
        .enumerate()
        .filter(|(_, p)| !p.trim().is_empty())
        .map(|(i, pair)| match pair.trim().split_once(':') {
            Some((owner, token)) if !owner.is_empty() && !token.is_empty() => {
                Ok((token.to_string(), owner.to_string()))
            }
            Some((owner, _)) if !owner.is_empty() => anyhow::bail!(
                "VIDGEN_LOCAL_TOKENS: entry {} (owner {owner:?}) has no token; entries are owner:token",
                i + 1
            ),
            _ => anyhow::bail!(
                "VIDGEN_LOCAL_TOKENS: entry {} is not owner:token (its text is not shown: it may hold a token)",
                i + 1
            ),
        })
        .collect()
}

type Stores = (
    Arc<dyn JobStore>,
    Arc<dyn ObjectStore>,
    Option<Arc<LocalObjectStore>>,
);

async fn stores(config: &StackConfig, base_url: &str) -> anyhow::Result<Stores> {
    match &config.backend {
        Backend::Embedded => {
            let jobs = EmbeddedJobStore::open(&config.data_dir.join("jobs.redb"))?;
            let files = Arc::new(LocalObjectStore::new(
                config.data_dir.join("files"),
                base_url.to_string(),
                signing_key(&config.data_dir)?,
            ));
            Ok((Arc::new(jobs), files.clone(), Some(files)))
        }
        Backend::Aws(aws) => {
            let (dynamodb, s3) = match &aws.clients {
                Some(clients) => clients.clone(),
                None => {
                    let sdk = vidgen_shared::aws::sdk_config().await?;
                    (
                        aws_sdk_dynamodb::Client::new(&sdk),
                        vidgen_shared::aws::s3_client(&sdk, aws.s3_force_path_style),
                    )
                }
            };
            if aws.create_missing {
                vidgen_shared::store::dynamo::create_table(&dynamodb, &aws.table).await?;
                vidgen_shared::store::s3::create_bucket(&s3, &aws.bucket).await?;
            }
            let jobs = DynamoJobStore::new(dynamodb, &aws.table);
            let objects = S3ObjectStore::new(s3, &aws.bucket);
            Ok((Arc::new(jobs), Arc::new(objects), None))
        }
    }
}

/// A running stack.
pub struct RunningStack {
    pub base_url: String,
    pub engine: LocalEngine,
    pub jobs: Arc<dyn JobStore>,
    pub objects: Arc<dyn ObjectStore>,
    pub simulator: Option<Simulator>,
    pub runway_simulator: Option<RunwaySimulator>,
    pub fal_simulator: Option<FalSimulator>,
    /// What each provider is, for people (`OpenAI: built-in Sora simulator at …`).
    pub provider_name: String,
    /// Where jobs and files are kept, for people.
    pub store_name: String,
    /// Where the webhook signing secret comes from, for people.
    pub webhook_secret_source: String,
    sweep_deps: SweepDeps,
    server: tokio::task::JoinHandle<()>,
    sweeper: tokio::task::JoinHandle<()>,
    /// Stops the server and closes its event connections.
    closing: CancellationToken,
}

impl RunningStack {
    pub async fn start(config: StackConfig) -> anyhow::Result<RunningStack> {
        // Keys (and, for the embedded store, jobs and files) live here.
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating the data dir {}", config.data_dir.display()))?;
        // It holds the link-signing key, the webhook secret and every job: owner only.
        restrict(&config.data_dir, 0o700)?;
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("binding {}", config.addr))?;
        let base_url = format!("http://{}", listener.local_addr()?);

        // Providers push their webhooks to the public URL. Without VIDGEN_PUBLIC_URL,
        // simulators on this machine reach the server itself; a live provider could
        // not, so then every job polls.
        let live_pusher = matches!(config.provider, ProviderChoice::OpenAi { .. })
            || matches!(config.fal, FalChoice::Live { .. });
        let public_url = config
            .workflow
            .public_url
            .clone()
            .or_else(|| (!live_pusher).then(|| base_url.clone()));
        let openai_webhooks = openai_webhooks(&config, public_url.as_deref());
        let pushes = openai_webhooks.secret.is_some();
        let (provider, simulator): (Arc<dyn VideoProvider>, Option<Simulator>) =
            match &config.provider {
                ProviderChoice::OpenAi { base_url, api_key } => {
                    let p = OpenAiProvider::new(
                        OpenAiConfig::new(base_url.clone(), api_key.clone()).with_webhooks(pushes),
                    )?;
                    (Arc::new(p), None)
                }
                ProviderChoice::Simulator(sim_config) => {
                    let key = hex::encode(rand::random::<[u8; 16]>());
                    let sim = Simulator::start(
                        "127.0.0.1:0".parse()?,
                        SimConfig {
                            api_key: Some(key.clone()),
                            webhook: openai_webhooks.simulator.clone(),
                            ..sim_config.clone()
                        },
                    )
                    .await?;
                    let p = OpenAiProvider::new(
                        OpenAiConfig::new(sim.base_url(), Secret::new(key)).with_webhooks(pushes),
                    )?;
                    (Arc::new(p), Some(sim))
                }
            };
        let openai_secret = match &openai_webhooks.secret {
            Some(s) => Some(
                OpenAiWebhookSecret::parse(s.expose())
                    .context("OPENAI_WEBHOOK_SECRET is not a usable webhook secret")?,
            ),
            None => None,
        };
        let (runway, runway_simulator): (Arc<dyn VideoProvider>, Option<RunwaySimulator>) =
            match &config.runway {
                RunwayChoice::Live { base_url, api_key } => {
                    let p =
                        RunwayProvider::new(RunwayConfig::new(base_url.clone(), api_key.clone()))?;
                    (Arc::new(p), None)
                }
                RunwayChoice::Simulator(sim_config) => {
                    let key = hex::encode(rand::random::<[u8; 16]>());
                    let sim = RunwaySimulator::start(
                        "127.0.0.1:0".parse()?,
                        RunwaySimConfig {
                            api_key: Some(key.clone()),
                            ..sim_config.clone()
                        },
                    )
                    .await?;
                    let p = RunwayProvider::new(RunwayConfig {
                        min_poll_interval: Duration::ZERO,
                        ..RunwayConfig::new(sim.base_url(), Secret::new(key))
                    })?;
                    (Arc::new(p), Some(sim))
                }
            };
        let (fal, fal_simulator): (Arc<dyn VideoProvider>, Option<FalSimulator>) = match &config.fal
        {
            FalChoice::Live {
                queue_url, api_key, ..
            } => {
                let p = FalProvider::new(FalQueueConfig::new(queue_url.clone(), api_key.clone()))?;
                (Arc::new(p), None)
            }
            FalChoice::Simulator(sim_config) => {
                let key = hex::encode(rand::random::<[u8; 16]>());
                let sim = FalSimulator::start(
                    "127.0.0.1:0".parse()?,
                    FalSimConfig {
                        api_key: Some(key.clone()),
                        ..sim_config.clone()
                    },
                )
                .await?;
                let p = FalProvider::new(FalQueueConfig {
                    min_poll_interval: Duration::ZERO,
                    ..FalQueueConfig::new(sim.queue_url(), Secret::new(key))
                })?;
                (Arc::new(p), Some(sim))
            }
        };
        let fal_jwks = match (&config.fal, &fal_simulator) {
            (FalChoice::Live { jwks_url, .. }, _) => jwks_url.clone(),
            (_, Some(sim)) => sim.jwks_url(),
            // A simulator choice always starts one.
            (FalChoice::Simulator(_), None) => vidgen_shared::config::DEFAULT_FAL_JWKS_URL.into(),
        };
        let webhooks = ProviderWebhooks::from_config(&WebhookConfig {
            openai_secret,
            fal_jwks_url: fal_jwks,
        })
        .context("FAL_JWKS_URL")?;
        let (jobs, objects, files) = stores(&config, &base_url).await?;
        // Every writer shares this store, so wrapping it sees every change to a job:
        // the feed `/v1/events` reads (in AWS, the table's stream).
        let feed = Arc::new(JobFeed::default());
        let jobs: Arc<dyn JobStore> = Arc::new(NotifyingJobStore::new(jobs, feed.clone()));
        let (sender, webhook_secret_source) = callbacks(&config)?;
        // Deliveries leave the request and the step: a background task sends them.
        let callbacks = BackgroundDeliveries::start(sender);
        let step_deps = StepDeps {
            jobs: jobs.clone(),
            objects: objects.clone(),
            providers: Providers::new()
                .with(ProviderId::OpenAi, provider)
                .with(ProviderId::Runway, runway)
                .with(ProviderId::Fal, fal),
            config: WorkflowConfig {
                callbacks: Some(callbacks.clone()),
                public_url,
                ..config.workflow.clone()
            },
        };
        let engine = LocalEngine::new(
            crate::engine::DEFINITION,
            config.deployment.clone(),
            step_deps,
            config.time_scale,
        )?;
        let sweep_deps = SweepDeps {
            jobs: jobs.clone(),
            engine: Arc::new(engine.clone()),
            callbacks: Some(callbacks.clone()),
        };
        let api = ApiDeps {
            jobs: jobs.clone(),
            objects: objects.clone(),
            engine: Arc::new(engine.clone()),
            config: ApiConfig {
                callbacks: Some(callbacks),
                ..config.api.clone()
            },
            webhooks: Arc::new(webhooks),
        };
        let closing = CancellationToken::new();
        let state = AppState::new(api, files, config.tokens.clone(), feed, closing.clone());
        let server = tokio::spawn(server::serve(
            listener,
            state,
            closing.clone().cancelled_owned(),
        ));
        let unfinished: Vec<_> = jobs.unfinished().await?.into_iter().map(|j| j.id).collect();
        engine.resume(&unfinished).await;
        // After the resume, so a job whose execution is missing really has none.
        let sweeper = tokio::spawn(sweep_every(sweep_deps.clone(), SWEEP_EVERY));
        let openai_name = match (&config.provider, &simulator) {
            (ProviderChoice::OpenAi { base_url, .. }, _) => {
                format!("OpenAI-compatible API at {base_url}")
            }
            (_, Some(sim)) => format!("built-in Sora simulator at {}", sim.base_url()),
            _ => "unknown".into(),
        };
        let runway_name = match (&config.runway, &runway_simulator) {
            (RunwayChoice::Live { base_url, .. }, _) => format!("Runway API at {base_url}"),
            (_, Some(sim)) => format!(
                "built-in Runway simulator at {} (RUNWAYML_API_SECRET is unset)",
                sim.base_url()
            ),
            _ => "unknown".into(),
        };
        let fal_name = match (&config.fal, &fal_simulator) {
            (FalChoice::Live { queue_url, .. }, _) => format!("fal queue at {queue_url}"),
            (_, Some(sim)) => format!(
                "built-in fal simulator at {} (FAL_KEY is unset)",
                sim.queue_url()
            ),
            _ => "unknown".into(),
        };
        let provider_name =
            format!("openai: {openai_name}; runway: {runway_name}; fal: {fal_name}");
        let store_name = match &config.backend {
            Backend::Embedded => format!("embedded, in {}", config.data_dir.display()),
            Backend::Aws(aws) => {
                format!("DynamoDB table {} and S3 bucket {}", aws.table, aws.bucket)
            }
        };
        info!(api = %base_url, provider = %provider_name, store = %store_name, "vidgen is serving");
        Ok(RunningStack {
            base_url,
            engine,
            jobs,
            objects,
            simulator,
            runway_simulator,
            fal_simulator,
            provider_name,
            store_name,
            webhook_secret_source,
            sweep_deps,
            server,
            sweeper,
            closing,
        })
    }

    /// Run one sweep now (the background task runs one every [`SWEEP_EVERY`]).
    pub async fn sweep(&self) -> anyhow::Result<SweepReport> {
        Ok(sweep(&self.sweep_deps, chrono::Utc::now()).await?)
    }

    /// Stop serving and stop every running execution (they resume on the next start).
    pub async fn shutdown(mut self) {
        self.sweeper.abort();
        self.closing.cancel();
        let _ = (&mut self.server).await;
        self.engine.stop_all().await;
        if let Some(sim) = self.simulator.take() {
            sim.shutdown().await;
        }
        if let Some(sim) = self.runway_simulator.take() {
            sim.shutdown().await;
        }
        if let Some(sim) = self.fal_simulator.take() {
            sim.shutdown().await;
        }
    }

    /// Wait until the server ends (Ctrl-C).
    pub async fn wait(mut self) {
        let _ = (&mut self.server).await;
    }
}

/// The sweeper's schedule: the same [`sweep`] the AWS `sweeper` function runs.
async fn sweep_every(deps: SweepDeps, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.tick().await; // the first tick is immediate; the resume just ran
    loop {
        ticks.tick().await;
        if let Err(e) = sweep(&deps, chrono::Utc::now()).await {
            tracing::warn!(error = %e, "the sweep could not list the jobs");
        }
    }
}

/// Webhooks are always on locally (private and plain-http receivers allowed), signed
/// with the configured secret or one kept in the data dir as text, so receivers can
/// copy it.
fn callbacks(config: &StackConfig) -> anyhow::Result<(CallbackSender, String)> {
    let (secret, source) = match &config.webhook_secret {
        Some(secret) => (secret.clone(), "VIDGEN_WEBHOOK_SECRET".to_string()),
        None => {
            let path = config.data_dir.join("webhook-secret");
            let kept = kept_secret(
                &path,
                |v| v.trim_ascii().starts_with(b"whsec_"),
                || format!("whsec_{}", BASE64.encode(rand::random::<[u8; 32]>())).into_bytes(),
            )?;
            let text = String::from_utf8(kept).context("the webhook secret is not text")?;
            (Secret::new(text.trim()), path.display().to_string())
        }
    };
    let signer = WebhookSigner::new(&secret)?;
    Ok((CallbackSender::new(signer, true), source))
}

/// The key that signs local file links, kept with the data so links handed out
/// survive a restart.
fn signing_key(data_dir: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    kept_secret(
        &data_dir.join("link-signing.key"),
        |v| v.len() >= 32,
        || rand::random::<[u8; 32]>().to_vec(),
    )
}

/// A secret made once and kept in `path`: the existing one when `valid`, else a new
/// one from `make`, written before it is used.
fn kept_secret(
    path: &std::path::Path,
    valid: impl Fn(&[u8]) -> bool,
    make: impl FnOnce() -> Vec<u8>,
) -> anyhow::Result<Vec<u8>> {
    if let Ok(existing) = std::fs::read(path) {
        if valid(&existing) {
            // Made readable by others by an earlier version: tighten it.
            restrict(path, 0o600)?;
            return Ok(existing);
        }
    }
    let secret = make();
    write_private(path, &secret).with_context(|| format!("writing {}", path.display()))?;
    Ok(secret)
}

/// Write `bytes` to `path`, readable and writable by the owner only (on unix).
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    // `mode` applies only when the file is created.
    restrict(path, 0o600).map_err(std::io::Error::other)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Set `path`'s permission bits to `mode` (unix; elsewhere a no-op).
fn restrict(path: &std::path::Path, mode: u32) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("restricting {} to mode {mode:o}", path.display()))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_map_to_owners_and_bad_pairs_are_named() {
        assert_eq!(
            parse_tokens("alice:tok1, bob:tok2,").unwrap(),
            vec![
                ("tok1".to_string(), "alice".to_string()),
                ("tok2".to_string(), "bob".to_string())
            ]
        );
        assert!(parse_tokens("").unwrap().is_empty());
    }

    #[test]
    fn bad_token_entries_are_named_by_position_never_by_their_text() {
        for (raw, position, owner) in [
            ("s3cr3t-token-value", 1, None),
            ("alice:", 1, Some("alice")),
            (":s3cr3t-token-value", 1, None),
            ("alice:tok1,s3cr3t-token-value", 2, None),
            ("alice:tok1, ,bob:", 3, Some("bob")),
        ] {
            let e = parse_tokens(raw).unwrap_err().to_string();
            assert!(e.starts_with("VIDGEN_LOCAL_TOKENS"), "{e}");
            assert!(e.contains(&format!("entry {position}")), "{raw:?}: {e}");
            if let Some(owner) = owner {
                assert!(e.contains(&format!("{owner:?}")), "{raw:?}: {e}");
            }
            assert!(!e.contains("s3cr3t") && !e.contains("tok1"), "{raw:?}: {e}");
        }
    }

    #[tokio::test]
    async fn the_local_sweep_ends_a_job_whose_workflow_never_started() {
        use vidgen_shared::domain::ids::Owner;
        use vidgen_shared::domain::{ErrorCode, Job, Limits, Model, NewJob, Status};
        let root = tempfile::tempdir().unwrap();
        let config = StackConfig::local("127.0.0.1:0".parse().unwrap(), root.path().into());
        let stack = RunningStack::start(config).await.unwrap();
        // A record as the API writes it, left without an execution (the API died before
        // starting it) for longer than the sweeper waits.
        let new = NewJob::new(&Owner::new("alice"), Model::SORA_2, 4, "720x1280", "p");
        let stale = chrono::Utc::now() - chrono::Duration::minutes(30);
        let job = Job::new(new, stale);
        stack
            .jobs
            .create(&job, None, &Limits::UNLIMITED)
            .await
            .unwrap();

        let report = stack.sweep().await.unwrap();

        assert_eq!((report.checked, report.ended), (1, 1));
        let ended = stack.jobs.get(&job.id).await.unwrap().unwrap();
        assert_eq!(ended.status, Status::Failed);
        assert_eq!(ended.error.unwrap().code, ErrorCode::WorkflowStartFailed);
        stack.shutdown().await;
    }

    #[cfg(unix)]
    fn mode(path: &std::path::Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn local_secrets_and_the_database_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let data_dir = root.path().join("data");
        let start_and_stop = || async {
            let config = StackConfig::local("127.0.0.1:0".parse().unwrap(), data_dir.clone());
            RunningStack::start(config).await.unwrap().shutdown().await;
        };
        // First start: everything is created private.
        start_and_stop().await;
        assert_eq!(mode(&data_dir), 0o700);
        for name in ["link-signing.key", "webhook-secret", "jobs.redb"] {
            assert_eq!(mode(&data_dir.join(name)), 0o600, "{name}");
        }
        // Files left world-readable by an earlier version are tightened on start.
        std::fs::set_permissions(&data_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        for name in ["link-signing.key", "webhook-secret", "jobs.redb"] {
            std::fs::set_permissions(data_dir.join(name), std::fs::Permissions::from_mode(0o644))
                .unwrap();
        }
        start_and_stop().await;
        assert_eq!(mode(&data_dir), 0o700);
        for name in ["link-signing.key", "webhook-secret", "jobs.redb"] {
            assert_eq!(mode(&data_dir.join(name)), 0o600, "{name} after restart");
        }
    }

    fn local_config() -> StackConfig {
        StackConfig::local("127.0.0.1:0".parse().unwrap(), PathBuf::from(".unused"))
    }

    #[test]
    fn the_simulator_pushes_openai_webhooks_only_with_a_public_url() {
        // No public URL: nothing could reach us; no secret, no endpoint.
        let hooks = openai_webhooks(&local_config(), None);
        assert!(hooks.secret.is_none() && hooks.simulator.is_none());

        // A public URL: a secret made for the run, the simulator pointed at the route.
        let mut config = local_config();
        let public = Some("http://127.0.0.1:8080");
        let hooks = openai_webhooks(&config, public);
        let endpoint = hooks.simulator.expect("the simulator pushes");
        assert_eq!(
            endpoint.url,
            "http://127.0.0.1:8080/v1/provider-webhooks/openai"
        );
        let secret = hooks.secret.expect("a secret");
        assert_eq!(endpoint.secret, secret.expose());
        assert!(secret.expose().starts_with("whsec_"));
        OpenAiWebhookSecret::parse(secret.expose()).expect("a usable secret");
        // A new one each run.
        let again = openai_webhooks(&config, public).secret.unwrap();
        assert_ne!(again.expose(), secret.expose());

        // A configured secret is the one used.
        config.openai_webhook_secret = Some(Secret::new("whsec_KioqKg=="));
        let hooks = openai_webhooks(&config, public);
        assert_eq!(hooks.simulator.unwrap().secret, "whsec_KioqKg==");
        assert_eq!(hooks.secret.unwrap().expose(), "whsec_KioqKg==");
    }

    #[test]
    fn a_live_openai_pushes_when_its_secret_is_set() {
        let mut config = local_config();
        config.provider = ProviderChoice::OpenAi {
            base_url: "https://api.openai.com/v1".into(),
            api_key: Secret::new("sk-x"),
        };
        let public = Some("https://vidgen.example.com");
        let hooks = openai_webhooks(&config, public);
        assert!(hooks.secret.is_none() && hooks.simulator.is_none());
        config.openai_webhook_secret = Some(Secret::new("whsec_KioqKg=="));
        let hooks = openai_webhooks(&config, public);
        assert_eq!(hooks.secret.unwrap().expose(), "whsec_KioqKg==");
        assert!(
            hooks.simulator.is_none(),
            "the dashboard is the user's business"
        );
    }
}
