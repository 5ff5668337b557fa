//! Running an execution.

use crate::parse::{Kind, PathField, Retrier, State, StateMachine};
use crate::{template, TaskFailure, TaskHandler};
use chrono::Utc;
use rand::Rng;
use serde_json::{json, Value};
use std::time::Duration;
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
}

impl Default for ExecutionOptions {
    fn default() -> Self {
        ExecutionOptions {
            time_scale: 1.0,
            cancel: CancellationToken::new(),
            max_transitions: 25_000,
            execution_name: String::new(),
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
    /// State transitions, retries included.
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

fn matches(errors: &[String], error: &str) -> bool {
    errors.iter().any(|e| {
        e == error || e == "States.ALL" || (e == "States.TaskFailed" && error != "States.Timeout")
    })
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

    fn context(&self, state: &str, entered: &chrono::DateTime<Utc>, retries: u32) -> Value {
        json!({
            "Execution": {"Id": self.options.execution_name, "Name": self.options.execution_name, "StartTime": self.start.to_rfc3339()},
            "State": {"Name": state, "EnteredTime": entered.to_rfc3339(), "RetryCount": retries},
        })
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
        let ctx = self.context(name, &entered, 0);
        let effective = match select(&state.input_path, &input, &ctx) {
            Ok(v) => v,
            Err(e) => return runtime(format!("{name}: InputPath: {e}")),
        };
        let output = |result: Value, this: &Self| -> Step {
            let ctx = this.context(name, &entered, 0);
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
                parameters,
                result_selector,
                timeout,
                retry,
                catch,
            } => {
                let payload = match parameters {
                    Some(t) => match template::fill(t, &effective, &ctx) {
                        Ok(v) => v,
                        Err(e) => return runtime(format!("{name}: Parameters: {e}")),
                    },
                    None => effective.clone(),
                };
                let failure = match self
                    .task(name, resource, payload, *timeout, retry, &entered)
                    .await
                {
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
                    Ok(Err(failure)) => failure,
                    Err(step) => return step,
                };
                for c in catch {
                    if matches(&c.errors, &failure.error) {
                        let error_output = json!({"Error": failure.error, "Cause": failure.cause});
                        return match place(&c.result_path, input.clone(), error_output) {
                            Ok(v) => Step::Next(c.next.clone(), v),
                            Err(e) => runtime(format!("{name}: Catch ResultPath: {e}")),
                        };
                    }
                }
                Step::Done(ExecutionOutcome::Failed {
                    error: failure.error,
                    cause: failure.cause,
                })
            }
        }
    }

    /// Invoke with the state's timeout and retriers. `Err(step)` ends the execution
    /// (canceled); `Ok(Err(failure))` goes on to Catch.
    async fn task(
        &mut self,
        name: &str,
        resource: &str,
        payload: Value,
        timeout: Option<f64>,
        retriers: &[Retrier],
        _entered: &chrono::DateTime<Utc>,
    ) -> Result<Result<Value, TaskFailure>, Step> {
        let mut attempts = vec![0u32; retriers.len()];
        loop {
            let call = self.handler.invoke(resource, payload.clone());
            let result = match timeout {
                Some(t) => {
                    tokio::select! {
                        _ = self.options.cancel.cancelled() => return Err(Step::Done(ExecutionOutcome::Aborted)),
                        r = tokio::time::timeout(self.scaled(t), call) => r.unwrap_or_else(|_| Err(TaskFailure {
                            error: "States.Timeout".into(),
                            cause: format!("{name} did not finish within {t} seconds"),
                        })),
                    }
                }
                None => tokio::select! {
                    _ = self.options.cancel.cancelled() => return Err(Step::Done(ExecutionOutcome::Aborted)),
                    r = call => r,
                },
            };
            let failure = match result {
                Ok(v) => return Ok(Ok(v)),
                Err(f) => f,
            };
            let Some(i) = retriers
                .iter()
                .position(|r| matches(&r.errors, &failure.error))
            else {
                return Ok(Err(failure));
            };
            let r = &retriers[i];
            if attempts[i] >= r.max_attempts {
                return Ok(Err(failure));
            }
            let mut delay = r.interval * r.backoff.powi(attempts[i] as i32);
            if let Some(max) = r.max_delay {
                delay = delay.min(max);
            }
            if r.full_jitter {
                delay = rand::rng().random_range(0.0..=delay.max(0.0));
            }
            attempts[i] += 1;
            tracing::debug!(state = name, error = %failure.error, attempt = attempts[i], delay, "retrying task");
            if !self.sleep(self.scaled(delay)).await {
                return Err(Step::Done(ExecutionOutcome::Aborted));
            }
            // A retry is a state transition of its own.
            self.enter()?;
        }
    }
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
mod tests;
