//! Parsing and validating API requests, exactly per the HTTP contract (`shared/reference/http-api.md`).
//!
//! Bodies are parsed into a `serde_json::Value` first and checked field by field, so
//! every rejection can name the offending field (serde's derive errors cannot).
//! JSON `null` on an optional field means "not given".

use crate::domain::status::Status;
pub use crate::domain::MAX_UPLOAD_BYTES;
use crate::domain::{Model, ProviderId};
use crate::private_address::is_private_ip;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::net::IpAddr;

pub const MAX_BODY_BYTES: usize = 64 * 1024;
pub const MAX_SCRIPT_CHARS: usize = 10_000;
pub const MAX_STYLE_CHARS: usize = 200;
/// The provider's own limit on `prompt`.
pub const MAX_PROMPT_CHARS: usize = 32_000;
pub const MAX_KEYWORDS: usize = 20;
pub const MAX_KEYWORD_CHARS: usize = 50;
pub const MAX_METADATA_KEYS: usize = 16;
pub const MAX_METADATA_KEY_CHARS: usize = 40;
pub const MAX_METADATA_VALUE_CHARS: usize = 500;
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;
pub const MAX_CALLBACK_URL_CHARS: usize = 2048;
/// The most variants one create may ask for, and a job may have.
pub const MAX_VARIANTS: usize = 3;
pub const DEFAULT_LIST_LIMIT: u32 = 20;
pub const MAX_LIST_LIMIT: u32 = 100;

/// Why a request was refused. The API maps these to 400, 413 and 415.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    Invalid {
        field: Option<String>,
        message: String,
    },
    TooLarge {
        limit: usize,
    },
    UnsupportedMediaType {
        got: Option<String>,
    },
}

impl Rejection {
    pub fn field(field: &str, message: impl Into<String>) -> Rejection {
        Rejection::Invalid {
            field: Some(field.to_string()),
            message: message.into(),
        }
    }

    pub fn body(message: impl Into<String>) -> Rejection {
        Rejection::Invalid {
            field: None,
            message: message.into(),
        }
    }
}

/// A validated `POST /v1/videos` body.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateRequest {
    pub script: Option<String>,
    pub style: Option<String>,
    pub prompt: Option<String>,
    pub keywords: Vec<String>,
    pub negative_keywords: Vec<String>,
    pub model: Model,
    pub seconds: u32,
    pub size: String,
    /// More jobs from the same prompt, at other sizes (or models, or lengths).
    pub variants: Vec<VariantRequest>,
    pub input_reference: Option<String>,
    pub callback_url: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

impl CreateRequest {
    /// The models of every job the request makes: the primary's, then each variant's.
    pub fn models(&self) -> impl Iterator<Item = Model> + '_ {
        std::iter::once(self.model).chain(self.variants.iter().map(|v| v.model))
    }
}

/// One variant: what its job renders with. Validated against its model.
#[derive(Debug, Clone, PartialEq)]
pub struct VariantRequest {
    pub model: Model,
    pub seconds: u32,
    pub size: String,
}

/// A validated `POST /v1/videos/{id}/remix` body.
#[derive(Debug, Clone, PartialEq)]
pub struct RemixRequest {
    pub prompt: String,
    pub callback_url: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

/// A validated `POST /v1/uploads` body.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadRequest {
    pub content_type: String,
    pub bytes: u64,
}

/// A validated `GET /v1/videos` query.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub limit: u32,
    pub cursor: Option<String>,
    pub status: Option<Status>,
}

/// Deployment-dependent knobs validation needs.
#[derive(Debug, Clone)]
pub struct ValidationPolicy {
    /// `VIDGEN_DEFAULT_MODEL` (else `SORA_MODEL`): the model used when a request names none.
    pub default_model: Model,
    /// The providers this deployment has a key (or, locally, a simulator) for: only
    /// their models can be asked for.
    pub available: Vec<ProviderId>,
    /// In AWS, callbacks to private or loopback hosts are refused (SSRF); locally they are fine.
    pub allow_private_callbacks: bool,
}

impl ValidationPolicy {
    pub fn is_available(&self, model: Model) -> bool {
        self.available.contains(&model.provider())
    }
}

impl Default for ValidationPolicy {
    fn default() -> Self {
        ValidationPolicy {
            default_model: Model::SORA_2,
            available: ProviderId::ALL.to_vec(),
            allow_private_callbacks: false,
        }
    }
}

