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
