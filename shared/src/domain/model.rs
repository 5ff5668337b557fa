//! The model catalog: every model this build knows, which provider renders it, and what
//! each accepts (durations, frame sizes, a negative prompt, a reference image, remix).
//!
//! A job names its model by id (`sora-2`, `runway/gen4.5`); create requests are checked
//! against the model's entry, and `GET /v1/models` lists the entries. The provider's own
//! limits come from its API reference (OpenAI: openai-videos-api.md; Runway: the
//! `runwayml` SDK's `*_create_params` types), prices from their published tables.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Who renders a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ProviderId {
    #[serde(rename = "openai")]
    OpenAi,
    #[serde(rename = "runway")]
    Runway,
    #[serde(rename = "fal")]
    Fal,
}

impl ProviderId {
    pub const ALL: [ProviderId; 3] = [ProviderId::OpenAi, ProviderId::Runway, ProviderId::Fal];

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderId::OpenAi => "openai",
            ProviderId::Runway => "runway",
            ProviderId::Fal => "fal",
        }
    }
}

impl ProviderId {
    /// The largest reference image the provider takes, in bytes. Runway takes the
    /// image inline as a data URI of at most 5 MB; base64 makes 3.5 MiB into about
    /// 4.9 MB, the header included. fal takes it inline too (a data URI in the model's
    /// image field) and documents no cap; the same bound keeps the submit body small.
    pub fn max_reference_bytes(self) -> u64 {
        match self {
            ProviderId::OpenAi => super::MAX_UPLOAD_BYTES,
            ProviderId::Runway | ProviderId::Fal => 3_670_016,
        }
    }
}

impl ProviderId {
    /// The largest source video a remix sends inline rather than by link: Runway takes
    /// a video data URI of up to 16 MB (base64 makes 11.9 MB into about 15.9 MB).
    /// OpenAI remixes its own render by id and needs no copy; fal models do not remix.
    pub fn max_inline_video_bytes(self) -> u64 {
        match self {
            ProviderId::OpenAi | ProviderId::Fal => 0,
            ProviderId::Runway => 11_900_000,
        }
    }
}

impl fmt::Display for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProviderId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ProviderId::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown provider {s:?}; known: openai, runway, fal"))
    }
}

/// How long a model's renders may take before the job is `timed_out`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    Standard,
    /// Renders markedly slower (sora-2-pro): a longer budget.
    Slow,
}

/// One frame size and its price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeSpec {
    /// `WIDTHxHEIGHT`, our wire name (Runway's `ratio` is the same with `:`).
    pub name: &'static str,
    /// USD cents per generated second at this size.
    pub cents_per_second: u64,
}

/// One entry of the catalog.
#[derive(Debug, PartialEq, Eq)]
pub struct ModelSpec {
    /// Our id: the provider's model name, prefixed with the provider for all but
    /// OpenAI (whose ids predate the catalog and stay as they were).
    pub id: &'static str,
    pub provider: ProviderId,
    /// The name the provider's API takes.
    pub provider_model: &'static str,
    pub seconds: &'static [u32],
    pub default_seconds: u32,
    pub sizes: &'static [SizeSpec],
    pub default_size: &'static str,
    /// The provider takes a negative prompt (else negative keywords go in the prompt).
    pub negative_prompt: bool,
    /// A reference image can become the first frame.
    pub input_reference: bool,
    /// A completed job of this model can be remixed.
    pub remix: bool,
    pub pace: Pace,
    /// The longest prompt the provider takes, in UTF-16 code units (Runway's
    /// `promptText`: 1000); `None` when our own limit is the only one.
    pub max_prompt_units: Option<usize>,
}

impl ModelSpec {
    pub fn size(&self, name: &str) -> Option<&SizeSpec> {
        self.sizes.iter().find(|s| s.name == name)
    }

    /// The listing's `usd_per_second`: the price at the default size.
    pub fn usd_per_second(&self) -> f64 {
        let cents = self
            .size(self.default_size)
            .map_or(0, |s| s.cents_per_second);
        cents as f64 / 100.0
    }

    /// Why `prompt` is too long for this model, if it is.
    pub fn prompt_too_long(&self, prompt: &str) -> Option<String> {
        let max = self.max_prompt_units?;
        let units = prompt.encode_utf16().count();
        (units > max).then(|| {
            format!(
                "the prompt is {units} UTF-16 code units; {} takes at most {max}",
                self.id
            )
        })
    }

