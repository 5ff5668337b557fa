//! An interpreter for the subset of the Amazon States Language (JSONPath flavour) that
//! vidgen's state machine uses, so `vidgen serve` runs the SAME definition file as
//! Step Functions.
//!
//! Supported: Task, Wait, Choice, Pass, Succeed, Fail; InputPath, Parameters,
//! ResultSelector, ResultPath, OutputPath; Retry (ErrorEquals, IntervalSeconds,
//! MaxAttempts, BackoffRate, MaxDelaySeconds, JitterStrategy) and Catch; task
//! TimeoutSeconds (or TimeoutSecondsPath) and top-level TimeoutSeconds; the callback pattern (`.waitForTaskToken` on AWS SDK and
//! callback-capable optimized integrations, `$$.Task.Token`, HeartbeatSeconds, and
//! SendTaskSuccess/Failure/Heartbeat through a [`CallbackRegistry`]); `${Name}`
//! substitutions; the context object (`$$.Execution.Name`, `$$.State.Name`,
//! `$$.State.RetryCount`, …); intrinsics
//! States.Format, StringToJson, JsonToString, MathAdd, Array, UUID. Anything else in a
//! definition is refused at parse time with the state's name, so a definition that
//! runs here cannot silently mean something else.
//!
//! Semantics follow AWS: a path that does not resolve fails the execution with
//! `States.Runtime`, which no Retry or Catch handles; `States.ALL` matches every task
//! error, `States.TaskFailed` every one but `States.Timeout`; each state entered —
//! retries included — counts as one state transition, as Step Functions bills them.
//! A missed heartbeat fails the Task with Error `States.Timeout` (what Step Functions
//! records for it), which `States.Timeout`, `States.HeartbeatTimeout` and
//! `States.ALL` match in Retry and Catch, and `States.TaskFailed` does not.

mod callback;
mod choice;
mod execute;
#[cfg(test)]
mod fuzz_targets;
mod parse;
mod path;
mod template;

pub use callback::{
    CallbackError, CallbackRegistry, MAX_CAUSE_CHARS, MAX_ERROR_CHARS, MAX_OUTPUT_BYTES,
};
pub use execute::{ExecutionOptions, ExecutionOutcome, ExecutionReport};
pub use parse::StateMachine;

/// A definition the interpreter cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("state machine definition: {0}")]
pub struct AslError(pub String);

/// A task's failure, like Lambda's `errorType` / `errorMessage` as Step Functions sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskFailure {
    pub error: String,
    pub cause: String,
}

/// Runs Task states.
#[async_trait::async_trait]
pub trait TaskHandler: Send + Sync {
    /// `resource` after substitution, without a `.waitForTaskToken` suffix (a callback
    /// Task calls the same integration, then waits for its token; this call's result
    /// is discarded); `input` after InputPath and Parameters.
    ///
    /// The interpreter drops this future when the Task's `TimeoutSeconds` passes or the
    /// execution is canceled, as Step Functions stops waiting. Work that, like a
    /// Lambda, must not be stopped by that has to run detached (its own task).
    async fn invoke(
        &self,
        resource: &str,
        input: serde_json::Value,
    ) -> Result<serde_json::Value, TaskFailure>;
}
