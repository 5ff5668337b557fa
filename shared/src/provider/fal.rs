//! fal's queue API adapter (reference: `shared/reference/fal-api.md`, checked against
//! the official `fal-client` package and fal's per-model pages).
//!
//! - Every queue call carries `Authorization: Key <key>`; the key travels in that
//!   header only, and any echo of it in an answer is masked.
//! - create: `POST {queue}/{model id}` with the model's own input (the table
//!   [`FAL_MODELS`]: field names and formats differ per model), `?fal_webhook=<url>`
//!   when the job waits for fal's push, and `X-Fal-Object-Lifecycle-Preference` so the
//!   output outlives a late download.
//! - The video id is the returned `response_url` with the queue base stripped
//!   (`fal-ai/veo3.1/requests/<request id>`): status, result and cancel URLs are built
//!   from it, and create checks the returned ones are exactly those, under the
//!   configured base (the key is never sent to another host).
//! - status: `IN_QUEUE` / `IN_PROGRESS` (202) / `COMPLETED` (200). A completed request
//!   may have failed: the status's `error`, else the result (`GET {base}/{id}`), says
//!   so; a content-checker refusal (`content_policy_violation`) is `moderation_blocked`.
//! - download: the result's `video.url` is a CDN link fetched WITHOUT our key.
//! - delete: `PUT …/cancel`; an ended or unknown request has nothing left to stop.
//! - fal cannot list requests, so a create whose answer was lost cannot be found again
//!   ([`RecentSearch::Inconclusive`]); creates are not retried on 5xx or timeouts.

use super::http::{self, Bounded, ErrorAnswer, Http, Idempotent};
use super::retry::RetryPolicy;
use super::{
    refused, Content, CreateVideo, ProviderError, ProviderFailure, ProviderStatus, ProviderVideo,
    RecentSearch, ReferenceImage, RemixVideo, Variant, VideoProbe, VideoProvider,
};
use crate::config::Secret;
use crate::deadline::Deadline;
use crate::domain::ErrorCode;
use async_trait::async_trait;
use base64::Engine;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::Duration;

/// fal's public queue.
pub const DEFAULT_QUEUE_URL: &str = crate::config::DEFAULT_FAL_QUEUE_URL;

/// How long fal keeps a render's output for us (`X-Fal-Object-Lifecycle-Preference`):
/// three days covers a webhook retried for 2 h, the polling fallback and the workflow's
/// retries of the download several times over.
pub const OUTPUT_RETENTION: Duration = Duration::from_secs(3 * 24 * 3600);

/// The error type fal's hosted video models fail a refused prompt or image with.
const CONTENT_POLICY: &str = "content_policy_violation";

/// How a model takes the length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationField {
    /// `duration: "8s"` (Veo).
    Suffixed,
    /// `duration: "5"` (Kling).
    Plain,
    /// `num_frames` at `frames_per_second` (Wan): `seconds * fps + 1` frames.
    Frames { fps: u32 },
}

/// Where a model takes a first-frame image: another endpoint, and its field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageInput {
    pub endpoint: &'static str,
    pub field: &'static str,
    /// The endpoint takes `aspect_ratio` (else the image's shape decides).
    pub aspect_ratio: bool,
}

/// One model's input mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FalModel {
    /// fal's model id, the catalog's `provider_model`.
    pub id: &'static str,
    pub duration: DurationField,
    /// The model takes `resolution` (`720p`, `1080p`, …); else its own is fixed.
    pub resolution: bool,
    /// The model takes `negative_prompt`.
    pub negative_prompt: bool,
    /// `generate_audio: true` is sent (the catalog prices these with audio).
    pub audio: bool,
    pub image: Option<ImageInput>,
}

