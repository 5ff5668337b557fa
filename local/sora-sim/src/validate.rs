//! Create-request rules, as the provider enforces them (reference §2, §5).

pub const MODELS: [&str; 5] = [
    "sora-2",
    "sora-2-pro",
    "sora-2-2025-10-06",
    "sora-2-pro-2025-10-06",
    "sora-2-2025-12-08",
];
pub const SIZES: [&str; 4] = ["720x1280", "1280x720", "1024x1792", "1792x1024"];
pub const SECONDS: [&str; 3] = ["4", "8", "12"];

/// A field as it arrived: multipart sends strings only, JSON may send anything.
#[derive(Debug, Clone)]
pub enum Raw {
    Str(String),
    Other(&'static str),
}

/// The reference image as it arrived.
#[derive(Debug, Clone)]
pub enum RawReference {
    File {
        content_type: String,
        bytes: Vec<u8>,
    },
    /// A plain string form field: refused like the provider does.
    Text,
    /// `input_reference[image_url]`, `[file_id]` or the JSON object form: accepted, not fetched.
    Link,
}

#[derive(Debug, Default)]
pub struct RawCreate {
    pub prompt: Option<Raw>,
    pub model: Option<Raw>,
    pub seconds: Option<Raw>,
    pub size: Option<Raw>,
    pub input_reference: Option<RawReference>,
    pub unknown: Option<String>,
}

#[derive(Debug)]
pub struct Create {
    pub prompt: String,
    pub model: String,
    pub seconds: String,
    pub size: String,
}

/// An invalid-request error: message, param, code.
#[derive(Debug, PartialEq, Eq)]
pub struct Invalid {
    pub message: String,
    pub param: Option<&'static str>,
    pub code: Option<&'static str>,
}

fn invalid(param: &'static str, message: String, code: Option<&'static str>) -> Invalid {
    Invalid {
        message,
        param: Some(param),
        code,
    }
}

fn string(name: &'static str, raw: &Option<Raw>) -> Result<Option<String>, Invalid> {
    match raw {
        None => Ok(None),
        Some(Raw::Str(s)) => Ok(Some(s.clone())),
        Some(Raw::Other(kind)) => Err(invalid(
            name,
            format!("Invalid type for '{name}': expected a string, but got {kind} instead."),
            Some("invalid_type"),
        )),
    }
}

pub fn create(raw: &RawCreate) -> Result<Create, Invalid> {
    if let Some(field) = &raw.unknown {
        return Err(Invalid {
            message: format!("Unrecognized request argument supplied: {field}"),
            param: None,
            code: Some("unknown_parameter"),
        });
    }
    let prompt = string("prompt", &raw.prompt)?.ok_or_else(|| {
        invalid(
            "prompt",
            "Missing required parameter: 'prompt'.".into(),
            Some("missing_required_parameter"),
        )
    })?;
    let chars = prompt.chars().count();
    if chars == 0 || chars > 32_000 {
        return Err(invalid(
            "prompt",
            format!("Invalid 'prompt': string length must be between 1 and 32000, got {chars}."),
            Some("string_above_max_length"),
        ));
    }
    let model = string("model", &raw.model)?.unwrap_or_else(|| "sora-2".into());
    if !MODELS.contains(&model.as_str()) {
        return Err(invalid(
            "model",
            format!(
                "Invalid value: '{model}'. Supported values are: {}.",
                quoted(&MODELS)
            ),
            Some("invalid_value"),
        ));
    }
    let seconds = match &raw.seconds {
        None => "4".to_string(),
        Some(Raw::Str(s)) if SECONDS.contains(&s.as_str()) => s.clone(),
        Some(Raw::Str(s)) => {
            return Err(invalid(
                "seconds",
                format!("Invalid value: '{s}'. Supported values are: '4', '8', and '12'."),
                Some("invalid_value"),
            ))
        }
        Some(Raw::Other(kind)) => {
            return Err(invalid(
                "seconds",
                format!("Invalid type for 'seconds': expected one of '4', '8', or '12', but got {kind} instead."),
                Some("invalid_type"),
            ))
        }
    };
    let size = string("size", &raw.size)?.unwrap_or_else(|| "720x1280".into());
    if !SIZES.contains(&size.as_str()) {
        return Err(invalid(
            "size",
            format!(
                "Invalid value: '{size}'. Supported values are: {}.",
                quoted(&SIZES)
            ),
            Some("invalid_value"),
        ));
    }
    if matches!(size.as_str(), "1024x1792" | "1792x1024") && !model.starts_with("sora-2-pro") {
        return Err(invalid(
            "size",
            format!("Size '{size}' is only supported by sora-2-pro."),
            Some("invalid_value"),
        ));
    }
    match &raw.input_reference {
        None | Some(RawReference::Link) => {}
        Some(RawReference::Text) => {
            return Err(invalid(
                "input_reference",
                "Invalid type for 'input_reference': expected a file, but got a string instead."
                    .into(),
                Some("invalid_type"),
            ))
        }
        Some(RawReference::File {
            content_type,
            bytes,
        }) => check_image(content_type, bytes, &size)?,
    }
    Ok(Create {
        prompt,
        model,
        seconds,
        size,
    })
}

/// The reference image must be JPEG, PNG or WebP and exactly the requested size.
fn check_image(content_type: &str, bytes: &[u8], size: &str) -> Result<(), Invalid> {
    if !["image/jpeg", "image/png", "image/webp"].contains(&content_type) {
        return Err(invalid(
            "input_reference",
            format!("Invalid file type '{content_type}'. Supported types are image/jpeg, image/png and image/webp."),
            Some("invalid_value"),
        ));
    }
    let dims = imagesize::blob_size(bytes).map_err(|_| {
        invalid(
            "input_reference",
            "The input_reference file could not be read as an image.".into(),
            Some("invalid_image"),
        )
    })?;
    if format!("{}x{}", dims.width, dims.height) != size {
        return Err(Invalid {
            message: format!(
                "Inpaint image must match the requested width and height ({size}), got {}x{}.",
                dims.width, dims.height
            ),
            param: None,
            code: None,
        });
    }
    Ok(())
}

fn quoted(values: &[&str]) -> String {
    values
        .iter()
        .map(|v| format!("'{v}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Option<Raw> {
        Some(Raw::Str(v.into()))
    }

    #[test]
    fn applies_the_providers_rules() {
        let ok = RawCreate {
            prompt: s("p"),
            ..Default::default()
        };
        let c = create(&ok).unwrap();
        assert_eq!(
            (c.model.as_str(), c.seconds.as_str(), c.size.as_str()),
            ("sora-2", "4", "720x1280")
        );
        let cases: Vec<(RawCreate, Option<&str>)> = vec![
            (RawCreate::default(), Some("prompt")),
            (
                RawCreate {
                    prompt: s("p"),
                    seconds: Some(Raw::Other("integer")),
                    ..Default::default()
                },
                Some("seconds"),
            ),
            (
                RawCreate {
                    prompt: s("p"),
                    seconds: s("10"),
                    ..Default::default()
                },
                Some("seconds"),
            ),
            (
                RawCreate {
                    prompt: s("p"),
                    size: s("1024x1792"),
                    ..Default::default()
                },
                Some("size"),
            ),
            (
                RawCreate {
                    prompt: s("p"),
                    model: s("sora-9"),
                    ..Default::default()
                },
                Some("model"),
            ),
            (
                RawCreate {
                    prompt: s("p"),
                    input_reference: Some(RawReference::Text),
                    ..Default::default()
                },
                Some("input_reference"),
            ),
            (
                RawCreate {
                    prompt: s("p"),
                    unknown: Some("colour".into()),
                    ..Default::default()
                },
                None,
            ),
        ];
        for (raw, param) in cases {
            assert_eq!(create(&raw).unwrap_err().param, param, "{raw:?}");
        }
        let pro = RawCreate {
            prompt: s("p"),
            model: s("sora-2-pro"),
            size: s("1792x1024"),
            ..Default::default()
        };
        assert!(create(&pro).is_ok());
    }
}
