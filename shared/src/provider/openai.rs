//! The OpenAI Videos API adapter (reference: `shared/reference/openai-videos-api.md`).
//!
//! - One `reqwest::Client` (rustls, pooled) per provider, built once.
//! - Create is multipart/form-data like the official SDKs: every value a string
//!   (`seconds` as `"4"`), the reference image as a file part.
//! - Responses are read leniently: missing and unknown fields are tolerated.
//! - Downloads stream; a body shorter than its `content-length` is an error, never a
//!   silent short file. Redirects are followed, and reqwest drops the `Authorization`
//!   header when a redirect leaves the API's host, so the key never reaches storage.
//! - Retries and deadlines as [`super::http`] does them: a create or remix that may
//!   have reached the provider is never retried here.
//! - The key appears only in the `Authorization` header; it is never logged.

use super::http::{self, encode, header_str, Bounded, ErrorAnswer, Http, Idempotent};
use super::retry::RetryPolicy;
use super::{
    Content, CreateVideo, ProviderError, ProviderFailure, ProviderStatus, ProviderVideo,
    RecentSearch, RemixVideo, Variant, VideoProbe, VideoProvider,
};
use crate::config::Secret;
use crate::deadline::Deadline;
use crate::domain::ErrorCode;
use async_trait::async_trait;
use reqwest::header::{HeaderMap, ACCEPT};
use reqwest::{Method, RequestBuilder, Response};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

pub use super::http::MAX_JSON_BODY;

/// The most list pages (of [`LIST_PAGE`] videos) [`VideoProvider::find_recent`] reads;
/// a window it could not read to the end finds nothing.
pub const MAX_LIST_PAGES: u32 = 10;
const LIST_PAGE: u32 = 100;

#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    /// Includes `/v1`, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    pub api_key: Secret,
    pub connect_timeout: Duration,
    /// Whole-request timeout for JSON calls.
    pub request_timeout: Duration,
    /// Longest silence between body chunks of a download.
    pub read_timeout: Duration,
    pub retry: RetryPolicy,
    /// The project has a webhook endpoint for this deployment (its secret is
    /// configured), so OpenAI pushes `video.completed` / `video.failed`: see
    /// [`VideoProvider::pushes`]. The secret itself is the webhook route's, not ours.
    pub pushes_webhooks: bool,
}

impl OpenAiConfig {
    pub fn new(base_url: impl Into<String>, api_key: Secret) -> OpenAiConfig {
        OpenAiConfig {
            base_url: base_url.into(),
            api_key,
            connect_timeout: Duration::from_secs(10),
            request_timeout: crate::workflow::contract::PROVIDER_REQUEST_TIMEOUT,
            read_timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
            pushes_webhooks: false,
        }
    }

    /// The same, announcing that OpenAI pushes webhooks to this deployment.
    pub fn with_webhooks(mut self, pushes: bool) -> OpenAiConfig {
        self.pushes_webhooks = pushes;
        self
    }
}

#[derive(Debug, Clone)]
pub struct OpenAiProvider {
    http: Http,
    config: OpenAiConfig,
}

