//! template.yaml against what the code needs and promises.
//!
//! CloudFormation's short-form functions (`!Ref`, `!Sub`, `!GetAtt`, …) are YAML tags;
//! the parser keeps them as tagged values, and [`text`] reads through them.

// The template harness; its other helpers serve other test binaries.
#[allow(dead_code)]
mod common {
    pub mod template;
}

use common::template::{Deployment, Template};
use serde_yaml_ng::Value;
use std::collections::{BTreeMap, BTreeSet};
use vidgen_shared::domain::{Model, ProviderId};
use vidgen_shared::settings::{ApiSettings, StepSettings};
use vidgen_shared::workflow::StepFunction;

fn template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    let raw = std::fs::read_to_string(path).unwrap();
    serde_yaml_ng::from_str(&raw).unwrap()
}

/// A plain string, or the string inside a `!Sub`/`!Ref`/`Fn::Sub` form.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Tagged(t) => text(&t.value),
        Value::Mapping(m) if m.len() == 1 => {
            m.get("Fn::Sub").or_else(|| m.get("Ref")).and_then(text)
        }
        _ => None,
    }
}

fn list(v: &Value) -> Vec<Value> {
    match v {
        Value::Sequence(s) => s.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

/// Every S3 statement of a function's inline policies: resource → actions.
fn s3_statements(function: &str) -> BTreeMap<String, Vec<String>> {
    let t = template();
    let policies = &t["Resources"][function]["Properties"]["Policies"];
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for policy in list(policies) {
        for statement in list(&policy["Statement"]) {
            let actions: Vec<String> = list(&statement["Action"]).iter().filter_map(text).collect();
            if !actions.iter().any(|a| a.starts_with("s3:")) {
                continue;
            }
            assert_eq!(text(&statement["Effect"]).as_deref(), Some("Allow"));
            for resource in list(&statement["Resource"]) {
                let resource = text(&resource).expect("a resource we can read");
                out.entry(resource).or_default().extend(actions.clone());
            }
        }
    }
    out
}

#[test]
fn the_api_role_touches_only_uploads_and_videos_with_the_actions_each_needs() {
    let statements = s3_statements("ApiFunction");
    assert!(!statements.is_empty(), "the API needs S3 to sign links");
    // Presigned PUT and HEAD for uploads; presigned GET and DELETE for videos.
    let allowed: BTreeMap<&str, &[&str]> = BTreeMap::from([
        (
            "${VideosBucket.Arn}/uploads/*",
            &["s3:PutObject", "s3:GetObject"][..],
        ),
        (
            "${VideosBucket.Arn}/videos/*",
            &["s3:GetObject", "s3:DeleteObject"][..],
        ),
    ]);
    for (resource, actions) in &statements {
        let Some(ok) = allowed.get(resource.as_str()) else {
            panic!("ApiFunction's S3 statement names {resource:?}; only uploads/* and videos/* are allowed");
        };
        for action in actions {
            assert!(ok.contains(&action.as_str()), "{action} on {resource}");
        }
    }
    // And each prefix gets what the code uses.
    let has = |r: &str, a: &str| statements.get(r).is_some_and(|v| v.iter().any(|x| x == a));
    assert!(has("${VideosBucket.Arn}/uploads/*", "s3:PutObject"));
    assert!(has("${VideosBucket.Arn}/uploads/*", "s3:GetObject"));
    assert!(has("${VideosBucket.Arn}/videos/*", "s3:GetObject"));
    assert!(has("${VideosBucket.Arn}/videos/*", "s3:DeleteObject"));
}

#[test]
fn url_ttl_seconds_is_capped_where_the_code_caps_it() {
    let t = template();
    let p = &t["Parameters"]["UrlTtlSeconds"];
    let max = p["MaxValue"]
        .as_u64()
        .expect("UrlTtlSeconds has a MaxValue");
    let default = p["Default"].as_u64().unwrap();
    let cap = vidgen_shared::api::MAX_URL_TTL_SECS;
    assert!(max <= cap, "MaxValue {max} > the code's cap {cap}");
    assert!(default <= max);
    // The code refuses what the template refuses, naming the variable.
    let ok = std::time::Duration::from_secs(max);
    assert_eq!(vidgen_shared::api::check_url_ttl(ok).unwrap(), ok);
    let e = vidgen_shared::api::check_url_ttl(std::time::Duration::from_secs(cap + 1)).unwrap_err();
    assert_eq!(e.var, "URL_TTL_SECS");
    assert!(e.message.contains(&cap.to_string()), "{}", e.message);
}

/// Every `AWS::Serverless::Function`: logical id → its `Binary`.
fn functions(t: &Value) -> BTreeMap<String, String> {
    let Value::Mapping(resources) = &t["Resources"] else {
        panic!("template has no Resources")
    };
    resources
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|(id, r)| {
            let binary = r["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .unwrap_or_else(|| panic!("{id:?} names no Binary"));
            (id.as_str().unwrap().to_string(), binary.to_string())
        })
        .collect()
}

#[test]
fn each_function_is_given_only_variables_it_reads_and_every_one_it_requires() {
    use vidgen_shared::settings::{Function, VARIABLES};
    let t = template();
    let globals: Vec<String> = match &t["Globals"]["Function"]["Environment"]["Variables"] {
        Value::Mapping(m) => m
            .keys()
            .filter_map(|k| k.as_str())
            .map(String::from)
            .collect(),
        _ => Vec::new(),
    };
    let functions = functions(&t);
    assert_eq!(
        functions.len(),
        Function::ALL.len(),
        "every template function is a settings::Function and back: {functions:?}"
    );
    for function in Function::ALL {
        let (id, _) = functions
            .iter()
            .find(|(_, binary)| *binary == function.name())
            .unwrap_or_else(|| panic!("no template function builds {}", function.name()));
        let mut set: Vec<String> = globals.clone();
        if let Value::Mapping(m) =
            &t["Resources"][id.as_str()]["Properties"]["Environment"]["Variables"]
        {
            set.extend(m.keys().filter_map(|k| k.as_str()).map(String::from));
        }
        let reads = |name: &str| {
            VARIABLES
                .iter()
                .any(|v| v.name == name && v.read_by.contains(&function))
        };
        for name in &set {
            assert!(reads(name), "{id} is given {name}, which it never reads");
        }
        // Tuning variables keep their defaults unless set by hand; what is required is set.
        for v in VARIABLES.iter().filter(|v| v.read_by.contains(&function)) {
            if v.default == vidgen_shared::settings::REQUIRED {
                assert!(set.iter().any(|n| n == v.name), "{id} needs {} set", v.name);
            }
        }
    }
}

#[test]
fn every_function_binary_is_a_workspace_binary_the_build_script_builds() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let script = std::fs::read_to_string(format!("{root}/scripts/build-lambdas.sh")).unwrap();
    for (id, binary) in functions(&template()) {
        let manifest = format!("{root}/functions/{binary}/Cargo.toml");
        let manifest = std::fs::read_to_string(&manifest)
            .unwrap_or_else(|_| panic!("{id} builds {binary}, but {manifest} is missing"));
        assert!(manifest.contains(&format!("name = \"{binary}\"")), "{id}");
        assert!(
            script.contains(&format!("--bin {binary} "))
                || script.contains(&format!("--bin {binary}\n")),
            "scripts/build-lambdas.sh does not build {binary}"
        );
    }
}

#[test]
fn the_sweeper_runs_on_a_schedule_and_may_only_describe_this_machines_executions() {
    let t = template();
    let sweeper = &t["Resources"]["SweeperFunction"]["Properties"];
    let Value::Mapping(events) = &sweeper["Events"] else {
        panic!("the sweeper has no events")
    };
    let schedules: Vec<&Value> = events
        .values()
        .filter(|e| e["Type"].as_str() == Some("Schedule"))
        .collect();
    assert_eq!(schedules.len(), 1, "one schedule");
    let rate = text(&schedules[0]["Properties"]["Schedule"]).unwrap();
    // The sweep looks at jobs untouched for STUCK_AFTER; running it much less often than
    // that would leave stuck jobs for hours.
    let minutes: u64 = rate
        .trim_start_matches("rate(")
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("schedule {rate:?} is not rate(N minutes)"));
    assert!(rate.ends_with("minutes)"), "{rate}");
    let stuck_after = vidgen_shared::workflow::sweep::STUCK_AFTER.as_secs() / 60;
    assert!(
        minutes <= stuck_after,
        "every {minutes} min vs {stuck_after} min"
    );
    // The sweeper's timeout leaves room for a scan and a lookup per stuck job.
    assert!(sweeper["Timeout"].as_u64().unwrap() >= 60);
    let mut describe = Vec::new();
    for policy in list(&sweeper["Policies"]) {
        for statement in list(&policy["Statement"]) {
            let actions: Vec<String> = list(&statement["Action"]).iter().filter_map(text).collect();
            assert!(
                !actions
                    .iter()
                    .any(|a| a.starts_with("states:") && a != "states:DescribeExecution"),
                "the sweeper only looks: {actions:?}"
            );
            if actions.iter().any(|a| a == "states:DescribeExecution") {
                describe.extend(list(&statement["Resource"]).iter().filter_map(text));
            }
        }
    }
    assert_eq!(
        describe,
        ["arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${JobStateMachine.Name}:*"]
    );
}