/// The input mapping of every fal model the catalog lists (fal's model pages; the
/// simulator's schemas in `local/sora-sim/src/fal/models.rs` follow the same pages).
pub const FAL_MODELS: &[FalModel] = &[
    FalModel {
        id: "fal-ai/veo3.1",
        duration: DurationField::Suffixed,
        resolution: true,
        negative_prompt: true,
        audio: true,
        image: Some(ImageInput {
            endpoint: "fal-ai/veo3.1/image-to-video",
            field: "image_url",
            aspect_ratio: true,
        }),
    },
    FalModel {
        id: "fal-ai/veo3.1/fast",
        duration: DurationField::Suffixed,
        resolution: true,
        negative_prompt: true,
        audio: true,
        image: Some(ImageInput {
            endpoint: "fal-ai/veo3.1/fast/image-to-video",
            field: "image_url",
            aspect_ratio: true,
        }),
    },
    FalModel {
        id: "fal-ai/kling-video/v2.1/master/text-to-video",
        duration: DurationField::Plain,
        resolution: false,
        negative_prompt: true,
        audio: false,
        image: Some(ImageInput {
            endpoint: "fal-ai/kling-video/v2.1/master/image-to-video",
            field: "image_url",
            aspect_ratio: false,
        }),
    },
    FalModel {
        id: "fal-ai/wan/v2.2-a14b/text-to-video",
        duration: DurationField::Frames { fps: 16 },
        resolution: true,
        negative_prompt: true,
        audio: false,
        image: None,
    },
];

pub fn fal_model(id: &str) -> Option<&'static FalModel> {
    FAL_MODELS.iter().find(|m| m.id == id)
}

#[derive(Debug, Clone)]
pub struct FalQueueConfig {
    /// The queue base, e.g. `https://queue.fal.run` (no trailing slash needed).
    pub queue_url: String,
    pub api_key: Secret,
    /// The shortest pause between two status checks of one request: fal's status is
    /// cheap, and renders take tens of seconds to minutes.
    pub min_poll_interval: Duration,
    pub output_retention: Duration,
    pub connect_timeout: Duration,
    /// Whole-request timeout for JSON calls.
    pub request_timeout: Duration,
    /// Longest silence between body chunks of a download.
    pub read_timeout: Duration,
    pub retry: RetryPolicy,
}

