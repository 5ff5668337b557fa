//! `template.yaml` as the tests read it. CloudFormation's short-form tags (`!Ref`,
//! `!Sub`, `!GetAtt`, `!If`, …) come through as tagged YAML values.

use serde_json::Value as Json;
use serde_yaml_ng::Value;

pub struct Template {
    pub root: Value,
}

impl Template {
    pub fn load() -> Template {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
        let text = std::fs::read_to_string(path).expect("template.yaml");
        Template {
            root: serde_yaml_ng::from_str(&text).expect("template.yaml is YAML"),
        }
    }

    pub fn resource(&self, logical_id: &str) -> &Value {
        let r = &self.root["Resources"][logical_id];
        assert!(!r.is_null(), "template.yaml has no resource {logical_id}");
        r
    }

    /// A function's `Timeout` in seconds: its own, else the Globals' (Lambda's default
    /// of 3 s when neither sets one).
    pub fn function_timeout(&self, logical_id: &str) -> u64 {
        let own = &self.resource(logical_id)["Properties"]["Timeout"];
        let global = &self.root["Globals"]["Function"]["Timeout"];
        own.as_u64().or_else(|| global.as_u64()).unwrap_or(3)
    }

    /// Logical ids of every resource of `kind` (e.g. `AWS::Serverless::Function`).
    pub fn resources_of(&self, kind: &str) -> Vec<String> {
        self.root["Resources"]
            .as_mapping()
            .expect("Resources")
            .iter()
            .filter(|(_, r)| r["Type"].as_str() == Some(kind))
            .filter_map(|(k, _)| k.as_str().map(str::to_string))
            .collect()
    }

    /// The functions' EventBridge rule that sends execution ends to check-status:
    /// applied to `event` as EventBridge would (InputPathsMap, then InputTemplate with
    /// string values inserted JSON-quoted).
    pub fn transform_execution_event(&self, event: &Json) -> Json {
        let rule = &self.resource("CheckStatusFunction")["Properties"]["Events"]["ExecutionEnded"]
            ["Properties"]["InputTransformer"];
        let paths = rule["InputPathsMap"].as_mapping().expect("InputPathsMap");
        let mut text = rule["InputTemplate"]
            .as_str()
            .expect("InputTemplate")
            .to_string();
        for (name, path) in paths {
            let (name, path) = (name.as_str().unwrap(), path.as_str().unwrap());
            let pointer = path
                .strip_prefix('$')
                .expect("paths start at $")
                .replace('.', "/");
            let value = event.pointer(&pointer).unwrap_or(&Json::Null);
            text = text.replace(&format!("<{name}>"), &value.to_string());
        }
        serde_json::from_str(&text).expect("the transformed event is JSON")
    }
}

/// `!Tag value` → (`!Tag`, value); an untagged value → (``, value).
pub fn tagged(v: &Value) -> (String, &Value) {
    match v {
        Value::Tagged(t) => (t.tag.to_string(), &t.value),
        other => (String::new(), other),
    }
}

/// The template as CloudFormation would see it for one set of parameter values: each
/// parameter's `Default`, overridden by what the deployer sets. It evaluates the
/// `Conditions`, resolves `!If` / `AWS::NoValue`, and checks the `Rules` — the subset
/// of the intrinsic functions the template uses; anything else is a panic naming it.
#[allow(dead_code)]
pub struct Deployment<'a> {
    pub template: &'a Template,
    pub parameters: std::collections::BTreeMap<String, String>,
}

// Used by the template tests alone; the other binaries that include this module do not.
#[allow(dead_code)]
impl Template {
    /// The deployment with `set` parameters (the rest keep their defaults).
    pub fn deploy(&self, set: &[(&str, &str)]) -> Deployment<'_> {
        let mut parameters = std::collections::BTreeMap::new();
        for (name, p) in self.root["Parameters"].as_mapping().expect("Parameters") {
            let name = name.as_str().expect("a parameter name").to_string();
            let default = match &p["Default"] {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            };
            if let Some(d) = default {
                parameters.insert(name, d);
            }
        }
        for (name, value) in set {
            assert!(
                !self.root["Parameters"][*name].is_null(),
                "template.yaml has no parameter {name}"
            );
            parameters.insert(name.to_string(), value.to_string());
        }
        Deployment {
            template: self,
            parameters,
        }
    }
}

/// `!Fn args` or `{"Fn::Fn": args}` / `{"Ref": args}` → ("Fn", args).
#[allow(dead_code)]
fn intrinsic(v: &Value) -> Option<(String, &Value)> {
    match v {
        Value::Tagged(t) => Some((
            t.tag.to_string().trim_start_matches('!').to_string(),
            &t.value,
        )),
        Value::Mapping(m) if m.len() == 1 => {
            let (k, args) = m.iter().next()?;
            let k = k.as_str()?;
            let name = k.strip_prefix("Fn::").or((k == "Ref").then_some(k))?;
            Some((name.to_string(), args))
        }
        _ => None,
    }
}

