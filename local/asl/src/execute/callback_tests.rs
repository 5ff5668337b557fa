//! `.waitForTaskToken` Tasks: tokens, callbacks, heartbeats and timeouts.

use crate::{
    CallbackError, CallbackRegistry, ExecutionOptions, ExecutionOutcome, ExecutionReport,
    StateMachine, TaskFailure, TaskHandler,
};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

const DDB_CALLBACK: &str = "arn:aws:states:::aws-sdk:dynamodb:updateItem.waitForTaskToken";

/// Hands each call to the test, then answers with `result` (a callback Task discards it).
struct Recorder {
    calls: mpsc::UnboundedSender<(String, Value)>,
    result: Result<Value, TaskFailure>,
}

#[async_trait::async_trait]
impl TaskHandler for Recorder {
    async fn invoke(&self, resource: &str, input: Value) -> Result<Value, TaskFailure> {
        // The test may have stopped listening; the call itself still succeeds.
        let _ = self.calls.send((resource.to_string(), input));
        self.result.clone()
    }
}

/// A machine whose first state `T` is a callback Task storing its token with
/// UpdateItem, then `Done`; `extra` adds to or overrides T's fields.
fn machine(extra: Value, more_states: Value) -> StateMachine {
    let mut t = json!({
        "Type": "Task",
        "Resource": DDB_CALLBACK,
        "Parameters": {
            "TableName": "jobs",
            "Key": {"pk": {"S.$": "$.job_id"}},
            "UpdateExpression": "SET task_token = :t",
            "ExpressionAttributeValues": {":t": {"S.$": "$$.Task.Token"}},
            "Attempt.$": "$$.State.RetryCount"
        },
        "ResultPath": "$.callback",
        "Next": "Done"
    });
    if let (Value::Object(t), Value::Object(e)) = (&mut t, extra) {
        t.extend(e);
    }
    let mut states = json!({"T": t, "Done": {"Type": "Succeed"}});
    if let (Value::Object(s), Value::Object(m)) = (&mut states, more_states) {
        s.extend(m);
    }
    let def = json!({"StartAt": "T", "States": states});
    StateMachine::parse(&def.to_string(), &HashMap::new()).unwrap()
}

struct Running {
    report: JoinHandle<ExecutionReport>,
    calls: mpsc::UnboundedReceiver<(String, Value)>,
    callbacks: CallbackRegistry,
}

impl Running {
    /// The token of the next handler call.
    async fn token(&mut self) -> String {
        let (_, payload) = self.calls.recv().await.expect("a handler call");
        payload["ExpressionAttributeValues"][":t"]["S"]
            .as_str()
            .expect("the token in the payload")
            .to_string()
    }

    async fn outcome(self) -> (ExecutionOutcome, u64) {
        let report = self.report.await.unwrap();
        (report.outcome, report.transitions)
    }
}

fn start(machine: StateMachine, options: ExecutionOptions) -> Running {
    start_with(machine, options, Ok(json!({"Attributes": {}})))
}

fn start_with(
    machine: StateMachine,
    options: ExecutionOptions,
    result: Result<Value, TaskFailure>,
) -> Running {
    let (tx, calls) = mpsc::unbounded_channel();
    let callbacks = options.callbacks.clone();
    let handler = Arc::new(Recorder { calls: tx, result });
    let report = tokio::spawn(async move {
        machine
            .execute(json!({"job_id": "j"}), handler.as_ref(), options)
            .await
    });
    Running {
        report,
        calls,
        callbacks,
    }
}

