//! Create-request rules per route and model, as the `runwayml` SDK's create-params types
//! state them (`text_to_video_create_params.py`, `image_to_video_create_params.py`,
//! `video_to_video_create_params.py`, SDK 5.13.0, plus 5.14.0's `outputFormat` and
//! `proresProfile` on gen4.5 and aleph2).
//!
//! Each (route, model) pair is one [`ModelSpec`]: the fields it accepts, which are
//! required, and each field's rule. Anything else in the body is refused by name, as the
//! API's strict body schema does. Nested reference lists (`references`,
//! `referenceAudio`, `referenceVideos`, `keyframes`) are checked for shape only and not
//! fetched.

use serde_json::{Map, Value};

/// The three create routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    TextToVideo,
    ImageToVideo,
    VideoToVideo,
}

impl Route {
    pub fn path(self) -> &'static str {
        match self {
            Route::TextToVideo => "/v1/text_to_video",
            Route::ImageToVideo => "/v1/image_to_video",
            Route::VideoToVideo => "/v1/video_to_video",
        }
    }
}

/// One refused field: its JSON path (`promptImage[0].position`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub path: String,
    pub message: String,
}

fn invalid(path: impl Into<String>, message: impl Into<String>) -> Invalid {
    Invalid {
        path: path.into(),
        message: message.into(),
    }
}

/// An asset named by the request, to be fetched before the task runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetRef {
    /// JSON path of the field, e.g. `promptImage` or `promptImage[1].uri`.
    pub field: String,
    pub uri: String,
    pub kind: AssetKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssetKind {
    Image,
    Video,
}

