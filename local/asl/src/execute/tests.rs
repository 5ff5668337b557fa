use crate::{ExecutionOptions, ExecutionOutcome, StateMachine, TaskFailure, TaskHandler};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Answers each call from a script of results, and records what it was given.
struct Scripted {
    results: Mutex<Vec<Result<Value, TaskFailure>>>,
    calls: Mutex<Vec<(String, Value)>>,
    delay: Duration,
}

impl Scripted {
    fn new(results: Vec<Result<Value, TaskFailure>>) -> Scripted {
        Scripted {
            results: Mutex::new(results.into_iter().rev().collect()),
            calls: Mutex::new(Vec::new()),
            delay: Duration::ZERO,
        }
    }
}

#[async_trait::async_trait]
impl TaskHandler for Scripted {
    async fn invoke(&self, resource: &str, input: Value) -> Result<Value, TaskFailure> {
        self.calls
            .lock()
            .unwrap()
            .push((resource.to_string(), input));
        tokio::time::sleep(self.delay).await;
        self.results.lock().unwrap().pop().unwrap_or(Ok(json!({})))
    }
}

fn fail(error: &str) -> Result<Value, TaskFailure> {
    Err(TaskFailure {
        error: error.into(),
        cause: format!("cause of {error}"),
    })
}

fn sm(def: Value) -> StateMachine {
    StateMachine::parse(&def.to_string(), &HashMap::new()).unwrap()
}

fn task(next: &str, extra: Value) -> Value {
    let mut t = json!({"Type": "Task", "Resource": "fn", "Next": next});
    if let (Value::Object(t), Value::Object(e)) = (&mut t, extra) {
        t.extend(e);
    }
    t
}

