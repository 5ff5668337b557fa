//! Building the Lambdas' dependencies from their settings, once, at init.
//!
//! [`api_deps`] and [`step_deps`] are pure functions of the settings and the SDK clients
//! (tests call them with settings made from a map and clients of local servers); the
//! `*_from_env` wrappers are what the Lambda mains call. Which variables each function
//! reads is [`crate::settings::VARIABLES`].

use crate::api::ValidationPolicy;
use crate::api::{ApiConfig, ApiDeps};
use crate::aws;
use crate::callback::{CallbackSender, DeliveryQueue, SqsDeliveries, WebhookSigner};
use crate::config::{ConfigError, Secret};
use crate::domain::ProviderId;
use crate::engine::sfn::StepFunctionsEngine;
use crate::events::connections::DynamoConnections;
use crate::events::jwt::{JwksPolicy, JwtVerifier};
use crate::events::notifier::{ManagementApiPoster, NotifierDeps};
use crate::provider::fal::{FalProvider, FalQueueConfig};
use crate::provider::openai::{OpenAiConfig, OpenAiProvider};
use crate::provider::runway::{RunwayConfig, RunwayProvider};
use crate::provider::Providers;
use crate::settings::{
    ApiSettings, AuthorizerSettings, Common, NotifierSettings, SenderSettings, StepSettings,
    SweeperSettings, WsEventsSettings,
};
use crate::store::dynamo::DynamoJobStore;
use crate::store::s3::S3ObjectStore;
use crate::telemetry::{self, LogFormat};
use crate::webhooks_in::openai::OpenAiWebhookSecret;
use crate::webhooks_in::receiver::ProviderWebhooks;
use crate::webhooks_in::WebhookConfig;
use crate::workflow::sweep::SweepDeps;
use crate::workflow::{StepDeps, StepFunction};
use aws_config::SdkConfig;
use std::path::Path;
use std::sync::Arc;

/// The SDK clients the functions use. Making them opens no connection.
#[derive(Debug, Clone)]
pub struct AwsClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
    pub sfn: aws_sdk_sfn::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub sqs: aws_sdk_sqs::Client,
}

impl AwsClients {
    /// `s3_force_path_style` from the settings ([`Common::s3_force_path_style`]).
    pub fn new(sdk: &SdkConfig, s3_force_path_style: bool) -> AwsClients {
        AwsClients {
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            s3: aws::s3_client(sdk, s3_force_path_style),
            sfn: aws_sdk_sfn::Client::new(sdk),
            secrets: aws_sdk_secretsmanager::Client::new(sdk),
            sqs: aws_sdk_sqs::Client::new(sdk),
        }
    }
}

fn stores(common: &Common, clients: &AwsClients) -> (Arc<DynamoJobStore>, Arc<S3ObjectStore>) {
    let jobs = DynamoJobStore::new(clients.dynamodb.clone(), &common.table);
    let objects = S3ObjectStore::new(clients.s3.clone(), &common.bucket);
    (Arc::new(jobs), Arc::new(objects))
}

/// The webhook queue, when the function was given one. Producers only queue: the
/// signing secret is the sender's alone.
fn callbacks(queue_url: Option<&str>, clients: &AwsClients) -> Option<Arc<dyn DeliveryQueue>> {
    queue_url
        .map(|url| Arc::new(SqsDeliveries::new(clients.sqs.clone(), url)) as Arc<dyn DeliveryQueue>)
}

/// The webhook-sender function's signer: the signing secret, read at init with the
/// sender's own permissions (the IAM tests call this with the sender's keys).
pub async fn webhook_signer(
    settings: &SenderSettings,
    clients: &AwsClients,
) -> Result<WebhookSigner, ConfigError> {
    let secret = aws::secret_string(
        &clients.secrets,
        &settings.webhook_secret_arn,
        "WEBHOOK_SECRET",
    )
    .await?;
    WebhookSigner::new(&secret)
}

