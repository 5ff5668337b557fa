//! The local workflow engine: Step Functions' role, played by the `asl` interpreter on
//! the SAME definition file, with each Task calling the workflow step in-process the
//! way Step Functions calls a Lambda (`{"Payload": …}` out, `errorType`/`Cause` on error).

use asl::{ExecutionOptions, ExecutionOutcome, StateMachine, TaskFailure, TaskHandler};
use async_trait::async_trait;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};
use vidgen_shared::deadline::Deadline;
use vidgen_shared::domain::ids::JobId;
use vidgen_shared::engine::{EngineError, ExecutionStatus, WorkflowEngine};
use vidgen_shared::workflow::{
    local_substitutions, on_execution_ended, record_execution_end, run_step, ExecutionEnd,
    StepDeps, StepFunction, WorkflowState,
};

/// The definition, compiled in so an installed binary needs no source tree.
pub const DEFINITION: &str = include_str!("../../../infra/state-machine.asl.json");

/// The Lambda-invoke resource the definition's Tasks use.
const LAMBDA_INVOKE: &str = "arn:aws:states:::lambda:invoke";

/// How an execution ended.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionSummary {
    pub outcome: ExecutionOutcome,
    pub transitions: u64,
}

enum Run {
    Running(CancellationToken),
    Finished(ExecutionSummary),
}

struct Inner {
    machine: StateMachine,
    deps: StepDeps,
    time_scale: f64,
    runs: Mutex<HashMap<String, Run>>,
    /// The cause of each [`WorkflowEngine::stop`], for the ABORTED backstop (the
    /// execution status event's `detail.cause` in AWS).
    stop_causes: Mutex<HashMap<String, String>>,
    /// Every execution task and step invocation, so shutdown can wait for them to let
    /// go of the stores.
    tasks: TaskTracker,
    /// Ends step invocations still running at shutdown.
    shutdown: CancellationToken,
}

/// Runs one execution per job, named after it.
#[derive(Clone)]
pub struct LocalEngine {
    inner: Arc<Inner>,
}

/// Dispatches Tasks to the in-process steps.
///
/// Like a Lambda, a step once invoked runs to its end: a stop or a Task timeout stops
/// the execution waiting for it, not the step (its late writes must be harmless). Each
/// invocation runs as its own task; only a server shutdown (`shutdown`) ends it early.
struct Steps {
    deps: StepDeps,
    tasks: TaskTracker,
    shutdown: CancellationToken,
}

#[async_trait]
impl TaskHandler for Steps {
    async fn invoke(&self, resource: &str, input: Value) -> Result<Value, TaskFailure> {
        let unknown = |what: String| TaskFailure {
            error: "States.TaskFailed".into(),
            cause: what,
        };
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
        // As Lambda does, each invocation has the function's Timeout. It is not scaled
        // by the engine's time scale: provider calls take real time whatever the scale.
        let deadline = Deadline::after(function.lambda_timeout());
        let deps = self.deps.clone();
        let shutdown = self.shutdown.clone();
        let invocation = self.tasks.spawn(async move {
            tokio::select! {
                _ = shutdown.cancelled() => None,
                r = run_step(&deps, function, payload, deadline) => Some(r),
            }
        });
        match invocation.await {
            Ok(Some(Ok(out))) => Ok(json!({ "Payload": out, "StatusCode": 200 })),
            Ok(Some(Err(e))) => Err(TaskFailure {
                error: e.error_type().as_str().into(),
                cause: e.lambda_cause(),
            }),
            // Shut down (the execution is being stopped too) or the step panicked.
            Ok(None) | Err(_) => Err(TaskFailure {
                error: "Runtime.ExitError".into(),
                cause: format!("{name} ended before it answered"),
            }),
        }
    }
}

