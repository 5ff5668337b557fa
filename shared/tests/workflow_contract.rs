//! The state machine definition, `template.yaml` and the step code agree.
//!
//! Each test reads the real files, so renaming an error in the ASL, dropping a
//! substitution from the template, or changing a step's input shape fails here.

mod common {
    pub mod template;
}

use asl::{ExecutionOptions, ExecutionOutcome, StateMachine, TaskFailure, TaskHandler};
use common::template::{tagged, Template};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;
use vidgen_shared::domain::ids::JobId;
use vidgen_shared::provider::openai::OpenAiConfig;
use vidgen_shared::workflow::contract::{CLEANUP_RESERVE, PROVIDER_REQUEST_TIMEOUT, STEP_RESERVE};
use vidgen_shared::workflow::{
    local_substitutions, CheckStatusInput, ExecutionEventDetail, StepErrorName, StepFunction,
    WorkflowState,
};

/// A well-formed job id.
const ID: &str = "vid_01ARZ3NDEKTSV4RRFFQ69G5FAV";

const DEFINITION: &str = include_str!("../../infra/state-machine.asl.json");

fn definition() -> Value {
    serde_json::from_str(DEFINITION).expect("the definition is JSON")
}

/// Every (state name, state) of the definition.
fn states(def: &Value) -> Vec<(String, Value)> {
    def["States"]
        .as_object()
        .expect("States")
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A Task that invokes one of our step functions (`WaitForWebhook` calls DynamoDB).
fn is_lambda_task(state: &Value) -> bool {
    state["Type"] == "Task" && state["Resource"] == "arn:aws:states:::lambda:invoke"
}

/// Every `${Name}` the definition uses.
fn substitutions_used() -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    let mut rest = DEFINITION;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let end = after.find('}').expect("an unclosed ${");
        used.insert(after[..end].to_string());
        rest = &after[end..];
    }
    used
}

#[test]
fn every_matched_error_name_is_one_a_step_raises() {
    let def = definition();
    let mut ours = BTreeSet::new();
    for (name, state) in states(&def) {
        for clause in ["Retry", "Catch"] {
            for rule in state[clause].as_array().into_iter().flatten() {
                for error in rule["ErrorEquals"].as_array().expect("ErrorEquals") {
                    let error = error.as_str().expect("error names are strings");
                    if error.starts_with("States.") || error.starts_with("Lambda.") {
                        continue;
                    }
                    assert!(
                        StepErrorName::from_name(error).is_some(),
                        "state {name} matches {error:?}, which no step raises; steps raise {:?}",
                        StepErrorName::ALL.map(StepErrorName::as_str)
                    );
                    ours.insert(error.to_string());
                }
            }
        }
    }
    assert!(
        ours.contains(StepErrorName::Retryable.as_str()),
        "the definition retries Retryable somewhere"
    );
}

#[test]
fn every_task_retries_passing_faults_and_ends_failures_on_the_record() {
    let def = definition();
    for (name, state) in states(&def) {
        if !is_lambda_task(&state) {
            continue;
        }
        let retries: Vec<&str> = state["Retry"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|r| r["ErrorEquals"].as_array().into_iter().flatten())
            .filter_map(Value::as_str)
            .collect();
        assert!(
            retries.contains(&StepErrorName::Retryable.as_str()),
            "{name} does not retry Retryable"
        );
        if name == "RecordFailure" {
            continue;
        }
        let catches_all = state["Catch"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["ErrorEquals"] == json!(["States.ALL"]) && c["Next"] == "RecordFailure");
        assert!(
            catches_all,
            "{name} does not catch States.ALL into RecordFailure"
        );
    }
}

#[test]
fn substitutions_are_provided_by_the_template_and_the_local_engine() {
    let used = substitutions_used();
    let template = Template::load();
    let provided: BTreeSet<String> = template.resource("JobStateMachine")["Properties"]
        ["DefinitionSubstitutions"]
        .as_mapping()
        .expect("DefinitionSubstitutions")
        .keys()
        .filter_map(|k| k.as_str().map(str::to_string))
        .collect();
    assert_eq!(
        used, provided,
        "the definition's ${{…}} and template.yaml's DefinitionSubstitutions differ"
    );
    let local: BTreeSet<String> = local_substitutions().into_keys().collect();
    assert_eq!(
        used, local,
        "the definition's ${{…}} and the local engine's substitutions differ"
    );
}

