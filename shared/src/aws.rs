//! AWS SDK set-up, done once per process (Lambda init).
//!
//! `AWS_ENDPOINT_URL` (and the per-service `AWS_ENDPOINT_URL_<SERVICE>`) is honoured by
//! the SDK itself; whether S3 must then go path-style is decided by the settings
//! ([`crate::settings::s3_force_path_style`]).

use crate::config::{ConfigError, Secret};
use aws_config::{BehaviorVersion, SdkConfig};

pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// An S3 client; path-style addressing when `force_path_style` (an endpoint override:
/// local S3 servers do not resolve bucket subdomains).
pub fn s3_client(config: &SdkConfig, force_path_style: bool) -> aws_sdk_s3::Client {
    let builder = aws_sdk_s3::config::Builder::from(config).force_path_style(force_path_style);
    aws_sdk_s3::Client::from_conf(builder.build())
}

/// SDK settings for a server that speaks the AWS protocols with static keys (moto,
/// s3s-fs, MinIO), region us-east-1: for tests, benchmarks and emulators. Build every
/// client from it as production does (with [`s3_client`] path-style, for the endpoint).
pub fn static_sdk_config(endpoint: &str, access_key: &str, secret_key: &str) -> SdkConfig {
    use aws_sdk_s3::config::{Credentials, SharedCredentialsProvider};
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            access_key, secret_key, None, None, "static",
        )))
        .build()
}

/// A secret's value from Secrets Manager: a plain string, or JSON with the value under
/// `field` (e.g. `{"OPENAI_API_KEY": "sk-…"}`). The value is never logged.
pub async fn secret_string(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
    field: &str,
) -> Result<Secret, ConfigError> {
    let fail = |message: String| ConfigError {
        var: secret_id.to_string(),
        message,
    };
    let out = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| {
            fail(format!(
                "could not read the secret: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
            ))
        })?;
    let raw = out
        .secret_string()
        .ok_or_else(|| fail("the secret has no string value".into()))?;
    let value = match serde_json::from_str::<serde_json::Value>(raw) {
        Ok(serde_json::Value::Object(map)) => map
            .get(field)
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .ok_or_else(|| fail(format!("the secret's JSON has no string field {field}")))?,
        _ => raw.trim().to_string(),
    };
    if value.is_empty() {
        return Err(fail("the secret is empty".into()));
    }
    Ok(Secret::new(value))
}
