//! Every `error.code` a client can see, listed once: in API error bodies
//! (`{"error":{"code",…}}`) and on job records (`job.error.code`). The README's table
//! of codes is checked against [`ErrorCode::ALL`] by a test, so the two cannot drift.
//!
//! Providers' own codes are not passed through: each adapter maps what its provider
//! says onto these (a moderation refusal is `moderation_blocked` whoever refused), and
//! keeps the provider's message, so clients handle one closed set.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a code appears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// In an API error body.
    Api,
    /// On a job record that ended `failed` or `timed_out`.
    Job,
    /// Both.
    Both,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Api => "API",
            Scope::Job => "job",
            Scope::Both => "API, job",
        }
    }
}

macro_rules! error_codes {
    ($($variant:ident = $code:literal, $scope:ident, $meaning:literal;)+) => {
        /// A public error code; see the module docs.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum ErrorCode {
            $(#[doc = $meaning] #[serde(rename = $code)] $variant,)+
        }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code,)+ }
            }

            /// Where clients meet this code.
            pub fn scope(self) -> Scope {
                match self { $(ErrorCode::$variant => Scope::$scope,)+ }
            }

            /// What it means, as the README's table says.
            pub fn meaning(self) -> &'static str {
                match self { $(ErrorCode::$variant => $meaning,)+ }
            }
        }
    };
}

error_codes! {
    InvalidRequest = "invalid_request", Api,
        "the request is malformed or a field is out of range (400, 405, 413, 415); `field` names it";
    Unauthorized = "unauthorized", Api,
        "no valid bearer token (401), or a signed file link that is invalid or expired (403)";
    NotFound = "not_found", Api,
        "no such route, or no such job or content for this caller (404)";
    Conflict = "conflict", Api,
        "the job is not in a state that allows this, or an Idempotency-Key was reused with another body (409)";
    RateLimited = "rate_limited", Api,
        "the caller has as many unfinished jobs as allowed, or this job would pass its estimated spend budget for 24 h (429, with `Retry-After`)";
    Internal = "internal", Both,
        "something broke on our side (500, or a job whose workflow failed unexpectedly); retrying is safe";
    ModerationBlocked = "moderation_blocked", Job,
        "the provider refused the prompt, the reference image or the result under its content policy";
    VideoGenerationFailed = "video_generation_failed", Job,
        "the provider accepted the job but could not make the video";
    ProviderRejected = "provider_rejected", Job,
        "the provider refused the request (a parameter it does not accept, a bad or unfunded key)";
    ProviderUnavailable = "provider_unavailable", Job,
        "the provider kept failing or rate limiting until the retries ran out";
    ProviderProtocolError = "provider_protocol_error", Job,
        "the provider's answer could not be read";
    SubmitUncertain = "submit_uncertain", Job,
        "the provider may have started the render but its answer was lost and the video could not be found again; the job ended rather than risk a second paid render";
    ContentUnavailable = "content_unavailable", Job,
        "the provider no longer has the video (it expired before it was stored)";
    InputReferenceMissing = "input_reference_missing", Job,
        "the reference image was removed before the job reached the provider";
    TimedOut = "timed_out", Job,
        "the render did not finish within the model's time budget or poll count";
    WorkflowStopped = "workflow_stopped", Job,
        "the job's workflow was stopped by an operator, not by its owner's cancel";
    WorkflowStartFailed = "workflow_start_failed", Job,
        "the job was recorded but its workflow could not be started; create it again";
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ErrorCode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ErrorCode::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("{s:?} is not an error code"))
    }
}

/// The README's table of codes, made from [`ErrorCode::ALL`]; a test keeps the README
/// equal to it.
pub fn markdown_table() -> String {
    let mut table = String::from("| code | where | meaning |\n| --- | --- | --- |\n");
    for code in ErrorCode::ALL {
        table.push_str(&format!(
            "| `{}` | {} | {} |\n",
            code.as_str(),
            code.scope().as_str(),
            code.meaning()
        ));
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "{code} listed twice");
            assert_eq!(code.as_str().parse::<ErrorCode>(), Ok(*code));
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, code.as_str());
            assert_eq!(serde_json::from_value::<ErrorCode>(json).unwrap(), *code);
        }
        assert!("no_such_code".parse::<ErrorCode>().is_err());
    }

    /// The README's "Error codes" table is this enum, row for row.
    #[test]
    fn the_readme_lists_exactly_these_codes() {
        let readme = include_str!("../../../README.md");
        let table = markdown_table();
        assert!(
            readme.contains(&table),
            "README.md's error code table differs from ErrorCode::ALL; paste this:\n{table}"
        );
    }
}
