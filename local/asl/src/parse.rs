//! Parsing and checking a definition.

use crate::choice::Cond;
use crate::path::Path;
use crate::AslError;
use serde_json::Value;
use std::collections::HashMap;

/// Where a path field points: absent means `$`, JSON null means "nothing".
#[derive(Debug, Clone)]
pub enum PathField {
    Root,
    Null,
    At(Path),
}

#[derive(Debug, Clone)]
pub struct Retrier {
    pub errors: Vec<String>,
    pub interval: f64,
    pub max_attempts: u32,
    pub backoff: f64,
    pub max_delay: Option<f64>,
    pub full_jitter: bool,
}

#[derive(Debug, Clone)]
pub struct Catcher {
    pub errors: Vec<String>,
    pub next: String,
    pub result_path: PathField,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Task {
        /// Without a `.waitForTaskToken` suffix: the handler runs the same integration
        /// either way.
        resource: String,
        /// `.waitForTaskToken`: after the handler's call the Task waits for
        /// SendTaskSuccess/SendTaskFailure on its token.
        callback: bool,
        parameters: Option<Value>,
        result_selector: Option<Value>,
        timeout: Option<f64>,
        /// `TimeoutSecondsPath`: the timeout read from the state's input (after
        /// InputPath) when the Task starts; exclusive with `timeout`.
        timeout_path: Option<Path>,
        /// Only callback Tasks can be sent heartbeats; elsewhere it is accepted and unused.
        heartbeat: Option<f64>,
        retry: Vec<Retrier>,
        catch: Vec<Catcher>,
    },
    Wait {
        seconds: Option<f64>,
        seconds_path: Option<Path>,
        timestamp: Option<String>,
        timestamp_path: Option<Path>,
    },
    Choice {
        choices: Vec<(Cond, String)>,
        default: Option<String>,
    },
    Pass {
        result: Option<Value>,
        parameters: Option<Value>,
    },
    Succeed,
    Fail {
        error: Option<String>,
        cause: Option<String>,
        error_path: Option<Path>,
        cause_path: Option<Path>,
    },
}

#[derive(Debug, Clone)]
pub struct State {
    pub kind: Kind,
    pub input_path: PathField,
    pub output_path: PathField,
    pub result_path: PathField,
    /// `None` for End, Choice, Succeed and Fail.
    pub next: Option<String>,
}

/// A parsed, checked definition.
#[derive(Debug, Clone)]
pub struct StateMachine {
    pub(crate) start_at: String,
    pub(crate) timeout: Option<f64>,
    pub(crate) states: HashMap<String, State>,
}

const COMMON: [&str; 5] = ["Type", "Comment", "InputPath", "OutputPath", "Next"];

fn err(state: &str, msg: impl std::fmt::Display) -> AslError {
    AslError(format!("state {state:?}: {msg}"))
}

fn path_field(
    obj: &serde_json::Map<String, Value>,
    name: &str,
    state: &str,
) -> Result<PathField, AslError> {
    match obj.get(name) {
        None => Ok(PathField::Root),
        Some(Value::Null) => Ok(PathField::Null),
        Some(Value::String(s)) => Path::parse(s)
            .map(PathField::At)
            .map_err(|e| err(state, format!("{name}: {e}"))),
        Some(_) => Err(err(state, format!("{name} must be a string or null"))),
    }
}

fn opt_path(
    obj: &serde_json::Map<String, Value>,
    name: &str,
    state: &str,
) -> Result<Option<Path>, AslError> {
    obj.get(name)
        .map(|v| {
            v.as_str()
                .ok_or_else(|| err(state, format!("{name} must be a string")))
                .and_then(|s| Path::parse(s).map_err(|e| err(state, format!("{name}: {e}"))))
        })
        .transpose()
}

fn number(
    obj: &serde_json::Map<String, Value>,
    name: &str,
    state: &str,
) -> Result<Option<f64>, AslError> {
    obj.get(name)
        .map(|v| {
            v.as_f64()
                .filter(|n| *n >= 0.0)
                .ok_or_else(|| err(state, format!("{name} must be a non-negative number")))
        })
        .transpose()
}