#[tokio::test(start_paused = true)]
async fn success_ends_the_wait_with_the_callbacks_output() {
    let mut run = start(machine(json!({}), json!({})), ExecutionOptions::default());
    let (resource, payload) = run.calls.recv().await.unwrap();
    assert_eq!(
        resource, "arn:aws:states:::aws-sdk:dynamodb:updateItem",
        "the handler runs the integration itself"
    );
    let token = payload["ExpressionAttributeValues"][":t"]["S"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(run.callbacks.open_tokens(), 1);
    let callbacks = run.callbacks.clone();
    assert_eq!(
        callbacks.send_task_success("not-a-token", json!({})),
        Err(CallbackError::InvalidToken)
    );
    callbacks
        .send_task_success(&token, json!({"video": "v"}))
        .unwrap();
    let (outcome, transitions) = run.outcome().await;
    assert_eq!(
        outcome,
        ExecutionOutcome::Succeeded(json!({"job_id": "j", "callback": {"video": "v"}})),
        "the callback's output is the result; the handler's is discarded"
    );
    assert_eq!(transitions, 2, "T and Done; the wait adds none");
    assert_eq!(callbacks.open_tokens(), 0);
    assert_eq!(
        callbacks.send_task_success(&token, json!({})),
        Err(CallbackError::TaskTimedOut),
        "a token is single-use"
    );
    assert_eq!(
        callbacks.send_task_heartbeat(&token),
        Err(CallbackError::TaskTimedOut)
    );
}

#[tokio::test(start_paused = true)]
async fn failure_is_caught_with_its_error_and_cause() {
    let m = machine(
        json!({"Catch": [
            {"ErrorEquals": ["States.Timeout"], "Next": "Wrong"},
            {"ErrorEquals": ["Provider.Failed"], "ResultPath": "$.error", "Next": "Fallback"}]}),
        json!({"Wrong": {"Type": "Fail", "Error": "Wrong"}, "Fallback": {"Type": "Pass", "End": true}}),
    );
    let mut run = start(m, ExecutionOptions::default());
    let token = run.token().await;
    run.callbacks
        .send_task_failure(&token, "Provider.Failed", "render failed")
        .unwrap();
    let (outcome, transitions) = run.outcome().await;
    assert_eq!(
        outcome,
        ExecutionOutcome::Succeeded(json!({"job_id": "j",
            "error": {"Error": "Provider.Failed", "Cause": "render failed"}}))
    );
    assert_eq!(transitions, 2);
}

#[tokio::test(start_paused = true)]
async fn heartbeats_keep_the_task_alive_past_heartbeat_seconds() {
    let m = machine(
        json!({"HeartbeatSeconds": 10, "TimeoutSeconds": 100}),
        json!({}),
    );
    let mut run = start(m, ExecutionOptions::default());
    let token = run.token().await;
    let t0 = Instant::now();
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_secs(8)).await;
        run.callbacks.send_task_heartbeat(&token).unwrap();
    }
    tokio::time::sleep(Duration::from_secs(8)).await;
    run.callbacks
        .send_task_success(&token, json!("done"))
        .unwrap();
    let (outcome, _) = run.outcome().await;
    assert_eq!(
        outcome,
        ExecutionOutcome::Succeeded(json!({"job_id": "j", "callback": "done"}))
    );
    assert_eq!(t0.elapsed(), Duration::from_secs(48), "well past 10 s");
}