impl FalQueueConfig {
    pub fn new(queue_url: impl Into<String>, api_key: Secret) -> FalQueueConfig {
        FalQueueConfig {
            queue_url: queue_url.into(),
            api_key,
            min_poll_interval: Duration::from_secs(2),
            output_retention: OUTPUT_RETENTION,
            connect_timeout: Duration::from_secs(10),
            request_timeout: crate::workflow::contract::PROVIDER_REQUEST_TIMEOUT,
            read_timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct FalProvider {
    http: Http,
    config: FalQueueConfig,
}

impl FalProvider {
    pub fn new(config: FalQueueConfig) -> Result<FalProvider, ProviderError> {
        let http = Http::new(
            config.connect_timeout,
            config.read_timeout,
            config.request_timeout,
            config.retry.clone(),
        )?;
        Ok(FalProvider { http, config })
    }

    fn base(&self) -> &str {
        self.config.queue_url.trim_end_matches('/')
    }

    /// A queue request with the key.
    fn request(&self, method: Method, url: &str) -> RequestBuilder {
        self.http.client.request(method, url).header(
            reqwest::header::AUTHORIZATION,
            format!("Key {}", self.config.api_key.expose()),
        )
    }

    /// The key masked out of any message.
    fn masked(&self, error: ProviderError) -> ProviderError {
        let key = self.config.api_key.expose();
        if key.is_empty() || !error.message().contains(key) {
            return error;
        }
        error.map_message(|m| m.replace(key, "***"))
    }

    /// `{base}/{id}` plus `suffix`, for a video id of ours (checked: it goes into a
    /// URL path unescaped).
    fn request_url(&self, video_id: &str, suffix: &str) -> Result<String, ProviderError> {
        check_video_id(video_id)?;
        Ok(format!("{}/{video_id}{suffix}", self.base()))
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        idempotent: Idempotent,
        read_error: http::ReadError,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<T, ProviderError> {
        self.http
            .json::<T>(what, idempotent, read_error, build)
            .await
            .map(|(t, _)| t)
            .map_err(|e| self.masked(e))
    }

    /// The ended request's result: its video link, or why it has none.
    async fn result(&self, video_id: &str) -> Result<Outcome, ProviderError> {
        let url = self.request_url(video_id, "")?;
        let answer = self
            .json::<Value>("result", Idempotent::Yes, read_error, || {
                self.request(Method::GET, &url)
            })
            .await;
        match answer {
            Ok(body) => video_link(&body).map(Outcome::Video),
            // The model's own refusal or failure, answered as its app raised it.
            Err(ProviderError::Rejected {
                code,
                reason,
                message,
                ..
            }) => Ok(Outcome::Failed(ProviderFailure {
                code: if reason == ErrorCode::ModerationBlocked {
                    reason
                } else {
                    ErrorCode::VideoGenerationFailed
                },
                provider_code: Some(code),
                message,
            })),
            Err(e) => Err(e),
        }
    }
}

/// What an ended request came to.
enum Outcome {
    Video(reqwest::Url),
    Failed(ProviderFailure),
}

#[async_trait]
impl VideoProvider for FalProvider {
    async fn create(&self, request: &CreateVideo) -> Result<ProviderVideo, ProviderError> {
        let (endpoint, body) = create_body(request)?;
        let mut url = reqwest::Url::parse(&format!("{}/{endpoint}", self.base())).map_err(|e| {
            ProviderError::NotSent {
                message: format!("the fal queue URL is not a URL: {e}"),
            }
        })?;
        if let Some(webhook) = &request.webhook_url {
            url.query_pairs_mut().append_pair("fal_webhook", webhook);
        }
        let retention = json!({
            "expiration_duration_seconds": self.config.output_retention.as_secs()
        })
        .to_string();
        let answer: WireSubmit = self
            .json("create", Idempotent::No, read_error, || {
                self.request(Method::POST, url.as_str())
                    .header("X-Fal-Object-Lifecycle-Preference", retention.as_str())
                    .json(&body)
            })
            .await?;
        let id = video_id_of(self.base(), &answer)?;
        Ok(ProviderVideo {
            id,
            status: ProviderStatus::Queued,
            progress: 0,
            error: None,
            poll_after: None,
            cost_cents: None,
        })
    }

    async fn retrieve(&self, video_id: &str) -> Result<ProviderVideo, ProviderError> {
        let url = self.request_url(video_id, "/status")?;
        let status: WireStatus = self
            .json("retrieve", Idempotent::Yes, read_error, || {
                self.request(Method::GET, &url)
            })
            .await?;
        let video = |status, progress, error| ProviderVideo {
            id: video_id.to_string(),
            status,
            progress,
            error,
            poll_after: None,
            cost_cents: None,
        };
        Ok(match status.status.as_str() {
            "IN_QUEUE" => video(ProviderStatus::Queued, 0, None),
            // fal reports no progress figure: half way is the honest middle.
            "IN_PROGRESS" => video(ProviderStatus::InProgress, 50, None),
            "COMPLETED" => match status.failure() {
                Some(failure) => video(ProviderStatus::Failed, 100, Some(failure)),
                None => match self.result(video_id).await? {
                    Outcome::Video(_) => video(ProviderStatus::Completed, 100, None),
                    Outcome::Failed(failure) => video(ProviderStatus::Failed, 100, Some(failure)),
                },
            },
            other => video(ProviderStatus::Other(other.to_string()), 0, None),
        })
    }

    async fn remix(&self, _request: &RemixVideo) -> Result<ProviderVideo, ProviderError> {
        Err(refused(
            "remix_not_supported",
            "remix",
            "fal models cannot remix a render".into(),
        ))
    }

    fn variants(&self) -> &'static [Variant] {
        Variant::VIDEO_ONLY
    }

    async fn download(&self, video_id: &str, variant: Variant) -> Result<Content, ProviderError> {
        if variant != Variant::Video {
            return Err(ProviderError::NotFound {
                message: format!("fal makes no {} for a request", variant.as_str()),
            });
        }
        let link = match self.result(video_id).await? {
            Outcome::Video(link) => link,
            Outcome::Failed(failure) => {
                return Err(ProviderError::NotFound {
                    message: format!("request {video_id} made no video: {}", failure.message),
                })
            }
        };
        // fal's CDN, not its API: the bare client, so the key is not sent there.
        let response = self
            .http
            .send(
                "download",
                Idempotent::Yes,
                Bounded::Silences,
                read_link_error,
                || self.http.client.get(link.clone()),
            )
            .await
            .map_err(|e| self.masked(e))?;
        Ok(http::content(response))
    }

    async fn delete(&self, video_id: &str) -> Result<(), ProviderError> {
        let url = self.request_url(video_id, "/cancel")?;
        let answer = self
            .json::<Value>("cancel", Idempotent::Yes, read_error, || {
                self.request(Method::PUT, &url)
            })
            .await;
        match answer {
            Ok(_) => Ok(()),
            // Ended (its output expires on its own) or unknown: nothing left to stop.
            Err(ProviderError::NotFound { .. }) => Ok(()),
            Err(ProviderError::Rejected { code, .. }) if code == "ALREADY_COMPLETED" => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn pushes(&self) -> bool {
        true
    }

    fn min_poll_interval(&self) -> Duration {
        self.config.min_poll_interval
    }

    async fn find_recent(&self, _probe: &VideoProbe) -> Result<RecentSearch, ProviderError> {
        Ok(RecentSearch::Inconclusive {
            reason: "fal cannot list queue requests, so a request whose submit answer was lost cannot be found again".into(),
        })
    }

    fn with_deadline(&self, deadline: Deadline) -> Arc<dyn VideoProvider> {
        Arc::new(FalProvider {
            http: self.http.with_deadline(deadline),
            ..self.clone()
        })
    }
}

/// `WIDTHxHEIGHT` as fal's `aspect_ratio` and `resolution` (the short side).
fn shape(size: &str) -> Result<(String, String), ProviderError> {
    let parsed = size
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?)))
        .filter(|(w, h)| *w > 0 && *h > 0);
    let Some((w, h)) = parsed else {
        return Err(refused(
            "bad_size",
            "size",
            format!("size {size:?} is not WIDTHxHEIGHT"),
        ));
    };
    let g = gcd(w, h);
    Ok((format!("{}:{}", w / g, h / g), format!("{}p", w.min(h))))
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// The reference image as a data URI (fal's file inputs take one; the catalog caps
/// its size).
fn data_uri(image: &ReferenceImage) -> String {
    let content_type = match image.content_type.trim() {
        "" => "application/octet-stream",
        t => t,
    };
    let mut uri = format!("data:{content_type};base64,");
    base64::engine::general_purpose::STANDARD.encode_string(&image.bytes, &mut uri);
    uri
}

/// The endpoint and JSON input of a create, by the model's mapping.
fn create_body(request: &CreateVideo) -> Result<(&'static str, Value), ProviderError> {
    let Some(model) = fal_model(&request.model) else {
        return Err(refused(
            "unknown_model",
            "model",
            format!(
                "fal model {:?} has no input mapping in this build",
                request.model
            ),
        ));
    };
    let (aspect_ratio, resolution) = shape(&request.size)?;
    let mut body = Map::new();
    body.insert("prompt".into(), json!(request.prompt));
    match model.duration {
        DurationField::Suffixed => {
            body.insert("duration".into(), json!(format!("{}s", request.seconds)));
        }
        DurationField::Plain => {
            body.insert("duration".into(), json!(request.seconds.to_string()));
        }
        DurationField::Frames { fps } => {
            let frames = request.seconds.saturating_mul(fps).saturating_add(1);
            body.insert("num_frames".into(), json!(frames));
            body.insert("frames_per_second".into(), json!(fps));
        }
    }
    if model.resolution {
        body.insert("resolution".into(), json!(resolution));
    }
    if model.audio {
        body.insert("generate_audio".into(), json!(true));
    }
    if let Some(negative) = &request.negative_prompt {
        if model.negative_prompt {
            body.insert("negative_prompt".into(), json!(negative));
        }
    }
    let endpoint = match (&request.input_reference, model.image) {
        (None, _) => {
            body.insert("aspect_ratio".into(), json!(aspect_ratio));
            model.id
        }
        (Some(image), Some(input)) => {
            if input.aspect_ratio {
                body.insert("aspect_ratio".into(), json!(aspect_ratio));
            }
            body.insert(input.field.into(), json!(data_uri(image)));
            input.endpoint
        }
        (Some(_), None) => {
            return Err(refused(
                "input_reference_not_supported",
                "input_reference",
                format!("{} takes no reference image", model.id),
            ))
        }
    };
    Ok((endpoint, Value::Object(body)))
}

/// A video id goes into URL paths unescaped: `<app path>/requests/<request id>`, of
/// plain URL-safe segments only.
fn check_video_id(id: &str) -> Result<(), ProviderError> {
    let segments: Vec<&str> = id.split('/').collect();
    let safe = |s: &&str| {
        !s.is_empty()
            && *s != "."
            && *s != ".."
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b))
    };
    let shaped = segments.len() >= 4
        && segments[segments.len() - 2] == "requests"
        && segments.iter().all(safe);
    if shaped {
        Ok(())
    } else {
        Err(ProviderError::NotFound {
            message: format!("{id:?} is not a fal request id of ours"),
        })
    }
}

/// The video id from a submit answer: `response_url` under our queue base, ending in
/// the request id, with `status_url` and `cancel_url` exactly beside it.
fn video_id_of(base: &str, answer: &WireSubmit) -> Result<String, ProviderError> {
    let protocol = |what: String| ProviderError::Protocol {
        message: format!(
            "fal's submit answer for request {}: {what}",
            answer.request_id
        ),
    };
    let Some(id) = answer
        .response_url
        .strip_prefix(base)
        .and_then(|rest| rest.strip_prefix('/'))
    else {
        return Err(protocol(format!(
            "response_url {:?} is not under the queue URL {base:?}",
            answer.response_url
        )));
    };
    check_video_id(id).map_err(|_| {
        protocol(format!(
            "response_url {:?} is not <app>/requests/<id>",
            answer.response_url
        ))
    })?;
    if !id.ends_with(&format!("/requests/{}", answer.request_id)) {
        return Err(protocol(format!(
            "response_url {:?} names another request",
            answer.response_url
        )));
    }
    for (name, got, suffix) in [
        ("status_url", &answer.status_url, "/status"),
        ("cancel_url", &answer.cancel_url, "/cancel"),
    ] {
        let want = format!("{base}/{id}{suffix}");
        if *got != want {
            return Err(protocol(format!("{name} is {got:?}, expected {want:?}")));
        }
    }
    Ok(id.to_string())
}

/// `video.url` of a result, an http(s) link.
fn video_link(body: &Value) -> Result<reqwest::Url, ProviderError> {
    let Some(raw) = body.pointer("/video/url").and_then(Value::as_str) else {
        return Err(ProviderError::Protocol {
            message: "fal's result has no video.url".into(),
        });
    };
    match reqwest::Url::parse(raw) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(url),
        _ => Err(ProviderError::Protocol {
            message: "fal's video.url is not an http(s) link".into(),
        }),
    }
}