fn errors(v: &Value, state: &str) -> Result<Vec<String>, AslError> {
    let list = v
        .get("ErrorEquals")
        .and_then(Value::as_array)
        .ok_or_else(|| err(state, "Retry/Catch needs ErrorEquals"))?;
    list.iter()
        .map(|e| {
            e.as_str()
                .map(str::to_string)
                .ok_or_else(|| err(state, "ErrorEquals holds strings"))
        })
        .collect()
}

fn check_keys(
    obj: &serde_json::Map<String, Value>,
    allowed: &[&str],
    state: &str,
) -> Result<(), AslError> {
    match obj
        .keys()
        .find(|k| !COMMON.contains(&k.as_str()) && !allowed.contains(&k.as_str()))
    {
        Some(k) => Err(err(state, format!("field {k} is not supported here"))),
        None => Ok(()),
    }
}

impl StateMachine {
    /// Parse a definition, after replacing `${Name}` placeholders (SAM's
    /// DefinitionSubstitutions) with `substitutions`.
    pub fn parse(
        definition_json: &str,
        substitutions: &HashMap<String, String>,
    ) -> Result<StateMachine, AslError> {
        let mut text = definition_json.to_string();
        for (name, value) in substitutions {
            text = text.replace(&format!("${{{name}}}"), value);
        }
        let root: Value =
            serde_json::from_str(&text).map_err(|e| AslError(format!("not JSON: {e}")))?;
        let start_at = root
            .get("StartAt")
            .and_then(Value::as_str)
            .ok_or_else(|| AslError("StartAt is required".into()))?
            .to_string();
        let timeout = root.get("TimeoutSeconds").and_then(Value::as_f64);
        let raw_states = root
            .get("States")
            .and_then(Value::as_object)
            .ok_or_else(|| AslError("States is required".into()))?;
        let mut states = HashMap::new();
        for (name, raw) in raw_states {
            states.insert(name.clone(), parse_state(name, raw)?);
        }
        let sm = StateMachine {
            start_at,
            timeout,
            states,
        };
        sm.check_targets()?;
        Ok(sm)
    }

