//! The local workflow engine: Step Functions' role, played by the `asl` interpreter on
//! the SAME definition file, with each Task calling the workflow step in-process the
//! way Step Functions calls a Lambda (`{"Payload": …}` out, `errorType`/`Cause` on error).
//!
//! Lambda's semantics are kept, so the local run fails where AWS would (see
//! `shared/reference/aws-semantics.md` §1–2 and [`crate::deployment`]):
//! - an invocation ends at its function's `Timeout` from `template.yaml` with the error
//!   Step Functions reports for it, `Sandbox.Timedout`, which Retry/Catch then see;
//! - a Task's `TimeoutSeconds` or a stop does not stop an invocation already running:
//!   it runs on as its own task to its end (or its `Timeout`), its late writes land,
//!   and its result is dropped, while the execution moves on or ends;
//! - an execution that ends FAILED, TIMED_OUT or ABORTED (stopped) is handed to the
//!   backstop function through the template's EventBridge rule, with the same input
//!   check-status gets in AWS. A server shutdown is no stop: those executions resume.

use crate::deployment::Deployment;
use asl::{
    CallbackError, CallbackRegistry, ExecutionOptions, ExecutionOutcome, StateMachine, TaskFailure,
    TaskHandler,
};
use async_trait::async_trait;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};
use vidgen_shared::deadline::Deadline;
use vidgen_shared::domain::ids::JobId;
use vidgen_shared::engine::{
    clip_chars, CallbackAnswer, EngineError, ExecutionStatus, WorkflowEngine, MAX_CAUSE_CHARS,
    MAX_ERROR_CHARS,
};
use vidgen_shared::store::StoreError;
use vidgen_shared::workflow::contract::{
    LOCAL_JOBS_TABLE, WAIT_FOR_WEBHOOK_CONDITION, WAIT_FOR_WEBHOOK_UPDATE,
    WAIT_FOR_WEBHOOK_VERSION_NAME, WEBHOOK_WAIT_RESOURCE,
};
use vidgen_shared::workflow::{
    local_substitutions, run_step, StepDeps, StepFunction, WorkflowState,
};

/// The definition, compiled in so an installed binary needs no source tree.
pub const DEFINITION: &str = include_str!("../../../infra/state-machine.asl.json");

/// The Lambda-invoke resource the definition's Tasks use.
const LAMBDA_INVOKE: &str = "arn:aws:states:::lambda:invoke";

/// The error Step Functions reports for a Lambda that ran past its `Timeout`
/// (aws-semantics.md §1: what production histories show, and what the harness emits).
pub const LAMBDA_TIMED_OUT: &str = "Sandbox.Timedout";

/// The error of a runtime that ended without answering (a panic, under `panic = "abort"`).
const RUNTIME_EXIT: &str = "Runtime.ExitError";

/// How an execution ended.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionSummary {
    pub outcome: ExecutionOutcome,
    pub transitions: u64,
}

/// A running execution: cancel ends it; `stop_cause` is set by a stop (StopExecution),
/// never by a shutdown, and reaches the backstop as the event's `detail.cause`.
struct Execution {
    cancel: CancellationToken,
    stop_cause: StopCause,
}

type StopCause = Arc<Mutex<Option<String>>>;

enum Run {
    Running(Execution),
    Finished(ExecutionSummary),
}

struct Inner {
    machine: StateMachine,
    lambdas: Lambdas,
    time_scale: f64,
    runs: Mutex<HashMap<String, Run>>,
    /// Every execution and invocation task, so shutdown can wait for them to let go
    /// of the stores.
    tasks: TaskTracker,
    /// Server shutdown: ends every execution and invocation (the process is going away).
    shutdown: CancellationToken,
    /// The task tokens of every execution's waiting callback Tasks: one registry, a
    /// clone in each execution's options, so a SendTask* call finds any of them.
    callbacks: CallbackRegistry,
}

/// Runs one execution per job, named after it.
#[derive(Clone)]
pub struct LocalEngine {
    inner: Arc<Inner>,
}

/// The step functions, invoked as Lambda invokes them: each invocation is a task of its
/// own that nobody but its `Timeout` (or a shutdown) ends.
struct Lambdas {
    deps: StepDeps,
    deployment: Deployment,
    tasks: TaskTracker,
    shutdown: CancellationToken,
    in_flight: Arc<AtomicUsize>,
}