/// fal's error body: `detail` as a string, or pydantic's list of
/// `{loc: ["body", field], msg, type}`; `error_type` may sit beside it, and a cancel
/// answers `{"status": "ALREADY_COMPLETED"}`. 401/403 mean a bad key; 422 a field fal
/// will not take (named in `param`); a content-checker refusal is
/// `moderation_blocked`.
fn read_error(answer: ErrorAnswer) -> ProviderError {
    let body: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
    let first = body.pointer("/detail/0");
    let field = first
        .and_then(|d| d.get("loc"))
        .and_then(Value::as_array)
        .and_then(|loc| loc.last())
        .and_then(Value::as_str)
        .filter(|f| *f != "body")
        .map(str::to_string);
    let detail = match body.get("detail") {
        Some(Value::String(s)) => Some(s.clone()),
        _ => first
            .and_then(|d| d.get("msg"))
            .and_then(Value::as_str)
            .map(|msg| match &field {
                Some(f) => format!("{f}: {msg}"),
                None => msg.to_string(),
            }),
    };
    let code = body
        .get("error_type")
        .and_then(Value::as_str)
        .or_else(|| first.and_then(|d| d.get("type")).and_then(Value::as_str))
        .or_else(|| body.get("status").and_then(Value::as_str))
        .map(str::to_string);
    let message = detail
        .clone()
        .or_else(|| code.clone())
        .unwrap_or_else(|| answer.bare_message());
    if let Some(common) = answer.common_error(&message) {
        return common;
    }
    let status = answer.status.as_u16();
    let (message, reason) = match answer.status {
        // Never the body: nothing about the key is repeated.
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => (
            format!("fal refused the API key ({status})"),
            ErrorCode::ProviderRejected,
        ),
        _ if code.as_deref() == Some(CONTENT_POLICY) => (message, ErrorCode::ModerationBlocked),
        _ => (message, ErrorCode::ProviderRejected),
    };
    ProviderError::Rejected {
        status,
        code: code.unwrap_or_else(|| format!("http_{status}")),
        reason,
        message,
        param: field,
    }
}