/// A JSON number that is a non-negative whole number, as JSON Schema's `integer` (which
/// the OpenAPI document promises) counts them: `8` and `8.0` alike, since a client's
/// JSON encoder may write any whole number with a fraction (Python's does for floats).
/// Fractions, negatives and values beyond 2^53 (where a float is no longer exact) are not.
fn whole_number(n: &serde_json::Number) -> Option<u64> {
    if let Some(u) = n.as_u64() {
        return Some(u);
    }
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    let f = n.as_f64()?;
    // The range check keeps the cast exact: a finite whole float in [0, 2^53].
    (f.fract() == 0.0 && (0.0..=EXACT).contains(&f)).then_some(f as u64)
}

pub const ALLOWED_UPLOAD_TYPES: [&str; 3] = ["image/jpeg", "image/png", "image/webp"];

/// Checks every JSON body shares: size, content type, well-formed JSON object.
pub fn json_object(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Map<String, Value>, Rejection> {
    if body.len() > MAX_BODY_BYTES {
        return Err(Rejection::TooLarge {
            limit: MAX_BODY_BYTES,
        });
    }
    let is_json = content_type.is_some_and(|ct| {
        ct.split(';')
            .next()
            .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
    });
    if !is_json {
        return Err(Rejection::UnsupportedMediaType {
            got: content_type.map(str::to_string),
        });
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Rejection::body("the body must be a JSON object")),
        Err(e) => Err(Rejection::body(format!("the body is not valid JSON: {e}"))),
    }
}

/// Validate a create body.
pub fn create_request(
    content_type: Option<&str>,
    body: &[u8],
    policy: &ValidationPolicy,
) -> Result<CreateRequest, Rejection> {
    let map = json_object(content_type, body)?;
    let f = Fields::new(
        map,
        &[
            "script",
            "style",
            "prompt",
            "keywords",
            "negative_keywords",
            "model",
            "seconds",
            "size",
            "variants",
            "input_reference",
            "callback_url",
            "metadata",
        ],
    )?;
    let script = f.text("script", 1, MAX_SCRIPT_CHARS)?;
    let style = f.text("style", 0, MAX_STYLE_CHARS)?;
    let prompt = f.text("prompt", 1, MAX_PROMPT_CHARS)?;
    if script.is_none() && prompt.is_none() {
        return Err(Rejection::field("script", "script or prompt is required"));
    }
    let keywords = f.keywords("keywords")?;
    let negative_keywords = f.keywords("negative_keywords")?;
    let (model, seconds, size) = render_choice(
        policy,
        "",
        f.get("model"),
        f.get("seconds"),
        f.get("size"),
        None,
    )?;
    let variants = f.variants(policy, model, seconds)?;
    let input_reference = match f.get("input_reference") {
        None => None,
        Some(Value::Object(obj)) => {
            if let Some(extra) = obj.keys().find(|k| k.as_str() != "upload_id") {
                return Err(Rejection::field(
                    "input_reference",
                    format!(
                        "input_reference has an unknown field {extra:?}; only upload_id is allowed"
                    ),
                ));
            }
            match obj.get("upload_id") {
                Some(Value::String(id)) if crate::domain::ids::is_upload_id(id) => Some(id.clone()),
                _ => {
                    return Err(Rejection::field(
                        "input_reference",
                        "input_reference must be {\"upload_id\": \"up_...\"}",
                    ))
                }
            }
        }
        Some(_) => {
            return Err(Rejection::field(
                "input_reference",
                "input_reference must be an object {\"upload_id\": \"up_...\"}",
            ))
        }
    };
    let request = CreateRequest {
        script,
        style,
        prompt,
        keywords,
        negative_keywords,
        model,
        seconds,
        size,
        variants,
        input_reference,
        callback_url: f.callback_url(policy)?,
        metadata: f.metadata()?,
    };
    if request.input_reference.is_some() {
        if let Some(m) = request.models().find(|m| !m.spec().input_reference) {
            return Err(Rejection::field(
                "input_reference",
                format!("model {m} takes no reference image"),
            ));
        }
    }
    Ok(request)
}

/// Validate a `POST /v1/videos/{id}/variants` body against the primary's model and
/// seconds (the defaults when the body names none).
pub fn variant_request(
    content_type: Option<&str>,
    body: &[u8],
    policy: &ValidationPolicy,
    primary_model: Model,
    primary_seconds: u32,
) -> Result<VariantRequest, Rejection> {
    let map = json_object(content_type, body)?;
    let f = Fields::new(map, &["size", "model", "seconds"])?;
    variant_choice(policy, "", &f, primary_model, primary_seconds)
}

