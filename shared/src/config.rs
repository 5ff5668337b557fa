//! Configuration read from the environment once, at start-up (Lambda init or
//! `vidgen serve`), never per request.

use crate::domain::Model;
use std::fmt;
use std::time::Duration;

/// A secret value. Its `Debug` and `Display` never show it, so it cannot leak through
/// logs, errors or panics by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The only way to read it: at the point of use.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The public OpenAI endpoint; any compatible `/v1/videos` API works via `OPENAI_BASE_URL`.
pub const DEFAULT_OPENAI_BASE_URL: &str = "https://api.openai.com/v1";

/// A configuration problem, naming the variable.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {var}: {message}")]
pub struct ConfigError {
    pub var: String,
    pub message: String,
}

/// Read an environment variable, `None` when unset or empty.
pub fn env(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty())
}

pub fn required(var: &str) -> Result<String, ConfigError> {
    env(var).ok_or_else(|| ConfigError {
        var: var.into(),
        message: "is required".into(),
    })
}

/// Parse an optional variable, naming it when the value is bad.
pub fn parsed<T: std::str::FromStr>(var: &str, default: T) -> Result<T, ConfigError>
where
    T::Err: fmt::Display,
{
    match env(var) {
        None => Ok(default),
        Some(raw) => raw.trim().parse().map_err(|e: T::Err| ConfigError {
            var: var.into(),
            message: format!("{raw:?} is not valid: {e}"),
        }),
    }
}

/// `SORA_MODEL`: the default model of this deployment.
pub fn default_model() -> Result<Model, ConfigError> {
    parsed("SORA_MODEL", Model::Sora2)
}

/// Seconds from an env var, as a Duration.
pub fn seconds(var: &str, default_secs: u64) -> Result<Duration, ConfigError> {
    parsed(var, default_secs).map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("sk-very-secret");
        assert_eq!(format!("{s:?} {s}"), "Secret(***) ***");
        assert_eq!(s.expose(), "sk-very-secret");
    }
}