#[test]
fn alarms_tell_the_topic_and_watch_resources_of_this_stack() {
    let t = template();
    let Value::Mapping(resources) = &t["Resources"] else {
        panic!("template has no Resources")
    };
    let alarms: Vec<(&Value, &Value)> = resources
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::CloudWatch::Alarm"))
        .collect();
    let watched = |alarm: &Value| -> Vec<String> {
        let p = &alarm["Properties"];
        let mut dims = list(&p["Dimensions"]);
        for m in list(&p["Metrics"]) {
            dims.extend(list(&m["MetricStat"]["Metric"]["Dimensions"]));
        }
        dims.iter()
            .map(|d| text(&d["Value"]).expect("a dimension value"))
            .collect()
    };
    for (id, alarm) in &alarms {
        let p = &alarm["Properties"];
        assert_eq!(
            list(&p["AlarmActions"])
                .iter()
                .filter_map(text)
                .collect::<Vec<_>>(),
            ["AlarmTopic"],
            "{id:?} tells the alarm topic"
        );
        assert_eq!(
            p["TreatMissingData"].as_str(),
            Some("notBreaching"),
            "{id:?}: no traffic is no alarm"
        );
        for resource in watched(alarm) {
            // `!GetAtt Queue.QueueName` reads as "Queue.QueueName".
            let resource = resource.split('.').next().unwrap_or_default().to_string();
            assert!(
                resources.contains_key(resource.as_str()),
                "{id:?} watches {resource}, not in the stack"
            );
        }
    }
    let all_watched: Vec<String> = alarms.iter().flat_map(|(_, a)| watched(a)).collect();
    for (id, _) in functions(&t) {
        assert!(
            all_watched.contains(&id),
            "no alarm watches {id} (throttles)"
        );
    }
    let metric_names: Vec<String> = alarms
        .iter()
        .flat_map(|(_, a)| {
            let p = &a["Properties"];
            let mut names: Vec<String> = p["MetricName"]
                .as_str()
                .map(String::from)
                .into_iter()
                .collect();
            names.extend(list(&p["Metrics"]).iter().filter_map(|m| {
                m["MetricStat"]["Metric"]["MetricName"]
                    .as_str()
                    .map(String::from)
            }));
            names
        })
        .collect();
    for needed in [
        "ExecutionsFailed",
        "ExecutionsTimedOut",
        "ExecutionThrottled",
        "Throttles",
        "ApproximateNumberOfMessagesVisible",
    ] {
        assert!(
            metric_names.iter().any(|n| n == needed),
            "no alarm on {needed}"
        );
    }
}

#[test]
fn api_access_logs_are_json_lines_without_headers_or_query_strings() {
    let t = template();
    let settings = &t["Resources"]["HttpApi"]["Properties"]["AccessLogSettings"];
    assert_eq!(
        text(&settings["DestinationArn"]).as_deref(),
        Some("ApiAccessLogs.Arn"),
        "access logs go to the stack's own log group"
    );
    let format = settings["Format"].as_str().expect("a log format");
    let line: serde_json::Value =
        serde_json::from_str(format).expect("the format is one JSON object");
    for field in ["requestId", "routeKey", "status", "integrationLatencyMs"] {
        assert!(line.get(field).is_some(), "access logs carry {field}");
    }
    for secret_bearing in ["header", "querystring", "Authorization", "authorization"] {
        assert!(
            !format.contains(secret_bearing),
            "access logs must not carry {secret_bearing}"
        );
    }
    assert!(
        t["Resources"]["ApiAccessLogs"]["Properties"]["RetentionInDays"]
            .as_u64()
            .is_some()
    );
}

