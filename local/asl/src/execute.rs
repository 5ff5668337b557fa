//! Running an execution.

use crate::callback::{CallbackRegistry, Signal, Waiter};
use crate::parse::{Kind, PathField, Retrier, State, StateMachine};
use crate::{template, TaskFailure, TaskHandler};
use chrono::Utc;
use rand::Rng;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub struct ExecutionOptions {
    /// Multiplies every wait, retry interval and timeout (1.0 = real time).
    pub time_scale: f64,
    /// Cancelling ends the run as `Aborted` promptly, even mid-Wait or mid-Task.
    pub cancel: CancellationToken,
    /// Guard against runaway loops (Step Functions' history limit is 25,000 events).
    pub max_transitions: u64,
    /// `$$.Execution.Name`.
    pub execution_name: String,
    /// Where `.waitForTaskToken` Tasks open their tokens; share one registry between
    /// executions and the place callbacks arrive.
    pub callbacks: CallbackRegistry,
}

impl Default for ExecutionOptions {
    fn default() -> Self {
        ExecutionOptions {
            time_scale: 1.0,
            cancel: CancellationToken::new(),
            max_transitions: 25_000,
            execution_name: String::new(),
            callbacks: CallbackRegistry::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExecutionOutcome {
    Succeeded(Value),
    Failed { error: String, cause: String },
    TimedOut,
    Aborted,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionReport {
    pub outcome: ExecutionOutcome,
    /// State transitions as Step Functions bills them: one per state entered, one per
    /// retry; a Task waiting for a callback is one however long it waits.
    pub transitions: u64,
}

/// How one state ended.
enum Step {
    Next(String, Value),
    Done(ExecutionOutcome),
}

fn runtime(cause: impl Into<String>) -> Step {
    Step::Done(ExecutionOutcome::Failed {
        error: "States.Runtime".into(),
        cause: cause.into(),
    })
}

/// A Task attempt's failure as Retry and Catch see it.
struct Failed {
    failure: TaskFailure,
    /// A missed heartbeat: its Error is `States.Timeout`, as Step Functions records it,
    /// and `States.HeartbeatTimeout` in ErrorEquals matches it too.
    heartbeat: bool,
}

impl From<TaskFailure> for Failed {
    fn from(failure: TaskFailure) -> Failed {
        Failed {
            failure,
            heartbeat: false,
        }
    }
}

const TIMEOUT: &str = "States.Timeout";

fn matches(errors: &[String], failed: &Failed) -> bool {
    let error = failed.failure.error.as_str();
    errors.iter().any(|e| {
        e == error
            || e == "States.ALL"
            || (e == "States.TaskFailed" && error != TIMEOUT)
            || (e == "States.HeartbeatTimeout" && failed.heartbeat)
    })
}

/// A timed-out wait closes its token, unless a callback closed it first: then the
/// callback, already accepted, is the outcome.
fn close(waiter: Option<&mut Waiter>, timed_out: Failed) -> Result<Value, Failed> {
    match waiter.and_then(Waiter::close) {
        Some(result) => result.map_err(Failed::from),
        None => Err(timed_out),
    }
}

/// Sleep until `deadline`, or forever without one.
async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn select(field: &PathField, data: &Value, context: &Value) -> Result<Value, String> {
    match field {
        PathField::Root => Ok(data.clone()),
        PathField::Null => Ok(json!({})),
        PathField::At(p) => p
            .get(data, context)
            .cloned()
            .ok_or_else(|| "a path was not found in the input".to_string()),
    }
}

fn place(field: &PathField, input: Value, result: Value) -> Result<Value, String> {
    match field {
        PathField::Root => Ok(result),
        PathField::Null => Ok(input),
        PathField::At(p) => p.set(input, result),
    }
}

struct Run<'a> {
    options: &'a ExecutionOptions,
    handler: &'a dyn TaskHandler,
    transitions: u64,
    start: chrono::DateTime<Utc>,
}

impl Run<'_> {
    fn scaled(&self, secs: f64) -> Duration {
        Duration::from_secs_f64((secs * self.options.time_scale).max(0.0))
    }

    /// Sleep unless canceled; false when canceled.
    async fn sleep(&self, d: Duration) -> bool {
        tokio::select! {
            _ = self.options.cancel.cancelled() => false,
            _ = tokio::time::sleep(d) => true,
        }
    }

    fn context(
        &self,
        state: &str,
        entered: &chrono::DateTime<Utc>,
        retries: u32,
        token: Option<&str>,
    ) -> Value {
        let mut ctx = json!({
            "Execution": {"Id": self.options.execution_name, "Name": self.options.execution_name, "StartTime": self.start.to_rfc3339()},
            "State": {"Name": state, "EnteredTime": entered.to_rfc3339(), "RetryCount": retries},
        });
        // `$$.Task.Token` exists only in a callback Task, as in Step Functions.
        if let Some(token) = token {
            ctx["Task"] = json!({"Token": token});
        }
        ctx
    }

    fn enter(&mut self) -> Result<chrono::DateTime<Utc>, Step> {
        self.transitions += 1;
        if self.transitions > self.options.max_transitions {
            return Err(runtime(format!(
                "more than {} state transitions",
                self.options.max_transitions
            )));
        }
        Ok(Utc::now())
    }

    async fn state(&mut self, name: &str, state: &State, input: Value) -> Step {
        let entered = match self.enter() {
            Ok(t) => t,
            Err(step) => return step,
        };
        let ctx = self.context(name, &entered, 0, None);
        let effective = match select(&state.input_path, &input, &ctx) {
            Ok(v) => v,
            Err(e) => return runtime(format!("{name}: InputPath: {e}")),
        };
        let output = |result: Value, this: &Self| -> Step {
            let ctx = this.context(name, &entered, 0, None);
            let placed = match place(&state.result_path, input.clone(), result) {
                Ok(v) => v,
                Err(e) => return runtime(format!("{name}: ResultPath: {e}")),
            };
            match select(&state.output_path, &placed, &ctx) {
                Ok(out) => match &state.next {
                    Some(next) => Step::Next(next.clone(), out),
                    None => Step::Done(ExecutionOutcome::Succeeded(out)),
                },
                Err(e) => runtime(format!("{name}: OutputPath: {e}")),
            }
        };
        match &state.kind {
            Kind::Pass { result, parameters } => {
                let value = match (result, parameters) {
                    (Some(r), _) => r.clone(),
                    (None, Some(t)) => match template::fill(t, &effective, &ctx) {
                        Ok(v) => v,
                        Err(e) => return runtime(format!("{name}: Parameters: {e}")),
                    },
                    (None, None) => effective,
                };
                output(value, self)
            }
            Kind::Wait {
                seconds,
                seconds_path,
                timestamp,
                timestamp_path,
            } => {
                let secs = if let Some(s) = seconds {
                    *s
                } else if let Some(p) = seconds_path {
                    match p.get(&effective, &ctx).and_then(Value::as_f64) {
                        Some(s) if s >= 0.0 => s,
                        _ => {
                            return runtime(format!(
                                "{name}: SecondsPath did not give a non-negative number"
                            ))
                        }
                    }
                } else {
                    let raw = timestamp.clone().or_else(|| {
                        timestamp_path
                            .as_ref()
                            .and_then(|p| p.get(&effective, &ctx))
                            .and_then(Value::as_str)
                            .map(str::to_string)
                    });
                    match raw.and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok()) {
                        Some(t) => {
                            (t.with_timezone(&Utc) - Utc::now())
                                .num_milliseconds()
                                .max(0) as f64
                                / 1000.0
                        }
                        None => {
                            return runtime(format!(
                            "{name}: Wait needs Seconds, SecondsPath, Timestamp or TimestampPath"
                        ))
                        }
                    }
                };
                if !self.sleep(self.scaled(secs)).await {
                    return Step::Done(ExecutionOutcome::Aborted);
                }
                match select(&state.output_path, &effective, &ctx) {
                    Ok(out) => match &state.next {
                        Some(n) => Step::Next(n.clone(), out),
                        None => Step::Done(ExecutionOutcome::Succeeded(out)),
                    },
                    Err(e) => runtime(format!("{name}: OutputPath: {e}")),
                }
            }
            Kind::Choice { choices, default } => {
                for (cond, next) in choices {
                    match cond.eval(&effective, &ctx) {
                        Ok(true) => {
                            return Step::Next(
                                next.clone(),
                                select(&state.output_path, &effective, &ctx).unwrap_or(effective),
                            )
                        }
                        Ok(false) => {}
                        Err(e) => return runtime(format!("{name}: {e}")),
                    }
                }
                match default {
                    Some(d) => Step::Next(d.clone(), effective),
                    None => Step::Done(ExecutionOutcome::Failed {
                        error: "States.NoChoiceMatched".into(),
                        cause: format!("no choice rule of {name} matched"),
                    }),
                }
            }
            Kind::Succeed => Step::Done(ExecutionOutcome::Succeeded(
                select(&state.output_path, &effective, &ctx).unwrap_or(effective),
            )),
            Kind::Fail {
                error,
                cause,
                error_path,
                cause_path,
            } => {
                let pick = |fixed: &Option<String>, path: &Option<crate::path::Path>| {
                    fixed
                        .clone()
                        .or_else(|| {
                            path.as_ref()
                                .and_then(|p| p.get(&effective, &ctx))
                                .and_then(Value::as_str)
                                .map(str::to_string)
                        })
                        .unwrap_or_default()
                };
                Step::Done(ExecutionOutcome::Failed {
                    error: pick(error, error_path),
                    cause: pick(cause, cause_path),
                })
            }
            Kind::Task {
                resource,
                callback,
                parameters,
                result_selector,
                timeout,
                timeout_path,
                heartbeat,
                retry,
                catch,
            } => {
                // TimeoutSecondsPath must give a positive integer (States.Runtime
                // otherwise, as in Step Functions), and a HeartbeatSeconds below it.
                let timeout = match timeout_path {
                    None => *timeout,
                    Some(p) => match p.get(&effective, &ctx).and_then(Value::as_u64) {
                        Some(s) if s > 0 && heartbeat.is_none_or(|h| (s as f64) > h) => {
                            Some(s as f64)
                        }
                        _ => {
                            return runtime(format!(
                                "{name}: TimeoutSecondsPath did not give a positive integer above HeartbeatSeconds"
                            ))
                        }
                    },
                };
                let spec = TaskSpec {
                    name,
                    resource,
                    callback: *callback,
                    parameters: parameters.as_ref(),
                    timeout,
                    heartbeat: *heartbeat,
                    retriers: retry,
                };
                let failed = match self.task(&spec, &effective, &entered).await {
                    Ok(Ok(result)) => {
                        let result = match result_selector {
                            Some(t) => match template::fill(t, &result, &ctx) {
                                Ok(v) => v,
                                Err(e) => return runtime(format!("{name}: ResultSelector: {e}")),
                            },
                            None => result,
                        };
                        return output(result, self);
                    }
                    Ok(Err(failed)) => failed,
                    Err(step) => return step,
                };
                for c in catch {
                    if matches(&c.errors, &failed) {
                        let failure = &failed.failure;
                        let error_output = json!({"Error": failure.error, "Cause": failure.cause});
                        return match place(&c.result_path, input.clone(), error_output) {
                            Ok(v) => Step::Next(c.next.clone(), v),
                            Err(e) => runtime(format!("{name}: Catch ResultPath: {e}")),
                        };
                    }
                }
                Step::Done(ExecutionOutcome::Failed {
                    error: failed.failure.error,
                    cause: failed.failure.cause,
                })
            }
        }
    }

    /// Run a Task's attempts under its retriers. `Err(step)` ends the execution
    /// (canceled, or a runtime error); `Ok(Err(failed))` goes on to Catch.
    async fn task(
        &mut self,
        spec: &TaskSpec<'_>,
        effective: &Value,
        entered: &chrono::DateTime<Utc>,
    ) -> Result<Result<Value, Failed>, Step> {
        let name = spec.name;
        let mut attempts = vec![0u32; spec.retriers.len()];
        loop {
            // Each attempt of a callback Task gets a fresh token, so Parameters (which
            // may hold `$$.Task.Token` and `$$.State.RetryCount`) are filled per attempt.
            let mut waiter = spec.callback.then(|| self.options.callbacks.open());
            let retries = attempts.iter().sum();
            let ctx = self.context(name, entered, retries, waiter.as_ref().map(Waiter::token));
            let payload = match spec.parameters {
                Some(t) => template::fill(t, effective, &ctx)
                    .map_err(|e| runtime(format!("{name}: Parameters: {e}")))?,
                None => effective.clone(),
            };
            let failed = match self.attempt(spec, payload, waiter.as_mut()).await? {
                Ok(v) => return Ok(Ok(v)),
                Err(f) => f,
            };
            // This attempt's token is done with, whatever follows.
            drop(waiter);
            let Some(i) = spec
                .retriers
                .iter()
                .position(|r| matches(&r.errors, &failed))
            else {
                return Ok(Err(failed));
            };
            let r = &spec.retriers[i];
            if attempts[i] >= r.max_attempts {
                return Ok(Err(failed));
            }
            let mut delay = r.interval * r.backoff.powi(attempts[i] as i32);
            if let Some(max) = r.max_delay {
                delay = delay.min(max);
            }
            if r.full_jitter {
                delay = rand::rng().random_range(0.0..=delay.max(0.0));
            }
            attempts[i] += 1;
            tracing::debug!(state = name, error = %failed.failure.error, attempt = attempts[i], delay, "retrying task");
            if !self.sleep(self.scaled(delay)).await {
                return Err(Step::Done(ExecutionOutcome::Aborted));
            }
            // A retry is a state transition of its own.
            self.enter()?;
        }
    }

    /// One attempt: the handler's call, then for a callback Task the wait for its
    /// token, all within TimeoutSeconds; a callback wait also within HeartbeatSeconds
    /// of the call's end or the last heartbeat.
    async fn attempt(
        &self,
        spec: &TaskSpec<'_>,
        payload: Value,
        waiter: Option<&mut Waiter>,
    ) -> Result<Result<Value, Failed>, Step> {
        let name = spec.name;
        let deadline = spec.timeout.map(|t| Instant::now() + self.scaled(t));
        let timed_out = |secs: f64, heartbeat: bool| Failed {
            failure: TaskFailure {
                error: TIMEOUT.into(),
                cause: if heartbeat {
                    format!("{name} had no heartbeat for {secs} seconds")
                } else {
                    format!("{name} did not finish within {secs} seconds")
                },
            },
            heartbeat,
        };
        let called = tokio::select! {
            _ = self.options.cancel.cancelled() => return Err(Step::Done(ExecutionOutcome::Aborted)),
            _ = until(deadline) => {
                let secs = spec.timeout.unwrap_or_default();
                return Ok(close(waiter, timed_out(secs, false)));
            }
            r = self.handler.invoke(spec.resource, payload) => r,
        };
        let Some(waiter) = waiter else {
            return Ok(called.map_err(Failed::from));
        };
        // The call's result is discarded: a callback Task's result is the callback's.
        if let Err(failure) = called {
            return Ok(Err(failure.into()));
        }
        // The token itself is a credential for this Task's outcome: never logged.
        tracing::debug!(execution = %self.options.execution_name, state = name, "waiting for a task token callback");
        let beat = spec.heartbeat.map(|h| self.scaled(h));
        let mut beat_deadline = beat.map(|b| Instant::now() + b);
        loop {
            tokio::select! {
                _ = self.options.cancel.cancelled() => return Err(Step::Done(ExecutionOutcome::Aborted)),
                _ = until(deadline) => {
                    let secs = spec.timeout.unwrap_or_default();
                    return Ok(close(Some(waiter), timed_out(secs, false)));
                }
                _ = until(beat_deadline) => {
                    let secs = spec.heartbeat.unwrap_or_default();
                    return Ok(close(Some(waiter), timed_out(secs, true)));
                }
                signal = waiter.recv() => match signal {
                    Signal::Heartbeat => beat_deadline = beat.map(|b| Instant::now() + b),
                    Signal::Success(output) => return Ok(Ok(output)),
                    Signal::Failure(failure) => return Ok(Err(failure.into())),
                },
            }
        }
    }
}

/// A Task state's fields that its attempts need.
struct TaskSpec<'a> {
    name: &'a str,
    resource: &'a str,
    callback: bool,
    parameters: Option<&'a Value>,
    timeout: Option<f64>,
    heartbeat: Option<f64>,
    retriers: &'a [Retrier],
}

