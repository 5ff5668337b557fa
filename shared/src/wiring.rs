//! Building the Lambdas' dependencies from the environment, once, at init.
//!
//! | variable | used by | meaning |
//! | --- | --- | --- |
//! | `TABLE_NAME` | all | the DynamoDB table |
//! | `BUCKET_NAME` | all | the S3 bucket |
//! | `STATE_MACHINE_ARN` | api | the workflow |
//! | `SORA_MODEL` | api | default model (`sora-2`) |
//! | `URL_TTL_SECS` | api | presigned GET lifetime (3600, at most 43200) |
//! | `OPENAI_SECRET_ARN` | steps | Secrets Manager secret with the provider key |
//! | `OPENAI_BASE_URL` | steps | provider base URL (the public API) |
//! | `WEBHOOK_SECRET_ARN` | api, steps | optional secret that signs callbacks |
//! | `VIDGEN_BUDGET_*`, `VIDGEN_MAX_POLLS`, `VIDGEN_*_WAIT_SECS` | steps | see `WorkflowConfig::from_env` |

use crate::api::{ApiConfig, ApiDeps};
use crate::aws;
use crate::callback::{CallbackSender, WebhookSigner};
use crate::config::{env, required, seconds, ConfigError};
use crate::domain::validation::ValidationPolicy;
use crate::engine::sfn::StepFunctionsEngine;
use crate::provider::openai::{OpenAiConfig, OpenAiProvider};
use crate::store::dynamo::DynamoJobStore;
use crate::store::s3::S3ObjectStore;
use crate::workflow::{StepDeps, WorkflowConfig};
use aws_config::SdkConfig;
use std::sync::Arc;

fn stores(sdk: &SdkConfig) -> Result<(Arc<DynamoJobStore>, Arc<S3ObjectStore>), ConfigError> {
    let jobs = DynamoJobStore::new(aws_sdk_dynamodb::Client::new(sdk), required("TABLE_NAME")?);
    let objects = S3ObjectStore::new(aws::s3_client(sdk), required("BUCKET_NAME")?);
    Ok((Arc::new(jobs), Arc::new(objects)))
}

async fn callbacks(sdk: &SdkConfig) -> Result<Option<CallbackSender>, ConfigError> {
    match env("WEBHOOK_SECRET_ARN") {
        None => Ok(None),
        Some(arn) => {
            let secret = aws::secret_string(sdk, &arn, "WEBHOOK_SECRET").await?;
            // In AWS, callbacks never reach private or loopback addresses.
            Ok(Some(CallbackSender::new(
                WebhookSigner::new(&secret)?,
                false,
            )))
        }
    }
}

pub async fn api_deps_from_env() -> Result<ApiDeps, ConfigError> {
    let sdk = aws::sdk_config().await;
    let (jobs, objects) = stores(&sdk)?;
    let engine = StepFunctionsEngine::new(
        aws_sdk_sfn::Client::new(&sdk),
        required("STATE_MACHINE_ARN")?,
    );
    let config = ApiConfig {
        policy: ValidationPolicy {
            default_model: crate::config::default_model()?,
            allow_private_callbacks: false,
        },
        url_ttl: crate::api::check_url_ttl(seconds("URL_TTL_SECS", 3600)?)?,
        callbacks: callbacks(&sdk).await?,
        ..ApiConfig::default()
    };
    Ok(ApiDeps {
        jobs,
        objects,
        engine: Arc::new(engine),
        config,
    })
}

pub async fn step_deps_from_env() -> Result<StepDeps, ConfigError> {
    let sdk = aws::sdk_config().await;
    let (jobs, objects) = stores(&sdk)?;
    let key = aws::secret_string(&sdk, &required("OPENAI_SECRET_ARN")?, "OPENAI_API_KEY").await?;
    let provider = OpenAiProvider::new(OpenAiConfig::from_env(key)?).map_err(|e| ConfigError {
        var: "OPENAI_BASE_URL".into(),
        message: e.to_string(),
    })?;
    let mut config = WorkflowConfig::from_env()?;
    config.callbacks = callbacks(&sdk).await?;
    Ok(StepDeps {
        jobs,
        objects,
        provider: Arc::new(provider),
        config,
    })
}