/// The webhook-sender function's sender: [`webhook_signer`]; in AWS, callbacks never
/// reach private or loopback addresses.
pub async fn sender(
    settings: &SenderSettings,
    clients: &AwsClients,
) -> Result<CallbackSender, ConfigError> {
    Ok(CallbackSender::new(
        webhook_signer(settings, clients).await?,
        false,
    ))
}

/// The webhook-sender Lambda's init: settings, logging, then [`sender`].
pub async fn sender_from_env() -> Result<CallbackSender, ConfigError> {
    let result = async {
        let settings = SenderSettings::from_env()?;
        let sdk = logging_and_sdk(&settings.log_filter, settings.cert_file.as_deref()).await?;
        let clients = AwsClients::new(&sdk, false);
        sender(&settings, &clients).await
    }
    .await;
    started(result, "webhook-sender")
}

/// The api function's dependencies.
pub async fn api_deps(
    settings: &ApiSettings,
    clients: &AwsClients,
) -> Result<ApiDeps, ConfigError> {
    let (jobs, objects) = stores(&settings.common, clients);
    let engine = StepFunctionsEngine::new(clients.sfn.clone(), &settings.state_machine_arn);
    let config = ApiConfig {
        policy: ValidationPolicy {
            default_model: settings.default_model,
            available: settings.providers.clone(),
            allow_private_callbacks: false,
        },
        url_ttl: settings.url_ttl,
        limits: settings.limits,
        callbacks: callbacks(settings.webhook_queue_url.as_deref(), clients),
        events_url: settings.events_url.clone(),
        ..ApiConfig::default()
    };
    Ok(ApiDeps {
        jobs,
        objects,
        engine: Arc::new(engine),
        config,
        webhooks: Arc::new(
            ProviderWebhooks::from_config(&webhook_config(settings, clients).await?).map_err(
                |e| ConfigError {
                    var: "FAL_JWKS_URL".into(),
                    message: e.to_string(),
                },
            )?,
        ),
    })
}

/// What the webhook route verifies with: OpenAI's endpoint secret (read at init with
/// the api's own permission on it) and fal's JWKS URL.
pub async fn webhook_config(
    settings: &ApiSettings,
    clients: &AwsClients,
) -> Result<WebhookConfig, ConfigError> {
    let openai_secret = match &settings.openai_webhook_secret_arn {
        Some(arn) => {
            let secret = aws::secret_string(&clients.secrets, arn, "OPENAI_WEBHOOK_SECRET").await?;
            Some(
                OpenAiWebhookSecret::parse(secret.expose()).map_err(|e| ConfigError {
                    var: "OPENAI_WEBHOOK_SECRET_ARN".into(),
                    message: e.to_string(),
                })?,
            )
        }
        None => None,
    };
    Ok(WebhookConfig {
        openai_secret,
        fal_jwks_url: settings.fal_jwks_url.clone(),
    })
}

/// A provider's key from its secret, when the function was given one.
async fn provider_key(
    clients: &AwsClients,
    arn: Option<&str>,
    field: &str,
) -> Result<Option<Secret>, ConfigError> {
    match arn {
        Some(arn) => aws::secret_string(&clients.secrets, arn, field)
            .await
            .map(Some),
        None => Ok(None),
    }
}