#[allow(dead_code)]
fn args<const N: usize>(what: &str, v: &Value) -> [Value; N] {
    v.as_sequence()
        .cloned()
        .and_then(|s| s.try_into().ok())
        .unwrap_or_else(|| panic!("{what} takes {N} arguments: {v:?}"))
}

#[allow(dead_code)]
impl Deployment<'_> {
    /// A parameter's value (unset and without a default: a panic naming it).
    pub fn parameter(&self, name: &str) -> &str {
        self.parameters
            .get(name)
            .unwrap_or_else(|| panic!("parameter {name} has no value in this deployment"))
    }

    /// Whether the template's condition `name` holds.
    pub fn condition(&self, name: &str) -> bool {
        let c = &self.template.root["Conditions"][name];
        assert!(!c.is_null(), "template.yaml has no condition {name}");
        self.truth(c)
    }

    /// A condition or rule expression: `Not`, `And`, `Or`, `Equals`, `Contains`,
    /// `Condition`.
    fn truth(&self, v: &Value) -> bool {
        let (f, a) = intrinsic(v).unwrap_or_else(|| panic!("not a condition: {v:?}"));
        match f.as_str() {
            "Not" => !self.truth(&args::<1>("Not", a)[0]),
            "And" => a
                .as_sequence()
                .expect("And takes a list")
                .iter()
                .all(|x| self.truth(x)),
            "Or" => a
                .as_sequence()
                .expect("Or takes a list")
                .iter()
                .any(|x| self.truth(x)),
            "Equals" => {
                let [x, y] = args::<2>("Equals", a);
                self.scalar(&x) == self.scalar(&y)
            }
            "Contains" => {
                let [list, x] = args::<2>("Contains", a);
                let x = self.scalar(&x);
                list.as_sequence()
                    .expect("Contains takes a list first")
                    .iter()
                    .any(|item| self.scalar(item) == x)
            }
            "Condition" => self.condition(a.as_str().expect("a condition name")),
            other => panic!("condition function {other} is not modelled here"),
        }
    }

    /// A string: a literal, or `!Ref` of a parameter.
    pub fn scalar(&self, v: &Value) -> String {
        match (v, intrinsic(v)) {
            (Value::String(s), _) => s.clone(),
            (Value::Number(n), _) => n.to_string(),
            (Value::Bool(b), _) => b.to_string(),
            (_, Some((f, a))) if f == "Ref" => self
                .parameter(a.as_str().expect("Ref takes a name"))
                .to_string(),
            _ => panic!("not a string or a parameter: {v:?}"),
        }
    }

    /// `v` with every `!If` decided and every `AWS::NoValue` removed (from lists and
    /// maps); `None` when `v` itself is NoValue. Other functions stay as written.
    pub fn resolve(&self, v: &Value) -> Option<Value> {
        if let Some((f, a)) = intrinsic(v) {
            match f.as_str() {
                "Ref" if a.as_str() == Some("AWS::NoValue") => return None,
                "If" => {
                    let [c, then, otherwise] = args::<3>("If", a);
                    let name = c.as_str().expect("If names a condition");
                    return self.resolve(if self.condition(name) {
                        &then
                    } else {
                        &otherwise
                    });
                }
                _ => return Some(v.clone()),
            }
        }
        Some(match v {
            Value::Sequence(s) => {
                Value::Sequence(s.iter().filter_map(|x| self.resolve(x)).collect())
            }
            Value::Mapping(m) => Value::Mapping(
                m.iter()
                    .filter_map(|(k, x)| Some((k.clone(), self.resolve(x)?)))
                    .collect(),
            ),
            other => other.clone(),
        })
    }

    /// A resource as deployed (`None` when its `Condition` does not hold).
    pub fn resource(&self, logical_id: &str) -> Option<Value> {
        let r = self.template.resource(logical_id);
        if let Some(c) = r["Condition"].as_str() {
            if !self.condition(c) {
                return None;
            }
        }
        self.resolve(r)
    }

    /// The descriptions of the `Rules` assertions that fail (empty: CloudFormation
    /// accepts the parameters).
    pub fn failed_rules(&self) -> Vec<String> {
        let mut failed = Vec::new();
        for (name, rule) in self.template.root["Rules"]
            .as_mapping()
            .into_iter()
            .flatten()
        {
            if !rule["RuleCondition"].is_null() && !self.truth(&rule["RuleCondition"]) {
                continue;
            }
            for a in rule["Assertions"].as_sequence().expect("Assertions").iter() {
                if !self.truth(&a["Assert"]) {
                    let why = a["AssertDescription"].as_str().unwrap_or_default();
                    failed.push(format!("{}: {why}", name.as_str().unwrap_or("?")));
                }
            }
        }
        failed
    }
}