    fn check_targets(&self) -> Result<(), AslError> {
        let exists = |target: &str, from: &str| {
            if self.states.contains_key(target) {
                Ok(())
            } else {
                Err(err(
                    from,
                    format!("points at {target:?}, which does not exist"),
                ))
            }
        };
        if !self.states.contains_key(&self.start_at) {
            return Err(AslError(format!(
                "StartAt {:?} does not exist",
                self.start_at
            )));
        }
        for (name, s) in &self.states {
            if let Some(n) = &s.next {
                exists(n, name)?;
            }
            match &s.kind {
                Kind::Task { catch, .. } => catch.iter().try_for_each(|c| exists(&c.next, name))?,
                Kind::Choice { choices, default } => {
                    choices.iter().try_for_each(|(_, n)| exists(n, name))?;
                    if let Some(d) = default {
                        exists(d, name)?;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// The suffix that makes a Task wait for a callback on its task token.
const CALLBACK_SUFFIX: &str = ".waitForTaskToken";

/// Optimized integrations that have the callback pattern (Step Functions developer
/// guide, "Integrating optimized services"). DynamoDB is not among them: only its AWS
/// SDK integration (`aws-sdk:dynamodb:…`) can wait for a token.
const OPTIMIZED_WITH_CALLBACK: [&str; 9] = [
    "lambda",
    "sqs",
    "sns",
    "ecs",
    "eks",
    "events",
    "apigateway",
    "bedrock",
    "states",
];

/// Split a Task's Resource into the integration to call and whether it waits for a
/// callback, refusing `.waitForTaskToken` where Step Functions refuses it.
fn task_resource(state: &str, resource: &str) -> Result<(String, bool), AslError> {
    let Some(base) = resource.strip_suffix(CALLBACK_SUFFIX) else {
        return Ok((resource.to_string(), false));
    };
    // arn:<partition>:states:::<integration>
    let integration = base
        .strip_prefix("arn:")
        .and_then(|rest| rest.split_once(':'))
        .and_then(|(_, rest)| rest.strip_prefix("states:::"))
        .ok_or_else(|| {
            err(
                state,
                format!("{CALLBACK_SUFFIX} is only for service integrations (arn:aws:states:::…), not {resource:?}"),
            )
        })?;
    let mut parts = integration.split(':');
    let service = parts.next().unwrap_or_default();
    if service == "aws-sdk" {
        let (sdk_service, action) = (parts.next(), parts.next());
        return match (sdk_service, action, parts.next()) {
            (Some(s), Some(a), None) if !s.is_empty() && !a.is_empty() => {
                Ok((base.to_string(), true))
            }
            _ => Err(err(
                state,
                format!("{resource:?}: an AWS SDK integration is aws-sdk:<service>:<action>"),
            )),
        };
    }
    if service == "dynamodb" {
        return Err(err(
            state,
            format!(
                "{resource:?}: the optimized DynamoDB integration has no callback pattern; \
                 use arn:aws:states:::aws-sdk:dynamodb:<action>{CALLBACK_SUFFIX}"
            ),
        ));
    }
    if !OPTIMIZED_WITH_CALLBACK.contains(&service) || parts.next().is_none_or(str::is_empty) {
        return Err(err(
            state,
            format!("{resource:?}: this integration has no callback pattern ({CALLBACK_SUFFIX})"),
        ));
    }
    Ok((base.to_string(), true))
}

/// Step Functions' default TaskTimeoutSeconds, against which a HeartbeatSeconds without
/// TimeoutSeconds is checked.
const DEFAULT_TASK_TIMEOUT: f64 = 99_999_999.0;

/// HeartbeatSeconds: a positive integer below the Task's TimeoutSeconds, as Step
/// Functions validates it.
fn heartbeat_seconds(
    obj: &serde_json::Map<String, Value>,
    timeout: Option<f64>,
    state: &str,
) -> Result<Option<f64>, AslError> {
    let Some(raw) = obj.get("HeartbeatSeconds") else {
        return Ok(None);
    };
    let secs = raw
        .as_u64()
        .filter(|s| *s > 0)
        .ok_or_else(|| err(state, "HeartbeatSeconds must be a positive integer"))?
        as f64;
    let limit = timeout.unwrap_or(DEFAULT_TASK_TIMEOUT);
    if secs >= limit {
        return Err(err(
            state,
            format!("HeartbeatSeconds ({secs}) must be smaller than TimeoutSeconds ({limit})"),
        ));
    }
    Ok(Some(secs))
}

fn parse_state(name: &str, raw: &Value) -> Result<State, AslError> {
    let obj = raw
        .as_object()
        .ok_or_else(|| err(name, "must be an object"))?;
    let kind_name = obj
        .get("Type")
        .and_then(Value::as_str)
        .ok_or_else(|| err(name, "Type is required"))?;
    let end = obj.get("End").and_then(Value::as_bool).unwrap_or(false);
    let next = obj.get("Next").and_then(Value::as_str).map(str::to_string);
    let needs_next = |allowed: &[&str]| -> Result<(), AslError> {
        check_keys(obj, allowed, name)?;
        if next.is_none() && !end {
            return Err(err(name, "needs Next or End"));
        }
        Ok(())
    };
    let kind = match kind_name {
        "Task" => {
            needs_next(&[
                "Resource",
                "Parameters",
                "ResultSelector",
                "ResultPath",
                "TimeoutSeconds",
                "TimeoutSecondsPath",
                "HeartbeatSeconds",
                "Retry",
                "Catch",
                "End",
            ])?;
            let (resource, callback) = task_resource(
                name,
                obj.get("Resource")
                    .and_then(Value::as_str)
                    .ok_or_else(|| err(name, "Resource is required"))?,
            )?;
            let timeout = number(obj, "TimeoutSeconds", name)?;
            let timeout_path = opt_path(obj, "TimeoutSecondsPath", name)?;
            if timeout.is_some() && timeout_path.is_some() {
                return Err(err(
                    name,
                    "TimeoutSeconds and TimeoutSecondsPath cannot both be given",
                ));
            }
            // A HeartbeatSeconds beside a TimeoutSecondsPath is checked when the Task
            // starts, as Step Functions does.
            let heartbeat = heartbeat_seconds(obj, timeout, name)?;
            let retry = match obj.get("Retry") {
                None => Vec::new(),
                Some(list) => list
                    .as_array()
                    .ok_or_else(|| err(name, "Retry must be an array"))?
                    .iter()
                    .map(|r| {
                        let o = r
                            .as_object()
                            .ok_or_else(|| err(name, "a retrier must be an object"))?;
                        Ok(Retrier {
                            errors: errors(r, name)?,
                            interval: number(o, "IntervalSeconds", name)?.unwrap_or(1.0),
                            max_attempts: number(o, "MaxAttempts", name)?.unwrap_or(3.0) as u32,
                            backoff: number(o, "BackoffRate", name)?.unwrap_or(2.0),
                            max_delay: number(o, "MaxDelaySeconds", name)?,
                            full_jitter: match o.get("JitterStrategy").and_then(Value::as_str) {
                                None | Some("NONE") => false,
                                Some("FULL") => true,
                                Some(other) => {
                                    return Err(err(
                                        name,
                                        format!("JitterStrategy {other} is not supported"),
                                    ))
                                }
                            },
                        })
                    })
                    .collect::<Result<Vec<_>, AslError>>()?,
            };
            let catch = match obj.get("Catch") {
                None => Vec::new(),
                Some(list) => list
                    .as_array()
                    .ok_or_else(|| err(name, "Catch must be an array"))?
                    .iter()
                    .map(|c| {
                        let o = c
                            .as_object()
                            .ok_or_else(|| err(name, "a catcher must be an object"))?;
                        Ok(Catcher {
                            errors: errors(c, name)?,
                            next: o
                                .get("Next")
                                .and_then(Value::as_str)
                                .ok_or_else(|| err(name, "a catcher needs Next"))?
                                .to_string(),
                            result_path: path_field(o, "ResultPath", name)?,
                        })
                    })
                    .collect::<Result<Vec<_>, AslError>>()?,
            };
            Kind::Task {
                resource,
                callback,
                parameters: obj.get("Parameters").cloned(),
                result_selector: obj.get("ResultSelector").cloned(),
                timeout,
                timeout_path,
                heartbeat,
                retry,
                catch,
            }
        }
        "Wait" => {
            needs_next(&[
                "Seconds",
                "SecondsPath",
                "Timestamp",
                "TimestampPath",
                "End",
            ])?;
            Kind::Wait {
                seconds: number(obj, "Seconds", name)?,
                seconds_path: opt_path(obj, "SecondsPath", name)?,
                timestamp: obj
                    .get("Timestamp")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                timestamp_path: opt_path(obj, "TimestampPath", name)?,
            }
        }
        "Choice" => {
            check_keys(obj, &["Choices", "Default"], name)?;
            let choices = obj
                .get("Choices")
                .and_then(Value::as_array)
                .ok_or_else(|| err(name, "Choices is required"))?
                .iter()
                .map(|rule| {
                    let next = rule
                        .get("Next")
                        .and_then(Value::as_str)
                        .ok_or_else(|| err(name, "each choice needs Next"))?;
                    let cond = Cond::parse(rule).map_err(|e| err(name, e))?;
                    Ok((cond, next.to_string()))
                })
                .collect::<Result<Vec<_>, AslError>>()?;
            Kind::Choice {
                choices,
                default: obj
                    .get("Default")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            }
        }
        "Pass" => {
            needs_next(&["Result", "ResultPath", "Parameters", "End"])?;
            Kind::Pass {
                result: obj.get("Result").cloned(),
                parameters: obj.get("Parameters").cloned(),
            }
        }
        "Succeed" => {
            check_keys(obj, &[], name)?;
            Kind::Succeed
        }
        "Fail" => {
            check_keys(obj, &["Error", "Cause", "ErrorPath", "CausePath"], name)?;
            Kind::Fail {
                error: obj.get("Error").and_then(Value::as_str).map(str::to_string),
                cause: obj.get("Cause").and_then(Value::as_str).map(str::to_string),
                error_path: opt_path(obj, "ErrorPath", name)?,
                cause_path: opt_path(obj, "CausePath", name)?,
            }
        }
        other => return Err(err(name, format!("Type {other} is not supported"))),
    };
    Ok(State {
        kind,
        input_path: path_field(obj, "InputPath", name)?,
        output_path: path_field(obj, "OutputPath", name)?,
        result_path: path_field(obj, "ResultPath", name)?,
        next: if end { None } else { next },
    })
}
