//! Choice rules.

use crate::path::Path;
use serde_json::Value;

#[derive(Debug, Clone)]
pub enum Cond {
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    Test {
        variable: Path,
        op: String,
        operand: Operand,
    },
}

#[derive(Debug, Clone)]
pub enum Operand {
    Literal(Value),
    Path(Path),
}

const OPS: [&str; 18] = [
    "StringEquals",
    "StringLessThan",
    "StringGreaterThan",
    "StringMatches",
    "NumericEquals",
    "NumericLessThan",
    "NumericGreaterThan",
    "NumericLessThanEquals",
    "NumericGreaterThanEquals",
    "BooleanEquals",
    "TimestampEquals",
    "TimestampLessThan",
    "TimestampGreaterThan",
    "IsPresent",
    "IsNull",
    "IsString",
    "IsNumeric",
    "IsBoolean",
];

impl Cond {
    pub fn parse(rule: &Value) -> Result<Cond, String> {
        let obj = rule.as_object().ok_or("a choice rule must be an object")?;
        if let Some(list) = obj.get("And").or(obj.get("Or")) {
            let items = list.as_array().ok_or("And/Or take an array")?;
            let parsed = items
                .iter()
                .map(Cond::parse)
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(if obj.contains_key("And") {
                Cond::And(parsed)
            } else {
                Cond::Or(parsed)
            });
        }
        if let Some(inner) = obj.get("Not") {
            return Ok(Cond::Not(Box::new(Cond::parse(inner)?)));
        }
        let variable = obj
            .get("Variable")
            .and_then(Value::as_str)
            .ok_or("a choice rule needs Variable")?;
        for (key, value) in obj {
            let (op, is_path) = match key.strip_suffix("Path") {
                Some(op) if OPS.contains(&op) => (op, true),
                _ => (key.as_str(), false),
            };
            if OPS.contains(&op) {
                let operand = if is_path {
                    Operand::Path(Path::parse(
                        value.as_str().ok_or("a …Path operand must be a string")?,
                    )?)
                } else {
                    Operand::Literal(value.clone())
                };
                return Ok(Cond::Test {
                    variable: Path::parse(variable)?,
                    op: op.to_string(),
                    operand,
                });
            }
        }
        Err(format!("no supported comparison in rule {rule}"))
    }

    /// Whether the rule holds. A missing Variable is an error except for IsPresent.
    pub fn eval(&self, data: &Value, context: &Value) -> Result<bool, String> {
        match self {
            Cond::And(all) => {
                for c in all {
                    if !c.eval(data, context)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Cond::Or(any) => {
                for c in any {
                    if c.eval(data, context)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Cond::Not(c) => Ok(!c.eval(data, context)?),
            Cond::Test {
                variable,
                op,
                operand,
            } => {
                let value = variable.get(data, context);
                let expected = match operand {
                    Operand::Literal(v) => v.clone(),
                    Operand::Path(p) => p
                        .get(data, context)
                        .cloned()
                        .ok_or("a …Path operand was not found")?,
                };
                if op == "IsPresent" {
                    return Ok(value.is_some() == expected.as_bool().unwrap_or(true));
                }
                let Some(value) = value else {
                    return Err("the choice Variable was not found in the input".into());
                };
                let want = expected.as_bool().unwrap_or(true);
                Ok(match op.as_str() {
                    "IsNull" => value.is_null() == want,
                    "IsString" => value.is_string() == want,
                    "IsNumeric" => value.is_number() == want,
                    "IsBoolean" => value.is_boolean() == want,
                    "BooleanEquals" => {
                        value.as_bool().is_some() && value.as_bool() == expected.as_bool()
                    }
                    "StringMatches" => match (value.as_str(), expected.as_str()) {
                        (Some(v), Some(p)) => wildcard(v, p),
                        _ => false,
                    },
                    o if o.starts_with("String") || o.starts_with("Timestamp") => {
                        match (value.as_str(), expected.as_str()) {
                            (Some(v), Some(e)) => compare(o, v.cmp(e)),
                            _ => false,
                        }
                    }
                    o => match (value.as_f64(), expected.as_f64()) {
                        (Some(v), Some(e)) => v.partial_cmp(&e).is_some_and(|ord| compare(o, ord)),
                        _ => false,
                    },
                })
            }
        }
    }
}

fn compare(op: &str, ord: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    if op.ends_with("LessThanEquals") {
        ord != Greater
    } else if op.ends_with("GreaterThanEquals") {
        ord != Less
    } else if op.ends_with("LessThan") {
        ord == Less
    } else if op.ends_with("GreaterThan") {
        ord == Greater
    } else {
        ord == Equal
    }
}

/// `*` matches any run of characters.
fn wildcard(value: &str, pattern: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return value == pattern;
    }
    let mut rest = value;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn evaluates_rules() {
        let data = json!({"next": "download", "n": 3, "ok": true, "lim": 5, "name": "vid_abc"});
        let ctx = json!({});
        let t = |rule: Value| Cond::parse(&rule).unwrap().eval(&data, &ctx).unwrap();
        assert!(t(json!({"Variable": "$.next", "StringEquals": "download"})));
        assert!(!t(json!({"Variable": "$.next", "StringEquals": "wait"})));
        assert!(t(
            json!({"Variable": "$.n", "NumericLessThanPath": "$.lim"})
        ));
        assert!(t(json!({"Variable": "$.n", "NumericGreaterThanEquals": 3})));
        assert!(t(json!({"Variable": "$.ok", "BooleanEquals": true})));
        assert!(t(json!({"Variable": "$.gone", "IsPresent": false})));
        assert!(t(json!({"Variable": "$.name", "StringMatches": "vid_*c"})));
        assert!(t(
            json!({"And": [{"Variable": "$.ok", "BooleanEquals": true}, {"Not": {"Variable": "$.n", "NumericEquals": 4}}]})
        ));
        assert!(t(
            json!({"Or": [{"Variable": "$.n", "NumericEquals": 4}, {"Variable": "$.n", "IsNumeric": true}]})
        ));
        assert!(
            Cond::parse(&json!({"Variable": "$.gone", "StringEquals": "x"}))
                .unwrap()
                .eval(&data, &ctx)
                .is_err()
        );
        assert!(Cond::parse(&json!({"Variable": "$.n", "Frobnicate": 1})).is_err());
    }
}