impl OpenAiProvider {
    pub fn new(config: OpenAiConfig) -> Result<OpenAiProvider, ProviderError> {
        let http = Http::new(
            config.connect_timeout,
            config.read_timeout,
            config.request_timeout,
            config.retry.clone(),
        )?;
        Ok(OpenAiProvider { http, config })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.config.base_url.trim_end_matches('/'), path)
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .client
            .request(method, self.url(path))
            .bearer_auth(self.config.api_key.expose())
    }

    async fn send(
        &self,
        what: &str,
        idempotent: Idempotent,
        bounded: Bounded,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Response, ProviderError> {
        self.http
            .send(what, idempotent, bounded, read_error, build)
            .await
    }

    async fn video(
        &self,
        what: &str,
        idempotent: Idempotent,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<ProviderVideo, ProviderError> {
        let (wire, poll_after) = self.json::<WireVideo>(what, idempotent, build).await?;
        Ok(wire.into_video(poll_after))
    }

    /// A JSON answer of type `T`, and its poll hint.
    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        idempotent: Idempotent,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<(T, Option<Duration>), ProviderError> {
        let (wire, headers) = self.http.json(what, idempotent, read_error, build).await?;
        Ok((wire, poll_hint(&headers)))
    }
}

#[async_trait]
impl VideoProvider for OpenAiProvider {
    async fn create(&self, request: &CreateVideo) -> Result<ProviderVideo, ProviderError> {
        let build = || {
            let mut form = reqwest::multipart::Form::new()
                .text("prompt", request.prompt.clone())
                .text("model", request.model.clone())
                .text("seconds", request.seconds.to_string())
                .text("size", request.size.clone());
            if let Some(image) = &request.input_reference {
                let part = reqwest::multipart::Part::bytes(image.bytes.to_vec())
                    .file_name(image.file_name.clone())
                    .mime_str(&image.content_type)
                    .unwrap_or_else(|_| {
                        reqwest::multipart::Part::bytes(image.bytes.to_vec())
                            .file_name(image.file_name.clone())
                    });
                form = form.part("input_reference", part);
            }
            self.request(Method::POST, "/videos").multipart(form)
        };
        self.video("create", Idempotent::No, build).await
    }

    async fn retrieve(&self, video_id: &str) -> Result<ProviderVideo, ProviderError> {
        let path = format!("/videos/{}", encode(video_id));
        self.video("retrieve", Idempotent::Yes, || {
            self.request(Method::GET, &path)
        })
        .await
    }

    async fn remix(&self, request: &RemixVideo) -> Result<ProviderVideo, ProviderError> {
        let path = format!("/videos/{}/remix", encode(&request.source_video_id));
        let body = serde_json::json!({ "prompt": request.prompt });
        self.video("remix", Idempotent::No, || {
            self.request(Method::POST, &path).json(&body)
        })
        .await
    }

    fn variants(&self) -> &'static [Variant] {
        Variant::ALL
    }

    /// OpenAI pushes only to an endpoint the project configured in its dashboard; the
    /// deployment says so by having that endpoint's secret.
    fn pushes(&self) -> bool {
        self.config.pushes_webhooks
    }

    async fn download(&self, video_id: &str, variant: Variant) -> Result<Content, ProviderError> {
        let path = format!("/videos/{}/content", encode(video_id));
        let response = self
            .send("download", Idempotent::Yes, Bounded::Silences, || {
                self.request(Method::GET, &path)
                    .query(&[("variant", variant.as_str())])
                    .header(ACCEPT, "application/binary")
            })
            .await?;
        Ok(http::content(response))
    }

    async fn delete(&self, video_id: &str) -> Result<(), ProviderError> {
        let path = format!("/videos/{}", encode(video_id));
        self.send("delete", Idempotent::Yes, Bounded::Whole, || {
            self.request(Method::DELETE, &path)
        })
        .await
        .map(|_| ())
    }

    async fn find_recent(&self, probe: &VideoProbe) -> Result<RecentSearch, ProviderError> {
        let mut found: Vec<WireVideo> = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..MAX_LIST_PAGES {
            let (page, _) = self
                .json::<WireList>("list", Idempotent::Yes, || {
                    let mut query = vec![
                        ("order", "desc".to_string()),
                        ("limit", LIST_PAGE.to_string()),
                    ];
                    if let Some(after) = &after {
                        query.push(("after", after.clone()));
                    }
                    self.request(Method::GET, "/videos").query(&query)
                })
                .await?;
            // Newest first: once a video is older than the window, so is the rest.
            let mut past_the_window = false;
            for video in page.data {
                match video.created_at {
                    Some(t) if t < probe.created_from as f64 => past_the_window = true,
                    _ if video.fits(probe) => found.push(video),
                    _ => {}
                }
            }
            if past_the_window || !page.has_more {
                return Ok(match (found.pop(), found.len()) {
                    (None, _) => RecentSearch::Absent,
                    (Some(video), 0) => RecentSearch::Found(video.into_video(None)),
                    (Some(_), others) => RecentSearch::Inconclusive {
                        reason: format!("{} recent videos fit the job", others + 1),
                    },
                });
            }
            match page.last_id {
                Some(last) if !last.is_empty() => after = Some(last),
                _ => {
                    return Ok(RecentSearch::Inconclusive {
                        reason: "the provider's list has more videos but gave no cursor".into(),
                    })
                }
            }
        }
        Ok(RecentSearch::Inconclusive {
            reason: format!(
                "more than {} recent videos to read",
                MAX_LIST_PAGES * LIST_PAGE
            ),
        })
    }

    fn with_deadline(&self, deadline: Deadline) -> Arc<dyn VideoProvider> {
        Arc::new(OpenAiProvider {
            http: self.http.with_deadline(deadline),
            ..self.clone()
        })
    }
}