#[tokio::test(start_paused = true)]
async fn retries_back_off_then_catch_places_the_error() {
    let def = json!({"StartAt": "T", "States": {
        "T": task("Ok", json!({
            "Retry": [{"ErrorEquals": ["Retryable"], "IntervalSeconds": 2, "MaxAttempts": 2, "BackoffRate": 3}],
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "Caught"}]})),
        "Ok": {"Type": "Succeed"},
        "Caught": {"Type": "Pass", "End": true}}});
    let h = Scripted::new(vec![
        fail("Retryable"),
        fail("Retryable"),
        fail("Retryable"),
    ]);
    let t0 = tokio::time::Instant::now();
    let report = sm(def)
        .execute(json!({"job_id": "j"}), &h, ExecutionOptions::default())
        .await;
    assert_eq!(t0.elapsed(), Duration::from_secs(2 + 6), "2 s, then 2*3 s");
    assert_eq!(h.calls.lock().unwrap().len(), 3, "one try and two retries");
    match report.outcome {
        ExecutionOutcome::Succeeded(out) => {
            assert_eq!(out["job_id"], "j");
            assert_eq!(
                out["failure"],
                json!({"Error": "Retryable", "Cause": "cause of Retryable"})
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        report.transitions,
        1 + 2 + 1,
        "retries count as transitions"
    );
}

#[tokio::test(start_paused = true)]
async fn full_jitter_stays_within_the_delay_and_max_delay_caps() {
    let def = json!({"StartAt": "T", "States": {"T": task("Ok", json!({
        "Retry": [{"ErrorEquals": ["E"], "IntervalSeconds": 100, "MaxAttempts": 3, "MaxDelaySeconds": 5, "JitterStrategy": "FULL"}]})),
        "Ok": {"Type": "Succeed"}}});
    let h = Scripted::new(vec![fail("E"), fail("E"), fail("E")]);
    let t0 = tokio::time::Instant::now();
    let report = sm(def)
        .execute(json!({}), &h, ExecutionOptions::default())
        .await;
    assert!(
        t0.elapsed() <= Duration::from_secs(15),
        "three delays of at most 5 s"
    );
    assert!(matches!(report.outcome, ExecutionOutcome::Succeeded(_)));
}

#[tokio::test(start_paused = true)]
async fn unmatched_errors_fail_the_execution() {
    let def = json!({"StartAt": "T", "States": {"T": task("Ok", json!({
        "Retry": [{"ErrorEquals": ["Retryable"]}],
        "Catch": [{"ErrorEquals": ["Failed"], "Next": "Ok"}]})), "Ok": {"Type": "Succeed"}}});
    let h = Scripted::new(vec![fail("Other")]);
    let report = sm(def)
        .execute(json!({}), &h, ExecutionOptions::default())
        .await;
    assert_eq!(
        report.outcome,
        ExecutionOutcome::Failed {
            error: "Other".into(),
            cause: "cause of Other".into()
        }
    );
}

#[tokio::test(start_paused = true)]
async fn task_timeouts_are_states_timeout_and_catchable() {
    let def = json!({"StartAt": "T", "States": {"T": task("Ok", json!({"TimeoutSeconds": 5,
        "Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "Ok"}, {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.e", "Next": "Timed"}]})),
        "Ok": {"Type": "Succeed"}, "Timed": {"Type": "Pass", "End": true}}});
    let mut h = Scripted::new(vec![Ok(json!({}))]);
    h.delay = Duration::from_secs(60);
    let report = sm(def)
        .execute(json!({}), &h, ExecutionOptions::default())
        .await;
    match report.outcome {
        ExecutionOutcome::Succeeded(out) => assert_eq!(out["e"]["Error"], "States.Timeout"),
        other => panic!("TaskFailed must not match a timeout: {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn the_top_level_timeout_and_cancellation_end_the_run() {
    let def = json!({"StartAt": "W", "TimeoutSeconds": 10, "States": {"W": {"Type": "Wait", "Seconds": 60, "Next": "Ok"}, "Ok": {"Type": "Succeed"}}});
    let h = Scripted::new(vec![]);
    assert_eq!(
        sm(def.clone())
            .execute(json!({}), &h, ExecutionOptions::default())
            .await
            .outcome,
        ExecutionOutcome::TimedOut
    );
    let options = ExecutionOptions::default();
    let cancel = options.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        cancel.cancel();
    });
    let t0 = tokio::time::Instant::now();
    let def = json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 600, "Next": "Ok"}, "Ok": {"Type": "Succeed"}}});
    assert_eq!(
        sm(def).execute(json!({}), &h, options).await.outcome,
        ExecutionOutcome::Aborted
    );
    assert!(t0.elapsed() < Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn time_scale_shrinks_waits() {
    let def = json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "SecondsPath": "$.s", "Next": "Ok"}, "Ok": {"Type": "Succeed"}}});
    let h = Scripted::new(vec![]);
    let t0 = tokio::time::Instant::now();
    let options = ExecutionOptions {
        time_scale: 0.01,
        ..Default::default()
    };
    sm(def).execute(json!({"s": 100}), &h, options).await;
    assert_eq!(t0.elapsed(), Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn the_project_definition_runs_its_loop() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../infra/state-machine.asl.json"
    );
    let text = std::fs::read_to_string(path).expect("infra/state-machine.asl.json");
    let machine =
        StateMachine::parse(&text, &vidgen_shared::workflow::local_substitutions()).unwrap();
    let payload = |v: Value| Ok(json!({"Payload": v, "StatusCode": 200}));
    let h = Scripted::new(vec![
        payload(json!({"job_id": "j", "wait_seconds": 5, "next": "wait"})),
        payload(json!({"job_id": "j", "wait_seconds": 5, "next": "wait"})),
        payload(json!({"job_id": "j", "wait_seconds": 5, "next": "download"})),
        payload(json!({"job_id": "j", "next": "done"})),
    ]);
    let report = machine
        .execute(json!({"job_id": "j"}), &h, ExecutionOptions::default())
        .await;
    assert_eq!(
        report.outcome,
        ExecutionOutcome::Succeeded(json!({"job_id": "j", "next": "done"}))
    );
    let calls = h.calls.lock().unwrap().clone();
    let names: Vec<_> = calls
        .iter()
        .map(|(_, p)| p["FunctionName"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        ["submit", "check-status", "check-status", "download-to-s3"]
    );
    assert_eq!(
        calls[1].1["Payload"],
        json!({"action": "poll", "state": {"job_id": "j", "wait_seconds": 5, "next": "wait"}}),
        "the step's output feeds the next step, tagged for check-status"
    );
    // Submit, HowToWait (no `callback`: poll), (Wait, Check, Choice) x2, Download, Done
    assert_eq!(report.transitions, 1 + 1 + 3 * 2 + 1 + 1);

    // A failing step ends in RecordFailure with the caught error, then Fail.
    let h = Scripted::new(vec![fail("Failed"), payload(json!({"status": "failed"}))]);
    let report = machine
        .execute(json!({"job_id": "j"}), &h, ExecutionOptions::default())
        .await;
    assert!(
        matches!(report.outcome, ExecutionOutcome::Failed { ref error, .. } if error == "JobFailed")
    );
    let calls = h.calls.lock().unwrap();
    assert_eq!(
        calls[1].1["Payload"],
        json!({"action": "record_failure", "job_id": "j", "failure": {"Error": "Failed", "Cause": "cause of Failed"}})
    );
}

#[test]
fn parse_errors_name_the_state() {
    let bad = [
        (json!({"StartAt": "X", "States": {}}), "StartAt"),
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Map", "End": true}}}),
            "\"A\"",
        ),
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}}}),
            "\"A\"",
        ),
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "r", "Bogus": 1, "End": true}}}),
            "Bogus",
        ),
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Pass"}}}),
            "Next or End",
        ),
    ];
    for (def, needle) in bad {
        let e = StateMachine::parse(&def.to_string(), &HashMap::new()).unwrap_err();
        assert!(
            e.to_string().contains(needle),
            "{e} should mention {needle}"
        );
    }
}

#[tokio::test]
async fn substitutions_and_runtime_errors() {
    let def = r#"{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "${Fn}", "Parameters": {"x.$": "$.missing"}, "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Ok"}], "End": true}, "Ok": {"Type": "Succeed"}}}"#;
    let subs = HashMap::from([("Fn".to_string(), "arn:fn".to_string())]);
    let machine = StateMachine::parse(def, &subs).unwrap();
    let h = Scripted::new(vec![]);
    let report = machine
        .execute(json!({}), &h, ExecutionOptions::default())
        .await;
    assert!(
        matches!(report.outcome, ExecutionOutcome::Failed { ref error, .. } if error == "States.Runtime"),
        "States.Runtime is not caught"
    );
    assert!(h.calls.lock().unwrap().is_empty());
}