/// Counts an invocation as running until dropped.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn new(count: &Arc<AtomicUsize>) -> InFlight {
        count.fetch_add(1, Ordering::SeqCst);
        InFlight(count.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// `errorType`/`errorMessage` as Step Functions' `Cause` holds them: the payload's JSON.
fn lambda_failure(error: &str, message: &str) -> TaskFailure {
    TaskFailure {
        error: error.into(),
        cause: json!({ "errorType": error, "errorMessage": message }).to_string(),
    }
}

/// What Step Functions sees when the invocation outlived its function's `Timeout`.
pub fn timed_out_failure(timeout: Duration) -> TaskFailure {
    let request_id = ulid::Ulid::new().to_string().to_lowercase();
    lambda_failure(
        LAMBDA_TIMED_OUT,
        &format!(
            "RequestId: {request_id} Error: Task timed out after {:.2} seconds",
            timeout.as_secs_f64()
        ),
    )
}

/// The job an invocation is about, for logs: the payload's `job_id` or `state.job_id`.
fn job_of(payload: &Value) -> String {
    payload
        .get("job_id")
        .or_else(|| payload.get("state").and_then(|s| s.get("job_id")))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

impl Lambdas {
    /// Invoke `function` with `payload` as Lambda would. The work runs as its own task:
    /// dropping this future (the interpreter does at a Task timeout or a stop) leaves it
    /// running to its end, as a Lambda keeps running; only its `Timeout` ends it.
    async fn invoke(&self, function: StepFunction, payload: Value) -> Result<Value, TaskFailure> {
        let deps = self.deps.clone();
        // Not scaled by the time scale: the work in a step is real I/O, not a modelled
        // wait, and a scaled-down limit would fail a merely slow moment.
        let timeout = self.deployment.timeout(function);
        let shutdown = self.shutdown.clone();
        let running = InFlight::new(&self.in_flight);
        let job_id = job_of(&payload);
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.tasks.spawn(async move {
            let _running = running;
            // The step sees the same deadline it gets from Lambda's context in AWS.
            let deadline = Deadline::after(timeout);
            let step = tokio::time::timeout(timeout, run_step(&deps, function, payload, deadline));
            let result = tokio::select! {
                _ = shutdown.cancelled() => Err(lambda_failure(RUNTIME_EXIT, "vidgen is shutting down")),
                r = step => match r {
                    Ok(Ok(out)) => Ok(out),
                    Ok(Err(e)) => Err(TaskFailure {
                        error: e.error_type().as_str().into(),
                        cause: e.lambda_cause(),
                    }),
                    Err(_) => {
                        warn!(job_id, function = function.name(), timeout_secs = timeout.as_secs(), "the invocation ran past its function's Timeout and was ended");
                        Err(timed_out_failure(timeout))
                    }
                },
            };
            if tx.send(result).is_err() {
                // Step Functions drops a result that comes after its Task timed out or its
                // execution stopped; the writes the step made stay (and must be harmless).
                info!(job_id, function = function.name(), "an invocation finished after its execution moved on; its result is dropped");
            }
        });
        rx.await.unwrap_or_else(|_| {
            // The task ended without answering: it panicked (a crashed runtime).
            Err(lambda_failure(
                RUNTIME_EXIT,
                "Runtime exited without providing a reason",
            ))
        })
    }
}

/// A DynamoDB error as Step Functions names an AWS SDK integration's errors.
fn dynamodb_failure(error: &str, cause: impl Into<String>) -> TaskFailure {
    TaskFailure {
        error: format!("DynamoDb.{error}"),
        cause: cause.into(),
    }
}

impl Lambdas {
    /// `WaitForWebhook`'s `aws-sdk:dynamodb:updateItem`, played by the job store: the
    /// parameters must be the ones the store's write stands for (the same table,
    /// key shape and expressions), else the call fails as DynamoDB would refuse it.
    async fn arm_webhook_wait(&self, input: &Value) -> Result<Value, TaskFailure> {
        let invalid = |what: &str| dynamodb_failure("ValidationException", what.to_string());
        if input["TableName"] != LOCAL_JOBS_TABLE {
            return Err(dynamodb_failure(
                "ResourceNotFoundException",
                format!("no table {}", input["TableName"]),
            ));
        }
        if input["UpdateExpression"] != WAIT_FOR_WEBHOOK_UPDATE
            || input["ConditionExpression"] != WAIT_FOR_WEBHOOK_CONDITION
            || input["ExpressionAttributeNames"] != json!({ "#v": WAIT_FOR_WEBHOOK_VERSION_NAME })
            || input["ExpressionAttributeValues"][":one"] != json!({"N": "1"})
        {
            return Err(invalid(
                "the local engine runs only the job store's arm_webhook_wait write",
            ));
        }
        let job_id = input["Key"]["pk"]["S"]
            .as_str()
            .and_then(|pk| pk.strip_prefix("job#"))
            .and_then(JobId::parse)
            .ok_or_else(|| invalid("Key.pk is not job#<job id>"))?;
        let token = input["ExpressionAttributeValues"][":token"]["S"]
            .as_str()
            .ok_or_else(|| invalid(":token is not a string"))?;
        match self.deps.jobs.arm_webhook_wait(&job_id, token).await {
            Ok(()) => Ok(json!({})),
            Err(StoreError::Conflict(_)) => Err(dynamodb_failure(
                "ConditionalCheckFailedException",
                "The conditional request failed",
            )),
            Err(e) => Err(dynamodb_failure(
                "InternalServerErrorException",
                e.to_string(),
            )),
        }
    }
}

#[async_trait]
impl TaskHandler for Lambdas {
    async fn invoke(&self, resource: &str, input: Value) -> Result<Value, TaskFailure> {
        let unknown = |what: String| TaskFailure {
            error: "States.TaskFailed".into(),
            cause: what,
        };
        if resource == WEBHOOK_WAIT_RESOURCE {
            return self.arm_webhook_wait(&input).await;
        }
        if resource != LAMBDA_INVOKE {
            return Err(unknown(format!("unsupported resource {resource}")));
        }
        let name = input
            .get("FunctionName")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let function = StepFunction::from_name(name)
            .ok_or_else(|| unknown(format!("no function named {name:?}")))?;
        let payload = input.get("Payload").cloned().unwrap_or(Value::Null);
        let out = Lambdas::invoke(self, function, payload).await?;
        Ok(json!({ "Payload": out, "StatusCode": 200 }))
    }
}

impl LocalEngine {
    /// `deployment` is what `template.yaml` says of the functions
    /// ([`Deployment::embedded`]); `time_scale` multiplies every wait and the definition's timeouts (not the
    /// functions' `Timeout`: a step's work is real I/O).
    pub fn new(
        definition: &str,
        deployment: Deployment,
        deps: StepDeps,
        time_scale: f64,
    ) -> Result<LocalEngine, asl::AslError> {
        let tasks = TaskTracker::new();
        let shutdown = CancellationToken::new();
        Ok(LocalEngine {
            inner: Arc::new(Inner {
                machine: StateMachine::parse(definition, &local_substitutions())?,
                lambdas: Lambdas {
                    deps,
                    deployment,
                    tasks: tasks.clone(),
                    shutdown: shutdown.clone(),
                    in_flight: Arc::new(AtomicUsize::new(0)),
                },
                time_scale,
                runs: Mutex::new(HashMap::new()),
                tasks,
                shutdown,
                callbacks: CallbackRegistry::new(),
            }),
        })
    }

    fn runs(&self) -> std::sync::MutexGuard<'_, HashMap<String, Run>> {
        // Entries are replaced whole; a poisoned map is still consistent.
        self.inner.runs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How the job's execution ended, once it has.
    pub fn report(&self, job_id: &str) -> Option<ExecutionSummary> {
        match self.runs().get(job_id) {
            Some(Run::Finished(s)) => Some(s.clone()),
            _ => None,
        }
    }

    /// Whether the job's execution is still running.
    pub fn is_running(&self, job_id: &str) -> bool {
        matches!(self.runs().get(job_id), Some(Run::Running(_)))
    }

    /// Function invocations still running, including those whose execution has moved
    /// on or ended (a Lambda is not stopped by a Task timeout or a stop).
    pub fn invocations_running(&self) -> usize {
        self.inner.lambdas.in_flight.load(Ordering::SeqCst)
    }

    /// Whether no execution and no invocation is running (an invocation keeps running
    /// after its execution was stopped, as a Lambda does).
    pub fn is_idle(&self) -> bool {
        self.inner.tasks.is_empty()
    }

    /// Stop every running execution and invocation without ending their jobs (server
    /// shutdown) and wait for them to finish; the next start resumes them.
    pub async fn stop_all(&self) {
        self.inner.shutdown.cancel();
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
    }

    /// Restart executions of jobs that had not ended when the server stopped. Submit
    /// reuses a recorded provider video, so nothing is created twice.
    pub async fn resume(&self, job_ids: &[JobId]) {
        for id in job_ids {
            info!(job_id = %id, "resuming the workflow of an unfinished job");
            if let Err(e) = self.start(id, &WorkflowState::start(id)).await {
                warn!(job_id = %id, error = %e, "could not resume");
            }
        }
    }

    async fn run(
        self,
        job_id: String,
        input: Value,
        cancel: CancellationToken,
        stop_cause: StopCause,
    ) {
        let options = ExecutionOptions {
            time_scale: self.inner.time_scale,
            cancel,
            execution_name: job_id.clone(),
            callbacks: self.inner.callbacks.clone(),
            ..ExecutionOptions::default()
        };
        let report = self
            .inner
            .machine
            .execute(input, &self.inner.lambdas, options)
            .await;
        info!(job_id = %job_id, transitions = report.transitions, outcome = ?report.outcome, "execution ended");
        let stop_cause = stop_cause.lock().unwrap_or_else(|p| p.into_inner()).take();
        // Step Functions' execution status, as its status-change event carries it.
        // A failed execution's event carries its error and cause (what DescribeExecution
        // shows); a stopped one's cause is the stop's.
        let (status, error, cause) = match &report.outcome {
            ExecutionOutcome::Succeeded(_) => (None, None, None),
            ExecutionOutcome::TimedOut => (Some("TIMED_OUT"), None, None),
            ExecutionOutcome::Failed { error, cause } => {
                (Some("FAILED"), Some(error.as_str()), Some(cause.as_str()))
            }
            ExecutionOutcome::Aborted if stop_cause.is_some() => {
                (Some("ABORTED"), None, stop_cause.as_deref())
            }
            // A shutdown, not a stop: the execution resumes on the next start.
            ExecutionOutcome::Aborted => (None, None, None),
        };
        if let Some(status) = status {
            self.backstop(&job_id, status, error, cause).await;
        }
        self.runs().insert(
            job_id,
            Run::Finished(ExecutionSummary {
                outcome: report.outcome,
                transitions: report.transitions,
            }),
        );
    }

    /// An execution that ended without the record ending (the top-level timeout, a
    /// runtime error, a stop) must still leave the record saying why: the event goes
    /// through the template's EventBridge rule to its function, as in AWS, which leaves
    /// a job that already ended (a cancel wrote `canceled` before stopping) alone.
    async fn backstop(&self, job_id: &str, status: &str, error: Option<&str>, cause: Option<&str>) {
        // Executions are named after their job; any other name has no record to end.
        if JobId::parse(job_id).is_none() {
            return;
        }
        let Some((function, input)) = self
            .inner
            .lambdas
            .deployment
            .execution_ended(job_id, status, error, cause)
        else {
            return;
        };
        info!(
            job_id,
            status,
            function = function.name(),
            "execution status change: running the backstop"
        );
        // EventBridge invokes asynchronously: Lambda retries a failed invocation twice,
        // after about 1 and 2 minutes (scaled like every other wait here).
        for (attempt, wait_secs) in [(1, 0.0), (2, 60.0), (3, 120.0)] {
            let wait = Duration::try_from_secs_f64(wait_secs * self.inner.time_scale)
                .unwrap_or(Duration::ZERO);
            tokio::select! {
                _ = self.inner.shutdown.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            match self.inner.lambdas.invoke(function, input.clone()).await {
                Ok(_) => return,
                Err(e) => {
                    warn!(job_id, status, attempt, error = %e.error, cause = %e.cause, "could not record the end of the execution")
                }
            }
        }
    }
}

#[async_trait]
impl WorkflowEngine for LocalEngine {
    async fn start(&self, job_id: &str, input: &Value) -> Result<(), EngineError> {
        // A child of the shutdown token: a shutdown ends every execution.
        let cancel = self.inner.shutdown.child_token();
        let stop_cause: StopCause = Arc::new(Mutex::new(None));
        {
            let mut runs = self.runs();
            if matches!(runs.get(job_id), Some(Run::Running(_))) {
                return Err(EngineError::AlreadyExists(job_id.to_string()));
            }
            runs.insert(
                job_id.to_string(),
                Run::Running(Execution {
                    cancel: cancel.clone(),
                    stop_cause: stop_cause.clone(),
                }),
            );
        }
        self.inner.tasks.spawn(self.clone().run(
            job_id.to_string(),
            input.clone(),
            cancel,
            stop_cause,
        ));
        Ok(())
    }

    /// StopExecution: the execution ends ABORTED at once; an invocation it is waiting
    /// for runs on to its end.
    async fn stop(&self, job_id: &str, cause: &str) -> Result<(), EngineError> {
        if let Some(Run::Running(execution)) = self.runs().get(job_id) {
            info!(job_id, cause, "stopping the execution");
            *execution
                .stop_cause
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(cause.to_string());
            execution.cancel.cancel();
        }
        Ok(())
    }

    async fn status(&self, job_id: &str) -> Result<ExecutionStatus, EngineError> {
        Ok(match self.runs().get(job_id) {
            None => ExecutionStatus::Missing,
            Some(Run::Running(_)) => ExecutionStatus::Running,
            Some(Run::Finished(summary)) => match summary.outcome {
                ExecutionOutcome::Succeeded(_) => ExecutionStatus::Succeeded,
                ExecutionOutcome::Failed { .. } => ExecutionStatus::Failed,
                ExecutionOutcome::TimedOut => ExecutionStatus::TimedOut,
                ExecutionOutcome::Aborted => ExecutionStatus::Aborted,
            },
        })
    }

    async fn send_task_success(
        &self,
        token: &str,
        output: &serde_json::Value,
    ) -> Result<CallbackAnswer, EngineError> {
        callback_answer(
            self.inner
                .callbacks
                .send_task_success(token, output.clone()),
        )
    }
    async fn send_task_failure(
        &self,
        token: &str,
        error: &str,
        cause: &str,
    ) -> Result<CallbackAnswer, EngineError> {
        // Clipped to the API's limits as the Step Functions engine does, so a long
        // provider message fails the Task in both places instead of being refused here.
        callback_answer(self.inner.callbacks.send_task_failure(
            token,
            clip_chars(error, MAX_ERROR_CHARS),
            clip_chars(cause, MAX_CAUSE_CHARS),
        ))
    }
}

/// A SendTask* result as the Step Functions engine reports it: a token no Task waits on
/// any more (closed, or never issued by this process — one from before a restart) is
/// [`CallbackAnswer::Closed`]; a refused output is a backend error.
fn callback_answer(result: Result<(), CallbackError>) -> Result<CallbackAnswer, EngineError> {
    match result {
        Ok(()) => Ok(CallbackAnswer::Delivered),
        Err(CallbackError::TaskTimedOut | CallbackError::InvalidToken) => {
            Ok(CallbackAnswer::Closed)
        }
        // The registry's messages name the limit, never the token.
        Err(e) => Err(EngineError::Backend(e.to_string())),
    }
}

#[cfg(test)]
mod callback_tests {
    use super::*;

    /// Step Functions' refusals of a token nobody waits on are a closed wait; the rest
    /// are errors, and none of them carries the token.
    #[test]
    fn callback_refusals_map_as_step_functions_does() {
        assert_eq!(callback_answer(Ok(())).unwrap(), CallbackAnswer::Delivered);
        for closed in [CallbackError::TaskTimedOut, CallbackError::InvalidToken] {
            assert_eq!(
                callback_answer(Err(closed)).unwrap(),
                CallbackAnswer::Closed
            );
        }
        for refused in [
            CallbackError::InvalidOutput("too big".into()),
            CallbackError::Validation("cause too long".into()),
        ] {
            assert!(matches!(
                callback_answer(Err(refused)),
                Err(EngineError::Backend(_))
            ));
        }
        // Through a real registry: a token it never issued, an oversized output.
        let registry = CallbackRegistry::new();
        let token = "00000000000000070123456789abcdef";
        assert_eq!(
            callback_answer(registry.send_task_success(token, json!({}))).unwrap(),
            CallbackAnswer::Closed
        );
        let big = json!("x".repeat(asl::MAX_OUTPUT_BYTES));
        match callback_answer(registry.send_task_success(token, big)) {
            Err(EngineError::Backend(m)) => {
                assert!(m.contains("InvalidOutput"), "{m}");
                assert!(!m.contains(token), "{m}");
            }
            other => panic!("{other:?}"),
        }
    }
}