/// A valid create request, with the defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Create {
    pub route: Route,
    pub model: &'static str,
    pub prompt_text: Option<String>,
    pub ratio: Option<String>,
    /// Seconds of output: the request's, or the model's default.
    pub duration: u64,
    pub audio: bool,
    pub negative_prompt: Option<String>,
    pub seed: Option<u64>,
    /// Assets the task reads (prompt images, the source video), in request order.
    pub assets: Vec<AssetRef>,
    /// Credits the task will cost if it succeeds.
    pub credits: u64,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Non-empty text of at most `max` units; UTF-16 code units when `utf16`, else chars.
    Prompt {
        max: usize,
        utf16: bool,
    },
    /// One of these strings.
    OneOf(&'static [&'static str]),
    /// Any string (aleph2's `ratio`).
    AnyString,
    /// Free text (`negativePrompt`).
    Text,
    /// An integer in `[min, max]`.
    IntRange(u64, u64),
    /// One of these integers.
    IntOneOf(&'static [u64]),
    Bool,
    /// An integer from 0 to 4294967295.
    Seed,
    /// `{publicFigureThreshold?: "auto" | "low"}`.
    ContentModeration,
    /// A URI string, or `[{uri, position}]` with `position` from this list (required
    /// unless `position_optional`).
    PromptImage {
        positions: &'static [&'static str],
        position_optional: bool,
    },
    /// A video URI string.
    Video,
    /// `[{uri}]`, at most this many.
    ImageRefs(usize),
    /// `[{type: <this>, uri}]`.
    TypedRefs(&'static str),
    /// aleph2's `[{uri, seconds | at, range?}]`, at most 5.
    Keyframes,
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

/// One model on one route.
#[derive(Debug)]
pub struct ModelSpec {
    pub route: Route,
    pub model: &'static str,
    fields: &'static [Field],
    /// Seconds of output when the request names none.
    default_duration: u64,
    /// Credits per second of output: with audio, without audio (equal when the model
    /// has no audio switch).
    credits_per_second: (u64, u64),
    /// Whether `audio` defaults to on.
    audio_default: bool,
}

const R_GEN45_T2V: &[&str] = &["1280:720", "720:1280"];
const R_GEN4_I2V: &[&str] = &[
    "1280:720", "720:1280", "1104:832", "960:960", "832:1104", "1584:672",
];
const R_VEO: &[&str] = &["1280:720", "720:1280", "1080:1920", "1920:1080"];
const R_HAPPYHORSE: &[&str] = &[
    "1280:720",
    "720:1280",
    "960:960",
    "1108:832",
    "832:1108",
    "1920:1080",
    "1080:1920",
    "1440:1440",
    "1662:1248",
    "1248:1662",
];
const R_SEEDANCE: &[&str] = &[
    "992:432",
    "864:496",
    "752:560",
    "640:640",
    "560:752",
    "496:864",
    "1470:630",
    "1280:720",
    "1112:834",
    "960:960",
    "834:1112",
    "720:1280",
    "2206:946",
    "1920:1080",
    "1664:1248",
    "1440:1440",
    "1248:1664",
    "1080:1920",
    "3840:1646",
    "3840:2160",
    "3840:2880",
    "3840:3840",
    "2880:3840",
    "2160:3840",
];
/// seedance2_fast and seedance2_mini: 480p and 720p only.
const R_SEEDANCE_SMALL: &[&str] = &[
    "992:432", "864:496", "752:560", "640:640", "560:752", "496:864", "1470:630", "1280:720",
    "1112:834", "960:960", "834:1112", "720:1280",
];
const R_GEMINI: &[&str] = &["1280:720", "720:1280"];
const TARGET_ASPECT: &[&str] = &["16:9", "4:3", "3:2", "1:1", "2:3", "3:4", "9:16", "21:9"];
const OUTPUT_FORMATS: &[&str] = &["mp4", "prores", "png_sequence"];
const PRORES_PROFILES: &[&str] = &["422", "4444", "422 Proxy", "422 LT", "422 HQ", "4444 XQ"];
/// Extra credits per second for an `outputFormat` other than mp4 (SDK 5.14 docstring).
const NON_MP4_SURCHARGE: u64 = 5;
const FIRST: &[&str] = &["first"];
const FIRST_LAST: &[&str] = &["first", "last"];

const P1000: Kind = Kind::Prompt {
    max: 1000,
    utf16: true,
};
const P2500: Kind = Kind::Prompt {
    max: 2500,
    utf16: true,
};
const P3500: Kind = Kind::Prompt {
    max: 3500,
    utf16: false,
};
/// No maximum stated by the SDK.
const P_ANY: Kind = Kind::Prompt {
    max: usize::MAX,
    utf16: false,
};
const DUR_ANY: Kind = Kind::IntRange(1, 60);
const VEO_DUR: Kind = Kind::IntOneOf(&[4, 6, 8]);
const IMG_FIRST: Kind = Kind::PromptImage {
    positions: FIRST,
    position_optional: false,
};
const IMG_FIRST_LAST: Kind = Kind::PromptImage {
    positions: FIRST_LAST,
    position_optional: false,
};
const IMG_SEEDANCE: Kind = Kind::PromptImage {
    positions: FIRST_LAST,
    position_optional: true,
};

macro_rules! spec {
    ($route:ident, $model:literal, $dur:expr, $credits:expr, $audio:expr, [$($f:expr),* $(,)?]) => {
        ModelSpec {
            route: Route::$route,
            model: $model,
            fields: &[$($f),*],
            default_duration: $dur,
            credits_per_second: $credits,
            audio_default: $audio,
        }
    };
}

/// Every model on every route. Credits per second are Runway's published figures where
/// known (gen4.5 12, gen4_turbo 5, veo3.1 40 with audio / 20 without, veo3.1_fast 15 / 10,
/// veo3 40); the rest are plausible stand-ins, since tests should read the task's cost.
pub static MODELS: &[ModelSpec] = &[
    // text → video
    spec!(
        TextToVideo,
        "gen4.5",
        5,
        (12, 12),
        false,
        [
            req("promptText", P1000),
            req("ratio", Kind::OneOf(R_GEN45_T2V)),
            req("duration", Kind::IntRange(2, 10)),
            opt("seed", Kind::Seed),
            opt("contentModeration", Kind::ContentModeration),
            opt("outputFormat", Kind::OneOf(OUTPUT_FORMATS)),
            opt("proresProfile", Kind::OneOf(PRORES_PROFILES)),
        ]
    ),
    spec!(
        TextToVideo,
        "veo3.1",
        8,
        (40, 20),
        true,
        [
            req("promptText", P1000),
            req("ratio", Kind::OneOf(R_VEO)),
            opt("duration", VEO_DUR),
            opt("audio", Kind::Bool),
            opt("negativePrompt", Kind::Text),
        ]
    ),
    spec!(
        TextToVideo,
        "veo3.1_fast",
        8,
        (15, 10),
        true,
        [
            req("promptText", P1000),
            req("ratio", Kind::OneOf(R_VEO)),
            opt("duration", VEO_DUR),
            opt("audio", Kind::Bool),
            opt("negativePrompt", Kind::Text),
        ]
    ),
    spec!(
        TextToVideo,
        "veo3",
        8,
        (40, 40),
        true,
        [
            req("promptText", P1000),
            req("ratio", Kind::OneOf(R_VEO)),
            req("duration", Kind::IntOneOf(&[8])),
            opt("negativePrompt", Kind::Text),
        ]
    ),
    spec!(
        TextToVideo,
        "happyhorse_1_0",
        5,
        (10, 10),
        false,
        [
            req("promptText", P2500),
            opt("ratio", Kind::OneOf(R_HAPPYHORSE)),
            opt("duration", DUR_ANY),
        ]
    ),
    spec!(
        TextToVideo,
        "seedance2",
        5,
        (20, 20),
        false,
        [
            req("promptText", P3500),
            opt("ratio", Kind::OneOf(R_SEEDANCE)),
            opt("duration", DUR_ANY),
            opt("audio", Kind::Bool),
            opt("references", Kind::ImageRefs(9)),
            opt("referenceVideos", Kind::TypedRefs("video")),
            opt("referenceAudio", Kind::TypedRefs("audio")),
        ]
    ),
    spec!(
        TextToVideo,
        "seedance2_fast",
        5,
        (10, 10),
        false,
        [
            req("promptText", P3500),
            opt("ratio", Kind::OneOf(R_SEEDANCE_SMALL)),
            opt("duration", DUR_ANY),
            opt("audio", Kind::Bool),
            opt("references", Kind::ImageRefs(9)),
            opt("referenceVideos", Kind::TypedRefs("video")),
            opt("referenceAudio", Kind::TypedRefs("audio")),
        ]
    ),
    spec!(
        TextToVideo,
        "seedance2_mini",
        5,
        (5, 5),
        false,
        [
            req("promptText", P3500),
            opt("ratio", Kind::OneOf(R_SEEDANCE_SMALL)),
            opt("duration", DUR_ANY),
            opt("audio", Kind::Bool),
            opt("references", Kind::ImageRefs(9)),
            opt("referenceVideos", Kind::TypedRefs("video")),
            opt("referenceAudio", Kind::TypedRefs("audio")),
        ]
    ),
    spec!(
        TextToVideo,
        "gemini_omni_flash",
        5,
        (20, 20),
        false,
        [
            req("promptText", P_ANY),
            opt("ratio", Kind::OneOf(R_GEMINI)),
            opt("duration", Kind::IntRange(3, 10)),
        ]
    ),
    // image → video
    spec!(
        ImageToVideo,
        "gen4.5",
        5,
        (12, 12),
        false,
        [
            req("promptImage", IMG_FIRST),
            req("promptText", P1000),
            req("ratio", Kind::OneOf(R_GEN4_I2V)),
            req("duration", Kind::IntRange(2, 10)),
            opt("seed", Kind::Seed),
            opt("contentModeration", Kind::ContentModeration),
            opt("outputFormat", Kind::OneOf(OUTPUT_FORMATS)),
            opt("proresProfile", Kind::OneOf(PRORES_PROFILES)),
        ]
    ),
    spec!(
        ImageToVideo,
        "gen4_turbo",
        10,
        (5, 5),
        false,
        [
            req("promptImage", IMG_FIRST),
            opt("promptText", P1000),
            req("ratio", Kind::OneOf(R_GEN4_I2V)),
            opt("duration", DUR_ANY),
            opt("seed", Kind::Seed),
            opt("contentModeration", Kind::ContentModeration),
        ]
    ),
    spec!(
        ImageToVideo,
        "veo3.1",
        8,
        (40, 20),
        true,
        [
            req("promptImage", IMG_FIRST_LAST),
            opt("promptText", P1000),
            req("ratio", Kind::OneOf(R_VEO)),
            opt("duration", VEO_DUR),
            opt("audio", Kind::Bool),
            opt("negativePrompt", Kind::Text),
        ]
    ),
    spec!(
        ImageToVideo,
        "veo3.1_fast",
        8,
        (15, 10),
        true,
        [
            req("promptImage", IMG_FIRST_LAST),
            opt("promptText", P1000),
            req("ratio", Kind::OneOf(R_VEO)),
            opt("duration", VEO_DUR),
            opt("audio", Kind::Bool),
            opt("negativePrompt", Kind::Text),
        ]
    ),
    spec!(
        ImageToVideo,
        "veo3",
        8,
        (40, 40),
        true,
        [
            req("promptImage", IMG_FIRST),
            opt("promptText", P1000),
            req("ratio", Kind::OneOf(R_VEO)),
            req("duration", Kind::IntOneOf(&[8])),
            opt("negativePrompt", Kind::Text),
        ]
    ),
    spec!(
        ImageToVideo,
        "happyhorse_1_0",
        5,
        (10, 10),
        false,
        [
            req("promptImage", IMG_FIRST),
            opt("promptText", P2500),
            opt("duration", DUR_ANY),
            opt("resolution", Kind::OneOf(&["720P", "1080P"])),
        ]
    ),
    spec!(
        ImageToVideo,
        "seedance2",
        5,
        (20, 20),
        false,
        [
            req("promptImage", IMG_SEEDANCE),
            opt("promptText", P3500),
            opt("ratio", Kind::OneOf(R_SEEDANCE)),
            opt("duration", DUR_ANY),
            opt("audio", Kind::Bool),
            opt("referenceAudio", Kind::TypedRefs("audio")),
        ]
    ),
    spec!(
        ImageToVideo,
        "seedance2_fast",
        5,
        (10, 10),
        false,
        [
            req("promptImage", IMG_SEEDANCE),
            opt("promptText", P3500),
            opt("ratio", Kind::OneOf(R_SEEDANCE_SMALL)),
            opt("duration", DUR_ANY),
            opt("audio", Kind::Bool),
            opt("referenceAudio", Kind::TypedRefs("audio")),
        ]
    ),
    spec!(
        ImageToVideo,
        "seedance2_mini",
        5,
        (5, 5),
        false,
        [
            req("promptImage", IMG_SEEDANCE),
            opt("promptText", P3500),
            opt("ratio", Kind::OneOf(R_SEEDANCE_SMALL)),
            opt("duration", DUR_ANY),
            opt("audio", Kind::Bool),
            opt("referenceAudio", Kind::TypedRefs("audio")),
        ]
    ),
    spec!(
        ImageToVideo,
        "gemini_omni_flash",
        5,
        (20, 20),
        false,
        [
            req("promptImage", IMG_FIRST),
            opt("promptText", P_ANY),
            opt("ratio", Kind::OneOf(R_GEMINI)),
            opt("duration", Kind::IntRange(3, 10)),
        ]
    ),
    // video → video
    spec!(
        VideoToVideo,
        "aleph2",
        5,
        (15, 15),
        false,
        [
            req("videoUri", Kind::Video),
            opt("promptText", P_ANY),
            opt("ratio", Kind::AnyString),
            opt("seed", Kind::Seed),
            opt("contentModeration", Kind::ContentModeration),
            opt("keyframes", Kind::Keyframes),
            opt("targetAspectRatio", Kind::OneOf(TARGET_ASPECT)),
            opt("outputFormat", Kind::OneOf(OUTPUT_FORMATS)),
            opt("proresProfile", Kind::OneOf(PRORES_PROFILES)),
        ]
    ),
    spec!(
        VideoToVideo,
        "seedance2",
        5,
        (20, 20),
        false,
        [
            req("promptVideo", Kind::Video),
            opt("promptText", P3500),
            opt("ratio", Kind::OneOf(R_SEEDANCE)),
            opt("duration", DUR_ANY),
            opt("audio", Kind::Bool),
            opt("references", Kind::ImageRefs(9)),
            opt("referenceVideos", Kind::TypedRefs("video")),
            opt("referenceAudio", Kind::TypedRefs("audio")),
        ]
    ),
    spec!(
        VideoToVideo,
        "seedance2_fast",
        5,
        (10, 10),
        false,
        [
            req("promptVideo", Kind::Video),
            opt("promptText", P3500),
            opt("ratio", Kind::OneOf(R_SEEDANCE_SMALL)),
            opt("duration", DUR_ANY),
            opt("audio", Kind::Bool),
            opt("references", Kind::ImageRefs(9)),
            opt("referenceVideos", Kind::TypedRefs("video")),
            opt("referenceAudio", Kind::TypedRefs("audio")),
        ]
    ),
    spec!(
        VideoToVideo,
        "seedance2_mini",
        5,
        (5, 5),
        false,
        [
            req("promptVideo", Kind::Video),
            opt("promptText", P3500),
            opt("ratio", Kind::OneOf(R_SEEDANCE_SMALL)),
            opt("duration", DUR_ANY),
            opt("audio", Kind::Bool),
            opt("references", Kind::ImageRefs(9)),
            opt("referenceVideos", Kind::TypedRefs("video")),
            opt("referenceAudio", Kind::TypedRefs("audio")),
        ]
    ),
    spec!(
        VideoToVideo,
        "gemini_omni_flash",
        5,
        (20, 20),
        false,
        [
            req("videoUri", Kind::Video),
            req("promptText", P_ANY),
            opt("references", Kind::ImageRefs(9)),
        ]
    ),
];

/// The models a route accepts, in table order.
pub fn models_for(route: Route) -> Vec<&'static str> {
    MODELS
        .iter()
        .filter(|m| m.route == route)
        .map(|m| m.model)
        .collect()
}

