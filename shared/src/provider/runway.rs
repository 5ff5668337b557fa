//! Runway's task API adapter (reference: `shared/reference/runway-api.md`; where they
//! differ, the official `runwayml` SDK's types win).
//!
//! - Every API call carries `Authorization: Bearer <key>` and `X-Runway-Version`; the
//!   key is in that header only, and any echo of it in an answer is masked.
//! - create: `POST /v1/text_to_video`, or `/v1/image_to_video` with the reference image
//!   as a data URI (`promptImage`, position `first`); remix: `POST /v1/video_to_video`
//!   (`aleph2`) with a link to our stored video, which Runway fetches itself.
//! - Limits Runway states are checked before sending (prompt text at most 1000 UTF-16
//!   units, an image data URI at most 5 MB): a refusal we can foresee costs no request.
//! - `GET /v1/tasks/{id}`: `THROTTLED` is queued (accepted, over the concurrency
//!   limit), `SAFETY.*` failures are `moderation_blocked`, costs are credits (1 credit
//!   = 1 US cent).
//! - download: the task's `output[0]` is a signed link that expires, so the task is
//!   read again for a fresh one, and the link is fetched WITHOUT our headers (it is
//!   not Runway's API; the key must not travel there).
//! - delete: `DELETE /v1/tasks/{id}` cancels a running task and deletes an ended one.
//! - Runway has no way to list tasks and takes no tag of ours, so a create whose
//!   answer was lost cannot be found again ([`RecentSearch::Inconclusive`]).
//! - Retries and deadlines as [`super::http`] does them: creates are not retried on
//!   5xx or timeouts (Runway takes no idempotency key; a retry could bill twice).

use super::http::{self, encode, Bounded, ErrorAnswer, Http, Idempotent};
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
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::Duration;

/// The API version every call names (`X-Runway-Version`).
pub const RUNWAY_VERSION: &str = "2024-11-06";

/// The most UTF-16 code units Runway accepts in `promptText`.
pub const MAX_PROMPT_TEXT: usize = 1000;

/// The largest data URI Runway accepts for an image (5 MB; read as 5,000,000 bytes,
/// the stricter reading, so nothing we send is refused for size).
pub const MAX_IMAGE_DATA_URI: usize = 5_000_000;

/// The model Runway remixes a video with (video→video).
pub const REMIX_MODEL: &str = "aleph2";

/// Models whose `audio` flag we set: the catalog prices them with audio.
const AUDIO_MODELS: &[&str] = &["veo3.1", "veo3.1_fast"];

#[derive(Debug, Clone)]
pub struct RunwayConfig {
    /// The API host, without `/v1`, e.g. `https://api.dev.runwayml.com`.
    pub base_url: String,
    pub api_key: Secret,
    /// The shortest pause between two status checks of one task (Runway: updates come
    /// no more often than every 5 s).
    pub min_poll_interval: Duration,
    pub connect_timeout: Duration,
    /// Whole-request timeout for JSON calls.
    pub request_timeout: Duration,
    /// Longest silence between body chunks of a download.
    pub read_timeout: Duration,
    pub retry: RetryPolicy,
}

