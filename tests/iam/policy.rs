//! Each function's IAM actions, read from `template.yaml`: its inline statements and
//! the SAM policy templates it names, expanded as SAM expands them. Conditions
//! (`Fn::If`) follow the configuration under test. Resources are not read here: moto
//! matches an Allow only on `"*"` (aws-semantics.md §9), so the users get the actions on
//! `*`, and the scoping is checked on the template itself (`shared/tests/template.rs`).
//!
//! Anything this does not understand (a policy template or managed policy missing from
//! the tables, a Deny, an unknown condition) is an error naming it, never a silent gap.

use serde_yaml_ng::Value;
use std::collections::{BTreeMap, BTreeSet};

/// SAM's policy templates (samtranslator/policy_templates_data/policy_templates.json,
/// aws-sam-cli 1.170.0) → their actions. Add a row when the template names a new one.
const SAM_POLICY_TEMPLATES: &[(&str, &[&str])] = &[
    (
        "DynamoDBCrudPolicy",
        &[
            "dynamodb:GetItem",
            "dynamodb:DeleteItem",
            "dynamodb:PutItem",
            "dynamodb:Scan",
            "dynamodb:Query",
            "dynamodb:UpdateItem",
            "dynamodb:BatchWriteItem",
            "dynamodb:BatchGetItem",
            "dynamodb:DescribeTable",
            "dynamodb:ConditionCheckItem",
        ],
    ),
    (
        "DynamoDBReadPolicy",
        &[
            "dynamodb:GetItem",
            "dynamodb:Scan",
            "dynamodb:Query",
            "dynamodb:BatchGetItem",
            "dynamodb:DescribeTable",
        ],
    ),
    (
        "DynamoDBWritePolicy",
        &[
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:BatchWriteItem",
        ],
    ),
    (
        "S3CrudPolicy",
        &[
            "s3:GetObject",
            "s3:ListBucket",
            "s3:GetBucketLocation",
            "s3:GetObjectVersion",
            "s3:PutObject",
            "s3:PutObjectAcl",
            "s3:GetLifecycleConfiguration",
            "s3:PutLifecycleConfiguration",
            "s3:DeleteObject",
        ],
    ),
    (
        "S3ReadPolicy",
        &[
            "s3:GetObject",
            "s3:ListBucket",
            "s3:GetBucketLocation",
            "s3:GetObjectVersion",
            "s3:GetLifecycleConfiguration",
        ],
    ),
    (
        "S3WritePolicy",
        &[
            "s3:PutObject",
            "s3:PutObjectAcl",
            "s3:PutLifecycleConfiguration",
        ],
    ),
    ("SQSSendMessagePolicy", &["sqs:SendMessage*"]),
    (
        "SQSPollerPolicy",
        &[
            "sqs:ChangeMessageVisibility",
            "sqs:ChangeMessageVisibilityBatch",
            "sqs:DeleteMessage",
            "sqs:DeleteMessageBatch",
            "sqs:GetQueueAttributes",
            "sqs:ReceiveMessage",
        ],
    ),
    ("LambdaInvokePolicy", &["lambda:InvokeFunction"]),
    (
        "AWSSecretsManagerGetSecretValuePolicy",
        &["secretsmanager:GetSecretValue"],
    ),
    ("StepFunctionsExecutionPolicy", &["states:StartExecution"]),
    ("CloudWatchPutMetricPolicy", &["cloudwatch:PutMetricData"]),
    ("EventBridgePutEventsPolicy", &["events:PutEvents"]),
];

/// AWS managed policies (named by a plain string in `Policies`) → the actions of theirs
/// our code calls through the SDK: none for these, whose use is the runtime's own (logs,
/// traces).
const MANAGED_POLICIES: &[(&str, &[&str])] = &[
    ("AWSLambdaBasicExecutionRole", &[]),
    ("AWSXrayWriteOnlyAccess", &[]),
    ("AWSXRayDaemonWriteAccess", &[]),
];