/// A variant's model, seconds and size: `size` is required; the model defaults to the
/// primary's, the seconds to the primary's when its model offers them, else to its
/// model's default.
fn variant_choice(
    policy: &ValidationPolicy,
    prefix: &str,
    f: &Fields,
    primary_model: Model,
    primary_seconds: u32,
) -> Result<VariantRequest, Rejection> {
    if f.get("size").is_none() {
        return Err(Rejection::field(
            &format!("{prefix}size"),
            format!("{prefix}size is required"),
        ));
    }
    let (model, seconds, size) = render_choice(
        policy,
        prefix,
        f.get("model"),
        f.get("seconds"),
        f.get("size"),
        Some((primary_model, primary_seconds)),
    )?;
    Ok(VariantRequest {
        model,
        seconds,
        size,
    })
}

/// Model, seconds and size, each checked against the chosen model's catalog entry.
/// `prefix` names where they sit (`variants[1].`); `inherit` is a primary's model and
/// seconds, which a variant takes when it names none.
fn render_choice(
    policy: &ValidationPolicy,
    prefix: &str,
    model: Option<&Value>,
    seconds: Option<&Value>,
    size: Option<&Value>,
    inherit: Option<(Model, u32)>,
) -> Result<(Model, u32, String), Rejection> {
    let name = |field: &str| format!("{prefix}{field}");
    let model = match model {
        None => inherit.map_or(policy.default_model, |(m, _)| m),
        Some(Value::String(s)) => s
            .parse::<Model>()
            .map_err(|why| Rejection::field(&name("model"), format!("{} {why}", name("model"))))?,
        Some(_) => {
            return Err(Rejection::field(
                &name("model"),
                format!("{} must be a string", name("model")),
            ))
        }
    };
    if !policy.is_available(model) {
        let available: Vec<&str> = Model::all()
            .filter(|m| policy.is_available(*m))
            .map(Model::id)
            .collect();
        return Err(Rejection::field(
            &name("model"),
            format!(
                "model {model} is not available here: this deployment has no key for {}; available: {}",
                model.provider(),
                if available.is_empty() { "none".to_string() } else { available.join(", ") }
            ),
        ));
    }
    let spec = model.spec();
    let allowed_seconds = || {
        format!(
            "{} must be {} for {model}",
            name("seconds"),
            spec.seconds_list()
        )
    };
    let seconds = match seconds {
        None => inherit
            .map(|(_, s)| s)
            .filter(|s| spec.seconds.contains(s))
            .unwrap_or(spec.default_seconds),
        Some(Value::Number(n)) => match whole_number(n).and_then(|s| u32::try_from(s).ok()) {
            Some(s) if spec.seconds.contains(&s) => s,
            _ => return Err(Rejection::field(&name("seconds"), allowed_seconds())),
        },
        Some(_) => {
            return Err(Rejection::field(
                &name("seconds"),
                format!(
                    "{} must be an integer: {}",
                    name("seconds"),
                    spec.seconds_list()
                ),
            ))
        }
    };
    let size = match size {
        None => spec.default_size.to_string(),
        Some(Value::String(s)) if spec.size(s).is_some() => s.clone(),
        Some(_) => {
            return Err(Rejection::field(
                &name("size"),
                format!("{} must be {} for {model}", name("size"), spec.sizes_list()),
            ))
        }
    };
    Ok((model, seconds, size))
}

/// Validate a remix body.
pub fn remix_request(
    content_type: Option<&str>,
    body: &[u8],
    policy: &ValidationPolicy,
) -> Result<RemixRequest, Rejection> {
    let map = json_object(content_type, body)?;
    let f = Fields::new(map, &["prompt", "callback_url", "metadata"])?;
    let prompt = f
        .text("prompt", 1, MAX_PROMPT_CHARS)?
        .ok_or_else(|| Rejection::field("prompt", "prompt is required"))?;
    Ok(RemixRequest {
        prompt,
        callback_url: f.callback_url(policy)?,
        metadata: f.metadata()?,
    })
}

/// Validate an upload body.
pub fn upload_request(content_type: Option<&str>, body: &[u8]) -> Result<UploadRequest, Rejection> {
    let map = json_object(content_type, body)?;
    let f = Fields::new(map, &["content_type", "bytes"])?;
    let content_type = match f.get("content_type") {
        Some(Value::String(ct)) if ALLOWED_UPLOAD_TYPES.contains(&ct.as_str()) => ct.clone(),
        Some(_) => {
            return Err(Rejection::field(
                "content_type",
                "content_type must be image/jpeg, image/png or image/webp",
            ))
        }
        None => return Err(Rejection::field("content_type", "content_type is required")),
    };
    let bytes = match f.get("bytes") {
        Some(Value::Number(n)) => match whole_number(n) {
            Some(b) if (1..=MAX_UPLOAD_BYTES).contains(&b) => b,
            _ => {
                return Err(Rejection::field(
                    "bytes",
                    format!("bytes must be an integer from 1 to {MAX_UPLOAD_BYTES} (10 MiB)"),
                ))
            }
        },
        Some(_) => return Err(Rejection::field("bytes", "bytes must be an integer")),
        None => return Err(Rejection::field("bytes", "bytes is required")),
    };
    Ok(UploadRequest {
        content_type,
        bytes,
    })
}

