//! Reference paths: `$`, `$.a.b`, `$['a']`, `$.a[0]`, and `$$.…` for the context object.

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Key(String),
    Index(usize),
}

/// A parsed path, rooted at the state's data (`$`) or the context object (`$$`).
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    pub context: bool,
    segs: Vec<Seg>,
}

impl Path {
    pub fn parse(raw: &str) -> Result<Path, String> {
        let (context, mut rest) = if let Some(r) = raw.strip_prefix("$$") {
            (true, r)
        } else if let Some(r) = raw.strip_prefix('$') {
            (false, r)
        } else {
            return Err(format!("path {raw:?} must start with $"));
        };
        let mut segs = Vec::new();
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix('.') {
                let end = r.find(['.', '[']).unwrap_or(r.len());
                let key = &r[..end];
                if key.is_empty() || key.contains(['*', '?', '@']) {
                    return Err(format!("path {raw:?}: unsupported segment"));
                }
                segs.push(Seg::Key(key.to_string()));
                rest = &r[end..];
            } else if let Some(r) = rest.strip_prefix('[') {
                let end = r
                    .find(']')
                    .ok_or_else(|| format!("path {raw:?}: unclosed ["))?;
                let inner = &r[..end];
                if let Some(q) = inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
                    segs.push(Seg::Key(q.to_string()));
                } else {
                    let i = inner
                        .parse::<usize>()
                        .map_err(|_| format!("path {raw:?}: bad index {inner:?}"))?;
                    segs.push(Seg::Index(i));
                }
                rest = &r[end + 1..];
            } else {
                return Err(format!("path {raw:?}: unexpected {rest:?}"));
            }
        }
        Ok(Path { context, segs })
    }

    /// The value at this path, if present.
    pub fn get<'a>(&self, data: &'a Value, context: &'a Value) -> Option<&'a Value> {
        let mut at = if self.context { context } else { data };
        for seg in &self.segs {
            at = match seg {
                Seg::Key(k) => at.as_object()?.get(k)?,
                Seg::Index(i) => at.as_array()?.get(*i)?,
            };
        }
        Some(at)
    }

    /// Put `value` at this path inside `target` (ResultPath), creating objects on the
    /// way. `$` replaces the whole value.
    pub fn set(&self, target: Value, value: Value) -> Result<Value, String> {
        if self.context {
            return Err("ResultPath cannot point into the context object".into());
        }
        fn put(at: Value, segs: &[Seg], value: Value) -> Result<Value, String> {
            let Some((first, rest)) = segs.split_first() else {
                return Ok(value);
            };
            match first {
                Seg::Key(k) => {
                    let mut map = match at {
                        Value::Object(m) => m,
                        Value::Null => Map::new(),
                        _ => {
                            return Err(format!("ResultPath: cannot set {k:?} inside a non-object"))
                        }
                    };
                    let child = map.remove(k).unwrap_or(Value::Null);
                    map.insert(k.clone(), put(child, rest, value)?);
                    Ok(Value::Object(map))
                }
                Seg::Index(_) => Err("ResultPath cannot index arrays".into()),
            }
        }
        put(target, &self.segs, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_and_writes() {
        let data = json!({"a": {"b": [10, {"c": "x"}]}, "d e": 1});
        let ctx = json!({"Execution": {"Name": "job"}});
        let get = |p: &str| Path::parse(p).unwrap().get(&data, &ctx).cloned();
        assert_eq!(get("$"), Some(data.clone()));
        assert_eq!(get("$.a.b[1].c"), Some(json!("x")));
        assert_eq!(get("$['d e']"), Some(json!(1)));
        assert_eq!(get("$.missing"), None);
        assert_eq!(get("$$.Execution.Name"), Some(json!("job")));
        let set = Path::parse("$.x.y")
            .unwrap()
            .set(json!({"k": 1}), json!(2))
            .unwrap();
        assert_eq!(set, json!({"k": 1, "x": {"y": 2}}));
        assert_eq!(
            Path::parse("$")
                .unwrap()
                .set(json!({"k": 1}), json!(3))
                .unwrap(),
            json!(3)
        );
        assert!(Path::parse("a.b").is_err());
        assert!(Path::parse("$.a[*]").is_err());
    }
}