/// Check a create body for `route`.
pub fn create(route: Route, body: &Value) -> Result<Create, Invalid> {
    let Value::Object(map) = body else {
        return Err(invalid("", "The request body must be a JSON object."));
    };
    let model = match map.get("model") {
        None => return Err(invalid("model", "Required.")),
        Some(Value::String(m)) => m.as_str(),
        Some(other) => {
            return Err(invalid(
                "model",
                format!("Expected a string, got {}.", kind_of(other)),
            ))
        }
    };
    let Some(spec) = MODELS.iter().find(|s| s.route == route && s.model == model) else {
        return Err(invalid(
            "model",
            format!(
                "Invalid model '{model}' for {}: expected one of {}.",
                route.path(),
                quoted(&models_for(route))
            ),
        ));
    };
    for key in map.keys() {
        if key != "model" && !spec.fields.iter().any(|f| f.name == key) {
            return Err(invalid(
                key.as_str(),
                format!(
                    "Unrecognized key '{key}' for model {model} on {}.",
                    route.path()
                ),
            ));
        }
    }
    let mut assets = Vec::new();
    for field in spec.fields {
        match map.get(field.name) {
            None if field.required => return Err(invalid(field.name, "Required.")),
            None => {}
            Some(value) => check(field.name, field.kind, value, &mut assets)?,
        }
    }
    let str_field = |name: &str| map.get(name).and_then(Value::as_str).map(str::to_string);
    let duration = map
        .get("duration")
        .and_then(Value::as_u64)
        .unwrap_or(spec.default_duration);
    let audio = map
        .get("audio")
        .and_then(Value::as_bool)
        .unwrap_or(spec.audio_default);
    let mut per_second = if audio {
        spec.credits_per_second.0
    } else {
        spec.credits_per_second.1
    };
    if map
        .get("outputFormat")
        .is_some_and(|f| f.as_str() != Some("mp4"))
    {
        per_second += NON_MP4_SURCHARGE;
    }
    Ok(Create {
        route,
        model: spec.model,
        prompt_text: str_field("promptText"),
        ratio: str_field("ratio"),
        duration,
        audio,
        negative_prompt: str_field("negativePrompt"),
        seed: map.get("seed").and_then(Value::as_u64),
        assets,
        credits: per_second * duration,
    })
}