/// Validate the list query (already split into pairs, percent-decoded).
pub fn list_query<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<ListQuery, Rejection> {
    let mut q = ListQuery {
        limit: DEFAULT_LIST_LIMIT,
        cursor: None,
        status: None,
    };
    for (key, value) in pairs {
        match key {
            "limit" => {
                q.limit = value
                    .parse::<u32>()
                    .ok()
                    .filter(|l| (1..=MAX_LIST_LIMIT).contains(l))
                    .ok_or_else(|| {
                        Rejection::field(
                            "limit",
                            format!("limit must be an integer from 1 to {MAX_LIST_LIMIT}"),
                        )
                    })?
            }
            "cursor" => q.cursor = Some(value.to_string()).filter(|c| !c.is_empty()),
            "status" => {
                q.status = Some(
                    value
                        .parse::<Status>()
                        .map_err(|why| Rejection::field("status", format!("status {why}")))?,
                )
            }
            other => {
                return Err(Rejection::field(
                    other,
                    format!("unknown query parameter {other:?}; allowed: limit, cursor, status"),
                ))
            }
        }
    }
    Ok(q)
}

/// `Idempotency-Key`: 1-255 printable ASCII characters.
pub fn idempotency_key(raw: &[u8]) -> Result<String, Rejection> {
    let ok = !raw.is_empty()
        && raw.len() <= MAX_IDEMPOTENCY_KEY_CHARS
        && raw.iter().all(|b| (0x20..=0x7e).contains(b));
    if ok {
        // Printable ASCII is valid UTF-8.
        Ok(String::from_utf8_lossy(raw).into_owned())
    } else {
        Err(Rejection::field(
            "Idempotency-Key",
            "the Idempotency-Key header must be 1 to 255 printable ASCII characters",
        ))
    }
}

/// A JSON object's fields, with unknown names refused up front.
struct Fields(Map<String, Value>);

