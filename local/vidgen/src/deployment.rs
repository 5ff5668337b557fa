//! What the local engine takes from `template.yaml`, so the local run fails where AWS
//! would: each step function's `Timeout` (Lambda ends an invocation there) and the
//! EventBridge rule that sends ended executions to check-status (the backstop).
//!
//! The template is compiled in, as the definition is (`engine::DEFINITION`), so an
//! installed binary needs no source tree; a template this cannot read is refused at
//! start with the resource and property named.

use serde_json::{json, Value};
use serde_yaml_ng::Value as Yaml;
use std::collections::HashMap;
use std::time::Duration;
use vidgen_shared::workflow::StepFunction;

/// The deployment template, compiled in.
pub const TEMPLATE: &str = include_str!("../../../template.yaml");

/// A template the local engine cannot take its Lambda settings from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template.yaml: {0}")]
pub struct TemplateError(String);

/// The Lambda settings of the step functions, as deployed.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    timeouts: HashMap<&'static str, Duration>,
    execution_ended: ExecutionEndedRule,
}

/// The EventBridge rule on Step Functions' "Execution Status Change" events: which
/// statuses it forwards, to which function, reshaped how.
#[derive(Debug, Clone, PartialEq)]
struct ExecutionEndedRule {
    function: StepFunction,
    statuses: Vec<String>,
    /// `InputPathsMap`: placeholder → `$.a.b` path into the event.
    paths: Vec<(String, String)>,
    /// `InputTemplate`, `<placeholder>`s replaced by the JSON of their values.
    template: String,
}

impl Deployment {
    /// The compiled-in `template.yaml`.
    pub fn embedded() -> Result<Deployment, TemplateError> {
        Deployment::parse(TEMPLATE)
    }

    pub fn parse(text: &str) -> Result<Deployment, TemplateError> {
        let root: Yaml =
            serde_yaml_ng::from_str(text).map_err(|e| TemplateError(format!("not YAML: {e}")))?;
        let global = &root["Globals"]["Function"]["Timeout"];
        let mut timeouts = HashMap::new();
        for function in StepFunction::ALL {
            let id = function.template_resource();
            let resource = &root["Resources"][id];
            if resource.is_null() {
                return Err(TemplateError(format!("no resource {id}")));
            }
            let own = &resource["Properties"]["Timeout"];
            let raw = if own.is_null() { global } else { own };
            let secs = raw
                .as_u64()
                .filter(|s| (1..=900).contains(s))
                .ok_or_else(|| {
                    TemplateError(format!(
                        "{id}: Timeout {raw:?} is not a whole number of seconds from 1 to 900"
                    ))
                })?;
            timeouts.insert(function.name(), Duration::from_secs(secs));
        }
        Ok(Deployment {
            timeouts,
            execution_ended: ExecutionEndedRule::find(&root)?,
        })
    }

    /// The function's `Timeout`: where Lambda ends an invocation.
    pub fn timeout(&self, function: StepFunction) -> Duration {
        // `parse` put every StepFunction in; the fallback is Lambda's own default.
        self.timeouts
            .get(function.name())
            .copied()
            .unwrap_or(Duration::from_secs(3))
    }

    /// Override one function's timeout (tests use short ones).
    pub fn with_timeout(mut self, function: StepFunction, timeout: Duration) -> Deployment {
        self.timeouts.insert(function.name(), timeout);
        self
    }

    /// What EventBridge hands the backstop function when an execution of the job state
    /// machine ends with `status` (`FAILED`, `TIMED_OUT`, `ABORTED`, …): the function and
    /// its input, or `None` when the rule does not forward that status.
    pub fn execution_ended(
        &self,
        execution_name: &str,
        status: &str,
        error: Option<&str>,
        cause: Option<&str>,
    ) -> Option<(StepFunction, Value)> {
        let rule = &self.execution_ended;
        if !rule.statuses.iter().any(|s| s == status) {
            return None;
        }
        // The parts of Step Functions' event the rule can read.
        let event = json!({
            "source": "aws.states",
            "detail-type": "Step Functions Execution Status Change",
            "detail": {"name": execution_name, "status": status, "error": error, "cause": cause},
        });
        let mut text = rule.template.clone();
        for (name, path) in &rule.paths {
            let pointer = path.trim_start_matches('$').replace('.', "/");
            let value = event.pointer(&pointer).unwrap_or(&Value::Null);
            text = text.replace(&format!("<{name}>"), &value.to_string());
        }
        // The template was checked at parse to give JSON for a sample event; a name
        // that breaks it (it cannot: names are job ids) is not forwarded.
        let input = serde_json::from_str(&text).ok()?;
        Some((rule.function, input))
    }
}

