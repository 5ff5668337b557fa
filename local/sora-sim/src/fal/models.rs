//! The models the fal simulator serves and the input each accepts, checked as fal's model
//! apps check them (pydantic behind FastAPI): a bad input is a 422 whose `detail` lists
//! one entry per problem, `{"loc": ["body", <field>], "msg", "type", "input"}`. Fields a
//! schema does not name are ignored, as pydantic ignores them by default.

use serde_json::{json, Value};

/// One entry of a 422's `detail` list.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub field: String,
    pub msg: String,
    /// pydantic's error type: `missing`, `string_type`, `literal_error`, …
    pub kind: &'static str,
    pub input: Value,
}

impl Problem {
    pub fn to_json(&self) -> Value {
        json!({"loc": ["body", self.field], "msg": self.msg, "type": self.kind, "input": self.input})
    }
}

/// What a field must be.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// A string; `max` characters at most when set.
    Text {
        max: Option<usize>,
    },
    /// One of these strings.
    OneOf(&'static [&'static str]),
    Bool,
    /// An integer in `[min, max]`.
    Int {
        min: i64,
        max: i64,
    },
    /// A number in `[min, max]`.
    Number {
        min: f64,
        max: f64,
    },
    /// An `http(s)://` or `data:` URL, as fal's file inputs accept.
    Url,
}

#[derive(Debug, Clone, Copy)]
struct Field {
    name: &'static str,
    kind: Kind,
    required: bool,
}

const fn req(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        required: true,
    }
}

const fn opt(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        required: false,
    }
}

const PROMPT: Field = req("prompt", Kind::Text { max: Some(20_000) });
const NEGATIVE: Field = opt("negative_prompt", Kind::Text { max: Some(20_000) });
const SEED: Field = opt(
    "seed",
    Kind::Int {
        min: 0,
        max: u32::MAX as i64,
    },
);
const VEO_DURATION: Field = opt("duration", Kind::OneOf(&["4s", "6s", "8s"]));
const VEO_RESOLUTION: Field = opt("resolution", Kind::OneOf(&["720p", "1080p"]));
const GENERATE_AUDIO: Field = opt("generate_audio", Kind::Bool);
const IMAGE_URL: Field = req("image_url", Kind::Url);

const VEO_T2V: &[Field] = &[
    PROMPT,
    NEGATIVE,
    VEO_DURATION,
    opt("aspect_ratio", Kind::OneOf(&["16:9", "9:16"])),
    VEO_RESOLUTION,
    GENERATE_AUDIO,
    SEED,
    opt("auto_fix", Kind::Bool),
];

const VEO_I2V: &[Field] = &[
    PROMPT,
    IMAGE_URL,
    NEGATIVE,
    VEO_DURATION,
    opt("aspect_ratio", Kind::OneOf(&["auto", "16:9", "9:16"])),
    VEO_RESOLUTION,
    GENERATE_AUDIO,
    SEED,
];

const KLING_PROMPT: Field = req("prompt", Kind::Text { max: Some(2500) });
const KLING_NEGATIVE: Field = opt("negative_prompt", Kind::Text { max: Some(2500) });
const KLING_DURATION: Field = opt("duration", Kind::OneOf(&["5", "10"]));
const KLING_CFG: Field = opt("cfg_scale", Kind::Number { min: 0.0, max: 1.0 });

const KLING_T2V: &[Field] = &[
    KLING_PROMPT,
    KLING_DURATION,
    opt("aspect_ratio", Kind::OneOf(&["16:9", "9:16", "1:1"])),
    KLING_NEGATIVE,
    KLING_CFG,
];

const KLING_I2V: &[Field] = &[
    KLING_PROMPT,
    IMAGE_URL,
    KLING_DURATION,
    KLING_NEGATIVE,
    KLING_CFG,
];

const WAN_T2V: &[Field] = &[
    PROMPT,
    NEGATIVE,
    opt("num_frames", Kind::Int { min: 17, max: 161 }),
    opt("frames_per_second", Kind::Int { min: 4, max: 60 }),
    opt("resolution", Kind::OneOf(&["480p", "580p", "720p"])),
    opt("aspect_ratio", Kind::OneOf(&["16:9", "9:16", "1:1"])),
    opt("num_inference_steps", Kind::Int { min: 2, max: 40 }),
    SEED,
    opt("enable_safety_checker", Kind::Bool),
    opt("enable_prompt_expansion", Kind::Bool),
];