/// `openai-poll-after-ms`: when to poll again, read like the retry hints.
fn poll_hint(headers: &HeaderMap) -> Option<Duration> {
    super::retry::parse_hint(header_str(headers, "openai-poll-after-ms")?, true)
}

#[derive(Deserialize, Default)]
struct WireError {
    message: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    param: Option<String>,
    code: Option<String>,
}

#[derive(Deserialize)]
struct WireErrorBody {
    error: WireError,
}

/// OpenAI's error for a non-2xx answer: `{"error": {message, type, param, code}}`.
fn read_error(answer: ErrorAnswer) -> ProviderError {
    let error = serde_json::from_slice::<WireErrorBody>(&answer.body)
        .map(|b| b.error)
        .unwrap_or_default();
    let message = error
        .message
        .clone()
        .unwrap_or_else(|| answer.bare_message());
    if let Some(common) = answer.common_error(&message) {
        return common;
    }
    let status = answer.status.as_u16();
    let code = error
        .code
        .or(error.kind)
        .unwrap_or_else(|| format!("http_{status}"));
    ProviderError::Rejected {
        status,
        reason: public_code(&code, ErrorCode::ProviderRejected),
        code,
        message,
        param: error.param,
    }
}

/// The public code for one of OpenAI's error codes: its moderation refusals are
/// `moderation_blocked` (no primary source lists the other codes, so the rest are
/// `otherwise`; the provider's message is kept either way).
fn public_code(code: &str, otherwise: ErrorCode) -> ErrorCode {
    if code.contains("moderation") || code == "content_policy_violation" {
        ErrorCode::ModerationBlocked
    } else {
        otherwise
    }
}

/// The Video object, read leniently: the guide's samples omit null fields, and later
/// API versions add fields and widen `seconds`.
#[derive(Deserialize)]
struct WireVideo {
    id: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    progress: Option<f64>,
    #[serde(default)]
    error: Option<WireVideoError>,
    // What the request asked for, matched by `find_recent`.
    #[serde(default)]
    created_at: Option<f64>,
    #[serde(default)]
    prompt: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    size: Option<String>,
    /// A string in the spec; read whatever JSON it is and compared as text.
    #[serde(default)]
    seconds: Option<serde_json::Value>,
    #[serde(default)]
    remixed_from_video_id: Option<String>,
}

/// A page of `GET /videos`.
#[derive(Deserialize)]
struct WireList {
    #[serde(default)]
    data: Vec<WireVideo>,
    #[serde(default)]
    last_id: Option<String>,
    #[serde(default)]
    has_more: bool,
}

#[derive(Deserialize)]
struct WireVideoError {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

impl WireVideo {
    /// Whether this is the render `probe` describes: every field the request set, and a
    /// creation time inside the window. A field the answer lacks does not match.
    fn fits(&self, probe: &VideoProbe) -> bool {
        let seconds = match &self.seconds {
            Some(serde_json::Value::String(s)) => s.trim().parse::<u32>().ok(),
            Some(serde_json::Value::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            _ => None,
        };
        self.created_at
            .is_some_and(|t| t >= probe.created_from as f64 && t <= probe.created_until as f64)
            && self.prompt.as_deref() == Some(probe.prompt.as_str())
            && self.model.as_deref() == Some(probe.model.as_str())
            && self.size.as_deref() == Some(probe.size.as_str())
            && seconds == Some(probe.seconds)
            && self.remixed_from_video_id == probe.remixed_from
    }

    fn into_video(self, poll_after: Option<Duration>) -> ProviderVideo {
        let status = match self.status.as_str() {
            "queued" => ProviderStatus::Queued,
            "in_progress" => ProviderStatus::InProgress,
            "completed" => ProviderStatus::Completed,
            "failed" => ProviderStatus::Failed,
            other => ProviderStatus::Other(other.to_string()),
        };
        ProviderVideo {
            id: self.id,
            status,
            progress: self.progress.unwrap_or(0.0).clamp(0.0, 100.0) as u8,
            error: self.error.map(|e| ProviderFailure {
                code: e
                    .code
                    .as_deref()
                    .map_or(ErrorCode::VideoGenerationFailed, |c| {
                        public_code(c, ErrorCode::VideoGenerationFailed)
                    }),
                provider_code: e.code,
                message: e
                    .message
                    .unwrap_or_else(|| "the provider could not make the video".into()),
            }),
            poll_after,
            cost_cents: None,
        }
    }
}

/// The parsers a provider's bytes reach, for the fuzz targets (`crate::fuzz_targets`).
#[cfg(test)]
pub(crate) mod fuzz_surface {
    use super::*;
    use crate::provider::http::fuzz_answer as answer;

