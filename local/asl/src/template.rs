//! Payload templates (Parameters, ResultSelector): keys ending in `.$` take a path
//! or an intrinsic function; everything else is copied.

use crate::path::Path;
use serde_json::{Map, Value};

/// Fill a template against the state's data and the context object.
pub fn fill(template: &Value, data: &Value, context: &Value) -> Result<Value, String> {
    match template {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                if let Some(name) = k.strip_suffix(".$") {
                    let expr = v
                        .as_str()
                        .ok_or_else(|| format!("{k}: the value of a .$ field must be a string"))?;
                    out.insert(name.to_string(), eval(expr, data, context)?);
                } else {
                    out.insert(k.clone(), fill(v, data, context)?);
                }
            }
            Ok(Value::Object(out))
        }
        Value::Array(items) => items
            .iter()
            .map(|i| fill(i, data, context))
            .collect::<Result<_, _>>()
            .map(Value::Array),
        other => Ok(other.clone()),
    }
}

/// A path or an intrinsic call.
pub fn eval(expr: &str, data: &Value, context: &Value) -> Result<Value, String> {
    let expr = expr.trim();
    if expr.starts_with("States.") {
        let mut p = Parser { s: expr, i: 0 };
        let v = p.call(data, context)?;
        p.ws();
        if p.i != expr.len() {
            return Err(format!("trailing text in {expr:?}"));
        }
        return Ok(v);
    }
    let path = Path::parse(expr)?;
    path.get(data, context)
        .cloned()
        .ok_or_else(|| format!("the path {expr} was not found in the input"))
}

struct Parser<'a> {
    s: &'a str,
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.s[self.i..].starts_with(' ') {
            self.i += 1;
        }
    }

    fn call(&mut self, data: &Value, context: &Value) -> Result<Value, String> {
        let open = self.s[self.i..].find('(').ok_or("intrinsic without (")? + self.i;
        let name = self.s[self.i..open].trim().to_string();
        self.i = open + 1;
        let mut args = Vec::new();
        loop {
            self.ws();
            if self.s[self.i..].starts_with(')') {
                self.i += 1;
                break;
            }
            args.push(self.arg(data, context)?);
            self.ws();
            if self.s[self.i..].starts_with(',') {
                self.i += 1;
            } else if !self.s[self.i..].starts_with(')') {
                return Err(format!("expected , or ) in {:?}", self.s));
            }
        }
        intrinsic(&name, args)
    }

    fn arg(&mut self, data: &Value, context: &Value) -> Result<Value, String> {
        let rest = &self.s[self.i..];
        if let Some(quoted) = rest.strip_prefix('\'') {
            let mut out = String::new();
            let mut chars = quoted.char_indices();
            while let Some((j, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            out.push(n);
                        }
                    }
                    '\'' => {
                        self.i += j + 2;
                        return Ok(Value::String(out));
                    }
                    c => out.push(c),
                }
            }
            Err("unterminated string".into())
        } else if rest.starts_with("States.") {
            self.call(data, context)
        } else {
            let end = rest.find([',', ')']).unwrap_or(rest.len());
            let token = rest[..end].trim();
            self.i += end;
            if token.starts_with('$') {
                eval(token, data, context)
            } else if token == "null" {
                Ok(Value::Null)
            } else if let Ok(b) = token.parse::<bool>() {
                Ok(Value::Bool(b))
            } else {
                serde_json::from_str::<Value>(token).map_err(|_| format!("bad argument {token:?}"))
            }
        }
    }
}

fn intrinsic(name: &str, args: Vec<Value>) -> Result<Value, String> {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match name {
        "States.Format" => {
            let (fmt, rest) = args
                .split_first()
                .ok_or("States.Format needs a format string")?;
            let fmt = fmt
                .as_str()
                .ok_or("States.Format: the first argument must be a string")?;
            let mut values = rest.iter();
            let mut out = String::new();
            let mut parts = fmt.split("{}");
            out.push_str(parts.next().unwrap_or_default());
            for part in parts {
                out.push_str(&text(
                    values.next().ok_or("States.Format: too few arguments")?,
                ));
                out.push_str(part);
            }
            Ok(Value::String(out))
        }
        "States.StringToJson" => {
            let s = args
                .first()
                .and_then(Value::as_str)
                .ok_or("States.StringToJson needs a string")?;
            serde_json::from_str(s).map_err(|e| format!("States.StringToJson: {e}"))
        }
        "States.JsonToString" => Ok(Value::String(
            args.first()
                .ok_or("States.JsonToString needs a value")?
                .to_string(),
        )),
        "States.MathAdd" => match (
            args.first().and_then(Value::as_i64),
            args.get(1).and_then(Value::as_i64),
        ) {
            (Some(a), Some(b)) => Ok(Value::from(a + b)),
            _ => Err("States.MathAdd needs two integers".into()),
        },
        "States.Array" => Ok(Value::Array(args)),
        "States.UUID" => Ok(Value::String(ulid::Ulid::new().to_string())),
        other => Err(format!("unsupported intrinsic function {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fills_templates_and_intrinsics() {
        let data = json!({"job_id": "vid_1", "n": 2, "raw": "{\"a\":1}"});
        let ctx = json!({"Execution": {"Name": "e"}});
        let t = json!({
            "FunctionName": "submit",
            "Payload.$": "$",
            "nested": {"id.$": "$.job_id", "list": [{"x.$": "$.n"}]},
            "pk.$": "States.Format('job#{}/{}', $.job_id, $$.Execution.Name)",
            "sum.$": "States.MathAdd($.n, 3)",
            "parsed.$": "States.StringToJson($.raw)",
            "arr.$": "States.Array($.n, 'b', States.JsonToString($.n))",
        });
        let out = fill(&t, &data, &ctx).unwrap();
        assert_eq!(out["Payload"], data);
        assert_eq!(out["nested"], json!({"id": "vid_1", "list": [{"x": 2}]}));
        assert_eq!(out["pk"], "job#vid_1/e");
        assert_eq!(out["sum"], 5);
        assert_eq!(out["parsed"], json!({"a": 1}));
        assert_eq!(out["arr"], json!([2, "b", "2"]));
        assert!(fill(&json!({"x.$": "$.missing"}), &data, &ctx).is_err());
        assert!(fill(&json!({"x.$": "States.Nope()"}), &data, &ctx).is_err());
    }
}