impl StateMachine {
    pub async fn execute(
        &self,
        input: Value,
        handler: &dyn TaskHandler,
        options: ExecutionOptions,
    ) -> ExecutionReport {
        let mut run = Run {
            options: &options,
            handler,
            transitions: 0,
            start: Utc::now(),
        };
        let limit = self.timeout.map(|t| run.scaled(t));
        let body = async {
            let mut current = self.start_at.clone();
            let mut data = input;
            loop {
                let Some(state) = self.states.get(&current) else {
                    return runtime(format!("state {current} does not exist"));
                };
                match run.state(&current, state, data).await {
                    Step::Next(next, out) => {
                        current = next;
                        data = out;
                    }
                    done => return done,
                }
            }
        };
        let outcome = match limit {
            Some(limit) => match tokio::time::timeout(limit, body).await {
                Ok(Step::Done(o)) => o,
                Ok(Step::Next(..)) => ExecutionOutcome::Aborted,
                Err(_) => ExecutionOutcome::TimedOut,
            },
            None => match body.await {
                Step::Done(o) => o,
                Step::Next(..) => ExecutionOutcome::Aborted,
            },
        };
        ExecutionReport {
            outcome,
            transitions: run.transitions,
        }
    }
}

#[cfg(test)]
mod callback_tests;
#[cfg(test)]
mod tests;