    /// "4, 8 or 12"
    pub fn seconds_list(&self) -> String {
        or_list(self.seconds.iter().map(u32::to_string))
    }

    /// "720x1280 or 1280x720"
    pub fn sizes_list(&self) -> String {
        or_list(self.sizes.iter().map(|s| s.name.to_string()))
    }
}

fn or_list(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    match items.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

const fn size(name: &'static str, cents_per_second: u64) -> SizeSpec {
    SizeSpec {
        name,
        cents_per_second,
    }
}

// OpenAI (openai-videos-api.md §7): sora-2 $0.10/s; sora-2-pro $0.30/s at 720p and
// $0.50/s at the large sizes, which only it offers.
const SORA_SECONDS: &[u32] = &[4, 8, 12];
const SORA_2: ModelSpec = ModelSpec {
    id: "sora-2",
    provider: ProviderId::OpenAi,
    provider_model: "sora-2",
    seconds: SORA_SECONDS,
    default_seconds: 4,
    sizes: &[size("720x1280", 10), size("1280x720", 10)],
    default_size: "720x1280",
    negative_prompt: false,
    input_reference: true,
    remix: true,
    pace: Pace::Standard,
    max_prompt_units: None,
};
const SORA_2_PRO: ModelSpec = ModelSpec {
    id: "sora-2-pro",
    provider: ProviderId::OpenAi,
    provider_model: "sora-2-pro",
    seconds: SORA_SECONDS,
    default_seconds: 4,
    sizes: &[
        size("720x1280", 30),
        size("1280x720", 30),
        size("1024x1792", 50),
        size("1792x1024", 50),
    ],
    default_size: "720x1280",
    negative_prompt: false,
    input_reference: true,
    remix: true,
    pace: Pace::Slow,
    max_prompt_units: None,
};

// Runway (runwayml SDK 5.13/5.14 `text_to_video_create_params` and
// `image_to_video_create_params`): the models both routes take, with the ratios both
// take. 1 credit = $0.01; credits per second from Runway's own API skill notes (veo3.1
// at its with-audio rate: the adapter asks for audio). The task's own
// `estimatedCost`/`cost` is recorded on the job too. Left out: seedance2 and
// gemini_omni_flash (no published duration range or price), veo3 (gone in SDK 5.14).
// Every Runway job can be remixed: `aleph2` (video→video) edits its stored video.
/// Runway's cap on `promptText` (the SDK: "at most 1000 UTF-16 code units").
const RUNWAY_PROMPT_UNITS: usize = 1000;
const GEN45_SECONDS: &[u32] = &[2, 3, 4, 5, 6, 7, 8, 9, 10];
const VEO_SECONDS: &[u32] = &[4, 6, 8];
const RUNWAY_GEN45: ModelSpec = ModelSpec {
    id: "runway/gen4.5",
    provider: ProviderId::Runway,
    provider_model: "gen4.5",
    seconds: GEN45_SECONDS,
    default_seconds: 5,
    sizes: &[size("1280x720", 12), size("720x1280", 12)],
    default_size: "1280x720",
    negative_prompt: false,
    input_reference: true,
    remix: true,
    pace: Pace::Standard,
    max_prompt_units: Some(RUNWAY_PROMPT_UNITS),
};
const VEO_SIZES_40: &[SizeSpec] = &[
    size("1280x720", 40),
    size("720x1280", 40),
    size("1920x1080", 40),
    size("1080x1920", 40),
];
const VEO_SIZES_15: &[SizeSpec] = &[
    size("1280x720", 15),
    size("720x1280", 15),
    size("1920x1080", 15),
    size("1080x1920", 15),
];
const RUNWAY_VEO31: ModelSpec = ModelSpec {
    id: "runway/veo3.1",
    provider: ProviderId::Runway,
    provider_model: "veo3.1",
    seconds: VEO_SECONDS,
    default_seconds: 8,
    sizes: VEO_SIZES_40,
    default_size: "1280x720",
    negative_prompt: true,
    input_reference: true,
    remix: true,
    pace: Pace::Standard,
    max_prompt_units: Some(RUNWAY_PROMPT_UNITS),
};
const RUNWAY_VEO31_FAST: ModelSpec = ModelSpec {
    id: "runway/veo3.1_fast",
    provider: ProviderId::Runway,
    provider_model: "veo3.1_fast",
    seconds: VEO_SECONDS,
    default_seconds: 8,
    sizes: VEO_SIZES_15,
    default_size: "1280x720",
    negative_prompt: true,
    input_reference: true,
    remix: true,
    pace: Pace::Standard,
    max_prompt_units: Some(RUNWAY_PROMPT_UNITS),
};
// fal (fal's per-model pages, `fal.ai/models/<id>/llms.txt`; the input each takes is
// the adapter's table, `provider::fal`). Prices: veo3.1 $0.40/s with audio at 720p and
// 1080p (the adapter asks for audio) and Kling 2.1 master $1.40 per 5 s ($0.28/s) are
// fal's published figures; veo3.1/fast (15) and Wan 2.2 A14B (8) are ESTIMATES, no
// page of theirs was at hand. Sizes stay `WIDTHxHEIGHT`; the adapter turns them into
// `aspect_ratio` + `resolution`. fal cannot remix a render.
/// fal's cap on Kling's `prompt` (2500 characters; counted as UTF-16 units, which is
/// never fewer than characters, so nothing we pass is refused for length).
const KLING_PROMPT_UNITS: usize = 2500;
const FAL_VEO31: ModelSpec = ModelSpec {
    id: "fal/fal-ai/veo3.1",
    provider: ProviderId::Fal,
    provider_model: "fal-ai/veo3.1",
    seconds: VEO_SECONDS,
    default_seconds: 8,
    sizes: VEO_SIZES_40,
    default_size: "1280x720",
    negative_prompt: true,
    input_reference: true,
    remix: false,
    pace: Pace::Standard,
    max_prompt_units: None,
};
const FAL_VEO31_FAST: ModelSpec = ModelSpec {
    id: "fal/fal-ai/veo3.1/fast",
    provider: ProviderId::Fal,
    provider_model: "fal-ai/veo3.1/fast",
    seconds: VEO_SECONDS,
    default_seconds: 8,
    sizes: VEO_SIZES_15,
    default_size: "1280x720",
    negative_prompt: true,
    input_reference: true,
    remix: false,
    pace: Pace::Standard,
    max_prompt_units: None,
};
const FAL_KLING21_MASTER: ModelSpec = ModelSpec {
    id: "fal/fal-ai/kling-video/v2.1/master/text-to-video",
    provider: ProviderId::Fal,
    provider_model: "fal-ai/kling-video/v2.1/master/text-to-video",
    seconds: &[5, 10],
    default_seconds: 5,
    // Kling 2.1 master renders 1080p; only the aspect ratio is chosen.
    sizes: &[
        size("1920x1080", 28),
        size("1080x1920", 28),
        size("1080x1080", 28),
    ],
    default_size: "1920x1080",
    negative_prompt: true,
    input_reference: true,
    remix: false,
    pace: Pace::Standard,
    max_prompt_units: Some(KLING_PROMPT_UNITS),
};
const FAL_WAN22: ModelSpec = ModelSpec {
    id: "fal/fal-ai/wan/v2.2-a14b/text-to-video",
    provider: ProviderId::Fal,
    provider_model: "fal-ai/wan/v2.2-a14b/text-to-video",
    // 16 frames a second: 81 frames (its default) is 5 s, 161 (its most) 10 s.
    seconds: &[5, 10],
    default_seconds: 5,
    sizes: &[size("1280x720", 8), size("720x1280", 8)],
    default_size: "1280x720",
    negative_prompt: true,
    input_reference: false,
    remix: false,
    pace: Pace::Standard,
    max_prompt_units: None,
};
/// Every model, in the order `GET /v1/models` lists them.
pub const CATALOG: &[&ModelSpec] = &[
    &SORA_2,
    &SORA_2_PRO,
    &RUNWAY_GEN45,
    &RUNWAY_VEO31,
    &RUNWAY_VEO31_FAST,
    &FAL_VEO31,
    &FAL_VEO31_FAST,
    &FAL_KLING21_MASTER,
    &FAL_WAN22,
];

/// A model of the catalog. Records and requests carry its id.
#[derive(Clone, Copy)]
pub struct Model(&'static ModelSpec);

impl Model {
    pub const SORA_2: Model = Model(&SORA_2);
    pub const SORA_2_PRO: Model = Model(&SORA_2_PRO);
    pub const RUNWAY_GEN45: Model = Model(&RUNWAY_GEN45);
    pub const FAL_VEO31: Model = Model(&FAL_VEO31);

    pub fn all() -> impl Iterator<Item = Model> {
        CATALOG.iter().map(|spec| Model(spec))
    }

    pub fn find(id: &str) -> Option<Model> {
        Model::all().find(|m| m.id() == id)
    }

    pub fn spec(self) -> &'static ModelSpec {
        self.0
    }

    pub fn id(self) -> &'static str {
        self.0.id
    }

    pub fn as_str(self) -> &'static str {
        self.0.id
    }

    pub fn provider(self) -> ProviderId {
        self.0.provider
    }

    /// Estimated price of `seconds` at `size` in USD cents; a size the model does not
    /// offer (never on a validated job) is priced at the model's dearest.
    pub fn estimate_cents(self, size: &str, seconds: u32) -> u64 {
        let per_second = self.0.size(size).map_or_else(
            || {
                self.0
                    .sizes
                    .iter()
                    .map(|s| s.cents_per_second)
                    .max()
                    .unwrap_or(0)
            },
            |s| s.cents_per_second,
        );
        per_second * u64::from(seconds)
    }

    pub fn estimate_usd(self, size: &str, seconds: u32) -> f64 {
        self.estimate_cents(size, seconds) as f64 / 100.0
    }
}