impl LocalEngine {
    pub fn new(
        definition: &str,
        deps: StepDeps,
        time_scale: f64,
    ) -> Result<LocalEngine, asl::AslError> {
        Ok(LocalEngine {
            inner: Arc::new(Inner {
                machine: StateMachine::parse(definition, &local_substitutions())?,
                deps,
                time_scale,
                runs: Mutex::new(HashMap::new()),
                stop_causes: Mutex::new(HashMap::new()),
                tasks: TaskTracker::new(),
                shutdown: CancellationToken::new(),
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

    /// Stop every running execution without ending its job (server shutdown) and wait
    /// for them to finish; the next start resumes them.
    pub async fn stop_all(&self) {
        for run in self.runs().values() {
            if let Run::Running(cancel) = run {
                cancel.cancel();
            }
        }
        self.inner.shutdown.cancel();
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
    }

    /// Restart executions of jobs that had not ended when the server stopped. Submit
    /// reuses a recorded provider video, and one it may have asked for without
    /// recording it is looked for at the provider before anything is created.
    pub async fn resume(&self, job_ids: &[JobId]) {
        for id in job_ids {
            info!(job_id = %id, "resuming the workflow of an unfinished job");
            if let Err(e) = self.start(id, &WorkflowState::start(id)).await {
                warn!(job_id = %id, error = %e, "could not resume");
            }
        }
    }

    fn steps(&self) -> Steps {
        Steps {
            deps: self.inner.deps.clone(),
            tasks: self.inner.tasks.clone(),
            shutdown: self.inner.shutdown.clone(),
        }
    }

    /// Whether no execution and no step invocation is running (a step keeps running
    /// after its execution was stopped, as a Lambda does).
    pub fn is_idle(&self) -> bool {
        self.inner.tasks.is_empty()
    }

    async fn run(self, job_id: String, input: Value, cancel: CancellationToken) {
        let options = ExecutionOptions {
            time_scale: self.inner.time_scale,
            cancel,
            execution_name: job_id.clone(),
            ..ExecutionOptions::default()
        };
        let report = self
            .inner
            .machine
            .execute(input, &self.steps(), options)
            .await;
        info!(job_id = %job_id, transitions = report.transitions, outcome = ?report.outcome, "execution ended");
        let stop_cause = self
            .inner
            .stop_causes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&job_id);
        self.backstop(&job_id, &report.outcome, stop_cause).await;
        self.runs().insert(
            job_id,
            Run::Finished(ExecutionSummary {
                outcome: report.outcome,
                transitions: report.transitions,
            }),
        );
    }

    /// An execution that ended without the record ending (the top-level timeout, a
    /// runtime error) must still leave the record saying why: the same backstop the
    /// EventBridge rule runs in AWS. A stopped run (a cancel or DELETE) gets the same
    /// ABORTED handling as there; a run ended by a shutdown is not stopped: it resumes.
    async fn backstop(&self, job_id: &str, outcome: &ExecutionOutcome, stop_cause: Option<String>) {
        // Executions are named after their job; any other name has no record to end.
        let Some(job_id) = JobId::parse(job_id) else {
            return;
        };
        let end = match outcome {
            ExecutionOutcome::Aborted => {
                if let Some(cause) = stop_cause {
                    let ended = on_execution_ended(
                        &self.inner.deps,
                        &job_id,
                        Some(ExecutionEnd::Aborted),
                        Some(&cause),
                    )
                    .await;
                    if let Err(e) = ended {
                        warn!(job_id = %job_id, error = %e, "could not record the stop of the execution");
                    }
                }
                return;
            }
            ExecutionOutcome::Succeeded(_) => return,
            ExecutionOutcome::TimedOut => ExecutionEnd::TimedOut,
            ExecutionOutcome::Failed { .. } => ExecutionEnd::Failed,
        };
        if let Err(e) = record_execution_end(&self.inner.deps, &job_id, end).await {
            warn!(job_id = %job_id, error = %e, "could not record the end of the execution");
        }
    }
}

#[async_trait]
impl WorkflowEngine for LocalEngine {
    async fn start(&self, job_id: &str, input: &Value) -> Result<(), EngineError> {
        let cancel = CancellationToken::new();
        {
            let mut runs = self.runs();
            if matches!(runs.get(job_id), Some(Run::Running(_))) {
                return Err(EngineError::AlreadyExists(job_id.to_string()));
            }
            runs.insert(job_id.to_string(), Run::Running(cancel.clone()));
        }
        self.inner
            .tasks
            .spawn(self.clone().run(job_id.to_string(), input.clone(), cancel));
        Ok(())
    }

    async fn stop(&self, job_id: &str, cause: &str) -> Result<(), EngineError> {
        if let Some(Run::Running(cancel)) = self.runs().get(job_id) {
            info!(job_id, cause, "stopping the execution");
            self.inner
                .stop_causes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(job_id.to_string(), cause.to_string());
            cancel.cancel();
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
}