fn check(path: &str, kind: Kind, value: &Value, assets: &mut Vec<AssetRef>) -> Result<(), Invalid> {
    match kind {
        Kind::Prompt { max, utf16 } => {
            let text = string(path, value)?;
            let len = if utf16 {
                text.encode_utf16().count()
            } else {
                text.chars().count()
            };
            if text.is_empty() {
                return Err(invalid(path, "Must be a non-empty string."));
            }
            if len > max {
                let unit = if utf16 {
                    "UTF-16 code units"
                } else {
                    "characters"
                };
                return Err(invalid(
                    path,
                    format!("Must be at most {max} {unit}, got {len}."),
                ));
            }
        }
        Kind::OneOf(allowed) => {
            let s = string(path, value)?;
            if !allowed.contains(&s) {
                return Err(invalid(
                    path,
                    format!("Invalid value '{s}': expected one of {}.", quoted(allowed)),
                ));
            }
        }
        Kind::AnyString | Kind::Text => {
            string(path, value)?;
        }
        Kind::IntRange(min, max) => {
            let n = integer(path, value)?;
            if n < min || n > max {
                return Err(invalid(
                    path,
                    format!("Must be an integer from {min} to {max}, got {n}."),
                ));
            }
        }
        Kind::IntOneOf(allowed) => {
            let n = integer(path, value)?;
            if !allowed.contains(&n) {
                let list: Vec<String> = allowed.iter().map(u64::to_string).collect();
                return Err(invalid(
                    path,
                    format!("Invalid value {n}: expected one of {}.", list.join(", ")),
                ));
            }
        }
        Kind::Bool => {
            if !value.is_boolean() {
                return Err(invalid(
                    path,
                    format!("Expected a boolean, got {}.", kind_of(value)),
                ));
            }
        }
        Kind::Seed => {
            let n = integer(path, value)?;
            if n > u64::from(u32::MAX) {
                return Err(invalid(
                    path,
                    format!("Must be an integer from 0 to 4294967295, got {n}."),
                ));
            }
        }
        Kind::ContentModeration => {
            let obj = object(path, value)?;
            for (key, v) in obj {
                if key != "publicFigureThreshold" {
                    return Err(invalid(
                        format!("{path}.{key}"),
                        format!("Unrecognized key '{key}'."),
                    ));
                }
                check(
                    &format!("{path}.{key}"),
                    Kind::OneOf(&["auto", "low"]),
                    v,
                    assets,
                )?;
            }
        }
        Kind::PromptImage {
            positions,
            position_optional,
        } => prompt_image(path, positions, position_optional, value, assets)?,
        Kind::Video => {
            let uri = string(path, value)?;
            assets.push(asset_ref(path, uri, AssetKind::Video)?);
        }
        Kind::ImageRefs(max) => {
            let items = array(path, value, max)?;
            for (i, item) in items.iter().enumerate() {
                let p = format!("{path}[{i}]");
                uri_object(&p, item, &["uri"])?;
            }
        }
        Kind::TypedRefs(type_name) => {
            let items = array(path, value, usize::MAX)?;
            for (i, item) in items.iter().enumerate() {
                let p = format!("{path}[{i}]");
                let obj = uri_object(&p, item, &["uri", "type"])?;
                if obj.get("type").and_then(Value::as_str) != Some(type_name) {
                    return Err(invalid(
                        format!("{p}.type"),
                        format!("Must be '{type_name}'."),
                    ));
                }
            }
        }
        Kind::Keyframes => {
            let items = array(path, value, 5)?;
            for (i, item) in items.iter().enumerate() {
                let p = format!("{path}[{i}]");
                let obj = uri_object(&p, item, &["uri", "seconds", "at", "range"])?;
                match (obj.get("seconds"), obj.get("at")) {
                    (Some(s), None) if s.as_f64().is_some_and(|s| s >= 0.0) => {}
                    (None, Some(a)) if a.as_f64().is_some_and(|a| (0.0..=1.0).contains(&a)) => {}
                    _ => {
                        return Err(invalid(
                            p,
                            "Needs exactly one of 'seconds' (a number ≥ 0) or 'at' (a number from 0 to 1).",
                        ))
                    }
                }
            }
        }
    }
    Ok(())
}

