//! Configuration values and errors. The environment itself is read in one place per
//! deployment: [`crate::settings`] for the Lambdas, `vidgen`'s own settings module locally.

use std::fmt;

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
/// Runway's API host (the SDK's default; routes are under `/v1`).
pub const DEFAULT_RUNWAY_BASE_URL: &str = "https://api.dev.runwayml.com";
/// fal's public queue.
pub const DEFAULT_FAL_QUEUE_URL: &str = "https://queue.fal.run";
/// The keys fal signs its webhooks with.
pub const DEFAULT_FAL_JWKS_URL: &str = "https://rest.fal.ai/.well-known/jwks.json";

/// A configuration problem, naming the variable: `TABLE_NAME is required`,
/// `URL_TTL_SECS: "abc" is not valid: …`.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {var}{}{message}", separator(.message))]
pub struct ConfigError {
    pub var: String,
    pub message: String,
}

/// "X is required" reads as a sentence; anything else follows a colon.
fn separator(message: &str) -> &'static str {
    if message.starts_with("is ") {
        " "
    } else {
        ": "
    }
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