impl PartialEq for Model {
    fn eq(&self, other: &Self) -> bool {
        self.id() == other.id()
    }
}

impl Eq for Model {}

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Model({})", self.id())
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl FromStr for Model {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Model::find(s).ok_or_else(|| {
            format!(
                "{s:?} is not a known model; known: {}",
                Model::all().map(Model::id).collect::<Vec<_>>().join(", ")
            )
        })
    }
}

impl Serialize for Model {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}

impl<'de> Deserialize<'de> for Model {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let id = String::deserialize(d)?;
        id.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_defaults_are_offered() {
        let mut ids: Vec<&str> = Model::all().map(Model::id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), CATALOG.len());
        for m in Model::all() {
            let spec = m.spec();
            assert!(spec.seconds.contains(&spec.default_seconds), "{m}");
            assert!(spec.size(spec.default_size).is_some(), "{m}");
            let prefixed = m.provider() == ProviderId::OpenAi
                || m.id() == format!("{}/{}", m.provider(), spec.provider_model);
            assert!(prefixed, "{m} must be <provider>/<provider model>");
        }
    }

    #[test]
    fn openai_prices_follow_the_table() {
        let cases = [
            (Model::SORA_2, "720x1280", 4, 40),
            (Model::SORA_2, "1280x720", 12, 120),
            (Model::SORA_2_PRO, "720x1280", 8, 240),
            (Model::SORA_2_PRO, "1024x1792", 12, 600),
            (Model::SORA_2_PRO, "1792x1024", 4, 200),
            (Model::RUNWAY_GEN45, "1280x720", 5, 60),
        ];
        for (model, size, secs, cents) in cases {
            assert_eq!(
                model.estimate_cents(size, secs),
                cents,
                "{model} {size} {secs}s"
            );
        }
        assert_eq!(Model::SORA_2_PRO.spec().usd_per_second(), 0.3);
    }

    #[test]
    fn ids_round_trip_and_unknown_ones_name_the_known() {
        for m in Model::all() {
            assert_eq!(m.id().parse::<Model>(), Ok(m));
            let json = serde_json::to_string(&m).expect("a string serialises");
            assert_eq!(serde_json::from_str::<Model>(&json).ok(), Some(m));
        }
        let err = "sora-3".parse::<Model>().unwrap_err();
        assert!(
            err.contains("runway/gen4.5") && err.contains("sora-2-pro"),
            "{err}"
        );
    }

    #[test]
    fn runway_prompts_are_capped_in_utf16_units() {
        let gen45 = Model::RUNWAY_GEN45.spec();
        assert_eq!(gen45.prompt_too_long(&"a".repeat(1000)), None);
        // 999 + one character outside the BMP (two units) is 1001.
        let over = format!("{}😀", "a".repeat(999));
        assert!(gen45
            .prompt_too_long(&over)
            .is_some_and(|m| m.contains("1001")));
        assert_eq!(
            Model::SORA_2.spec().prompt_too_long(&"a".repeat(5000)),
            None
        );
    }

    #[test]
    fn lists_read_as_sentences() {
        assert_eq!(Model::SORA_2.spec().seconds_list(), "4, 8 or 12");
        assert_eq!(Model::SORA_2.spec().sizes_list(), "720x1280 or 1280x720");
    }
}