fn prompt_image(
    path: &str,
    positions: &'static [&'static str],
    position_optional: bool,
    value: &Value,
    assets: &mut Vec<AssetRef>,
) -> Result<(), Invalid> {
    if let Value::String(uri) = value {
        assets.push(asset_ref(path, uri, AssetKind::Image)?);
        return Ok(());
    }
    let items = array(path, value, positions.len().max(1))?;
    if items.is_empty() {
        return Err(invalid(path, "Must name at least one image."));
    }
    let mut seen = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let obj = uri_object(&p, item, &["uri", "position"])?;
        match obj.get("position") {
            None if position_optional => {}
            None => return Err(invalid(format!("{p}.position"), "Required.")),
            Some(pos) => {
                check(
                    &format!("{p}.position"),
                    Kind::OneOf(positions),
                    pos,
                    assets,
                )?;
                let pos = pos.as_str().unwrap_or_default();
                if seen.contains(&pos) {
                    return Err(invalid(
                        format!("{p}.position"),
                        format!("Position '{pos}' is given twice."),
                    ));
                }
                seen.push(pos);
            }
        }
        if let Some(Value::String(uri)) = obj.get("uri") {
            assets.push(asset_ref(&format!("{p}.uri"), uri, AssetKind::Image)?);
        }
    }
    if seen == ["last"] {
        return Err(invalid(
            path,
            "A last frame needs a first frame: give a 'first' image too.",
        ));
    }
    Ok(())
}