#[test]
fn every_task_names_a_function_the_template_defines() {
    let template = Template::load();
    let functions = template.resources_of("AWS::Serverless::Function");
    let subs = &template.resource("JobStateMachine")["Properties"]["DefinitionSubstitutions"];
    for (name, state) in states(&definition()) {
        if !is_lambda_task(&state) {
            continue;
        }
        assert_eq!(
            state["Resource"], "arn:aws:states:::lambda:invoke",
            "{name} invokes a Lambda"
        );
        let target = state["Parameters"]["FunctionName"]
            .as_str()
            .and_then(|f| f.strip_prefix("${"))
            .and_then(|f| f.strip_suffix('}'))
            .unwrap_or_else(|| panic!("{name}'s FunctionName is one ${{…}} substitution"));
        let step = StepFunction::ALL
            .into_iter()
            .find(|f| f.substitution() == target)
            .unwrap_or_else(|| panic!("{name} calls ${{{target}}}, which is no step function"));
        let (tag, value) = tagged(&subs[target]);
        assert_eq!(tag, "!GetAtt", "{target} is a function's ARN");
        let resource = value.as_str().unwrap().trim_end_matches(".Arn");
        assert_eq!(
            resource,
            step.template_resource(),
            "{target} points at the wrong function"
        );
        assert!(
            functions.iter().any(|f| f == resource),
            "{name} calls {resource}, which template.yaml does not define"
        );
        let binary = &template.resource(resource)["Metadata"]["BuildProperties"]["Binary"];
        assert_eq!(
            binary.as_str(),
            Some(step.name()),
            "{resource} builds the binary for {}",
            step.name()
        );
    }
}

/// Runs the real definition and checks that every Task's payload is the typed input
/// its function reads.
struct TypedSteps {
    calls: Mutex<Vec<(StepFunction, Value)>>,
    fail_download: bool,
}

#[async_trait::async_trait]
impl TaskHandler for TypedSteps {
    async fn invoke(&self, _resource: &str, input: Value) -> Result<Value, TaskFailure> {
        let function = StepFunction::from_name(input["FunctionName"].as_str().unwrap())
            .expect("a step function");
        let payload = input["Payload"].clone();
        self.calls.lock().unwrap().push((function, payload.clone()));
        let state = |next: &str| json!({"job_id": ID, "provider_video_id": "video_1", "next": next, "wait_seconds": 1});
        let out = match function {
            StepFunction::Submit | StepFunction::Download => {
                let parsed: WorkflowState = serde_json::from_value(payload)
                    .unwrap_or_else(|e| panic!("{} input: {e}", function.name()));
                assert_eq!(parsed.job_id, ID);
                if function == StepFunction::Download && self.fail_download {
                    return Err(TaskFailure {
                        error: StepErrorName::Failed.as_str().into(),
                        cause: "{}".into(),
                    });
                }
                state(if function == StepFunction::Submit {
                    "wait"
                } else {
                    "done"
                })
            }
            StepFunction::CheckStatus => {
                match serde_json::from_value::<CheckStatusInput>(payload.clone())
                    .unwrap_or_else(|e| panic!("check-status input {payload}: {e}"))
                {
                    CheckStatusInput::Poll { state: s } => {
                        assert_eq!(s.provider_video_id.as_deref(), Some("video_1"));
                        state("download")
                    }
                    CheckStatusInput::RecordFailure { job_id, failure } => {
                        assert_eq!((job_id.as_str(), failure.error.as_str()), (ID, "Failed"));
                        json!({"job_id": job_id, "status": "failed"})
                    }
                    CheckStatusInput::ExecutionEnded { .. } => {
                        panic!("the definition never sends execution_ended")
                    }
                }
            }
        };
        Ok(json!({ "Payload": out, "StatusCode": 200 }))
    }
}

#[tokio::test(start_paused = true)]
async fn every_task_sends_its_function_the_input_it_reads() {
    let machine = StateMachine::parse(DEFINITION, &local_substitutions()).unwrap();
    for fail_download in [false, true] {
        let steps = TypedSteps {
            calls: Mutex::new(Vec::new()),
            fail_download,
        };
        let report = machine
            .execute(
                WorkflowState::start(&JobId::parse(ID).unwrap()),
                &steps,
                ExecutionOptions::default(),
            )
            .await;
        let calls: Vec<StepFunction> = steps.calls.lock().unwrap().iter().map(|c| c.0).collect();
        if fail_download {
            assert!(matches!(report.outcome, ExecutionOutcome::Failed { .. }));
            assert_eq!(
                calls.last(),
                Some(&StepFunction::CheckStatus),
                "RecordFailure ran"
            );
        } else {
            assert!(matches!(report.outcome, ExecutionOutcome::Succeeded(_)));
            assert_eq!(
                calls,
                [
                    StepFunction::Submit,
                    StepFunction::CheckStatus,
                    StepFunction::Download
                ]
            );
        }
    }
}