/// The logical ids of every `AWS::Serverless::Function` the configuration deploys: one
/// with a `Condition` only when `conditions` says it holds (an unknown condition is an
/// error naming it).
pub fn functions(
    template: &Value,
    conditions: &BTreeMap<&str, bool>,
) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for (id, resource) in template["Resources"].as_mapping().into_iter().flatten() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let id = id.as_str().ok_or("a resource id that is not a string")?;
        if let Some(condition) = resource["Condition"].as_str() {
            let holds = conditions.get(condition).ok_or_else(|| {
                format!("{id}: condition {condition} is not set by the test's configuration")
            })?;
            if !holds {
                continue;
            }
        }
        out.push(id.to_string());
    }
    Ok(out)
}

/// The actions `function`'s policies allow, with the template's conditions set as
/// `conditions` says.
pub fn actions(
    template: &Value,
    function: &str,
    conditions: &BTreeMap<&str, bool>,
) -> Result<BTreeSet<String>, String> {
    let resource = &template["Resources"][function];
    if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
        return Err(format!("{function} is not an AWS::Serverless::Function"));
    }
    let at = |what: String| format!("{function}.Policies: {what}");
    let mut out = BTreeSet::new();
    for policy in items(&resource["Properties"]["Policies"], conditions).map_err(at)? {
        match &policy {
            Value::String(name) => {
                let (_, acts) = MANAGED_POLICIES
                    .iter()
                    .find(|(n, _)| n == name)
                    .ok_or_else(|| {
                        at(format!(
                            "managed policy {name} is not in MANAGED_POLICIES (tests/iam/policy.rs)"
                        ))
                    })?;
                out.extend(acts.iter().map(|a| a.to_string()));
            }
            Value::Mapping(m) if m.contains_key("Statement") => {
                for statement in items(&policy["Statement"], conditions).map_err(at)? {
                    out.extend(statement_actions(&statement).map_err(at)?);
                }
            }
            Value::Mapping(m) if m.len() == 1 => {
                let name = m.keys().next().and_then(Value::as_str).unwrap_or("?");
                let (_, acts) = SAM_POLICY_TEMPLATES
                    .iter()
                    .find(|(n, _)| *n == name)
                    .ok_or_else(|| {
                        at(format!(
                            "SAM policy template {name} is not in SAM_POLICY_TEMPLATES (tests/iam/policy.rs): add its actions"
                        ))
                    })?;
                out.extend(acts.iter().map(|a| a.to_string()));
            }
            other => return Err(at(format!("a policy of an unknown form: {other:?}"))),
        }
    }
    Ok(out)
}

fn statement_actions(statement: &Value) -> Result<Vec<String>, String> {
    match statement["Effect"].as_str() {
        Some("Allow") => {}
        // moto ignores a Deny on a specific ARN; what it would mean is not modelled here.
        other => {
            return Err(format!(
                "a statement with Effect {other:?}; only Allow is understood"
            ))
        }
    }
    let raw = &statement["Action"];
    let list = match raw {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(s) => s
            .iter()
            .map(|a| {
                a.as_str()
                    .map(str::to_string)
                    .ok_or(format!("an action {a:?} that is not a string"))
            })
            .collect::<Result<_, _>>()?,
        other => return Err(format!("Action {other:?} is neither a string nor a list")),
    };
    if list.is_empty() {
        return Err("a statement without actions".into());
    }
    Ok(list)
}

/// A list (or single value), each element with `Fn::If` resolved and `AWS::NoValue`
/// dropped.
fn items(v: &Value, conditions: &BTreeMap<&str, bool>) -> Result<Vec<Value>, String> {
    let list = match v {
        Value::Null => Vec::new(),
        Value::Sequence(s) => s.clone(),
        other => vec![other.clone()],
    };
    let mut out = Vec::new();
    for item in list {
        if let Some(value) = resolve(&item, conditions)? {
            out.push(value);
        }
    }
    Ok(out)
}