/// Only the URI's form is checked here; the asset itself is fetched after validation.
fn asset_ref(path: &str, uri: &str, kind: AssetKind) -> Result<AssetRef, Invalid> {
    let lower = uri.to_ascii_lowercase();
    if !(lower.starts_with("https://")
        || lower.starts_with("http://")
        || lower.starts_with("data:")
        || lower.starts_with("runway://"))
    {
        return Err(invalid(
            path,
            "Must be an HTTPS URL, a Runway upload URI or a base64 data URI.",
        ));
    }
    Ok(AssetRef {
        field: path.to_string(),
        uri: uri.to_string(),
        kind,
    })
}

/// An object with a string `uri` and no keys beyond `allowed`.
fn uri_object<'a>(
    path: &str,
    value: &'a Value,
    allowed: &[&str],
) -> Result<&'a Map<String, Value>, Invalid> {
    let obj = object(path, value)?;
    if let Some(key) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(invalid(
            format!("{path}.{key}"),
            format!("Unrecognized key '{key}'."),
        ));
    }
    match obj.get("uri") {
        Some(Value::String(_)) => Ok(obj),
        Some(other) => Err(invalid(
            format!("{path}.uri"),
            format!("Expected a string, got {}.", kind_of(other)),
        )),
        None => Err(invalid(format!("{path}.uri"), "Required.")),
    }
}