impl RunwayConfig {
    pub fn new(base_url: impl Into<String>, api_key: Secret) -> RunwayConfig {
        RunwayConfig {
            base_url: base_url.into(),
            api_key,
            min_poll_interval: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(10),
            request_timeout: crate::workflow::contract::PROVIDER_REQUEST_TIMEOUT,
            read_timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RunwayProvider {
    http: Http,
    config: RunwayConfig,
}

impl RunwayProvider {
    pub fn new(config: RunwayConfig) -> Result<RunwayProvider, ProviderError> {
        let http = Http::new(
            config.connect_timeout,
            config.read_timeout,
            config.request_timeout,
            config.retry.clone(),
        )?;
        Ok(RunwayProvider { http, config })
    }

    /// A request to Runway's API, with the key and the version header.
    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let url = format!("{}/v1{}", self.config.base_url.trim_end_matches('/'), path);
        self.http
            .client
            .request(method, url)
            .bearer_auth(self.config.api_key.expose())
            .header("X-Runway-Version", RUNWAY_VERSION)
    }

    /// The key masked out of any message: an answer that echoes it never carries it
    /// on into a log or job record.
    fn masked(&self, error: ProviderError) -> ProviderError {
        let key = self.config.api_key.expose();
        if key.is_empty() || !error.message().contains(key) {
            return error;
        }
        error.map_message(|m| m.replace(key, "***"))
    }

    async fn send(
        &self,
        what: &str,
        idempotent: Idempotent,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Response, ProviderError> {
        self.http
            .send(what, idempotent, Bounded::Whole, read_error, build)
            .await
            .map_err(|e| self.masked(e))
    }

    async fn task(
        &self,
        what: &str,
        idempotent: Idempotent,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<WireTask, ProviderError> {
        self.http
            .json::<WireTask>(what, idempotent, read_error, build)
            .await
            .map(|(task, _)| task)
            .map_err(|e| self.masked(e))
    }

    /// `POST` a create body; the answer is `{id, estimatedCost?}`, a task just queued.
    async fn start(
        &self,
        what: &str,
        path: &str,
        body: Value,
    ) -> Result<ProviderVideo, ProviderError> {
        let task = self
            .task(what, Idempotent::No, || {
                self.request(Method::POST, path).json(&body)
            })
            .await?;
        Ok(ProviderVideo {
            status: ProviderStatus::Queued,
            ..task.into_video()
        })
    }
}

#[async_trait]
impl VideoProvider for RunwayProvider {
    async fn create(&self, request: &CreateVideo) -> Result<ProviderVideo, ProviderError> {
        let (path, body) = create_body(request)?;
        self.start("create", path, body).await
    }

    async fn retrieve(&self, video_id: &str) -> Result<ProviderVideo, ProviderError> {
        let path = format!("/tasks/{}", encode(video_id));
        let task = self
            .task("retrieve", Idempotent::Yes, || {
                self.request(Method::GET, &path)
            })
            .await?;
        Ok(task.into_video())
    }

    async fn remix(&self, request: &RemixVideo) -> Result<ProviderVideo, ProviderError> {
        let body = remix_body(request)?;
        self.start("remix", "/video_to_video", body).await
    }

    fn variants(&self) -> &'static [Variant] {
        Variant::VIDEO_ONLY
    }

    async fn download(&self, video_id: &str, variant: Variant) -> Result<Content, ProviderError> {
        if variant != Variant::Video {
            return Err(ProviderError::NotFound {
                message: format!("Runway makes no {} for a task", variant.as_str()),
            });
        }
        // The output link expires (24-48 h): read the task again for a fresh one.
        let path = format!("/tasks/{}", encode(video_id));
        let task = self
            .task("download", Idempotent::Yes, || {
                self.request(Method::GET, &path)
            })
            .await?;
        let link = output_link(&task)?;
        // A plain signed link, not Runway's API: built on the bare client so neither
        // the key nor the version header is sent.
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
        let path = format!("/tasks/{}", encode(video_id));
        match self
            .send("delete", Idempotent::Yes, || {
                self.request(Method::DELETE, &path)
            })
            .await
        {
            Ok(_) => Ok(()),
            // Already deleted (or never made): nothing is left to cancel or bill.
            Err(ProviderError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn min_poll_interval(&self) -> Duration {
        self.config.min_poll_interval
    }

    async fn find_recent(&self, _probe: &VideoProbe) -> Result<RecentSearch, ProviderError> {
        Ok(RecentSearch::Inconclusive {
            reason: "Runway cannot list tasks and takes no tag of ours, so a task whose create answer was lost cannot be found again".into(),
        })
    }

    fn with_deadline(&self, deadline: Deadline) -> Arc<dyn VideoProvider> {
        Arc::new(RunwayProvider {
            http: self.http.with_deadline(deadline),
            ..self.clone()
        })
    }
}

/// `promptText`, refused when longer than Runway accepts.
fn prompt_text(prompt: &str) -> Result<String, ProviderError> {
    let units = prompt.encode_utf16().count();
    if units > MAX_PROMPT_TEXT {
        return Err(refused(
            "prompt_text_too_long",
            "promptText",
            format!(
                "promptText is {units} UTF-16 code units; Runway accepts at most {MAX_PROMPT_TEXT}"
            ),
        ));
    }
    Ok(prompt.to_string())
}

/// Our `WIDTHxHEIGHT` as Runway's `WIDTH:HEIGHT`.
fn ratio(size: &str) -> String {
    size.replace('x', ":")
}

/// Runway's limit on a video data URI (the SDK: "up to 16MB").
const MAX_VIDEO_DATA_URI: usize = 16_000_000;

/// The source video as a base64 data URI; refused when over Runway's limit.
fn video_data_uri(bytes: &bytes::Bytes) -> Result<String, ProviderError> {
    let prefix = "data:video/mp4;base64,";
    let encoded_len = base64::encoded_len(bytes.len(), true).unwrap_or(usize::MAX);
    let total = prefix.len().saturating_add(encoded_len);
    if total > MAX_VIDEO_DATA_URI {
        return Err(refused(
            "source_video_too_large",
            "videoUri",
            format!("the source video makes a {total}-byte data URI; Runway accepts at most {MAX_VIDEO_DATA_URI}"),
        ));
    }
    let mut uri = prefix.to_string();
    base64::engine::general_purpose::STANDARD.encode_string(bytes, &mut uri);
    Ok(uri)
}

/// The reference image as a base64 data URI, refused when over Runway's limit (the
/// length is computed before encoding, so an oversized image is never copied).
fn data_uri(image: &ReferenceImage) -> Result<String, ProviderError> {
    let content_type = if image.content_type.trim().is_empty() {
        "application/octet-stream"
    } else {
        image.content_type.trim()
    };
    let prefix = format!("data:{content_type};base64,");
    let encoded_len = base64::encoded_len(image.bytes.len(), true).unwrap_or(usize::MAX);
    let total = prefix.len().saturating_add(encoded_len);
    if total > MAX_IMAGE_DATA_URI {
        return Err(refused(
            "input_reference_too_large",
            "promptImage",
            format!(
                "the reference image ({} bytes) makes a {total}-byte data URI; Runway accepts at most {MAX_IMAGE_DATA_URI}",
                image.bytes.len()
            ),
        ));
    }
    let mut uri = prefix;
    base64::engine::general_purpose::STANDARD.encode_string(&image.bytes, &mut uri);
    Ok(uri)
}

/// The route and JSON body of a create.
fn create_body(request: &CreateVideo) -> Result<(&'static str, Value), ProviderError> {
    let mut body = Map::new();
    body.insert("model".into(), json!(request.model));
    body.insert("promptText".into(), json!(prompt_text(&request.prompt)?));
    body.insert("ratio".into(), json!(ratio(&request.size)));
    body.insert("duration".into(), json!(request.seconds));
    if let Some(negative) = &request.negative_prompt {
        body.insert("negativePrompt".into(), json!(negative));
    }
    if AUDIO_MODELS.contains(&request.model.as_str()) {
        body.insert("audio".into(), json!(true));
    }
    let path = match &request.input_reference {
        Some(image) => {
            body.insert(
                "promptImage".into(),
                json!([{ "uri": data_uri(image)?, "position": "first" }]),
            );
            "/image_to_video"
        }
        None => "/text_to_video",
    };
    Ok((path, Value::Object(body)))
}

/// The JSON body of a remix: `aleph2` edits the video at `videoUri` as the prompt says
/// (its length and shape follow the source).
fn remix_body(request: &RemixVideo) -> Result<Value, ProviderError> {
    let inline = request
        .source_video_bytes
        .as_ref()
        .map(video_data_uri)
        .transpose()?;
    let Some(url) = inline.or_else(|| request.source_video_url.clone()) else {
        return Err(refused(
            "source_video_url_missing",
            "videoUri",
            "Runway remixes a video it fetches itself, and no link to the source video was given"
                .into(),
        ));
    };
    Ok(json!({
        "model": REMIX_MODEL,
        "videoUri": url,
        "promptText": prompt_text(&request.prompt)?,
    }))
}

/// The task's first output link, for a task that succeeded.
fn output_link(task: &WireTask) -> Result<reqwest::Url, ProviderError> {
    if task.status != "SUCCEEDED" {
        return Err(ProviderError::NotFound {
            message: format!("task {} is {}, so it has no output", task.id, task.status),
        });
    }
    let Some(first) = task.output.first() else {
        return Err(ProviderError::Protocol {
            message: format!("task {} succeeded but lists no output", task.id),
        });
    };
    match reqwest::Url::parse(first) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(url),
        _ => Err(ProviderError::Protocol {
            message: format!("task {}'s output is not an http(s) link", task.id),
        }),
    }
}

/// Runway's error for a non-2xx answer from its API: `{"error": "<message>"}` (a
/// validation error adds `issues`). 401/403 mean a bad or unfunded key; other 4xx a
/// request Runway will not take.
fn read_error(answer: ErrorAnswer) -> ProviderError {
    let message = error_message(&answer.body).unwrap_or_else(|| answer.bare_message());
    // Runway's docs: 502, 503 and 504 are load shedding, "retry with exponential
    // backoff": the request was turned away, so even a create may be sent again.
    if matches!(answer.status.as_u16(), 502..=504) {
        return ProviderError::Shed {
            status: answer.status.as_u16(),
            message,
        };
    }
    if let Some(common) = answer.common_error(&message) {
        return common;
    }
    let status = answer.status.as_u16();
    let code = match answer.status {
        StatusCode::BAD_REQUEST => "bad_request".to_string(),
        StatusCode::UNAUTHORIZED => "unauthorized".to_string(),
        StatusCode::FORBIDDEN => "forbidden".to_string(),
        _ => format!("http_{status}"),
    };
    let message = match answer.status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            format!("Runway refused the API key ({status}): {message}")
        }
        _ => message,
    };
    ProviderError::Rejected {
        status,
        code,
        reason: ErrorCode::ProviderRejected,
        message,
        param: None,
    }
}

/// The error for a non-2xx answer from an output link: 403/404 mean it expired (or
/// the output is gone), which a fresh read of the task may cure.
fn read_link_error(answer: ErrorAnswer) -> ProviderError {
    answer.output_link_error("the output link", "it expired or the output is gone")
}

/// The human message of an error body: `error` as a string, or an object's `message`,
/// with the first validation issue appended when there is one.
fn error_message(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let error = value.get("error")?;
    let mut message = match error {
        Value::String(s) => s.clone(),
        Value::Object(o) => o.get("message")?.as_str()?.to_string(),
        _ => return None,
    };
    if let Some(issue) = value
        .get("issues")
        .and_then(Value::as_array)
        .and_then(|issues| issues.first())
    {
        let path = issue.get("path").map(|p| match p {
            Value::Array(parts) => parts
                .iter()
                .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join("."),
            other => other
                .as_str()
                .map_or_else(|| other.to_string(), str::to_string),
        });
        if let Some(detail) = issue.get("message").and_then(Value::as_str) {
            match path {
                Some(path) if !path.is_empty() => message.push_str(&format!(" ({path}: {detail})")),
                _ => message.push_str(&format!(" ({detail})")),
            }
        }
    }
    Some(message)
}

/// Credits as US cents (1 credit = $0.01), rounded up; nothing for a figure that is
/// not a sane amount.
fn credits_to_cents(credits: f64) -> Option<u64> {
    if !credits.is_finite() || credits < 0.0 {
        return None;
    }
    // `as` saturates, so an absurd figure cannot wrap.
    Some(credits.ceil() as u64)
}

/// `{credits: number}`; `credits` is a float on `estimatedCost`, an integer on `cost`.
#[derive(Deserialize)]
struct WireCost {
    #[serde(default)]
    credits: Option<f64>,
}

/// A task (and a create's answer, which has only `id` and `estimatedCost`), read
/// leniently: unknown fields and statuses are tolerated.
#[derive(Deserialize)]
struct WireTask {
    id: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    progress: Option<f64>,
    #[serde(default)]
    output: Vec<String>,
    #[serde(default)]
    failure: Option<String>,
    #[serde(default, rename = "failureCode")]
    failure_code: Option<String>,
    #[serde(default, rename = "estimatedCost")]
    estimated_cost: Option<WireCost>,
    #[serde(default)]
    cost: Option<WireCost>,
}

/// The public code for a Runway `failureCode`: content-policy refusals (of the input,
/// the prompt text before rendering, or the output) are `moderation_blocked`.
fn failure_code(code: Option<&str>) -> ErrorCode {
    match code {
        Some(c) if c.starts_with("SAFETY.") || c.starts_with("INPUT_PREPROCESSING.SAFETY.") => {
            ErrorCode::ModerationBlocked
        }
        _ => ErrorCode::VideoGenerationFailed,
    }
}

impl WireTask {
    fn into_video(self) -> ProviderVideo {
        let (status, error) = match self.status.as_str() {
            // THROTTLED: accepted, waiting for a concurrency slot; not an error.
            "PENDING" | "THROTTLED" => (ProviderStatus::Queued, None),
            "RUNNING" => (ProviderStatus::InProgress, None),
            "SUCCEEDED" => (ProviderStatus::Completed, None),
            "FAILED" => (
                ProviderStatus::Failed,
                Some(ProviderFailure {
                    code: failure_code(self.failure_code.as_deref()),
                    provider_code: self.failure_code.clone(),
                    message: self
                        .failure
                        .clone()
                        .filter(|m| !m.trim().is_empty())
                        .unwrap_or_else(|| "Runway could not make the video".into()),
                }),
            ),
            "CANCELLED" => (
                ProviderStatus::Failed,
                Some(ProviderFailure {
                    code: ErrorCode::VideoGenerationFailed,
                    provider_code: Some("CANCELLED".into()),
                    message: "the task was cancelled at Runway".into(),
                }),
            ),
            other => (ProviderStatus::Other(other.to_string()), None),
        };
        let progress = match status {
            ProviderStatus::Completed => 100,
            _ => self
                .progress
                .filter(|p| p.is_finite())
                .map_or(0, |p| (p * 100.0).clamp(0.0, 100.0) as u8),
        };
        // The charge once ended, else the estimate.
        let cost_cents = self
            .cost
            .and_then(|c| c.credits)
            .or(self.estimated_cost.and_then(|c| c.credits))
            .and_then(credits_to_cents);
        ProviderVideo {
            id: self.id,
            status,
            progress,
            error,
            poll_after: None,
            cost_cents,
        }
    }
}

/// The parsers a provider's bytes reach, for the fuzz targets (`crate::fuzz_targets`).
#[cfg(test)]
pub(crate) mod fuzz_surface {
    use super::*;
    use crate::provider::http::fuzz_answer as answer;

    /// A task, as retrieve reads it.
    pub fn status(body: &[u8]) {
        if let Ok(task) = serde_json::from_slice::<WireTask>(body) {
            let _ = output_link(&task);
            let _ = task.into_video();
        }
    }

    /// An error answer of any status, from the API and from the output link.
    pub fn error(status: u16, body: &[u8]) {
        let _ = read_error(answer(status, body));
        let _ = read_link_error(answer(status, body));
        let _ = error_message(body);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn task(json: &str) -> ProviderVideo {
        serde_json::from_str::<WireTask>(json).unwrap().into_video()
    }

    fn request() -> CreateVideo {
        CreateVideo {
            prompt: "a fox".into(),
            model: "gen4.5".into(),
            seconds: 5,
            size: "1280x720".into(),
            negative_prompt: None,
            input_reference: None,
            webhook_url: None,
        }
    }

    #[test]
    fn statuses_map_to_ours() {
        for (status, want) in [
            ("PENDING", ProviderStatus::Queued),
            ("THROTTLED", ProviderStatus::Queued),
            ("RUNNING", ProviderStatus::InProgress),
            ("SUCCEEDED", ProviderStatus::Completed),
            ("FAILED", ProviderStatus::Failed),
            ("CANCELLED", ProviderStatus::Failed),
            ("PAUSED", ProviderStatus::Other("PAUSED".into())),
        ] {
            let v = task(&format!(
                r#"{{"id":"t","status":"{status}","createdAt":"x"}}"#
            ));
            assert_eq!(v.status, want, "{status}");
            assert_eq!(v.poll_after, None);
        }
    }

    #[test]
    fn progress_is_a_fraction_scaled_to_percent() {
        let p = |json: &str| task(json).progress;
        assert_eq!(p(r#"{"id":"t","status":"RUNNING","progress":0.42}"#), 42);
        assert_eq!(p(r#"{"id":"t","status":"RUNNING","progress":7.0}"#), 100);
        assert_eq!(p(r#"{"id":"t","status":"RUNNING","progress":-1}"#), 0);
        assert_eq!(p(r#"{"id":"t","status":"RUNNING"}"#), 0);
        assert_eq!(p(r#"{"id":"t","status":"SUCCEEDED","output":["u"]}"#), 100);
    }

    #[test]
    fn safety_failures_are_moderation_blocked_with_runways_message() {
        for code in [
            "SAFETY.INPUT.TEXT",
            "SAFETY.OUTPUT.VIDEO",
            "INPUT_PREPROCESSING.SAFETY.TEXT",
        ] {
            let v = task(&format!(
                r#"{{"id":"t","status":"FAILED","failure":"The prompt was flagged.","failureCode":"{code}"}}"#
            ));
            assert_eq!(
                v.error,
                Some(ProviderFailure {
                    code: ErrorCode::ModerationBlocked,
                    provider_code: Some(code.into()),
                    message: "The prompt was flagged.".into(),
                }),
                "{code}"
            );
        }
        for code in [
            Some("INTERNAL.BAD_OUTPUT.CODE01"),
            Some("INPUT_PREPROCESSING.INTERNAL"),
            Some("ASSET.INVALID"),
            Some("UNSAFE"),
            None,
        ] {
            let json = match code {
                Some(c) => {
                    format!(r#"{{"id":"t","status":"FAILED","failure":"no","failureCode":"{c}"}}"#)
                }
                None => r#"{"id":"t","status":"FAILED","failure":"no","failureCode":null}"#.into(),
            };
            let e = task(&json).error.unwrap();
            assert_eq!(e.code, ErrorCode::VideoGenerationFailed, "{code:?}");
            assert_eq!(e.provider_code.as_deref(), code);
        }
        let e = task(r#"{"id":"t","status":"FAILED"}"#).error.unwrap();
        assert_eq!(e.message, "Runway could not make the video");
    }

    #[test]
    fn a_cancelled_task_failed_at_the_provider() {
        let v = task(r#"{"id":"t","status":"CANCELLED","cost":{"credits":0}}"#);
        let e = v.error.unwrap();
        assert_eq!(e.code, ErrorCode::VideoGenerationFailed);
        assert_eq!(e.provider_code.as_deref(), Some("CANCELLED"));
        assert!(e.message.contains("cancelled at Runway"), "{}", e.message);
        assert_eq!(v.cost_cents, Some(0));
    }

    #[test]
    fn cost_is_the_charge_once_ended_else_the_estimate_rounded_up() {
        let c = |json: &str| task(json).cost_cents;
        assert_eq!(
            c(r#"{"id":"t","status":"RUNNING","estimatedCost":{"credits":60.2}}"#),
            Some(61)
        );
        assert_eq!(
            c(
                r#"{"id":"t","status":"SUCCEEDED","output":[],"estimatedCost":{"credits":60.2},"cost":{"credits":48}}"#
            ),
            Some(48)
        );
        assert_eq!(c(r#"{"id":"t","status":"PENDING"}"#), None);
        assert_eq!(
            c(r#"{"id":"t","status":"PENDING","estimatedCost":{}}"#),
            None
        );
        assert_eq!(
            c(r#"{"id":"t","status":"PENDING","estimatedCost":{"credits":-3}}"#),
            None
        );
        assert_eq!(
            c(r#"{"id":"t","status":"PENDING","estimatedCost":{"credits":1e300}}"#),
            Some(u64::MAX)
        );
        // A create's answer: only id and the estimate.
        let created: WireTask =
            serde_json::from_str(r#"{"id":"t1","estimatedCost":{"credits":12.5}}"#).unwrap();
        assert_eq!(created.into_video().cost_cents, Some(13));
    }

    #[test]
    fn text_to_video_body() {
        let (path, body) = create_body(&request()).unwrap();
        assert_eq!(path, "/text_to_video");
        assert_eq!(
            body,
            json!({"model":"gen4.5","promptText":"a fox","ratio":"1280:720","duration":5})
        );
    }

    #[test]
    fn veo_sends_audio_and_the_negative_prompt() {
        let (_, body) = create_body(&CreateVideo {
            model: "veo3.1_fast".into(),
            seconds: 8,
            size: "720x1280".into(),
            negative_prompt: Some("text, logos".into()),
            ..request()
        })
        .unwrap();
        assert_eq!(
            body,
            json!({"model":"veo3.1_fast","promptText":"a fox","ratio":"720:1280","duration":8,
                   "negativePrompt":"text, logos","audio":true})
        );
    }

    #[test]
    fn image_to_video_sends_a_data_uri_as_the_first_frame() {
        let (path, body) = create_body(&CreateVideo {
            input_reference: Some(ReferenceImage {
                bytes: Bytes::from_static(b"\x89PNG"),
                content_type: "image/png".into(),
                file_name: "f.png".into(),
            }),
            ..request()
        })
        .unwrap();
        assert_eq!(path, "/image_to_video");
        assert_eq!(
            body["promptImage"],
            json!([{"uri":"data:image/png;base64,iVBORw==","position":"first"}])
        );
    }

    #[test]
    fn an_image_too_large_for_a_data_uri_is_refused_before_sending() {
        let image = |n: usize| ReferenceImage {
            bytes: Bytes::from(vec![0u8; n]),
            content_type: "image/png".into(),
            file_name: "f.png".into(),
        };
        let prefix = "data:image/png;base64,".len();
        // The largest image whose data URI fits, and one byte-triple more.
        let fits = (MAX_IMAGE_DATA_URI - prefix) / 4 * 3;
        assert!(data_uri(&image(fits)).unwrap().len() <= MAX_IMAGE_DATA_URI);
        match data_uri(&image(fits + 3)).unwrap_err() {
            ProviderError::Rejected {
                code,
                reason,
                param,
                message,
                ..
            } => {
                assert_eq!(code, "input_reference_too_large");
                assert_eq!(reason, ErrorCode::ProviderRejected);
                assert_eq!(param.as_deref(), Some("promptImage"));
                assert!(message.contains("5000000"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn prompt_text_is_capped_in_utf16_units() {
        // 1000 units fit; an emoji is two units, so 500 of them fit and 501 do not.
        assert!(prompt_text(&"a".repeat(1000)).is_ok());
        assert!(prompt_text(&"😀".repeat(500)).is_ok());
        for long in ["a".repeat(1001), "😀".repeat(501)] {
            let e = create_body(&CreateVideo {
                prompt: long,
                ..request()
            })
            .unwrap_err();
            match e {
                ProviderError::Rejected { param, message, .. } => {
                    assert_eq!(param.as_deref(), Some("promptText"));
                    assert!(message.contains("promptText"), "{message}");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn remix_is_aleph2_on_our_stored_video() {
        let mut remix = RemixVideo {
            source_video_id: "task-1".into(),
            source_video_url: Some("https://bucket.example/v.mp4?sig=1".into()),
            source_video_bytes: None,
            prompt: "make it snow".into(),
            model: "gen4.5".into(),
            seconds: 5,
            size: "1280x720".into(),
        };
        assert_eq!(
            remix_body(&remix).unwrap(),
            json!({"model":"aleph2","videoUri":"https://bucket.example/v.mp4?sig=1","promptText":"make it snow"})
        );
        remix.source_video_url = None;
        match remix_body(&remix).unwrap_err() {
            ProviderError::Rejected { param, message, .. } => {
                assert_eq!(param.as_deref(), Some("videoUri"));
                assert!(message.contains("link"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    fn answer(status: u16, body: &str) -> ErrorAnswer {
        ErrorAnswer {
            status: StatusCode::from_u16(status).unwrap(),
            retry_after: None,
            body: Bytes::copy_from_slice(body.as_bytes()),
            too_large: false,
        }
    }

    #[test]
    fn http_errors_map_as_runways_docs_say() {
        let e = read_error(answer(
            400,
            r#"{"error":"Invalid ratio","issues":[{"path":["ratio"],"message":"must be 1280:720"}]}"#,
        ));
        assert_eq!(
            e,
            ProviderError::Rejected {
                status: 400,
                code: "bad_request".into(),
                reason: ErrorCode::ProviderRejected,
                message: "Invalid ratio (ratio: must be 1280:720)".into(),
                param: None,
            }
        );
        for status in [401, 403] {
            match read_error(answer(status, r#"{"error":"Invalid API key"}"#)) {
                ProviderError::Rejected {
                    message, reason, ..
                } => {
                    assert_eq!(reason, ErrorCode::ProviderRejected);
                    assert!(message.contains("API key"), "{message}");
                }
                other => panic!("{status}: {other:?}"),
            }
        }
        assert!(matches!(
            read_error(answer(404, "")),
            ProviderError::NotFound { .. }
        ));
        assert!(matches!(
            read_error(answer(429, r#"{"error":"slow down"}"#)),
            ProviderError::RateLimited { .. }
        ));
        for status in [408, 409, 500] {
            assert!(
                matches!(
                    read_error(answer(status, "<html>")),
                    ProviderError::Unavailable { .. }
                ),
                "{status}"
            );
        }
        // Load shedding: turned away before anything was made, so a create may retry.
        for status in [502, 503, 504] {
            let e = read_error(answer(status, "<html>"));
            assert!(matches!(e, ProviderError::Shed { .. }), "{status}");
            assert!(e.is_retryable() && !e.may_have_acted(), "{status}");
        }
        assert_eq!(read_error(answer(422, "not json")).message(), "HTTP 422");
    }

    #[test]
    fn an_expired_output_link_is_not_found() {
        for status in [403, 404] {
            assert!(matches!(
                read_link_error(answer(status, "")),
                ProviderError::NotFound { .. }
            ));
        }
        assert!(matches!(
            read_link_error(answer(503, "")),
            ProviderError::Unavailable { .. }
        ));
    }

    #[test]
    fn only_a_succeeded_task_with_an_http_output_has_a_link() {
        let wire = |json: &str| serde_json::from_str::<WireTask>(json).unwrap();
        assert_eq!(
            output_link(&wire(
                r#"{"id":"t","status":"SUCCEEDED","output":["https://cdn.example/o.mp4?x=1","b"]}"#
            ))
            .unwrap()
            .as_str(),
            "https://cdn.example/o.mp4?x=1"
        );
        assert!(matches!(
            output_link(&wire(r#"{"id":"t","status":"RUNNING"}"#)),
            Err(ProviderError::NotFound { .. })
        ));
        for bad in [r#"[]"#, r#"["file:///etc/passwd"]"#, r#"["not a url"]"#] {
            assert!(
                matches!(
                    output_link(&wire(&format!(
                        r#"{{"id":"t","status":"SUCCEEDED","output":{bad}}}"#
                    ))),
                    Err(ProviderError::Protocol { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn errors_never_carry_the_key() {
        let key = "key_0123456789abcdef";
        let p =
            RunwayProvider::new(RunwayConfig::new("http://127.0.0.1:1", Secret::new(key))).unwrap();
        let e = p.masked(ProviderError::Rejected {
            status: 401,
            code: "unauthorized".into(),
            reason: ErrorCode::ProviderRejected,
            message: format!("bad key {key}"),
            param: None,
        });
        assert!(!e.message().contains(key), "{e}");
        assert!(!format!("{p:?}").contains(key));
    }

    #[tokio::test]
    async fn find_recent_is_never_a_guess() {
        let p =
            RunwayProvider::new(RunwayConfig::new("http://127.0.0.1:1", Secret::new("k"))).unwrap();
        let probe = VideoProbe {
            prompt: "p".into(),
            model: "gen4.5".into(),
            seconds: 5,
            size: "1280x720".into(),
            remixed_from: None,
            created_from: 0,
            created_until: 1,
        };
        assert!(matches!(
            p.find_recent(&probe).await.unwrap(),
            RecentSearch::Inconclusive { .. }
        ));
        assert_eq!(p.min_poll_interval(), Duration::from_secs(5));
        assert_eq!(p.variants(), Variant::VIDEO_ONLY);
    }
}