/// A step function's dependencies; reads only the secrets that step was given.
pub async fn step_deps(
    settings: &StepSettings,
    clients: &AwsClients,
) -> Result<StepDeps, ConfigError> {
    let (jobs, objects) = stores(&settings.common, clients);
    // The keys are read at once: each is a Secrets Manager round trip, all on the
    // cold start's path.
    let (openai_key, runway_key, fal_key) = tokio::try_join!(
        provider_key(
            clients,
            settings.openai_secret_arn.as_deref(),
            "OPENAI_API_KEY"
        ),
        provider_key(
            clients,
            settings.runway_secret_arn.as_deref(),
            "RUNWAYML_API_SECRET"
        ),
        provider_key(clients, settings.fal_secret_arn.as_deref(), "FAL_KEY"),
    )?;
    let mut providers = Providers::new();
    if let Some(key) = openai_key {
        let config = OpenAiConfig::new(&settings.openai_base_url, key)
            .with_webhooks(settings.openai_webhooks);
        let openai = OpenAiProvider::new(config).map_err(|e| ConfigError {
            var: "OPENAI_BASE_URL".into(),
            message: e.to_string(),
        })?;
        providers = providers.with(ProviderId::OpenAi, Arc::new(openai));
    }
    if let Some(key) = runway_key {
        let runway = RunwayProvider::new(RunwayConfig::new(&settings.runway_base_url, key))
            .map_err(|e| ConfigError {
                var: "RUNWAYML_BASE_URL".into(),
                message: e.to_string(),
            })?;
        providers = providers.with(ProviderId::Runway, Arc::new(runway));
    }
    if let Some(key) = fal_key {
        let fal =
            FalProvider::new(FalQueueConfig::new(&settings.fal_queue_url, key)).map_err(|e| {
                ConfigError {
                    var: "FAL_QUEUE_URL".into(),
                    message: e.to_string(),
                }
            })?;
        providers = providers.with(ProviderId::Fal, Arc::new(fal));
    }
    let mut config = settings.workflow.clone();
    config.callbacks = callbacks(settings.webhook_queue_url.as_deref(), clients);
    Ok(StepDeps {
        jobs,
        objects,
        providers,
        config,
    })
}

/// The sweeper's dependencies: the records, the state machine, webhooks.
pub async fn sweep_deps(
    settings: &SweeperSettings,
    clients: &AwsClients,
) -> Result<SweepDeps, ConfigError> {
    let (jobs, _objects) = stores(&settings.common, clients);
    let engine = StepFunctionsEngine::new(clients.sfn.clone(), &settings.state_machine_arn);
    Ok(SweepDeps {
        jobs,
        engine: Arc::new(engine),
        callbacks: callbacks(settings.webhook_queue_url.as_deref(), clients),
    })
}

/// The `$connect` authorizer's verifier: the issuer and audiences of the HTTP API's JWT
/// authorizer; keys are fetched on first use.
pub fn jwt_verifier(settings: &AuthorizerSettings) -> Result<JwtVerifier, ConfigError> {
    JwtVerifier::new(
        &settings.issuer,
        settings.audiences.clone(),
        JwksPolicy::default(),
    )
    .map_err(|message| ConfigError {
        var: "JWT_ISSUER".into(),
        message,
    })
}

/// The WebSocket routes' connection store.
pub fn ws_connections(settings: &WsEventsSettings, clients: &AwsClients) -> DynamoConnections {
    DynamoConnections::new(clients.dynamodb.clone(), &settings.connections_table)
}

/// The notifier's dependencies: the connections, the Management API poster, and the
/// api's own stores and link lifetime, so a frame's job object is the api's.
/// `sdk` builds the poster's per-stage clients.
pub fn notifier_deps(
    settings: &NotifierSettings,
    clients: &AwsClients,
    sdk: &SdkConfig,
) -> NotifierDeps {
    let (_, objects) = stores(&settings.common, clients);
    NotifierDeps {
        connections: Arc::new(DynamoConnections::new(
            clients.dynamodb.clone(),
            &settings.connections_table,
        )),
        poster: Arc::new(ManagementApiPoster::new(sdk.clone())),
        objects,
        url_ttl: settings.url_ttl,
    }
}

/// The authorizer Lambda's init.
pub fn jwt_verifier_from_env() -> Result<JwtVerifier, ConfigError> {
    let result = AuthorizerSettings::from_env().and_then(|settings| {
        logging_and_tls(&settings.log_filter, settings.cert_file.as_deref())?;
        jwt_verifier(&settings)
    });
    started(result, "ws-authorizer")
}

