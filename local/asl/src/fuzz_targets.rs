//! Fuzz targets for the definition parser and the path, template, intrinsic and Choice
//! evaluators, with the [`fuzzkit`] mutational fuzzer (`VIDGEN_FUZZ_SECS` each; see
//! `benches/fuzz.sh`). No input may panic, hang or hold more than 256 MiB.

use crate::choice::Cond;
use crate::parse::StateMachine;
use crate::path::Path;
use crate::template::{eval, fill};
use fuzzkit::fuzz;
use serde_json::{json, Value};
use std::collections::HashMap;

#[global_allocator]
static COUNTING: fuzzkit::CountingAllocator = fuzzkit::CountingAllocator;

const DEFINITION: &str = include_str!("../../../infra/state-machine.asl.json");

#[test]
fn definitions() {
    let substitutions: HashMap<String, String> = [
        (
            "SubmitFunctionArn",
            "arn:aws:lambda:us-east-1:1:function:submit",
        ),
        (
            "CheckStatusFunctionArn",
            "arn:aws:lambda:us-east-1:1:function:check",
        ),
        (
            "DownloadFunctionArn",
            "arn:aws:lambda:us-east-1:1:function:download",
        ),
        ("JobsTableName", "vidgen-jobs"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    // The seed is the real definition, and it parses: mutants start from valid ground.
    assert!(StateMachine::parse(DEFINITION, &substitutions).is_ok());
    fuzz(
        "asl_definitions",
        &[
            DEFINITION.as_bytes(),
            br#"{"StartAt":"A","States":{"A":{"Type":"Pass","Result":{"x":1},"ResultPath":"$.r","Next":"B"},"B":{"Type":"Choice","Choices":[{"Variable":"$.r.x","NumericEquals":1,"Next":"C"}],"Default":"C"},"C":{"Type":"Succeed"}}}"#,
        ],
        |bytes| {
            let _ = StateMachine::parse(&String::from_utf8_lossy(bytes), &substitutions);
        },
    );
}

fn data() -> Value {
    json!({"job_id": "vid_1", "polls": 3, "a": {"b": [1, 2, {"c": "d"}]}, "callback": true,
           "text": "{\"k\": [1, 2]}", "n": 1.5e300})
}

fn context() -> Value {
    json!({"Execution": {"Name": "vid_1", "StartTime": "2026-11-27T00:00:00Z"},
           "State": {"Name": "Submit", "RetryCount": 0}, "Task": {"Token": "t"}})
}

#[test]
fn paths_templates_and_intrinsics() {
    let (data, context) = (data(), context());
    fuzz(
        "asl_paths_and_intrinsics",
        &[
            b"$.a.b[2].c",
            b"$$.Execution.Name",
            b"States.Format('job#{}', $.job_id)",
            b"States.MathAdd($.polls, 1)",
            b"States.StringToJson($.text)",
            b"States.JsonToString($.a)",
            b"States.Array($.polls, 'x', States.UUID())",
        ],
        |bytes| {
            let text = String::from_utf8_lossy(bytes);
            if let Ok(path) = Path::parse(&text) {
                let _ = path.get(&data, &context);
                let _ = path.set(data.clone(), json!(1));
            }
            let _ = eval(&text, &data, &context);
            let template = json!({"x.$": text, "y": {"z.$": text}, "w": [text]});
            let _ = fill(&template, &data, &context);
        },
    );
}

#[test]
fn choice_rules() {
    let (data, context) = (data(), context());
    fuzz(
        "asl_choice_rules",
        &[
            br#"{"And":[{"Variable":"$.callback","IsPresent":true},{"Variable":"$.callback","BooleanEquals":true}],"Next":"X"}"#,
            br#"{"Or":[{"Variable":"$.polls","NumericGreaterThanEqualsPath":"$.n"},{"Not":{"Variable":"$.job_id","StringMatches":"vid_*"}}],"Next":"X"}"#,
        ],
        |bytes| {
            let Ok(rule) = serde_json::from_slice::<Value>(bytes) else {
                return;
            };
            if let Ok(cond) = Cond::parse(&rule) {
                let _ = cond.eval(&data, &context);
            }
        },
    );
}