/// Every model id the simulator serves, with its input schema.
const MODELS: &[(&str, &[Field])] = &[
    ("fal-ai/veo3.1", VEO_T2V),
    ("fal-ai/veo3.1/fast", VEO_T2V),
    ("fal-ai/veo3.1/image-to-video", VEO_I2V),
    ("fal-ai/veo3.1/fast/image-to-video", VEO_I2V),
    ("fal-ai/kling-video/v2.1/master/text-to-video", KLING_T2V),
    ("fal-ai/kling-video/v2.1/master/image-to-video", KLING_I2V),
    ("fal-ai/wan/v2.2-a14b/text-to-video", WAN_T2V),
];

/// The model ids served, for listings and tests.
pub fn model_ids() -> impl Iterator<Item = &'static str> {
    MODELS.iter().map(|(id, _)| *id)
}

pub fn is_known(model_id: &str) -> bool {
    MODELS.iter().any(|(id, _)| *id == model_id)
}

/// Check `input` against the model's schema: every problem, in schema order. The model
/// must be known ([`is_known`]); an unknown one has no problems to report here.
pub fn validate(model_id: &str, input: &Value) -> Result<(), Vec<Problem>> {
    let Some((_, fields)) = MODELS.iter().find(|(id, _)| *id == model_id) else {
        return Ok(());
    };
    let Some(obj) = input.as_object() else {
        return Err(vec![Problem {
            field: String::new(),
            msg: "Input should be a valid dictionary or object to extract fields from".into(),
            kind: "model_attributes_type",
            input: input.clone(),
        }]);
    };
    let problems: Vec<Problem> = fields
        .iter()
        .filter_map(|f| check(f, obj.get(f.name)))
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

fn check(field: &Field, value: Option<&Value>) -> Option<Problem> {
    let problem = |kind: &'static str, msg: String, input: &Value| Problem {
        field: field.name.to_string(),
        msg,
        kind,
        input: input.clone(),
    };
    let value = match value {
        None => {
            return field
                .required
                .then(|| problem("missing", "Field required".into(), &Value::Null))
        }
        // An optional field sent as null means "the default", as pydantic's Optional does.
        Some(Value::Null) if !field.required => return None,
        Some(v) => v,
    };
    match field.kind {
        Kind::Text { max } => match value.as_str() {
            None => Some(problem(
                "string_type",
                "Input should be a valid string".into(),
                value,
            )),
            Some(s) if max.is_some_and(|m| s.chars().count() > m) => Some(problem(
                "string_too_long",
                format!(
                    "String should have at most {} characters",
                    max.unwrap_or_default()
                ),
                value,
            )),
            Some(_) => None,
        },
        Kind::OneOf(allowed) => match value.as_str() {
            Some(s) if allowed.contains(&s) => None,
            _ => Some(problem(
                "literal_error",
                format!("Input should be {}", or_list(allowed)),
                value,
            )),
        },
        Kind::Bool => (!value.is_boolean())
            .then(|| problem("bool_type", "Input should be a valid boolean".into(), value)),
        Kind::Int { min, max } => match value.as_i64() {
            None => Some(problem(
                "int_type",
                "Input should be a valid integer".into(),
                value,
            )),
            Some(n) if n < min => Some(problem(
                "greater_than_equal",
                format!("Input should be greater than or equal to {min}"),
                value,
            )),
            Some(n) if n > max => Some(problem(
                "less_than_equal",
                format!("Input should be less than or equal to {max}"),
                value,
            )),
            Some(_) => None,
        },
        Kind::Number { min, max } => match value.as_f64() {
            None => Some(problem(
                "float_type",
                "Input should be a valid number".into(),
                value,
            )),
            Some(n) if n < min => Some(problem(
                "greater_than_equal",
                format!("Input should be greater than or equal to {min}"),
                value,
            )),
            Some(n) if n > max => Some(problem(
                "less_than_equal",
                format!("Input should be less than or equal to {max}"),
                value,
            )),
            Some(_) => None,
        },
        Kind::Url => match value.as_str() {
            None => Some(problem(
                "string_type",
                "Input should be a valid string".into(),
                value,
            )),
            Some(s)
                if s.starts_with("data:")
                    || url::Url::parse(s)
                        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host()) =>
            {
                None
            }
            Some(_) => Some(problem(
                "url_parsing",
                "Input should be a valid URL (http, https or data)".into(),
                value,
            )),
        },
    }
}