/// The edge throttles every route, each workflow step keeps capacity of its own so a
/// burst of API calls cannot starve running jobs, and the per-owner limits reach the api
/// function from parameters whose defaults are the code's.
#[test]
fn the_api_is_throttled_and_cannot_starve_the_steps() {
    let t = template();
    let params = &t["Parameters"];
    let number_param = |v: &Value| -> u64 {
        let name = text(v).expect("a !Ref to a parameter");
        let p = &params[name.as_str()];
        assert_eq!(p["Type"], "Number", "{name}");
        p["Default"]
            .as_u64()
            .unwrap_or_else(|| panic!("{name} has a default"))
    };
    let route = &t["Resources"]["HttpApi"]["Properties"]["DefaultRouteSettings"];
    let rate = number_param(&route["ThrottlingRateLimit"]);
    let burst = number_param(&route["ThrottlingBurstLimit"]);
    assert!(rate >= 1 && burst >= rate, "rate {rate}, burst {burst}");
    for step in [
        "SubmitFunction",
        "CheckStatusFunction",
        "DownloadToS3Function",
    ] {
        let reserved = &t["Resources"][step]["Properties"]["ReservedConcurrentExecutions"];
        let Value::Tagged(tagged) = reserved else {
            panic!("{step}: ReservedConcurrentExecutions is !If [ReservesStepConcurrency, …]");
        };
        let [cond, value, _] = list(&tagged.value).try_into().expect("three parts");
        assert_eq!(
            text(&cond).as_deref(),
            Some("ReservesStepConcurrency"),
            "{step}"
        );
        assert!(
            number_param(&value) >= 1,
            "{step} reserves some concurrency by default"
        );
    }
    let env = &t["Resources"]["ApiFunction"]["Properties"]["Environment"]["Variables"];
    let default_of = |var: &str| {
        let name = text(&env[var]).unwrap_or_else(|| panic!("the api gets {var}"));
        let d = &params[name.as_str()]["Default"];
        d.as_str()
            .map(str::to_string)
            .unwrap_or_else(|| d.as_u64().expect("a default").to_string())
    };
    for var in ["VIDGEN_MAX_ACTIVE_JOBS", "VIDGEN_DAILY_BUDGET_USD"] {
        assert_eq!(
            default_of(var),
            vidgen_shared::settings::variable(var).default,
            "{var}: the template's default is the code's"
        );
    }
}

/// Every statement of `v` (a list), with both branches of each `Fn::If`, and
/// `AWS::NoValue` dropped.
fn statements(v: &Value) -> Vec<Value> {
    fn expand(item: &Value, out: &mut Vec<Value>) {
        let branches = match item {
            Value::Tagged(t) if t.tag == "!If" => Some(list(&t.value)),
            Value::Mapping(m) if m.len() == 1 && m.contains_key("Fn::If") => {
                Some(list(&item["Fn::If"]))
            }
            _ => None,
        };
        match branches {
            Some(b) => b.iter().skip(1).for_each(|branch| expand(branch, out)),
            None if text(item).as_deref() == Some("AWS::NoValue") => {}
            None => out.push(item.clone()),
        }
    }
    let mut out = Vec::new();
    for item in list(v) {
        expand(&item, &mut out);
    }
    out
}

/// Does `resource` (as written in the template) name what `action`'s service may touch:
/// the jobs table (or its index), an object prefix of the videos bucket, the job state
/// machine (or its executions), a secret given as a parameter, a queue of the template?
fn scoped(t: &Value, action: &str, resource: &str) -> bool {
    let service = action.split(':').next().unwrap_or_default();
    let is_resource_of =
        |kind: &str, logical: &str| t["Resources"][logical]["Type"].as_str() == Some(kind);
    let logical = resource
        .trim_start_matches("${")
        .split(['.', '}'])
        .next()
        .unwrap_or_default();
    match service {
        "dynamodb" => {
            resource == "JobsTable.Arn"
                || resource == "${JobsTable.Arn}/index/by_owner"
                || resource == "ConnectionsTable.Arn"
        }
        // PostToConnection (and DELETE) on this stack's events stage only.
        "execute-api" => {
            action == "execute-api:ManageConnections"
                && resource
                    == "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${EventsApi}/${EventsStage}/POST/@connections/*"
        }
        // Object prefixes only: never the whole bucket's objects.
        "s3" => [
            "${VideosBucket.Arn}/uploads/*",
            "${VideosBucket.Arn}/videos/*",
        ]
        .contains(&resource),
        // SendTaskSuccess/SendTaskFailure support no resource-level permissions (the
        // Service Authorization Reference lists no resource type for them): "*" is the
        // only Resource that matches; the task token names its execution.
        "states" if resource == "*" => {
            ["states:SendTaskSuccess", "states:SendTaskFailure"].contains(&action)
        }
        "states" => {
            resource == "JobStateMachine"
                || (resource.contains(":execution:${JobStateMachine.Name}:")
                    && resource.ends_with(":*"))
        }
        "secretsmanager" => {
            resource.ends_with("SecretArn") && t["Parameters"][resource].is_mapping()
        }
        "sqs" => is_resource_of("AWS::SQS::Queue", logical.trim_end_matches(".Arn")),
        _ => false,
    }
}

