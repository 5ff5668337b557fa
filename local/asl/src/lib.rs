//! An interpreter for the subset of the Amazon States Language (JSONPath flavour) that
//! vidgen's state machine uses, so `vidgen serve` runs the SAME definition file as
//! Step Functions.
//!
//! Supported: Task, Wait, Choice, Pass, Succeed, Fail; InputPath, Parameters,
//! ResultSelector, ResultPath, OutputPath; Retry (ErrorEquals, IntervalSeconds,
//! MaxAttempts, BackoffRate, MaxDelaySeconds, JitterStrategy) and Catch; task and
//! top-level TimeoutSeconds; `${Name}` substitutions; the context object
//! (`$$.Execution.Name`, `$$.State.Name`, `$$.State.RetryCount`, …); intrinsics
//! States.Format, StringToJson, JsonToString, MathAdd, Array, UUID. Anything else in a
//! definition is refused at parse time with the state's name, so a definition that
//! runs here cannot silently mean something else.
//!
//! Semantics follow AWS: a path that does not resolve fails the execution with
//! `States.Runtime`, which no Retry or Catch handles; `States.ALL` matches every task
//! error, `States.TaskFailed` every one but `States.Timeout`; each state entered —
//! retries included — counts as one state transition, as Step Functions bills them.

mod choice;
mod execute;
mod parse;
mod path;
mod template;

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
    /// `resource` after substitution; `input` after InputPath and Parameters.
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