    /// A video or a list page, as retrieve and list read them.
    pub fn status(body: &[u8]) {
        if let Ok(video) = serde_json::from_slice::<WireVideo>(body) {
            let _ = video.into_video(None);
        }
        if let Ok(page) = serde_json::from_slice::<WireList>(body) {
            for video in page.data {
                let _ = video.into_video(None);
            }
        }
    }

    /// An error answer of any status.
    pub fn error(status: u16, body: &[u8]) {
        let _ = read_error(answer(status, body));
    }

    /// The poll hint headers.
    pub fn poll_hint(headers: &HeaderMap) {
        let _ = super::poll_hint(headers);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::http::retry_hint;

    #[test]
    fn pushes_only_when_webhooks_are_configured_and_keeps_it_under_a_deadline() {
        let config = OpenAiConfig::new("http://127.0.0.1:9/v1", Secret::new("sk-x"));
        let polling = OpenAiProvider::new(config.clone()).unwrap();
        assert!(!polling.pushes());
        let pushing = OpenAiProvider::new(config.with_webhooks(true)).unwrap();
        assert!(pushing.pushes());
        let deadline = Deadline::after(Duration::from_secs(5));
        assert!(pushing.with_deadline(deadline).pushes());
        assert!(!polling.with_deadline(deadline).pushes());
    }

    #[test]
    fn lenient_video_parsing() {
        let v: WireVideo = serde_json::from_str(
            r#"{"id":"video_1","status":"in_progress","progress":133.7,"seconds":8,"extra":1}"#,
        )
        .unwrap();
        let v = v.into_video(None);
        assert_eq!((v.status, v.progress), (ProviderStatus::InProgress, 100));
        let v: WireVideo =
            serde_json::from_str(r#"{"id":"video_2","status":"rendering"}"#).unwrap();
        assert_eq!(
            v.into_video(None).status,
            ProviderStatus::Other("rendering".into())
        );
    }

    #[test]
    fn retry_hints() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", "2".parse().unwrap());
        assert_eq!(retry_hint(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", "150".parse().unwrap());
        assert_eq!(retry_hint(&h), Some(Duration::from_millis(150)));
        let mut d = HeaderMap::new();
        d.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(
            retry_hint(&d),
            Some(Duration::ZERO),
            "a past date means now"
        );
    }

    fn headers(name: &'static str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, value.parse().unwrap());
        h
    }

    #[test]
    fn retry_after_seconds_that_overflow_a_duration_are_clamped() {
        for v in ["1e30", "inf", "1.8446744073709552e19", "1e308"] {
            assert_eq!(
                retry_hint(&headers("retry-after", v)),
                Some(crate::provider::retry::MAX_HINT),
                "{v}"
            );
        }
        for v in ["-1", "NaN", "-inf"] {
            assert_eq!(retry_hint(&headers("retry-after", v)), None, "{v}");
        }
    }

    #[test]
    fn retry_after_ms_that_overflow_a_duration_are_clamped() {
        for v in ["inf", "1e30", "1e300"] {
            assert_eq!(
                retry_hint(&headers("retry-after-ms", v)),
                Some(crate::provider::retry::MAX_HINT),
                "{v}"
            );
        }
        for v in ["-5", "NaN", "-Infinity"] {
            assert_eq!(retry_hint(&headers("retry-after-ms", v)), None, "{v}");
        }
    }

    #[test]
    fn a_far_future_retry_after_date_is_clamped() {
        let h = headers("retry-after", "Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(retry_hint(&h), Some(crate::provider::retry::MAX_HINT));
    }

    #[test]
    fn poll_after_ms_hints_are_read_safely() {
        let max = Some(crate::provider::retry::MAX_HINT);
        for (v, want) in [
            ("1500", Some(Duration::from_millis(1500))),
            ("2.5e3", Some(Duration::from_millis(2500))),
            ("inf", max),
            ("1e30", max),
            ("18446744073709551615", max),
            ("-1", None),
            ("NaN", None),
            ("soon", None),
        ] {
            assert_eq!(poll_hint(&headers("openai-poll-after-ms", v)), want, "{v}");
        }
    }

    /// A few thousand seeded random and edge-case header values: none may panic.
    #[test]
    fn no_header_bytes_panic_the_hint_parsers() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
        let edges = [
            "0",
            "-0",
            "1e30",
            "1e-30",
            "inf",
            "-inf",
            "NaN",
            "1e309",
            "-1e309",
            "4e18",
            "1.8446744073709552e19",
            "9223372036854775807",
            "99999999999999999999999",
            "0x10",
            "1_000",
            " 7 ",
            "Mon, 01 Jan 0001 00:00:00 GMT",
            "Fri, 31 Dec 9999 23:59:59 +2359",
            "Sat, 01 Jan 2000 00:00:00 -9999",
        ];
        let alphabet = b"0123456789.eE+-infatyINFATYN xGMT,:";
        let mut values: Vec<String> = edges.iter().map(|s| s.to_string()).collect();
        for _ in 0..4000 {
            let len = rng.random_range(0..24);
            let v: String = (0..len)
                .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
                .collect();
            values.push(v);
        }
        for v in &values {
            let Ok(value) = ::http::HeaderValue::from_str(v) else {
                continue;
            };
            for name in ["retry-after", "retry-after-ms", "openai-poll-after-ms"] {
                let mut h = HeaderMap::new();
                h.insert(name, value.clone());
                for hint in [retry_hint(&h), poll_hint(&h)].into_iter().flatten() {
                    assert!(hint <= crate::provider::retry::MAX_HINT, "{name}: {v:?}");
                }
            }
        }
    }

    /// A one-request-per-connection HTTP server answering every request with `status`,
    /// a JSON-looking body of `len` bytes (`None`: endless, no content-length).
    async fn huge_body_server(status: u16, len: Option<usize>) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut seen = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => seen.extend_from_slice(&buf[..n]),
                        }
                    }
                    let length = len.map(|n| format!("content-length: {}\r\n", n + 9));
                    let head = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n{}connection: close\r\n\r\n{{\"id\":\"",
                        length.unwrap_or_default()
                    );
                    if socket.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    let chunk = vec![b'a'; 64 * 1024];
                    let mut sent = 0;
                    while len.is_none_or(|n| sent < n) {
                        let n = len.map_or(chunk.len(), |n| (n - sent).min(chunk.len()));
                        if socket.write_all(&chunk[..n]).await.is_err() {
                            return;
                        }
                        sent += n;
                    }
                    let _ = socket.write_all(b"\"}").await;
                });
            }
        });
        format!("http://{addr}/v1")
    }

    fn provider_at(base: String) -> OpenAiProvider {
        let mut config = OpenAiConfig::new(base, Secret::new("sk-test"));
        config.retry = RetryPolicy::none();
        config.request_timeout = Duration::from_secs(20);
        OpenAiProvider::new(config).unwrap()
    }

    #[tokio::test]
    async fn an_oversized_json_body_is_a_protocol_error() {
        // With a content-length over the cap, and an endless body with none.
        for len in [Some(2 * MAX_JSON_BODY as usize), None] {
            let p = provider_at(huge_body_server(200, len).await);
            let started = std::time::Instant::now();
            let e = p.retrieve("video_1").await.unwrap_err();
            assert!(
                matches!(e, ProviderError::Protocol { .. }),
                "len={len:?}: {e:?}"
            );
            assert!(started.elapsed() < Duration::from_secs(10), "{len:?}");
        }
        // Just under the cap is still read.
        let p = provider_at(huge_body_server(200, Some(MAX_JSON_BODY as usize - 100)).await);
        assert_eq!(
            p.retrieve("v").await.unwrap().id.len(),
            MAX_JSON_BODY as usize - 100
        );
    }

    #[tokio::test]
    async fn an_oversized_error_body_is_not_read_whole() {
        // The status still decides what the caller does; the body is not buffered.
        for len in [Some(2 * MAX_JSON_BODY as usize), None] {
            let p = provider_at(huge_body_server(400, len).await);
            let started = std::time::Instant::now();
            let e = p.retrieve("video_1").await.unwrap_err();
            assert_eq!(
                e,
                ProviderError::Rejected {
                    status: 400,
                    code: "http_400".into(),
                    reason: ErrorCode::ProviderRejected,
                    message: "HTTP 400 (the error body was too large to read)".into(),
                    param: None,
                },
                "len={len:?}"
            );
            assert!(started.elapsed() < Duration::from_secs(10), "{len:?}");
        }
    }

    #[test]
    fn debug_output_hides_the_key() {
        let p = OpenAiProvider::new(OpenAiConfig::new(
            "http://127.0.0.1:1/v1",
            Secret::new("sk-secret"),
        ))
        .unwrap();
        assert!(!format!("{p:?}").contains("sk-secret"));
    }
}