#[test]
fn the_eventbridge_rule_sends_check_status_its_execution_ended_input() {
    let event = json!({
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "detail": {"name": ID, "status": "TIMED_OUT", "executionArn": "arn:x", "cause": null}
    });
    let input = Template::load().transform_execution_event(&event);
    assert_eq!(
        serde_json::from_value::<CheckStatusInput>(input).unwrap(),
        CheckStatusInput::ExecutionEnded {
            job_id: JobId::parse(ID).unwrap(),
            status: "TIMED_OUT".into(),
            detail: ExecutionEventDetail::default(),
        }
    );
    // A stop's cause arrives as the string it was given; an event without the field at
    // all still makes a valid input.
    let stopped = json!({
        "detail": {"name": ID, "status": "ABORTED", "cause": "{\"video\":\"video_1\"}"}
    });
    let without_cause = json!({"detail": {"name": ID, "status": "FAILED"}});
    for (event, cause) in [
        (stopped, Some("{\"video\":\"video_1\"}".to_string())),
        (without_cause, None),
    ] {
        let input = Template::load().transform_execution_event(&event);
        let CheckStatusInput::ExecutionEnded { detail, .. } =
            serde_json::from_value::<CheckStatusInput>(input).unwrap()
        else {
            panic!("not an execution_ended input")
        };
        assert_eq!(detail.cause, cause);
    }
}

/// For every Task and the function it calls: provider request timeout < in-process
/// budget < Lambda `Timeout` < Task `TimeoutSeconds`, from the real template, the real
/// definition and the code's constants. Broken, a provider's long `Retry-After` kills
/// the Lambda mid-wait (`Sandbox.Timedout`), which no Retry matches, or a Task's retry
/// overlaps a submit still running.
#[test]
fn the_time_limits_ladder_holds_for_every_step_function() {
    let template = Template::load();
    let request = PROVIDER_REQUEST_TIMEOUT;
    assert_eq!(
        OpenAiConfig::new("http://x/v1", vidgen_shared::config::Secret::new("k")).request_timeout,
        request,
        "the client uses the ladder's request timeout"
    );
    assert!(
        CLEANUP_RESERVE < STEP_RESERVE,
        "the cleanup fits in the step's reserve"
    );
    let mut checked = BTreeSet::new();
    for (name, state) in states(&definition()) {
        if !is_lambda_task(&state) {
            continue;
        }
        let target = state["Parameters"]["FunctionName"]
            .as_str()
            .and_then(|f| f.strip_prefix("${"))
            .and_then(|f| f.strip_suffix('}'))
            .unwrap_or_else(|| panic!("{name}'s FunctionName is one ${{…}} substitution"));
        let function = StepFunction::ALL
            .into_iter()
            .find(|f| f.substitution() == target)
            .unwrap_or_else(|| panic!("{name} calls ${{{target}}}, which is no step function"));
        let lambda = Duration::from_secs(template.function_timeout(function.template_resource()));
        assert_eq!(
            lambda,
            function.lambda_timeout(),
            "template.yaml's {} Timeout and StepFunction::lambda_timeout differ (the local engine gives the latter)",
            function.template_resource()
        );
        let budget = function.in_process_budget();
        let task = state["TimeoutSeconds"]
            .as_u64()
            .map(Duration::from_secs)
            .unwrap_or_else(|| panic!("{name} sets no TimeoutSeconds"));
        assert!(
            request < budget && budget < lambda && lambda < task,
            "{name} ({}): request {request:?} < budget {budget:?} < Lambda {lambda:?} < Task {task:?} does not hold",
            function.name()
        );
        checked.insert(function.name());
    }
    assert_eq!(
        checked.len(),
        StepFunction::ALL.len(),
        "every step function is called by some Task: {checked:?}"
    );
}

