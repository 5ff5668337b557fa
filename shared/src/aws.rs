//! AWS SDK set-up, done once per process (Lambda init).
//!
//! `AWS_ENDPOINT_URL` (and the per-service `AWS_ENDPOINT_URL_<SERVICE>`) is honoured by
//! the SDK itself; whether S3 must then go path-style is decided by the settings
//! ([`crate::settings::s3_force_path_style`]).

use crate::config::{ConfigError, Secret};
use aws_config::{BehaviorVersion, SdkConfig};

/// The SDK's settings from the Lambda environment, with the process's TLS trust
/// ([`crate::tls`]) instead of the system's certificate store.
pub async fn sdk_config() -> Result<SdkConfig, ConfigError> {
    let http = crate::tls::trust()?.sdk_http_client()?;
    Ok(aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .load()
        .await)
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

/// Set to `1` (scripts/test.sh does, so CI does) to make a test that needs the local AWS
/// stand-ins fail when they are not configured, instead of skipping.
#[doc(hidden)]
pub const REQUIRE_AWS_TESTS: &str = "VIDGEN_REQUIRE_AWS_TESTS";

/// Test support, not API: the values of `names`, the settings of the local AWS stand-ins
/// that scripts/aws-test-servers.sh writes (`MOTO_ENDPOINT`, `S3S_ENDPOINT`,
/// `S3S_ACCESS_KEY`, `S3S_SECRET_KEY`). When one is unset the test should return early:
/// this prints that it is skipped and answers `None` — unless `VIDGEN_REQUIRE_AWS_TESTS=1`,
/// when it panics naming the missing variables, so CI never passes by skipping.
#[doc(hidden)]
pub fn aws_test_env<const N: usize>(names: [&str; N]) -> Option<[String; N]> {
    let env = |name: &str| crate::settings::process_env(name).filter(|v| !v.trim().is_empty());
    aws_test_env_from(names, env).unwrap_or_else(|message| panic!("{message}"))
}

fn aws_test_env_from<const N: usize>(
    names: [&str; N],
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<[String; N]>, String> {
    let values = names.map(&env);
    let missing: Vec<&str> = names
        .iter()
        .zip(&values)
        .filter(|(_, value)| value.is_none())
        .map(|(name, _)| *name)
        .collect();
    if missing.is_empty() {
        return Ok(Some(values.map(|v| v.unwrap_or_default())));
    }
    let missing = missing.join(", ");
    match env(REQUIRE_AWS_TESTS).as_deref().map(str::trim) {
        None | Some("0" | "false") => {
            eprintln!("skipping: {missing} not set (scripts/test.sh starts moto and s3s-fs)");
            Ok(None)
        }
        Some("1" | "true") => Err(format!(
            "{missing} not set, and {REQUIRE_AWS_TESTS}=1 forbids skipping: start moto and \
             s3s-fs with `scripts/aws-test-servers.sh start FILE` and source FILE \
             (scripts/test.sh does both)"
        )),
        Some(other) => Err(format!(
            "{REQUIRE_AWS_TESTS}: {other:?} is not one of 1, true, 0, false"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn aws_test_env_skips_unless_required() {
        let set = [("MOTO_ENDPOINT", "http://m"), ("S3S_ENDPOINT", "http://s")];
        assert_eq!(
            aws_test_env_from(["MOTO_ENDPOINT", "S3S_ENDPOINT"], env(&set)),
            Ok(Some(["http://m".to_string(), "http://s".to_string()]))
        );
        let names = ["MOTO_ENDPOINT", "S3S_ACCESS_KEY", "S3S_SECRET_KEY"];
        assert_eq!(aws_test_env_from(names, env(&set)), Ok(None));
        assert_eq!(
            aws_test_env_from(names, env(&[(REQUIRE_AWS_TESTS, "0")])),
            Ok(None)
        );
        let required = aws_test_env_from(names, env(&[(REQUIRE_AWS_TESTS, "1")])).unwrap_err();
        assert!(
            required.starts_with("MOTO_ENDPOINT, S3S_ACCESS_KEY, S3S_SECRET_KEY not set"),
            "{required}"
        );
        let bad = aws_test_env_from(names, env(&[(REQUIRE_AWS_TESTS, "yes")])).unwrap_err();
        assert!(bad.starts_with(REQUIRE_AWS_TESTS), "{bad}");
    }
}