fn string<'a>(path: &str, value: &'a Value) -> Result<&'a str, Invalid> {
    value
        .as_str()
        .ok_or_else(|| invalid(path, format!("Expected a string, got {}.", kind_of(value))))
}

fn integer(path: &str, value: &Value) -> Result<u64, Invalid> {
    value.as_u64().ok_or_else(|| {
        let got = match value {
            Value::Number(n) if n.is_i64() => format!("{n}"),
            other => kind_of(other).to_string(),
        };
        invalid(path, format!("Expected a non-negative integer, got {got}."))
    })
}

fn object<'a>(path: &str, value: &'a Value) -> Result<&'a Map<String, Value>, Invalid> {
    value
        .as_object()
        .ok_or_else(|| invalid(path, format!("Expected an object, got {}.", kind_of(value))))
}

fn array<'a>(path: &str, value: &'a Value, max: usize) -> Result<&'a Vec<Value>, Invalid> {
    let items = value
        .as_array()
        .ok_or_else(|| invalid(path, format!("Expected an array, got {}.", kind_of(value))))?;
    if items.len() > max {
        return Err(invalid(
            path,
            format!("At most {max} items, got {}.", items.len()),
        ));
    }
    Ok(items)
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
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
    use serde_json::json;

    fn t2v(body: Value) -> Result<Create, Invalid> {
        create(Route::TextToVideo, &body)
    }

    fn refused_path(route: Route, body: Value) -> String {
        create(route, &body).unwrap_err().path
    }

    #[test]
    fn accepts_each_models_minimal_body_and_applies_defaults() {
        let c = t2v(
            json!({"model": "gen4.5", "promptText": "a fox", "ratio": "1280:720", "duration": 6}),
        )
        .unwrap();
        assert_eq!((c.model, c.duration, c.credits), ("gen4.5", 6, 72));
        let c = t2v(json!({"model": "gen4.5", "promptText": "a fox", "ratio": "1280:720", "duration": 6, "outputFormat": "prores", "proresProfile": "422 HQ"})).unwrap();
        assert_eq!(c.credits, 102);
        let c =
            t2v(json!({"model": "veo3.1", "promptText": "a fox", "ratio": "1080:1920"})).unwrap();
        assert_eq!((c.duration, c.audio, c.credits), (8, true, 320));
        let c = t2v(json!({"model": "veo3.1", "promptText": "a fox", "ratio": "1080:1920", "audio": false, "duration": 4, "negativePrompt": "rain"})).unwrap();
        assert_eq!(
            (c.credits, c.negative_prompt.as_deref()),
            (80, Some("rain"))
        );
        let c = create(
            Route::ImageToVideo,
            &json!({"model": "veo3.1_fast", "ratio": "1280:720",
                    "promptImage": [{"uri": "https://x/a.png", "position": "first"}, {"uri": "data:image/png;base64,AA==", "position": "last"}]}),
        )
        .unwrap();
        assert_eq!(c.assets.len(), 2);
        assert_eq!(c.assets[1].field, "promptImage[1].uri");
        let c = create(
            Route::VideoToVideo,
            &json!({"model": "aleph2", "videoUri": "https://x/v.mp4", "promptText": "snow"}),
        )
        .unwrap();
        assert_eq!(c.assets[0].kind, AssetKind::Video);
    }

    #[test]
    fn names_the_field_it_refuses() {
        use Route::*;
        let gen = |extra: Value| {
            let mut b = json!({"model": "gen4.5", "promptText": "a fox", "ratio": "1280:720", "duration": 5});
            for (k, v) in extra.as_object().unwrap() {
                b[k] = v.clone();
            }
            b
        };
        let cases: Vec<(Route, Value, &str)> = vec![
            (TextToVideo, json!({"promptText": "x"}), "model"),
            (
                TextToVideo,
                json!({"model": "gen4_turbo", "promptText": "x"}),
                "model",
            ),
            (
                TextToVideo,
                json!({"model": "gen4.5", "ratio": "1280:720", "duration": 5}),
                "promptText",
            ),
            (
                TextToVideo,
                gen(json!({"promptText": "x".repeat(1001)})),
                "promptText",
            ),
            (TextToVideo, gen(json!({"promptText": ""})), "promptText"),
            (TextToVideo, gen(json!({"ratio": "960:960"})), "ratio"),
            (TextToVideo, gen(json!({"duration": 11})), "duration"),
            (TextToVideo, gen(json!({"duration": "5"})), "duration"),
            (
                TextToVideo,
                gen(json!({"negativePrompt": "rain"})),
                "negativePrompt",
            ),
            (TextToVideo, gen(json!({"audio": true})), "audio"),
            (TextToVideo, gen(json!({"seed": 4_294_967_296u64})), "seed"),
            (TextToVideo, gen(json!({"seed": -1})), "seed"),
            (TextToVideo, gen(json!({"colour": "red"})), "colour"),
            (
                TextToVideo,
                gen(json!({"contentModeration": {"publicFigureThreshold": "high"}})),
                "contentModeration.publicFigureThreshold",
            ),
            (
                TextToVideo,
                json!({"model": "veo3.1", "promptText": "x", "ratio": "1280:720", "duration": 5}),
                "duration",
            ),
            (
                TextToVideo,
                json!({"model": "veo3.1", "promptText": "x", "ratio": "1280:720", "seed": 1}),
                "seed",
            ),
            (
                TextToVideo,
                json!({"model": "veo3", "promptText": "x", "ratio": "1280:720"}),
                "duration",
            ),
            (TextToVideo, json!("text"), ""),
            (
                ImageToVideo,
                json!({"model": "gen4.5", "promptText": "x", "ratio": "960:960", "duration": 5}),
                "promptImage",
            ),
            (
                ImageToVideo,
                json!({"model": "gen4.5", "promptText": "x", "ratio": "960:960", "duration": 5, "promptImage": [{"uri": "https://x/a.png", "position": "last"}]}),
                "promptImage[0].position",
            ),
            (
                ImageToVideo,
                json!({"model": "veo3.1", "ratio": "1280:720", "promptImage": [{"uri": "https://x/a.png", "position": "last"}]}),
                "promptImage",
            ),
            (
                ImageToVideo,
                json!({"model": "veo3.1", "ratio": "1280:720", "promptImage": [{"uri": "https://x/a.png"}]}),
                "promptImage[0].position",
            ),
            (
                ImageToVideo,
                json!({"model": "veo3.1", "ratio": "1280:720", "promptImage": "ftp://x/a.png"}),
                "promptImage",
            ),
            (
                ImageToVideo,
                json!({"model": "veo3.1", "ratio": "1280:720", "promptImage": [{"url": "https://x"}]}),
                "promptImage[0].url",
            ),
            (VideoToVideo, json!({"model": "aleph2"}), "videoUri"),
            (
                VideoToVideo,
                json!({"model": "gemini_omni_flash", "videoUri": "https://x/v.mp4"}),
                "promptText",
            ),
            (
                VideoToVideo,
                json!({"model": "seedance2", "videoUri": "https://x/v.mp4"}),
                "videoUri",
            ),
        ];
        for (route, body, path) in cases {
            assert_eq!(refused_path(route, body.clone()), path, "{body}");
        }
    }

    #[test]
    fn prompt_length_counts_utf16_units() {
        // "😀" is two UTF-16 code units: 500 of them are exactly at the limit.
        let ok = json!({"model": "gen4.5", "promptText": "😀".repeat(500), "ratio": "720:1280", "duration": 2});
        assert!(t2v(ok).is_ok());
        let over = json!({"model": "gen4.5", "promptText": format!("{}a", "😀".repeat(500)), "ratio": "720:1280", "duration": 2});
        let e = t2v(over).unwrap_err();
        assert!(e.message.contains("1001"), "{}", e.message);
    }

    #[test]
    fn the_error_lists_what_is_allowed() {
        let e = t2v(json!({"model": "gen4.5", "promptText": "x", "ratio": "1:1", "duration": 5}))
            .unwrap_err();
        assert!(
            e.message.contains("'1280:720', '720:1280'"),
            "{}",
            e.message
        );
        let e = t2v(json!({"model": "sora-2", "promptText": "x"})).unwrap_err();
        assert!(
            e.message.contains("'gen4.5'") && e.message.contains("'veo3.1_fast'"),
            "{}",
            e.message
        );
    }
}
