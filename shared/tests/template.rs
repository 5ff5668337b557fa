//! template.yaml against what the code needs and promises.
//!
//! CloudFormation's short-form functions (`!Ref`, `!Sub`, `!GetAtt`, …) are YAML tags;
//! the parser keeps them as tagged values, and [`text`] reads through them.

use serde_yaml_ng::Value;
use std::collections::BTreeMap;

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
        "dynamodb" => resource == "JobsTable.Arn" || resource == "${JobsTable.Arn}/index/by_owner",
        // Object prefixes only: never the whole bucket's objects.
        "s3" => [
            "${VideosBucket.Arn}/uploads/*",
            "${VideosBucket.Arn}/videos/*",
        ]
        .contains(&resource),
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