/// The WebSocket routes Lambda's init.
pub async fn ws_connections_from_env() -> Result<DynamoConnections, ConfigError> {
    let result = async {
        let settings = WsEventsSettings::from_env()?;
        let sdk = logging_and_sdk(&settings.log_filter, settings.cert_file.as_deref()).await?;
        Ok(ws_connections(&settings, &AwsClients::new(&sdk, false)))
    }
    .await;
    started(result, "ws-events")
}

/// The notifier Lambda's init.
pub async fn notifier_deps_from_env() -> Result<NotifierDeps, ConfigError> {
    let result = async {
        let settings = NotifierSettings::from_env()?;
        let common = &settings.common;
        let sdk = logging_and_sdk(&common.log_filter, common.cert_file.as_deref()).await?;
        let clients = AwsClients::new(&sdk, common.s3_force_path_style);
        Ok(notifier_deps(&settings, &clients, &sdk))
    }
    .await;
    started(result, "ws-notifier")
}

/// Log a misconfiguration, with the variable's name, before the runtime stops. When the
/// settings themselves were bad, logging is not up yet: it starts at `info` here (if it
/// is already up, this `init` is a no-op). A good start does no extra work.
fn started<T>(result: Result<T, ConfigError>, function: &str) -> Result<T, ConfigError> {
    if let Err(e) = &result {
        telemetry::init(LogFormat::Json, "info");
        tracing::error!(error = %e, function, "cannot start: misconfigured");
    }
    result
}

/// What every function's init does first once its settings are read: JSON logs at the
/// configured level (`RUST_LOG`), then the process's TLS trust (`SSL_CERT_FILE`).
fn logging_and_tls(log_filter: &str, cert_file: Option<&Path>) -> Result<(), ConfigError> {
    telemetry::init(LogFormat::Json, log_filter);
    crate::tls::init(cert_file).map(|_| ())
}

/// [`logging_and_tls`], then the SDK's settings.
async fn logging_and_sdk(
    log_filter: &str,
    cert_file: Option<&Path>,
) -> Result<SdkConfig, ConfigError> {
    logging_and_tls(log_filter, cert_file)?;
    aws::sdk_config().await
}

/// [`logging_and_sdk`] for the functions that read [`Common`], then the SDK clients.
async fn logging_and_clients(common: &Common) -> Result<AwsClients, ConfigError> {
    let sdk = logging_and_sdk(&common.log_filter, common.cert_file.as_deref()).await?;
    Ok(AwsClients::new(&sdk, common.s3_force_path_style))
}

/// The api Lambda's init: settings from the environment, logging, then [`api_deps`].
pub async fn api_deps_from_env() -> Result<ApiDeps, ConfigError> {
    let result = async {
        let settings = ApiSettings::from_env()?;
        let clients = logging_and_clients(&settings.common).await?;
        telemetry::emit_emf(settings.metrics_emf);
        api_deps(&settings, &clients).await
    }
    .await;
    started(result, "api")
}

/// A step Lambda's init: that step's settings, logging, then [`step_deps`].
pub async fn step_deps_from_env(function: StepFunction) -> Result<StepDeps, ConfigError> {
    let result = async {
        let settings = StepSettings::from_env(function)?;
        let clients = logging_and_clients(&settings.common).await?;
        telemetry::emit_emf(settings.metrics_emf);
        step_deps(&settings, &clients).await
    }
    .await;
    started(result, function.name())
}

/// The sweeper Lambda's init: its settings, logging, then [`sweep_deps`].
pub async fn sweep_deps_from_env() -> Result<SweepDeps, ConfigError> {
    let result = async {
        let settings = SweeperSettings::from_env()?;
        let clients = logging_and_clients(&settings.common).await?;
        telemetry::emit_emf(settings.metrics_emf);
        sweep_deps(&settings, &clients).await
    }
    .await;
    started(result, "sweeper")
}