#[tokio::test(start_paused = true)]
async fn a_missed_heartbeat_is_states_timeout_and_matches_heartbeat_timeout() {
    // Uncaught: the execution fails with States.Timeout, HeartbeatSeconds after the call.
    let m = machine(json!({"HeartbeatSeconds": 5}), json!({}));
    let mut run = start(m, ExecutionOptions::default());
    let token = run.token().await;
    let t0 = Instant::now();
    let callbacks = run.callbacks.clone();
    let (outcome, _) = run.outcome().await;
    assert!(
        matches!(&outcome, ExecutionOutcome::Failed { error, .. } if error == "States.Timeout"),
        "{outcome:?}"
    );
    assert_eq!(t0.elapsed(), Duration::from_secs(5));
    assert_eq!(
        callbacks.send_task_success(&token, json!({})),
        Err(CallbackError::TaskTimedOut),
        "an expired token"
    );

    // States.TaskFailed does not match it; States.HeartbeatTimeout does.
    let m = machine(
        json!({"HeartbeatSeconds": 5, "Catch": [
            {"ErrorEquals": ["States.TaskFailed"], "Next": "Wrong"},
            {"ErrorEquals": ["States.HeartbeatTimeout"], "ResultPath": "$.error", "Next": "Fallback"}]}),
        json!({"Wrong": {"Type": "Fail", "Error": "Wrong"}, "Fallback": {"Type": "Pass", "End": true}}),
    );
    let (outcome, _) = start(m, ExecutionOptions::default()).outcome().await;
    match outcome {
        ExecutionOutcome::Succeeded(out) => assert_eq!(out["error"]["Error"], "States.Timeout"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn timeout_seconds_ends_the_wait_despite_heartbeats_and_is_caught() {
    let m = machine(
        json!({"HeartbeatSeconds": 10, "TimeoutSeconds": 30, "Catch": [
            {"ErrorEquals": ["States.HeartbeatTimeout"], "Next": "Wrong"},
            {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.error", "Next": "Fallback"}]}),
        json!({"Wrong": {"Type": "Fail", "Error": "Wrong"}, "Fallback": {"Type": "Pass", "End": true}}),
    );
    let mut run = start(m, ExecutionOptions::default());
    let token = run.token().await;
    let t0 = Instant::now();
    let callbacks = run.callbacks.clone();
    let beats = tokio::spawn(async move {
        let mut refused = None;
        for _ in 0..8 {
            tokio::time::sleep(Duration::from_secs(5)).await;
            if let Err(e) = callbacks.send_task_heartbeat(&token) {
                refused = Some(e);
                break;
            }
        }
        refused
    });
    let (outcome, transitions) = run.outcome().await;
    match outcome {
        ExecutionOutcome::Succeeded(out) => assert_eq!(out["error"]["Error"], "States.Timeout"),
        other => panic!("TimeoutSeconds must go to the States.Timeout catcher: {other:?}"),
    }
    assert_eq!(t0.elapsed(), Duration::from_secs(30));
    assert_eq!(transitions, 2, "T and Fallback");
    assert_eq!(
        beats.await.unwrap(),
        Some(CallbackError::TaskTimedOut),
        "heartbeats after the timeout are refused"
    );
}

#[tokio::test(start_paused = true)]
async fn time_scale_applies_to_heartbeat_seconds() {
    let m = machine(json!({"HeartbeatSeconds": 100}), json!({}));
    let options = ExecutionOptions {
        time_scale: 0.01,
        ..Default::default()
    };
    let mut run = start(m, options);
    run.token().await;
    let t0 = Instant::now();
    let (outcome, _) = run.outcome().await;
    assert!(
        matches!(outcome, ExecutionOutcome::Failed { ref error, .. } if error == "States.Timeout")
    );
    assert_eq!(t0.elapsed(), Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn a_retry_gets_a_new_token() {
    let m = machine(
        json!({"Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 1, "MaxAttempts": 1}]}),
        json!({}),
    );
    let mut run = start(m, ExecutionOptions::default());
    let (_, first) = run.calls.recv().await.unwrap();
    let first_token = first["ExpressionAttributeValues"][":t"]["S"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(first["Attempt"], 0);
    run.callbacks
        .send_task_failure(&first_token, "Flaky", "try again")
        .unwrap();
    let (_, second) = run.calls.recv().await.unwrap();
    let second_token = second["ExpressionAttributeValues"][":t"]["S"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(first_token, second_token);
    assert_eq!(second["Attempt"], 1, "$$.State.RetryCount counts the retry");
    assert_eq!(
        run.callbacks.send_task_success(&first_token, json!({})),
        Err(CallbackError::TaskTimedOut),
        "the first attempt's token is closed"
    );
    run.callbacks
        .send_task_success(&second_token, json!(2))
        .unwrap();
    let (outcome, transitions) = run.outcome().await;
    assert_eq!(
        outcome,
        ExecutionOutcome::Succeeded(json!({"job_id": "j", "callback": 2}))
    );
    assert_eq!(transitions, 3, "T, its retry, Done");
}

#[tokio::test(start_paused = true)]
async fn canceling_the_execution_closes_its_tokens() {
    let options = ExecutionOptions::default();
    let cancel = options.cancel.clone();
    let mut run = start(machine(json!({}), json!({})), options);
    let token = run.token().await;
    let callbacks = run.callbacks.clone();
    assert_eq!(callbacks.open_tokens(), 1);
    cancel.cancel();
    let (outcome, _) = run.outcome().await;
    assert_eq!(outcome, ExecutionOutcome::Aborted);
    assert_eq!(callbacks.open_tokens(), 0);
    assert_eq!(
        callbacks.send_task_success(&token, json!({})),
        Err(CallbackError::TaskTimedOut)
    );

    // The execution's own TimeoutSeconds closes them too.
    let def = json!({"StartAt": "T", "TimeoutSeconds": 60, "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
              "Parameters": {"FunctionName": "f", "Payload": {"token.$": "$$.Task.Token"}}, "End": true}}});
    let m = StateMachine::parse(&def.to_string(), &HashMap::new()).unwrap();
    let mut run = start(m, ExecutionOptions::default());
    let (resource, payload) = run.calls.recv().await.unwrap();
    assert_eq!(resource, "arn:aws:states:::lambda:invoke");
    assert!(payload["Payload"]["token"].is_string());
    let callbacks = run.callbacks.clone();
    assert_eq!(run.outcome().await.0, ExecutionOutcome::TimedOut);
    assert_eq!(callbacks.open_tokens(), 0);
}

#[tokio::test(start_paused = true)]
async fn one_registry_serves_concurrent_executions() {
    let callbacks = CallbackRegistry::new();
    let options = || ExecutionOptions {
        callbacks: callbacks.clone(),
        ..Default::default()
    };
    let mut a = start(machine(json!({}), json!({})), options());
    let mut b = start(machine(json!({}), json!({})), options());
    let (ta, tb) = (a.token().await, b.token().await);
    assert_eq!(callbacks.open_tokens(), 2);
    callbacks.send_task_success(&tb, json!("b")).unwrap();
    callbacks.send_task_success(&ta, json!("a")).unwrap();
    assert_eq!(
        a.outcome().await.0,
        ExecutionOutcome::Succeeded(json!({"job_id": "j", "callback": "a"}))
    );
    assert_eq!(
        b.outcome().await.0,
        ExecutionOutcome::Succeeded(json!({"job_id": "j", "callback": "b"}))
    );
}

#[tokio::test(start_paused = true)]
async fn a_failing_call_fails_the_task_without_waiting() {
    let m = machine(
        json!({"Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Fallback"}]}),
        json!({"Fallback": {"Type": "Pass", "End": true}}),
    );
    let failure = TaskFailure {
        error: "DynamoDB.ConditionalCheckFailedException".into(),
        cause: "no such job".into(),
    };
    let mut run = start_with(m, ExecutionOptions::default(), Err(failure));
    let token = run.token().await;
    let callbacks = run.callbacks.clone();
    let (outcome, _) = run.outcome().await;
    match outcome {
        ExecutionOutcome::Succeeded(out) => assert_eq!(
            out["error"]["Error"],
            "DynamoDB.ConditionalCheckFailedException"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        callbacks.send_task_success(&token, json!({})),
        Err(CallbackError::TaskTimedOut)
    );
}

/// A handler whose call is itself answered before it returns, as a fast webhook can.
struct AnswersItself(CallbackRegistry);

#[async_trait::async_trait]
impl TaskHandler for AnswersItself {
    async fn invoke(&self, _resource: &str, input: Value) -> Result<Value, TaskFailure> {
        let token = input["ExpressionAttributeValues"][":t"]["S"]
            .as_str()
            .unwrap_or_default();
        self.0
            .send_task_success(token, json!("early"))
            .map_err(|e| TaskFailure {
                error: e.code().into(),
                cause: e.to_string(),
            })?;
        Ok(json!({}))
    }
}

#[tokio::test(start_paused = true)]
async fn a_callback_during_the_call_is_kept() {
    let options = ExecutionOptions::default();
    let handler = AnswersItself(options.callbacks.clone());
    let report = machine(json!({"HeartbeatSeconds": 5}), json!({}))
        .execute(json!({"job_id": "j"}), &handler, options)
        .await;
    assert_eq!(
        report.outcome,
        ExecutionOutcome::Succeeded(json!({"job_id": "j", "callback": "early"}))
    );
}

#[tokio::test]
async fn the_task_token_exists_only_in_callback_tasks() {
    let def = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "fn",
        "Parameters": {"t.$": "$$.Task.Token"}, "End": true}}});
    let m = StateMachine::parse(&def.to_string(), &HashMap::new()).unwrap();
    let run = start(m, ExecutionOptions::default());
    assert!(matches!(
        run.outcome().await.0,
        ExecutionOutcome::Failed { ref error, .. } if error == "States.Runtime"
    ));
}

#[test]
fn callback_definitions_are_checked_at_parse_time() {
    let task = |fields: Value| {
        let mut t = json!({"Type": "Task", "End": true});
        if let (Value::Object(t), Value::Object(f)) = (&mut t, fields) {
            t.extend(f);
        }
        json!({"StartAt": "Wait for it", "States": {"Wait for it": t}}).to_string()
    };
    let refused = [
        (
            json!({"Resource": "arn:aws:states:::dynamodb:updateItem.waitForTaskToken"}),
            "optimized DynamoDB integration has no callback",
        ),
        (
            json!({"Resource": "arn:aws:states:::s3:putObject.waitForTaskToken"}),
            "no callback pattern",
        ),
        (
            json!({"Resource": "arn:aws:lambda:us-east-1:1:function:f.waitForTaskToken"}),
            "only for service integrations",
        ),
        (
            json!({"Resource": "arn:aws:states:::aws-sdk:dynamodb.waitForTaskToken"}),
            "aws-sdk:<service>:<action>",
        ),
        (
            json!({"Resource": DDB_CALLBACK, "HeartbeatSeconds": 60, "TimeoutSeconds": 60}),
            "HeartbeatSeconds (60) must be smaller than TimeoutSeconds (60)",
        ),
        (
            json!({"Resource": DDB_CALLBACK, "HeartbeatSeconds": 100000000}),
            "smaller than TimeoutSeconds (99999999)",
        ),
        (
            json!({"Resource": DDB_CALLBACK, "HeartbeatSeconds": 0}),
            "HeartbeatSeconds must be a positive integer",
        ),
        (
            json!({"Resource": DDB_CALLBACK, "HeartbeatSeconds": 1.5}),
            "HeartbeatSeconds must be a positive integer",
        ),
    ];
    for (fields, needle) in refused {
        let e = StateMachine::parse(&task(fields.clone()), &HashMap::new()).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains(needle), "{fields}: {msg}");
        assert!(msg.contains("\"Wait for it\""), "names the state: {msg}");
    }
    for resource in [
        DDB_CALLBACK,
        "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "arn:aws-cn:states:::sqs:sendMessage.waitForTaskToken",
    ] {
        StateMachine::parse(
            &task(json!({"Resource": resource, "HeartbeatSeconds": 5, "TimeoutSeconds": 6})),
            &HashMap::new(),
        )
        .unwrap_or_else(|e| panic!("{resource}: {e}"));
    }
}

#[tokio::test(start_paused = true)]
async fn timeout_seconds_path_reads_the_wait_from_the_input() {
    let m = machine(
        json!({"TimeoutSecondsPath": "$.wait", "Catch": [
            {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.error", "Next": "Fallback"}]}),
        json!({"Fallback": {"Type": "Pass", "End": true}}),
    );
    let (tx, mut calls) = mpsc::unbounded_channel();
    let handler = Recorder {
        calls: tx,
        result: Ok(json!({})),
    };
    let t0 = Instant::now();
    let report = m
        .execute(
            json!({"job_id": "j", "wait": 42}),
            &handler,
            ExecutionOptions::default(),
        )
        .await;
    assert!(calls.recv().await.is_some(), "the call was made");
    match report.outcome {
        ExecutionOutcome::Succeeded(out) => assert_eq!(out["error"]["Error"], "States.Timeout"),
        other => panic!("the path's timeout must go to the catcher: {other:?}"),
    }
    assert_eq!(
        t0.elapsed(),
        Duration::from_secs(42),
        "the input's 42 s, not a default"
    );

    for bad in [json!(0), json!("9"), json!(-1), json!(1.5)] {
        let (tx, _calls) = mpsc::unbounded_channel();
        let handler = Recorder {
            calls: tx,
            result: Ok(json!({})),
        };
        let report = m
            .execute(
                json!({"job_id": "j", "wait": bad}),
                &handler,
                ExecutionOptions::default(),
            )
            .await;
        match report.outcome {
            ExecutionOutcome::Failed { error, .. } => {
                assert_eq!(error, "States.Runtime", "wait {bad} is no timeout")
            }
            other => panic!("wait {bad}: {other:?}"),
        }
    }
}

#[test]
fn timeout_seconds_and_its_path_are_exclusive() {
    let def = json!({"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": DDB_CALLBACK, "TimeoutSeconds": 5,
        "TimeoutSecondsPath": "$.wait", "End": true}}});
    let e = StateMachine::parse(&def.to_string(), &HashMap::new()).unwrap_err();
    assert!(e.0.contains("TimeoutSecondsPath"), "{e}");
}