/// A provider's longest honoured `Retry-After` is outwaited: in-process when the step's
/// budget holds it and a request, else by the Retry it is handed to, whose last wait
/// must reach it, so a rate-limited job is not failed early.
#[test]
fn retryable_retries_outwait_the_longest_retry_after() {
    let longest = vidgen_shared::provider::retry::RetryPolicy::default().max_retry_after;
    for (name, state) in states(&definition()) {
        if !is_lambda_task(&state) || name == "RecordFailure" {
            continue;
        }
        let function = StepFunction::ALL
            .into_iter()
            .find(|f| state["Parameters"]["FunctionName"] == format!("${{{}}}", f.substitution()))
            .expect("a step function");
        if function.in_process_budget() >= longest + PROVIDER_REQUEST_TIMEOUT {
            continue;
        }
        let rule = state["Retry"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| {
                r["ErrorEquals"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|e| e == "Retryable")
            })
            .unwrap_or_else(|| panic!("{name} retries Retryable"));
        let (interval, rate, attempts) = (
            rule["IntervalSeconds"].as_f64().unwrap_or(1.0),
            rule["BackoffRate"].as_f64().unwrap_or(2.0),
            rule["MaxAttempts"].as_u64().unwrap_or(3),
        );
        let cap = rule["MaxDelaySeconds"].as_f64().unwrap_or(f64::MAX);
        let last = (interval * rate.powi(attempts.saturating_sub(1) as i32)).min(cap);
        assert!(
            last >= longest.as_secs_f64(),
            "{name}: the last retry waits at most {last} s, under the {longest:?} a provider may ask"
        );
    }
}

#[test]
fn wait_for_webhook_is_the_stores_arming_write_and_falls_back_to_polling() {
    use vidgen_shared::workflow::contract::{
        JOBS_TABLE_SUBSTITUTION, WAIT_FOR_WEBHOOK_CONDITION, WAIT_FOR_WEBHOOK_UPDATE,
        WAIT_FOR_WEBHOOK_VERSION_NAME, WEBHOOK_WAIT_RESOURCE,
    };
    let def = definition();
    // Every Task but WaitForWebhook invokes one of our functions.
    for (name, state) in states(&def) {
        if state["Type"] == "Task" && name != "WaitForWebhook" {
            assert!(is_lambda_task(&state), "{name} invokes a Lambda");
        }
    }
    let wait = &def["States"]["WaitForWebhook"];
    assert_eq!(
        wait["Resource"],
        format!("{WEBHOOK_WAIT_RESOURCE}.waitForTaskToken")
    );
    let p = &wait["Parameters"];
    assert_eq!(p["TableName"], format!("${{{JOBS_TABLE_SUBSTITUTION}}}"));
    // The same key the DynamoDB store writes jobs under.
    assert_eq!(
        p["Key"],
        json!({"pk": {"S.$": "States.Format('job#{}', $.job_id)"}})
    );
    assert_eq!(p["UpdateExpression"], WAIT_FOR_WEBHOOK_UPDATE);
    assert_eq!(p["ConditionExpression"], WAIT_FOR_WEBHOOK_CONDITION);
    assert_eq!(
        p["ExpressionAttributeNames"],
        json!({"#v": WAIT_FOR_WEBHOOK_VERSION_NAME})
    );
    assert_eq!(
        p["ExpressionAttributeValues"],
        json!({":token": {"S.$": "$$.Task.Token"}, ":one": {"N": "1"}})
    );
    // Submit's state names the wait; a webhook goes straight to the download, and any
    // failure (timeout, refused arming, a failed render) to the polling loop.
    assert_eq!(wait["TimeoutSecondsPath"], "$.webhook_wait_seconds");
    assert_eq!(wait["ResultPath"], "$.pushed");
    assert_eq!(wait["Next"], "DownloadToS3");
    assert_eq!(
        wait["Catch"],
        json!([{
            "Comment": wait["Catch"][0]["Comment"],
            "ErrorEquals": ["States.ALL"],
            "ResultPath": null,
            "Next": "CheckStatus"
        }])
    );
    let state = serde_json::to_value(WorkflowState {
        callback: true,
        webhook_wait_seconds: 60,
        ..serde_json::from_value(json!({"job_id": ID})).unwrap()
    })
    .unwrap();
    assert_eq!(state["callback"], true);
    assert_eq!(state["webhook_wait_seconds"], 60);
    // The template hands the jobs table to the definition.
    let template = Template::load();
    let subs = &template.resource("JobStateMachine")["Properties"]["DefinitionSubstitutions"];
    assert!(
        !subs[JOBS_TABLE_SUBSTITUTION].is_null(),
        "{JOBS_TABLE_SUBSTITUTION} is substituted"
    );
}