impl ExecutionEndedRule {
    /// The one EventBridge rule on a step function whose pattern is Step Functions'
    /// execution status changes.
    fn find(root: &Yaml) -> Result<ExecutionEndedRule, TemplateError> {
        let mut found = Vec::new();
        for function in StepFunction::ALL {
            let id = function.template_resource();
            let Some(events) = root["Resources"][id]["Properties"]["Events"].as_mapping() else {
                continue;
            };
            for (name, event) in events {
                let props = &event["Properties"];
                let pattern = &props["Pattern"];
                let is_status_change = event["Type"].as_str() == Some("EventBridgeRule")
                    && strings(&pattern["source"])
                        .iter()
                        .any(|s| s == "aws.states")
                    && strings(&pattern["detail-type"])
                        .iter()
                        .any(|s| s == "Step Functions Execution Status Change");
                if !is_status_change {
                    continue;
                }
                let here = |what: &str| {
                    TemplateError(format!(
                        "{id}.Events.{}: {what}",
                        name.as_str().unwrap_or("?")
                    ))
                };
                let transformer = &props["InputTransformer"];
                let paths = transformer["InputPathsMap"]
                    .as_mapping()
                    .ok_or_else(|| here("no InputTransformer.InputPathsMap"))?
                    .iter()
                    .map(|(k, v)| match (k.as_str(), v.as_str()) {
                        (Some(k), Some(v)) if v.starts_with("$.") => {
                            Ok((k.to_string(), v.to_string()))
                        }
                        _ => Err(here("InputPathsMap entries are name: $.path")),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let template = transformer["InputTemplate"]
                    .as_str()
                    .ok_or_else(|| here("no InputTransformer.InputTemplate"))?
                    .to_string();
                let rule = ExecutionEndedRule {
                    function,
                    statuses: strings(&pattern["detail"]["status"]),
                    paths,
                    template,
                };
                if rule.statuses.is_empty() {
                    return Err(here("the pattern names no detail.status"));
                }
                if rule.sample().is_none() {
                    return Err(here("InputTemplate does not give JSON for an event"));
                }
                found.push(rule);
            }
        }
        match found.len() {
            1 => Ok(found.remove(0)),
            n => Err(TemplateError(format!(
                "{n} EventBridge rules on Step Functions execution status changes; the local engine needs exactly one"
            ))),
        }
    }

    fn sample(&self) -> Option<Value> {
        let d = Deployment {
            timeouts: HashMap::new(),
            execution_ended: self.clone(),
        };
        d.execution_ended("01J00000000000000000000000", &self.statuses[0], None, None)
            .map(|(_, v)| v)
    }
}

/// A YAML string or list of strings.
fn strings(v: &Yaml) -> Vec<String> {
    match v {
        Yaml::String(s) => vec![s.clone()],
        Yaml::Sequence(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vidgen_shared::workflow::CheckStatusInput;

    #[test]
    fn the_embedded_template_gives_every_step_its_timeout() {
        let d = Deployment::embedded().unwrap();
        let raw: Yaml = serde_yaml_ng::from_str(TEMPLATE).unwrap();
        for f in StepFunction::ALL {
            let own = &raw["Resources"][f.template_resource()]["Properties"]["Timeout"];
            let want = own
                .as_u64()
                .or_else(|| raw["Globals"]["Function"]["Timeout"].as_u64())
                .unwrap();
            assert_eq!(d.timeout(f), Duration::from_secs(want), "{f:?}");
        }
    }

    #[test]
    fn a_stopped_execution_reaches_check_status_as_in_aws() {
        let d = Deployment::embedded().unwrap();
        let id = "01J5ZQ0000000000000000000A";
        for status in ["ABORTED", "FAILED", "TIMED_OUT"] {
            let (function, input) = d.execution_ended(id, status, None, None).expect(status);
            assert_eq!(function, StepFunction::CheckStatus);
            let parsed: CheckStatusInput = serde_json::from_value(input).unwrap();
            assert!(
                matches!(&parsed, CheckStatusInput::ExecutionEnded { job_id, status: s, .. }
                    if job_id.as_str() == id && s == status),
                "{parsed:?}"
            );
        }
        assert!(d.execution_ended(id, "SUCCEEDED", None, None).is_none());
    }

    #[test]
    fn a_template_without_what_the_engine_needs_is_refused_by_name() {
        // SubmitFunction's own Timeout, whatever its value, made unreadable.
        let at = TEMPLATE.find("  SubmitFunction:").unwrap();
        let t = at + TEMPLATE[at..].find("Timeout: ").unwrap() + "Timeout: ".len();
        let end = t + TEMPLATE[t..].find('\n').unwrap();
        let bad = format!("{}ninety{}", &TEMPLATE[..t], &TEMPLATE[end..]);
        let e = Deployment::parse(&bad).unwrap_err().to_string();
        assert!(e.contains("SubmitFunction") && e.contains("Timeout"), "{e}");
        let no_aborted = TEMPLATE.replace("[FAILED, TIMED_OUT, ABORTED]", "[FAILED, TIMED_OUT]");
        assert_ne!(no_aborted, TEMPLATE);
        let d = Deployment::parse(&no_aborted).unwrap();
        assert!(d
            .execution_ended(
                "01J5ZQ0000000000000000000A",
                "ABORTED",
                None,
                Some("{\"video\":\"v\"}")
            )
            .is_none());
    }
}
