//! What the state machine definition (`infra/state-machine.asl.json`), the template and
//! the step code must agree on, written once: the functions a Task may name, the
//! definition's substitutions, the error names Retry/Catch match, each function's
//! input, and the ladder of time limits. `shared/tests/workflow_contract.rs` holds the
//! ASL file and `template.yaml` to these.
//!
//! ## The ladder of time limits
//! For every step function, each limit must leave room for the one inside it:
//!
//! provider request timeout < in-process budget < Lambda `Timeout` < Task `TimeoutSeconds`
//!
//! A provider call (one request, [`PROVIDER_REQUEST_TIMEOUT`]) fits in the step's
//! in-process budget ([`StepFunction::in_process_budget`]: the Lambda's time less
//! [`STEP_RESERVE`]); a retry that would not fit is handed to Step Functions as
//! `Retryable` instead of being slept on; the step's last writes fit in the reserve;
//! and the Lambda ends, by its own answer, before the Task gives up on it. Were it the
//! other way round, a 429 with a long `Retry-After` would kill the Lambda
//! (`Sandbox.Timedout`), which no Retry matches, and the job would fail as internal.

use super::failure::StepFailure;
use super::WorkflowState;
use crate::domain::ids::JobId;
use crate::domain::ErrorCode;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// The OpenAI client's whole-request timeout for JSON calls: the bottom of the ladder.
pub const PROVIDER_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// How long before its Lambda's deadline a step stops calling the provider: the time
/// kept for recording what the provider answered (a write retried in-process) and for
/// cleaning up when that fails.
pub const STEP_RESERVE: Duration = Duration::from_secs(10);

/// Within [`STEP_RESERVE`]: how long before the deadline a step stops retrying a record
/// write, leaving the rest to delete a render the record could not take.
pub const CLEANUP_RESERVE: Duration = Duration::from_secs(5);

/// The three workflow functions, by the names the local engine gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepFunction {
    Submit,
    /// Polls; also records failures (RecordFailure) and executions that ended outside
    /// the workflow (EventBridge): see [`CheckStatusInput`].
    CheckStatus,
    Download,
}

impl StepFunction {
    pub const ALL: [StepFunction; 3] = [
        StepFunction::Submit,
        StepFunction::CheckStatus,
        StepFunction::Download,
    ];

    pub fn name(self) -> &'static str {
        match self {
            StepFunction::Submit => "submit",
            StepFunction::CheckStatus => "check-status",
            StepFunction::Download => "download-to-s3",
        }
    }

    pub fn from_name(name: &str) -> Option<StepFunction> {
        StepFunction::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The `${…}` the definition names this function's ARN by; `template.yaml`'s
    /// `DefinitionSubstitutions` and the local engine provide the same names.
    pub fn substitution(self) -> &'static str {
        match self {
            StepFunction::Submit => "SubmitFunctionArn",
            StepFunction::CheckStatus => "CheckStatusFunctionArn",
            StepFunction::Download => "DownloadFunctionArn",
        }
    }

    /// The function's Lambda `Timeout` in `template.yaml` (a contract test holds the two
    /// equal). The local engine gives each invocation this long, as Lambda does.
    pub fn lambda_timeout(self) -> Duration {
        match self {
            StepFunction::Submit => Duration::from_secs(90),
            StepFunction::CheckStatus => Duration::from_secs(90),
            StepFunction::Download => Duration::from_secs(900),
        }
    }

    /// How long an invocation may spend on provider calls and their retries.
    pub fn in_process_budget(self) -> Duration {
        self.lambda_timeout().saturating_sub(STEP_RESERVE)
    }

    /// The template's logical id of the function.
    pub fn template_resource(self) -> &'static str {
        match self {
            StepFunction::Submit => "SubmitFunction",
            StepFunction::CheckStatus => "CheckStatusFunction",
            StepFunction::Download => "DownloadToS3Function",
        }
    }
}

/// The definition's substitutions as the local engine fills them: each function's
/// ARN placeholder → its local name.
pub fn local_substitutions() -> std::collections::HashMap<String, String> {
    StepFunction::ALL
        .into_iter()
        .map(|f| (f.substitution().to_string(), f.name().to_string()))
        .chain([(
            JOBS_TABLE_SUBSTITUTION.to_string(),
            LOCAL_JOBS_TABLE.to_string(),
        )])
        .collect()
}

/// The substitution naming the jobs table, which `WaitForWebhook` writes its task token
/// to (`DefinitionSubstitutions` in the template; [`LOCAL_JOBS_TABLE`] locally).
pub const JOBS_TABLE_SUBSTITUTION: &str = "JobsTableName";

/// The jobs table's name in the local engine, where the job store stands behind it.
pub const LOCAL_JOBS_TABLE: &str = "vidgen-jobs";