#[test]
fn every_function_statement_names_the_resource_it_may_touch() {
    // moto checks actions on "*" only (aws-semantics.md §9): the IAM tests
    // (tests/iam) prove each function's actions are enough; this proves their
    // resources are narrow.
    let t = template();
    let functions: Vec<String> = t["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .filter_map(|(k, _)| k.as_str().map(str::to_string))
        .collect();
    assert!(functions.len() >= 4, "{functions:?}");
    for function in &functions {
        let policies = &t["Resources"][function.as_str()]["Properties"]["Policies"];
        for policy in list(policies) {
            if policy["Statement"].is_null() {
                // A SAM policy template: scoped by its parameter, which must name one of
                // the template's own resources or parameters, never "*".
                if let Value::Mapping(m) = &policy {
                    for (name, params) in m {
                        for (_, value) in params.as_mapping().into_iter().flatten() {
                            let v = text(value).unwrap_or_default();
                            assert!(
                                !v.is_empty() && v != "*",
                                "{function}: {name:?} is not scoped: {value:?}"
                            );
                        }
                    }
                }
                continue;
            }
            for statement in statements(&policy["Statement"]) {
                let actions: Vec<String> =
                    list(&statement["Action"]).iter().filter_map(text).collect();
                for resource in list(&statement["Resource"]) {
                    let resource = text(&resource).unwrap_or_else(|| format!("{resource:?}"));
                    for action in &actions {
                        assert!(
                            scoped(&t, action, &resource),
                            "{function}: {action} on {resource:?} is broader than what it needs, \
                             or names a resource this test does not know"
                        );
                    }
                }
            }
        }
    }
}

/// The parameter a variable's value names: `!Ref P`, or `!If [c, !Ref P, …]`.
fn parameter_of(value: &Value) -> Option<String> {
    match value {
        Value::Tagged(t) if t.tag == "!If" => list(&t.value).get(1).and_then(parameter_of),
        Value::Tagged(t) if t.tag == "!Ref" => t.value.as_str().map(str::to_string),
        _ => None,
    }
}

#[test]
fn each_secret_is_readable_by_exactly_the_functions_that_read_it() {
    // moto grants on "*", so the IAM tests cannot tell one secret from another: this
    // holds the template's secret grants to settings::VARIABLES.
    use vidgen_shared::settings::{Function, VARIABLES};
    let t = template();
    let resource_of = |f: Function| -> String {
        t["Resources"]
            .as_mapping()
            .unwrap()
            .iter()
            .find(|(_, r)| r["Metadata"]["BuildProperties"]["Binary"].as_str() == Some(f.name()))
            .and_then(|(k, _)| k.as_str().map(str::to_string))
            .unwrap_or_else(|| panic!("no function is built from binary {}", f.name()))
    };
    for variable in VARIABLES.iter().filter(|v| v.name.ends_with("_SECRET_ARN")) {
        for function in Function::ALL {
            let id = resource_of(function);
            let r = &t["Resources"][id.as_str()];
            let env = &r["Properties"]["Environment"]["Variables"][variable.name];
            let reads = variable.read_by.contains(&function);
            let Some(parameter) = parameter_of(env) else {
                assert!(
                    !reads,
                    "{id} reads {} but the template does not set it",
                    variable.name
                );
                continue;
            };
            let grants = list(&r["Properties"]["Policies"])
                .iter()
                .flat_map(|p| statements(&p["Statement"]))
                .any(|s| {
                    list(&s["Action"])
                        .iter()
                        .filter_map(text)
                        .any(|a| a == "secretsmanager:GetSecretValue")
                        && list(&s["Resource"])
                            .iter()
                            .filter_map(text)
                            .any(|r| r == parameter)
                });
            assert_eq!(
                grants, reads,
                "{id}: GetSecretValue on {parameter} ({}) must be granted exactly when the function reads it",
                variable.name
            );
        }
    }
}

const OPENAI_ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:openai-Ab12Cd";
const RUNWAY_ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:runway-Ef34Gh";
const FAL_ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:fal-Ij56Kl";

/// The parameters of a deployment with the given provider keys (and a default model
/// its keys can run, unless `model` says otherwise).
fn keys(openai: bool, runway: bool) -> Vec<(&'static str, &'static str)> {
    keys3(openai, runway, false)
}

/// [`keys`] with the fal key too; a fal-only stack defaults to a fal model.
fn keys3(openai: bool, runway: bool, fal: bool) -> Vec<(&'static str, &'static str)> {
    let mut set = Vec::new();
    if fal {
        set.push(("FalSecretArn", FAL_ARN));
        if !openai && !runway {
            set.push(("DefaultModel", "fal/fal-ai/veo3.1"));
        }
    }
    if openai {
        set.push(("OpenAiSecretArn", OPENAI_ARN));
    }
    if runway {
        set.push(("RunwaySecretArn", RUNWAY_ARN));
    }
    if openai && !runway {
        set.push(("DefaultModel", "sora-2"));
    }
    set
}

/// A function's environment as deployed: variables whose value is a literal or a
/// parameter, with the parameters' values; the stack's own resources (table, bucket,
/// state machine, queue) as stand-ins.
fn environment(d: &Deployment, logical_id: &str) -> BTreeMap<String, String> {
    let r = d
        .resource(logical_id)
        .unwrap_or_else(|| panic!("{logical_id} is deployed"));
    let mut out = BTreeMap::new();
    for (name, value) in r["Properties"]["Environment"]["Variables"]
        .as_mapping()
        .into_iter()
        .flatten()
    {
        let name = name.as_str().expect("a variable name").to_string();
        let parameter = common::template::tagged(value)
            .1
            .as_str()
            .map(str::to_string);
        let value = match (value, parameter) {
            (Value::Tagged(t), Some(p)) if t.tag == "!Ref" && d.parameters.contains_key(&p) => {
                d.parameter(&p).to_string()
            }
            (Value::Tagged(_), _) => match name.as_str() {
                "STATE_MACHINE_ARN" => {
                    "arn:aws:states:us-east-1:123456789012:stateMachine:jobs".into()
                }
                "WEBHOOK_QUEUE_URL" => {
                    "https://sqs.us-east-1.amazonaws.com/123456789012/hooks".into()
                }
                "VIDGEN_EVENTS_URL" => "wss://abc123.execute-api.us-east-1.amazonaws.com/v1".into(),
                _ => format!("stand-in-{}", name.to_lowercase()),
            },
            (other, _) => d.scalar(other),
        };
        out.insert(name, value);
    }
    out
}

/// The secrets `logical_id` may read as deployed: the parameters its GetSecretValue
/// statements name.
fn secret_grants(d: &Deployment, logical_id: &str) -> Vec<String> {
    let r = d
        .resource(logical_id)
        .unwrap_or_else(|| panic!("{logical_id} is deployed"));
    let mut out = Vec::new();
    for policy in list(&r["Properties"]["Policies"]) {
        for s in list(&policy["Statement"]) {
            if list(&s["Action"])
                .iter()
                .filter_map(text)
                .any(|a| a == "secretsmanager:GetSecretValue")
            {
                out.extend(list(&s["Resource"]).iter().filter_map(text));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn the_default_model_parameter_offers_every_catalog_model_and_defaults_to_a_live_one() {
    let t = Template::load();
    let p = &t.root["Parameters"]["DefaultModel"];
    let allowed: Vec<String> = list(&p["AllowedValues"]).iter().filter_map(text).collect();
    let catalog: Vec<String> = Model::all().map(|m| m.as_str().to_string()).collect();
    assert_eq!(
        allowed, catalog,
        "DefaultModel's AllowedValues are the catalog's ids"
    );
    let default: Model = p["Default"]
        .as_str()
        .expect("a default")
        .parse()
        .expect("a catalog id");
    // OpenAI shut its Videos API down (issue 9): a new stack must default to a model
    // that can still render.
    assert_eq!(default.provider(), ProviderId::Runway, "{default}");
    let d = t.deploy(&keys(false, true));
    assert_eq!(
        environment(&d, "ApiFunction")["VIDGEN_DEFAULT_MODEL"],
        default.as_str()
    );
}

#[test]
fn each_provider_key_reaches_the_steps_and_the_api_only_when_set() {
    let t = Template::load();
    for (openai, runway, fal, providers) in [
        (true, false, false, "openai"),
        (false, true, false, "runway"),
        (true, true, false, "openai,runway"),
        (false, false, true, "fal"),
        (true, false, true, "openai,fal"),
        (false, true, true, "runway,fal"),
        (true, true, true, "openai,runway,fal"),
    ] {
        let d = t.deploy(&keys3(openai, runway, fal));
        let case = format!("openai key {openai}, runway key {runway}, fal key {fal}");
        assert_eq!(d.failed_rules(), Vec::<String>::new(), "{case}");
        let mut expected_grants = Vec::new();
        if openai {
            expected_grants.push("OpenAiSecretArn".to_string());
        }
        if runway {
            expected_grants.push("RunwaySecretArn".to_string());
        }
        if fal {
            expected_grants.push("FalSecretArn".to_string());
        }
        expected_grants.sort();
        for f in StepFunction::ALL {
            let id = f.template_resource();
            let env = environment(&d, id);
            assert_eq!(
                env.get("OPENAI_SECRET_ARN").map(String::as_str),
                openai.then_some(OPENAI_ARN),
                "{id}, {case}"
            );
            assert_eq!(
                env.get("RUNWAYML_SECRET_ARN").map(String::as_str),
                runway.then_some(RUNWAY_ARN),
                "{id}, {case}"
            );
            assert_eq!(
                env.get("FAL_SECRET_ARN").map(String::as_str),
                fal.then_some(FAL_ARN),
                "{id}, {case}"
            );
            assert_eq!(secret_grants(&d, id), expected_grants, "{id}, {case}");
            // The step loads exactly those keys from what the template gives it.
            let step = StepSettings::from_lookup(f, &|n: &str| env.get(n).cloned())
                .unwrap_or_else(|e| panic!("{id}, {case}: {e}"));
            assert_eq!(
                step.openai_secret_arn.as_deref(),
                openai.then_some(OPENAI_ARN)
            );
            assert_eq!(
                step.runway_secret_arn.as_deref(),
                runway.then_some(RUNWAY_ARN)
            );
            assert_eq!(step.runway_base_url, "https://api.dev.runwayml.com");
            assert_eq!(step.fal_secret_arn.as_deref(), fal.then_some(FAL_ARN));
            assert_eq!(step.fal_queue_url, "https://queue.fal.run");
        }
        let env = environment(&d, "ApiFunction");
        assert_eq!(env["VIDGEN_PROVIDERS"], providers, "{case}");
        assert_eq!(secret_grants(&d, "ApiFunction"), Vec::<String>::new());
        let api = ApiSettings::from_lookup(&|n: &str| env.get(n).cloned())
            .unwrap_or_else(|e| panic!("the api starts, {case}: {e}"));
        let names: Vec<&str> = api.providers.iter().map(|p| p.as_str()).collect();
        assert_eq!(names.join(","), providers, "{case}");
    }
}

/// The Rules refuse, before anything is created, every stack whose api would refuse to
/// start: no provider key at all, or a default model without its provider's key.
#[test]
fn the_rules_refuse_a_stack_the_api_could_not_serve() {
    let t = Template::load();
    let d = t.deploy(&[]);
    let failed = d.failed_rules();
    assert!(
        failed
            .iter()
            .any(|f| f.contains("OpenAiSecretArn, RunwaySecretArn or FalSecretArn")),
        "no key at all is refused: {failed:?}"
    );
    for model in Model::all() {
        for (openai, runway, fal) in [
            (true, false, false),
            (false, true, false),
            (true, true, false),
            (false, false, true),
            (true, true, true),
        ] {
            let mut set = keys3(openai, runway, fal);
            set.retain(|(n, _)| *n != "DefaultModel");
            set.push(("DefaultModel", model.as_str()));
            let d = t.deploy(&set);
            let has_key = match model.provider() {
                ProviderId::OpenAi => openai,
                ProviderId::Runway => runway,
                ProviderId::Fal => fal,
            };
            let failed = d.failed_rules();
            assert_eq!(
                failed.is_empty(),
                has_key,
                "{model}, openai {openai}, runway {runway}, fal {fal}: {failed:?}"
            );
            // The api agrees with the rules.
            let env = environment(&d, "ApiFunction");
            let api = ApiSettings::from_lookup(&|n: &str| env.get(n).cloned());
            assert_eq!(
                api.is_ok(),
                has_key,
                "{model}, openai {openai}, runway {runway}, fal {fal}: {api:?}"
            );
        }
    }
}

/// A variable the template sets from a parameter gets, by default, the code's own
/// default: deploying without touching a parameter behaves like the code unconfigured.
#[test]
fn parameter_defaults_are_the_code_defaults() {
    use vidgen_shared::settings::{variable, REQUIRED, UNSET};
    let t = Template::load();
    let d = t.deploy(&keys(true, true));
    let mut checked = Vec::new();
    for (id, r) in t.root["Resources"].as_mapping().expect("Resources") {
        if r["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let Some(vars) = r["Properties"]["Environment"]["Variables"].as_mapping() else {
            continue;
        };
        for (name, value) in vars {
            let name = name.as_str().expect("a variable name");
            let Some(parameter) = parameter_of(value) else {
                continue;
            };
            let Some(default) = d.parameters.get(&parameter) else {
                continue;
            };
            let code = variable(name).default;
            if code == REQUIRED || code == UNSET {
                continue;
            }
            assert_eq!(default, code, "{id:?}: {name} from {parameter}");
            checked.push(name.to_string());
        }
    }
    for name in [
        "SORA_MODEL",
        "OPENAI_BASE_URL",
        "RUNWAYML_BASE_URL",
        "URL_TTL_SECS",
    ] {
        assert!(
            checked.iter().any(|c| c == name),
            "{name} is checked: {checked:?}"
        );
    }
}

const OPENAI_HOOKS_ARN: &str =
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:openai-hooks-Ij56Kl";

/// The route, and the permissions a provider webhook needs to end a job's wait.
#[test]
fn provider_webhooks_have_a_public_route_and_end_waits() {
    let t = template();
    let event = &t["Resources"]["ApiFunction"]["Properties"]["Events"]["ProviderWebhooks"];
    assert_eq!(event["Type"].as_str(), Some("HttpApi"));
    let p = &event["Properties"];
    assert_eq!(p["Path"].as_str(), Some("/v1/provider-webhooks/{provider}"));
    assert_eq!(p["Method"].as_str(), Some("POST"));
    // No JWT: the provider's signature is the authentication.
    assert_eq!(p["Auth"]["Authorizer"].as_str(), Some("NONE"));

    let api_actions: Vec<(String, Vec<String>)> =
        list(&t["Resources"]["ApiFunction"]["Properties"]["Policies"])
            .iter()
            .flat_map(|p| statements(&p["Statement"]))
            .map(|s| {
                (
                    list(&s["Resource"]).iter().filter_map(text).collect(),
                    list(&s["Action"]).iter().filter_map(text).collect(),
                )
            })
            .flat_map(|(resources, actions): (Vec<String>, Vec<String>)| {
                resources.into_iter().map(move |r| (r, actions.clone()))
            })
            .collect();
    for action in ["states:SendTaskSuccess", "states:SendTaskFailure"] {
        assert!(
            api_actions
                .iter()
                .any(|(r, a)| r == "*" && a.iter().any(|x| x == action)),
            "the api may {action}: {api_actions:?}"
        );
    }
    // Only the api answers webhooks.
    for (id, r) in t["Resources"].as_mapping().unwrap() {
        if id.as_str() == Some("ApiFunction") {
            continue;
        }
        for s in list(&r["Properties"]["Policies"])
            .iter()
            .flat_map(|p| statements(&p["Statement"]))
        {
            let actions: Vec<String> = list(&s["Action"]).iter().filter_map(text).collect();
            assert!(
                !actions.iter().any(|a| a.starts_with("states:SendTask")),
                "{id:?} may end task waits: {actions:?}"
            );
        }
    }

    // WaitForWebhook (aws-sdk:dynamodb:updateItem.waitForTaskToken) runs as the state
    // machine's role, on the job item.
    let machine_updates = list(&t["Resources"]["JobStateMachine"]["Properties"]["Policies"])
        .iter()
        .flat_map(|p| statements(&p["Statement"]))
        .any(|s| {
            list(&s["Action"])
                .iter()
                .filter_map(text)
                .any(|a| a == "dynamodb:UpdateItem")
                && list(&s["Resource"])
                    .iter()
                    .filter_map(text)
                    .any(|r| r == "JobsTable.Arn")
        });
    assert!(
        machine_updates,
        "the state machine may update the jobs table"
    );
}

/// Callback mode in AWS: without the parameters, every job polls; with them, submit
/// knows the public URL and that OpenAI pushes, and the api (only) reads OpenAI's
/// endpoint secret.
#[test]
fn callback_parameters_reach_submit_and_the_api() {
    let t = Template::load();
    let d = t.deploy(&keys(true, true));
    let submit = environment(&d, "SubmitFunction");
    assert!(!submit.contains_key("VIDGEN_PUBLIC_URL"), "{submit:?}");
    assert!(!submit.contains_key("OPENAI_WEBHOOKS"), "{submit:?}");
    let step =
        StepSettings::from_lookup(StepFunction::Submit, &|n: &str| submit.get(n).cloned()).unwrap();
    assert_eq!(step.workflow.public_url, None);
    assert!(!step.openai_webhooks);
    assert!(!environment(&d, "ApiFunction").contains_key("OPENAI_WEBHOOK_SECRET_ARN"));

    let mut set = keys(true, true);
    set.push(("OpenAiWebhookSecretArn", OPENAI_HOOKS_ARN));
    set.push(("PublicUrl", "https://vidgen.example.com"));
    let d = t.deploy(&set);
    assert_eq!(d.failed_rules(), Vec::<String>::new());
    let submit = environment(&d, "SubmitFunction");
    let step = StepSettings::from_lookup(StepFunction::Submit, &|n: &str| submit.get(n).cloned())
        .unwrap_or_else(|e| panic!("submit starts: {e}"));
    assert_eq!(
        step.workflow.public_url.as_deref(),
        Some("https://vidgen.example.com")
    );
    assert!(step.openai_webhooks);
    assert!(!submit.contains_key("OPENAI_WEBHOOK_SECRET_ARN"));
    let api_env = environment(&d, "ApiFunction");
    let api = ApiSettings::from_lookup(&|n: &str| api_env.get(n).cloned())
        .unwrap_or_else(|e| panic!("the api starts: {e}"));
    assert_eq!(
        api.openai_webhook_secret_arn.as_deref(),
        Some(OPENAI_HOOKS_ARN)
    );
    assert_eq!(
        secret_grants(&d, "ApiFunction"),
        vec!["OpenAiWebhookSecretArn".to_string()]
    );
    for f in StepFunction::ALL {
        assert!(
            !secret_grants(&d, f.template_resource())
                .contains(&"OpenAiWebhookSecretArn".to_string()),
            "{f:?}"
        );
    }
}

/// The dashboard's metrics, as `(namespace, dimension keys, metric name, statistic)`,
/// read from the `SEARCH('{Namespace,Dim,…} MetricName="Name"', 'Stat', period)`
/// expressions of its widgets.
fn dashboard_searches() -> Vec<(String, Vec<String>, String, String)> {
    let t = template();
    let body = text(&t["Resources"]["MetricsDashboard"]["Properties"]["DashboardBody"])
        .expect("MetricsDashboard has a DashboardBody");
    let body: serde_json::Value =
        serde_json::from_str(&body.replace("${AWS::Region}", "us-east-1"))
            .expect("the DashboardBody is JSON once its region is substituted");
    let mut out = Vec::new();
    for widget in body["widgets"].as_array().expect("widgets") {
        for row in widget["properties"]["metrics"].as_array().expect("metrics") {
            for item in row.as_array().expect("a metrics row") {
                let expression = item["expression"]
                    .as_str()
                    .unwrap_or_else(|| panic!("every series is a SEARCH expression: {item}"));
                let inner = expression
                    .strip_prefix("SEARCH('{")
                    .unwrap_or_else(|| panic!("{expression}"));
                let (schema, rest) = inner.split_once("} MetricName=\"").expect(expression);
                let (metric, rest) = rest.split_once("\"', '").expect(expression);
                let (stat, _) = rest.split_once('\'').expect(expression);
                let mut keys = schema.split(',').map(str::to_string);
                let namespace = keys.next().expect(expression);
                out.push((
                    namespace,
                    keys.collect(),
                    metric.to_string(),
                    stat.to_string(),
                ));
            }
        }
    }
    out
}

#[test]
fn the_dashboard_shows_the_metrics_the_functions_emit() {
    use chrono::Utc;
    use vidgen_shared::domain::{ErrorCode, Status, Timings};
    use vidgen_shared::telemetry::emf::{self, metric};
    use vidgen_shared::telemetry::{JobEnd, Outcome};
    // What the code emits: every metric of every outcome, with its dimension sets.
    let mut emitted = std::collections::BTreeSet::new();
    for (status, outcome) in [
        (Status::Completed, Outcome::Completed),
        (
            Status::Failed,
            Outcome::Failed(ErrorCode::ModerationBlocked),
        ),
        (Status::Canceled, Outcome::Canceled),
    ] {
        let end = JobEnd {
            job_id: "vid_1".into(),
            model: "sora-2",
            status,
            outcome,
            ended_at: Utc::now(),
            timings: Some(Timings {
                queue_seconds: 1.0,
                render_seconds: Some(2.0),
                download_seconds: Some(3.0),
            }),
            download_bytes: Some(4),
            cost_usd: Some(0.4),
        };
        let doc = emf::document(&end);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        let namespace = directive["Namespace"].as_str().unwrap().to_string();
        for dims in directive["Dimensions"].as_array().unwrap() {
            let dims: Vec<String> = dims
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_str().unwrap().to_string())
                .collect();
            for m in directive["Metrics"].as_array().unwrap() {
                let name = m["Name"].as_str().unwrap().to_string();
                emitted.insert((namespace.clone(), dims.clone(), name));
            }
        }
    }
    let searches = dashboard_searches();
    for (namespace, dims, name, stat) in &searches {
        assert!(
            emitted.contains(&(namespace.clone(), dims.clone(), name.clone())),
            "the dashboard reads {namespace} {dims:?} {name}, which no job emits; emitted: {emitted:?}"
        );
        let percentile = stat
            .strip_prefix('p')
            .is_some_and(|p| p.parse::<f64>().is_ok());
        assert!(
            percentile
                || ["Sum", "Average", "Minimum", "Maximum", "SampleCount"].contains(&stat.as_str()),
            "{stat}"
        );
    }
    // Everything the issue asks for is on it: counts, render percentiles, download
    // seconds and bytes, cost, and failures by error code.
    let shown = |name: &str, stat: &str| searches.iter().any(|(_, _, n, s)| n == name && s == stat);
    for (name, stat) in [
        (metric::JOBS_COMPLETED, "Sum"),
        (metric::JOBS_FAILED, "Sum"),
        (metric::RENDER_SECONDS, "p50"),
        (metric::RENDER_SECONDS, "p90"),
        (metric::RENDER_SECONDS, "p99"),
        (metric::DOWNLOAD_SECONDS, "p50"),
        (metric::DOWNLOAD_BYTES, "Sum"),
        (metric::ESTIMATED_COST_USD, "Sum"),
    ] {
        assert!(shown(name, stat), "the dashboard has no {stat} of {name}");
    }
    assert!(
        searches
            .iter()
            .any(|(_, dims, name, _)| name == metric::JOBS_FAILED
                && dims == &[emf::MODEL.to_string(), emf::ERROR_CODE.to_string()]),
        "failures by error code"
    );
}

fn resource<'a>(t: &'a Value, id: &str) -> &'a Value {
    let r = &t["Resources"][id];
    assert!(r.is_mapping(), "template has no {id}");
    r
}

/// The events WebSocket API: JWT-checking $connect, the four routes on ws-events, the
/// two-way routes, the stage the ManageConnections grant and the URLs name.
#[test]
fn the_events_websocket_api_is_wired_to_its_functions() {
    let t = template();
    let api = &resource(&t, "EventsApi")["Properties"];
    assert_eq!(api["ProtocolType"].as_str(), Some("WEBSOCKET"));
    assert_eq!(
        api["RouteSelectionExpression"].as_str(),
        Some("$request.body.action")
    );
    let auth = &resource(&t, "EventsAuthorizer")["Properties"];
    assert_eq!(auth["AuthorizerType"].as_str(), Some("REQUEST"));
    let uri = text(&auth["AuthorizerUri"]).unwrap();
    assert!(uri.contains("${WsAuthorizerFunction.Arn}"), "{uri}");
    // A token may come in the query string or the header: no identity source may be
    // required, or API Gateway refuses the other way unasked (aws-semantics §6).
    assert!(
        auth["IdentitySource"].is_null(),
        "{:?}",
        auth["IdentitySource"]
    );
    let integration =
        text(&resource(&t, "EventsIntegration")["Properties"]["IntegrationUri"]).unwrap();
    assert!(
        integration.contains("${WsEventsFunction.Arn}"),
        "{integration}"
    );

    let routes: BTreeMap<String, Value> = t["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::ApiGatewayV2::Route"))
        .map(|(id, r)| {
            (r["Properties"]["RouteKey"].as_str().unwrap().to_string(), {
                let mut r = r["Properties"].clone();
                r["Id"] = id.clone();
                r
            })
        })
        .collect();
    let keys: Vec<&str> = routes.keys().map(String::as_str).collect();
    assert_eq!(keys, ["$connect", "$default", "$disconnect", "subscribe"]);
    for (key, route) in &routes {
        assert_eq!(
            text(&route["Target"]).as_deref(),
            Some("integrations/${EventsIntegration}"),
            "{key}"
        );
        let custom = route["AuthorizationType"].as_str() == Some("CUSTOM");
        assert_eq!(
            custom,
            key == "$connect",
            "only $connect is authorized: {key}"
        );
        let two_way = route["RouteResponseSelectionExpression"].as_str() == Some("$default");
        assert_eq!(two_way, key == "subscribe" || key == "$default", "{key}");
        if two_way {
            let id = route["Id"].as_str().unwrap();
            let has_response = t["Resources"].as_mapping().unwrap().values().any(|r| {
                r["Type"].as_str() == Some("AWS::ApiGatewayV2::RouteResponse")
                    && text(&r["Properties"]["RouteId"]).as_deref() == Some(id)
                    && r["Properties"]["RouteResponseKey"].as_str() == Some("$default")
            });
            assert!(
                has_response,
                "{key} answers the client, so it needs a RouteResponse"
            );
        }
    }
    assert_eq!(
        resource(&t, "EventsStage")["Properties"]["AutoDeploy"].as_bool(),
        Some(true)
    );
    for (permission, function) in [
        ("WsAuthorizerPermission", "WsAuthorizerFunction"),
        ("WsEventsPermission", "WsEventsFunction"),
    ] {
        let p = &resource(&t, permission)["Properties"];
        assert_eq!(text(&p["FunctionName"]).as_deref(), Some(function));
        assert_eq!(p["Principal"].as_str(), Some("apigateway.amazonaws.com"));
        assert!(text(&p["SourceArn"]).unwrap().contains("${EventsApi}/"));
    }
    let url = "wss://${EventsApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${EventsStage}";
    assert_eq!(
        text(&t["Outputs"]["EventsUrl"]["Value"]).as_deref(),
        Some(url)
    );
    let api_env = &resource(&t, "ApiFunction")["Properties"]["Environment"]["Variables"];
    assert_eq!(text(&api_env["VIDGEN_EVENTS_URL"]).as_deref(), Some(url));
    let auth_env = &resource(&t, "WsAuthorizerFunction")["Properties"]["Environment"]["Variables"];
    assert_eq!(text(&auth_env["JWT_ISSUER"]).as_deref(), Some("JwtIssuer"));
    // The HTTP API's JWT authorizer checks the same issuer and audiences.
    let jwt =
        &resource(&t, "HttpApi")["Properties"]["Auth"]["Authorizers"]["Jwt"]["JwtConfiguration"];
    assert_eq!(text(&jwt["issuer"]).as_deref(), Some("JwtIssuer"));
    assert_eq!(text(&jwt["audience"]).as_deref(), Some("JwtAudience"));
    assert!(format!("{:?}", auth_env["JWT_AUDIENCE"]).contains("JwtAudience"));
}

/// The notifier: fed by the jobs table's stream (both images, job items only), reporting
/// failed records, bounded retries; it may post to connections and forget them.
#[test]
fn the_notifier_reads_the_jobs_stream_and_may_post_to_connections() {
    let t = template();
    let stream = &resource(&t, "JobsTable")["Properties"]["StreamSpecification"];
    assert_eq!(
        stream["StreamViewType"].as_str(),
        Some("NEW_AND_OLD_IMAGES")
    );
    let notifier = &resource(&t, "WsNotifierFunction")["Properties"];
    let Value::Mapping(events) = &notifier["Events"] else {
        panic!("the notifier has no Events")
    };
    assert_eq!(events.len(), 1);
    let event = events.values().next().unwrap();
    assert_eq!(event["Type"].as_str(), Some("DynamoDB"));
    let p = &event["Properties"];
    assert_eq!(text(&p["Stream"]).as_deref(), Some("JobsTable.StreamArn"));
    assert_eq!(list(&p["FunctionResponseTypes"]).len(), 1);
    assert_eq!(
        p["FunctionResponseTypes"][0].as_str(),
        Some("ReportBatchItemFailures")
    );
    assert_eq!(p["BisectBatchOnFunctionError"].as_bool(), Some(true));
    let retries = p["MaximumRetryAttempts"].as_i64().expect("bounded retries");
    assert!((0..=10).contains(&retries), "{retries}");
    let pattern: serde_json::Value = serde_json::from_str(
        p["FilterCriteria"]["Filters"][0]["Pattern"]
            .as_str()
            .expect("a filter"),
    )
    .unwrap();
    assert_eq!(
        pattern,
        serde_json::json!({"dynamodb": {"Keys": {"pk": {"S": [{"prefix": "job#"}]}}}})
    );
    let actions: BTreeSet<String> = list(&notifier["Policies"])
        .iter()
        .flat_map(|p| statements(&p["Statement"]))
        .flat_map(|s| {
            list(&s["Action"])
                .iter()
                .filter_map(text)
                .collect::<Vec<_>>()
        })
        .collect();
    for needed in [
        "execute-api:ManageConnections",
        "dynamodb:Query",
        "dynamodb:DeleteItem",
    ] {
        assert!(
            actions.contains(needed),
            "the notifier needs {needed}: {actions:?}"
        );
    }
    // The connections table: owner + connection_id, expiring by `ttl`.
    let table = &resource(&t, "ConnectionsTable")["Properties"];
    let key: Vec<String> = list(&table["KeySchema"])
        .iter()
        .map(|k| {
            format!(
                "{} {}",
                k["AttributeName"].as_str().unwrap(),
                k["KeyType"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(key, ["owner HASH", "connection_id RANGE"]);
    assert_eq!(
        table["TimeToLiveSpecification"]["AttributeName"].as_str(),
        Some("ttl")
    );
    assert_eq!(
        table["TimeToLiveSpecification"]["Enabled"].as_bool(),
        Some(true)
    );
}