impl Fields {
    fn new(map: Map<String, Value>, known: &[&str]) -> Result<Fields, Rejection> {
        if let Some(unknown) = map.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(Rejection::field(
                unknown,
                format!("unknown field {unknown:?}"),
            ));
        }
        Ok(Fields(map))
    }

    /// The value, with JSON null read as absent.
    fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    /// An optional string of `min..=max` characters; `min >= 1` also refuses blank text.
    fn text(&self, name: &str, min: usize, max: usize) -> Result<Option<String>, Rejection> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => {
                let chars = s.chars().count();
                if chars > max {
                    Err(Rejection::field(
                        name,
                        format!("{name} must be at most {max} characters (got {chars})"),
                    ))
                } else if min > 0 && s.trim().is_empty() {
                    Err(Rejection::field(name, format!("{name} must not be empty")))
                } else {
                    Ok(Some(s.clone()))
                }
            }
            Some(_) => Err(Rejection::field(name, format!("{name} must be a string"))),
        }
    }

    fn keywords(&self, name: &str) -> Result<Vec<String>, Rejection> {
        let items = match self.get(name) {
            None => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(_) => {
                return Err(Rejection::field(
                    name,
                    format!("{name} must be an array of strings"),
                ))
            }
        };
        if items.len() > MAX_KEYWORDS {
            return Err(Rejection::field(
                name,
                format!(
                    "{name} may hold at most {MAX_KEYWORDS} entries (got {})",
                    items.len()
                ),
            ));
        }
        items
            .iter()
            .map(|item| match item {
                Value::String(s) if s.trim().is_empty() => Err(Rejection::field(
                    name,
                    format!("{name} entries must not be empty"),
                )),
                Value::String(s) if s.chars().count() > MAX_KEYWORD_CHARS => Err(Rejection::field(
                    name,
                    format!("{name} entries must be at most {MAX_KEYWORD_CHARS} characters"),
                )),
                Value::String(s) => Ok(s.clone()),
                _ => Err(Rejection::field(
                    name,
                    format!("{name} must be an array of strings"),
                )),
            })
            .collect()
    }

    fn variants(
        &self,
        policy: &ValidationPolicy,
        primary_model: Model,
        primary_seconds: u32,
    ) -> Result<Vec<VariantRequest>, Rejection> {
        let items = match self.get("variants") {
            None => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(_) => {
                return Err(Rejection::field(
                    "variants",
                    "variants must be an array of objects {\"size\", \"model\"?, \"seconds\"?}",
                ))
            }
        };
        if items.len() > MAX_VARIANTS {
            return Err(Rejection::field(
                "variants",
                format!(
                    "variants may hold at most {MAX_VARIANTS} entries (got {})",
                    items.len()
                ),
            ));
        }
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let prefix = format!("variants[{i}].");
                let Value::Object(map) = item else {
                    return Err(Rejection::field(
                        &format!("variants[{i}]"),
                        format!("variants[{i}] must be an object {{\"size\", \"model\"?, \"seconds\"?}}"),
                    ));
                };
                let f = Fields::new(map.clone(), &["size", "model", "seconds"]).map_err(|e| match e {
                    Rejection::Invalid { field: Some(f), message } => Rejection::Invalid {
                        field: Some(format!("{prefix}{f}")),
                        message: format!("variants[{i}]: {message}"),
                    },
                    other => other,
                })?;
                variant_choice(policy, &prefix, &f, primary_model, primary_seconds)
            })
            .collect()
    }

    fn metadata(&self) -> Result<BTreeMap<String, String>, Rejection> {
        let obj = match self.get("metadata") {
            None => return Ok(BTreeMap::new()),
            Some(Value::Object(obj)) => obj,
            Some(_) => {
                return Err(Rejection::field(
                    "metadata",
                    "metadata must be an object of string values",
                ))
            }
        };
        if obj.len() > MAX_METADATA_KEYS {
            return Err(Rejection::field(
                "metadata",
                format!(
                    "metadata may hold at most {MAX_METADATA_KEYS} keys (got {})",
                    obj.len()
                ),
            ));
        }
        let mut out = BTreeMap::new();
        for (key, value) in obj {
            if key.is_empty() || key.chars().count() > MAX_METADATA_KEY_CHARS {
                return Err(Rejection::field(
                    "metadata",
                    format!("metadata keys must be 1 to {MAX_METADATA_KEY_CHARS} characters"),
                ));
            }
            match value {
                Value::String(v) if v.chars().count() <= MAX_METADATA_VALUE_CHARS => {
                    out.insert(key.clone(), v.clone());
                }
                Value::String(_) => {
                    return Err(Rejection::field(
                        "metadata",
                        format!(
                        "metadata[{key:?}] must be at most {MAX_METADATA_VALUE_CHARS} characters"
                    ),
                    ))
                }
                _ => {
                    return Err(Rejection::field(
                        "metadata",
                        format!("metadata[{key:?}] must be a string"),
                    ))
                }
            }
        }
        Ok(out)
    }

    fn callback_url(&self, policy: &ValidationPolicy) -> Result<Option<String>, Rejection> {
        let raw = match self.get("callback_url") {
            None => return Ok(None),
            Some(Value::String(s)) => s,
            Some(_) => {
                return Err(Rejection::field(
                    "callback_url",
                    "callback_url must be a string",
                ))
            }
        };
        if raw.chars().count() > MAX_CALLBACK_URL_CHARS {
            return Err(Rejection::field(
                "callback_url",
                format!("callback_url must be at most {MAX_CALLBACK_URL_CHARS} characters"),
            ));
        }
        let url = url::Url::parse(raw).map_err(|e| {
            Rejection::field("callback_url", format!("callback_url is not a URL: {e}"))
        })?;
        if url.scheme() != "https" && !(policy.allow_private_callbacks && url.scheme() == "http") {
            return Err(Rejection::field(
                "callback_url",
                "callback_url must be an https:// URL",
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Rejection::field(
                "callback_url",
                "callback_url must not carry credentials",
            ));
        }
        let host = url
            .host()
            .ok_or_else(|| Rejection::field("callback_url", "callback_url needs a host"))?;
        if !policy.allow_private_callbacks && is_private_host(&host) {
            return Err(Rejection::field(
                "callback_url",
                "callback_url must not point at a private, loopback or link-local host",
            ));
        }
        Ok(Some(raw.clone()))
    }
}

/// Literal private hosts. Names that resolve to private addresses are caught again
/// when the callback is delivered, since DNS can change between now and then.
fn is_private_host(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost") || d.ends_with(".internal")
        }
        url::Host::Ipv4(v4) => is_private_ip(IpAddr::V4(*v4)),
        url::Host::Ipv6(v6) => is_private_ip(IpAddr::V6(*v6)),
    }
}

#[cfg(test)]
mod tests;