/// The integration `WaitForWebhook` calls (with `.waitForTaskToken`): the AWS SDK's
/// UpdateItem, whose write [`JobStore::arm_webhook_wait`] is.
///
/// [`JobStore::arm_webhook_wait`]: crate::store::JobStore::arm_webhook_wait
pub const WEBHOOK_WAIT_RESOURCE: &str = "arn:aws:states:::aws-sdk:dynamodb:updateItem";

/// The error the webhook route fails the wait with when the provider pushed that the
/// render failed: `WaitForWebhook` catches it and polls, which learns the reason.
pub const RENDER_FAILED: &str = "RenderFailed";

/// The error names our steps raise (Lambda `errorType`), which the definition's
/// Retry and Catch match. Names outside this list that the definition matches are
/// Step Functions' own (`States.*`) or Lambda's (`Lambda.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepErrorName {
    /// A passing fault (429, 5xx, network, store): Retry with backoff, then Catch.
    Retryable,
    /// The job cannot succeed (moderation, provider failure): Catch → RecordFailure.
    Failed,
    /// The job's time or poll budget is spent: Catch → RecordFailure (`timed_out`).
    TimedOut,
    /// The record already ended (canceled, deleted): Catch → RecordFailure, a no-op.
    JobEnded,
}

impl StepErrorName {
    pub const ALL: [StepErrorName; 4] = [
        StepErrorName::Retryable,
        StepErrorName::Failed,
        StepErrorName::TimedOut,
        StepErrorName::JobEnded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StepErrorName::Retryable => "Retryable",
            StepErrorName::Failed => "Failed",
            StepErrorName::TimedOut => "TimedOut",
            StepErrorName::JobEnded => "JobEnded",
        }
    }

    pub fn from_name(name: &str) -> Option<StepErrorName> {
        StepErrorName::ALL.into_iter().find(|n| n.as_str() == name)
    }
}

impl fmt::Display for StepErrorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Step Functions' own error for a Task that ran past its `TimeoutSeconds`.
pub const STATES_TIMEOUT: &str = "States.Timeout";

/// `WaitForWebhook`'s write (`aws-sdk:dynamodb:updateItem.waitForTaskToken` on the job
/// item `pk = job#<id>`): store the Task's token on the job and bump its version, so a
/// step that read the job before keeps failing its version check instead of writing
/// the token away. The definition carries these strings verbatim, and
/// `JobStore::arm_webhook_wait` (both stores) does the same write; `:token` is the
/// token (S), `:one` is N `1`, `#v` is [`WAIT_FOR_WEBHOOK_VERSION_NAME`].
pub const WAIT_FOR_WEBHOOK_UPDATE: &str = "SET task_token = :token, #v = #v + :one";
/// Only an existing job (an UpdateItem on a missing key would create an item) with no
/// webhook received yet: once one arrived, a wait armed after it would never end by
/// webhook, so the condition fails and the Catch sends the execution to polling.
pub const WAIT_FOR_WEBHOOK_CONDITION: &str =
    "attribute_exists(pk) AND attribute_not_exists(push_received_at)";
/// The attribute `#v` names in [`WAIT_FOR_WEBHOOK_UPDATE`] (`version` is a DynamoDB
/// reserved word, so it cannot appear in an expression as itself).
pub const WAIT_FOR_WEBHOOK_VERSION_NAME: &str = "version";

/// What `check-status` is asked to do. The definition's CheckStatus and RecordFailure
/// states and the template's EventBridge input transformer each send one of these,
/// tagged by `action`, so the function never guesses from the payload's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum CheckStatusInput {
    /// Ask the provider how the render goes (the CheckStatus state).
    Poll { state: WorkflowState },
    /// Put a caught error on the record (the RecordFailure state).
    RecordFailure { job_id: JobId, failure: StepFailure },
    /// An execution ended without reaching RecordFailure: Step Functions' "Execution
    /// Status Change" event, reshaped by the EventBridge rule. `job_id` is the
    /// execution's name; `status` its status (`FAILED`, `TIMED_OUT`, `ABORTED`, …);
    /// `detail` the event's whole `detail`, of which only `cause` is read.
    ExecutionEnded {
        job_id: JobId,
        status: String,
        #[serde(default)]
        detail: ExecutionEventDetail,
    },
}

/// What check-status reads of an execution event's `detail`: `error` and `cause` (a
/// failed execution's last error, as DescribeExecution shows it; a stop's cause). The rule passes the whole
/// object rather than `$.detail.cause` alone: a path missing from an event would leave
/// the template's placeholder empty and the input invalid JSON, losing the backstop.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionEventDetail {
    /// A failed execution's error name (e.g. `Retryable` when RecordFailure itself
    /// could not write).
    #[serde(default)]
    pub error: Option<String>,
    /// A failed execution's cause, or the stop's cause (a
    /// [`super::discard::StopCause`] when the API stopped it).
    #[serde(default)]
    pub cause: Option<String>,
}

/// The error payload every step failure carries as its message (Lambda `errorMessage`),
/// so RecordFailure can put the reason on the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorPayload {
    pub code: ErrorCode,
    pub message: String,
}