/// `'a', 'b' or 'c'`, as pydantic lists literal choices.
fn or_list(allowed: &[&str]) -> String {
    let quoted: Vec<String> = allowed.iter().map(|a| format!("'{a}'")).collect();
    match quoted.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// The `prompt` of an input, where the markers live.
pub fn prompt(input: &Value) -> &str {
    input.get("prompt").and_then(Value::as_str).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(r: Result<(), Vec<Problem>>) -> Vec<(String, &'static str)> {
        r.err()
            .unwrap_or_default()
            .into_iter()
            .map(|p| (p.field, p.kind))
            .collect()
    }

    #[test]
    fn veo_accepts_its_documented_inputs() {
        let full = json!({"prompt": "a fox", "negative_prompt": "blur", "duration": "6s",
            "aspect_ratio": "9:16", "resolution": "1080p", "generate_audio": false, "seed": 7});
        assert_eq!(validate("fal-ai/veo3.1", &full), Ok(()));
        assert_eq!(validate("fal-ai/veo3.1/fast", &full), Ok(()));
        assert_eq!(
            validate("fal-ai/veo3.1", &json!({"prompt": "p", "extra": 1})),
            Ok(())
        );
        let i2v = json!({"prompt": "p", "image_url": "https://example.com/a.png", "aspect_ratio": "auto"});
        assert_eq!(validate("fal-ai/veo3.1/image-to-video", &i2v), Ok(()));
    }

    #[test]
    fn each_bad_field_is_named_with_pydantic_types() {
        let bad = json!({"duration": "5s", "aspect_ratio": "1:1", "resolution": "4k",
            "generate_audio": "yes", "seed": -1});
        assert_eq!(
            fields(validate("fal-ai/veo3.1", &bad)),
            vec![
                ("prompt".into(), "missing"),
                ("duration".into(), "literal_error"),
                ("aspect_ratio".into(), "literal_error"),
                ("resolution".into(), "literal_error"),
                ("generate_audio".into(), "bool_type"),
                ("seed".into(), "greater_than_equal"),
            ]
        );
        let Err(p) = validate("fal-ai/veo3.1", &json!({"prompt": "p", "duration": 8})) else {
            panic!("an integer duration must be refused")
        };
        assert_eq!(p[0].msg, "Input should be '4s', '6s' or '8s'");
        assert_eq!(
            p[0].to_json(),
            json!({"loc": ["body", "duration"], "msg": "Input should be '4s', '6s' or '8s'",
                "type": "literal_error", "input": 8})
        );
        assert_eq!(
            fields(validate(
                "fal-ai/veo3.1/image-to-video",
                &json!({"prompt": "p"})
            )),
            vec![("image_url".into(), "missing")]
        );
        assert_eq!(
            fields(validate(
                "fal-ai/veo3.1/image-to-video",
                &json!({"prompt": "p", "image_url": "file:///etc/passwd"})
            )),
            vec![("image_url".into(), "url_parsing")]
        );
    }

    #[test]
    fn kling_and_wan_schemas() {
        let kling = "fal-ai/kling-video/v2.1/master/text-to-video";
        assert_eq!(
            validate(
                kling,
                &json!({"prompt": "p", "duration": "10", "cfg_scale": 0.3})
            ),
            Ok(())
        );
        assert_eq!(
            fields(validate(
                kling,
                &json!({"prompt": "x".repeat(2501), "duration": "8", "cfg_scale": 2})
            )),
            vec![
                ("prompt".into(), "string_too_long"),
                ("duration".into(), "literal_error"),
                ("cfg_scale".into(), "less_than_equal"),
            ]
        );
        let wan = "fal-ai/wan/v2.2-a14b/text-to-video";
        assert_eq!(
            validate(
                wan,
                &json!({"prompt": "p", "num_frames": 81, "resolution": "580p"})
            ),
            Ok(())
        );
        assert_eq!(
            fields(validate(wan, &json!({"prompt": 3, "num_frames": 500}))),
            vec![
                ("prompt".into(), "string_type"),
                ("num_frames".into(), "less_than_equal")
            ]
        );
        assert!(validate("fal-ai/veo3.1", &json!([1])).is_err());
        assert!(is_known("fal-ai/veo3.1/fast") && !is_known("fal-ai/veo3"));
    }
}