/// `!If [cond, a, b]` / `Fn::If` → a or b; `!Ref AWS::NoValue` / `Ref: AWS::NoValue` →
/// `None`; anything else as is.
fn resolve(v: &Value, conditions: &BTreeMap<&str, bool>) -> Result<Option<Value>, String> {
    let (function, args) = match v {
        Value::Tagged(t) => (t.tag.to_string(), t.value.clone()),
        Value::Mapping(m) if m.len() == 1 => match m.iter().next() {
            Some((Value::String(k), args)) if k == "Fn::If" || k == "Ref" => {
                (k.replace("Fn::", "!").replace("Ref", "!Ref"), args.clone())
            }
            _ => return Ok(Some(v.clone())),
        },
        _ => return Ok(Some(v.clone())),
    };
    match function.as_str() {
        "!Ref" if args.as_str() == Some("AWS::NoValue") => Ok(None),
        "!If" => {
            let Some([condition, then, otherwise]) = args.as_sequence().map(Vec::as_slice) else {
                return Err(format!("Fn::If takes [condition, then, else]: {args:?}"));
            };
            let name = condition.as_str().unwrap_or("?");
            let holds = conditions.get(name).ok_or_else(|| {
                format!("condition {name} is not set by the test's configuration")
            })?;
            resolve(if *holds { then } else { otherwise }, conditions)
        }
        _ => Ok(Some(v.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        serde_yaml_ng::from_str(text).unwrap()
    }

    const FUNCTION: &str = r#"
Resources:
  F:
    Type: AWS::Serverless::Function
    Properties:
      Policies:
        - AWSLambdaBasicExecutionRole
        - DynamoDBReadPolicy:
            TableName: !Ref T
        - Statement:
            - Effect: Allow
              Action: s3:GetObject
              Resource: "*"
            - Fn::If:
                - On
                - Effect: Allow
                  Action: [secretsmanager:GetSecretValue]
                  Resource: !Ref S
                - !Ref AWS::NoValue
            - !If
                - On
                - !Ref AWS::NoValue
                - Effect: Allow
                  Action: [sqs:SendMessage]
                  Resource: "*"
"#;

    #[test]
    fn inline_statements_policy_templates_and_conditions_expand() {
        let t = yaml(FUNCTION);
        let on = actions(&t, "F", &BTreeMap::from([("On", true)])).unwrap();
        assert!(on.contains("dynamodb:Query") && on.contains("s3:GetObject"));
        assert!(on.contains("secretsmanager:GetSecretValue"));
        assert!(!on.contains("sqs:SendMessage"));
        let off = actions(&t, "F", &BTreeMap::from([("On", false)])).unwrap();
        assert!(!off.contains("secretsmanager:GetSecretValue"));
        assert!(off.contains("sqs:SendMessage"));
        let e = actions(&t, "F", &BTreeMap::new()).unwrap_err();
        assert!(e.contains("condition On"), "{e}");
    }

    #[test]
    fn a_function_with_a_condition_is_deployed_only_when_it_holds() {
        let t = yaml(&format!(
            "{FUNCTION}  G:\n    Type: AWS::Serverless::Function\n    Condition: On\n  Q:\n    Type: AWS::SQS::Queue\n"
        ));
        let on = functions(&t, &BTreeMap::from([("On", true)])).unwrap();
        assert_eq!(on, ["F", "G"]);
        let off = functions(&t, &BTreeMap::from([("On", false)])).unwrap();
        assert_eq!(off, ["F"]);
        let e = functions(&t, &BTreeMap::new()).unwrap_err();
        assert!(e.contains("G") && e.contains("condition On"), "{e}");
    }

    #[test]
    fn what_is_not_understood_is_an_error_naming_it() {
        let unknown = FUNCTION.replace("DynamoDBReadPolicy", "KinesisCrudPolicy");
        let e = actions(&yaml(&unknown), "F", &BTreeMap::from([("On", true)])).unwrap_err();
        assert!(
            e.contains("KinesisCrudPolicy") && e.contains("SAM_POLICY_TEMPLATES"),
            "{e}"
        );
        let managed = FUNCTION.replace("AWSLambdaBasicExecutionRole", "AmazonS3FullAccess");
        let e = actions(&yaml(&managed), "F", &BTreeMap::from([("On", true)])).unwrap_err();
        assert!(e.contains("AmazonS3FullAccess"), "{e}");
        let deny = FUNCTION.replacen("Effect: Allow", "Effect: Deny", 1);
        let e = actions(&yaml(&deny), "F", &BTreeMap::from([("On", true)])).unwrap_err();
        assert!(e.contains("Deny"), "{e}");
    }
}