/// The error for a non-2xx answer from the CDN link.
fn read_link_error(answer: ErrorAnswer) -> ProviderError {
    answer.output_link_error("fal's output link", "the output is gone")
}

#[derive(Deserialize)]
struct WireSubmit {
    request_id: String,
    response_url: String,
    status_url: String,
    cancel_url: String,
}

/// A status answer, read leniently (`queue_position`, `logs`, `metrics` are unused).
#[derive(Deserialize)]
struct WireStatus {
    status: String,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_type: Option<String>,
}

impl WireStatus {
    /// A completed request's failure, when its status states one.
    fn failure(&self) -> Option<ProviderFailure> {
        let message = self.error.as_deref().filter(|e| !e.trim().is_empty())?;
        Some(ProviderFailure {
            code: if self.error_type.as_deref() == Some(CONTENT_POLICY) {
                ErrorCode::ModerationBlocked
            } else {
                ErrorCode::VideoGenerationFailed
            },
            provider_code: self.error_type.clone(),
            message: message.to_string(),
        })
    }
}

/// The parsers a provider's bytes reach, for the fuzz targets (`crate::fuzz_targets`).
#[cfg(test)]
pub(crate) mod fuzz_surface {
    use super::*;
    use crate::provider::http::fuzz_answer as answer;

    /// A submit answer, a status and a result, as the adapter reads them.
    pub fn status(body: &[u8]) {
        if let Ok(submit) = serde_json::from_slice::<WireSubmit>(body) {
            let _ = video_id_of("https://queue.fal.run", &submit);
        }
        if let Ok(status) = serde_json::from_slice::<WireStatus>(body) {
            let _ = status.failure();
        }
        if let Ok(result) = serde_json::from_slice::<Value>(body) {
            let _ = video_link(&result);
        }
    }

    /// An error answer of any status, from the queue and from the CDN link.
    pub fn error(status: u16, body: &[u8]) {
        let _ = read_error(answer(status, body));
        let _ = read_link_error(answer(status, body));
    }
}

#[cfg(test)]
mod tests;
