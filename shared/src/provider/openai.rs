//! The OpenAI Videos API adapter (reference: `shared/reference/openai-videos-api.md`).
//!
//! - One `reqwest::Client` (rustls, pooled) per provider, built once.
//! - Create is multipart/form-data like the official SDKs: every value a string
//!   (`seconds` as `"4"`), the reference image as a file part.
//! - Responses are read leniently: missing and unknown fields are tolerated.
//! - Downloads stream; a body shorter than its `content-length` is an error, never a
//!   silent short file. Redirects are followed, and reqwest drops the `Authorization`
//!   header when a redirect leaves the API's host, so the key never reaches storage.
//! - Retries (see [`RetryPolicy`]): 429 and refused connections are retried for every
//!   call (the provider did not act on them); 5xx, 408/409 and timeouts only for reads
//!   and deletes. A create or remix that may have reached the provider is NOT retried
//!   here: doing so can make (and bill) a second video. It fails as retryable instead,
//!   and the workflow's own retry re-runs submit, which first checks the job record.
//! - The key appears only in the `Authorization` header; it is never logged.

use super::retry::RetryPolicy;
use super::{
    Content, CreateVideo, ProviderError, ProviderFailure, ProviderStatus, ProviderVideo, Variant,
    VideoProvider,
};
use crate::config::Secret;
use crate::domain::ErrorCode;
use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use reqwest::header::{HeaderMap, ACCEPT, CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::Deserialize;
use std::time::Duration;
use tracing::warn;

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
}

impl OpenAiConfig {
    pub fn new(base_url: impl Into<String>, api_key: Secret) -> OpenAiConfig {
        OpenAiConfig {
            base_url: base_url.into(),
            api_key,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            read_timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct OpenAiProvider {
    client: reqwest::Client,
    config: OpenAiConfig,
}

/// Whether repeating a call can do harm (create and remix make a new, billed video).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Idempotent {
    Yes,
    No,
}

impl OpenAiProvider {
    pub fn new(config: OpenAiConfig) -> Result<OpenAiProvider, ProviderError> {
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.read_timeout)
            .user_agent(concat!("vidgen/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ProviderError::Transport {
                message: format!("could not build the HTTP client: {e}"),
            })?;
        Ok(OpenAiProvider { client, config })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.config.base_url.trim_end_matches('/'), path)
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(self.config.api_key.expose())
    }

    /// Send with retries; `build` makes a fresh request each attempt (multipart bodies
    /// cannot be replayed).
    async fn send(
        &self,
        what: &str,
        idempotent: Idempotent,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Response, ProviderError> {
        let mut attempt = 0;
        loop {
            let (error, hint) = match build().send().await {
                Ok(response) if response.status().is_success() => return Ok(response),
                Ok(response) => {
                    let status = response.status();
                    let should_retry =
                        header_str(response.headers(), "x-should-retry").map(|v| v == "true");
                    let hint = retry_hint(response.headers());
                    let error = error_from_response(response).await;
                    let retry = should_retry.unwrap_or(match error {
                        ProviderError::RateLimited { .. } => true,
                        ProviderError::Unavailable { .. } => idempotent == Idempotent::Yes,
                        _ => false,
                    });
                    if !retry {
                        return Err(error);
                    }
                    warn!(
                        call = what,
                        status = status.as_u16(),
                        attempt,
                        "provider call failed; retrying"
                    );
                    (error, hint)
                }
                Err(e) => {
                    let error = ProviderError::Transport {
                        message: describe(&e),
                    };
                    // A refused connection never reached the provider; anything later might have.
                    if !(e.is_connect() || idempotent == Idempotent::Yes) {
                        return Err(error);
                    }
                    warn!(call = what, error = %error, attempt, "provider unreachable; retrying");
                    (error, None)
                }
            };
            match self.config.retry.delay(attempt, hint) {
                Some(delay) => tokio::time::sleep(delay).await,
                None => return Err(error),
            }
            attempt += 1;
        }
    }

    async fn video(
        &self,
        what: &str,
        idempotent: Idempotent,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<ProviderVideo, ProviderError> {
        let response = self.send(what, idempotent, build).await?;
        let poll_after = header_str(response.headers(), "openai-poll-after-ms")
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_millis);
        let body = response
            .bytes()
            .await
            .map_err(|e| ProviderError::Transport {
                message: describe(&e),
            })?;
        let wire: WireVideo =
            serde_json::from_slice(&body).map_err(|e| ProviderError::Protocol {
                message: format!("unexpected video object: {e}"),
            })?;
        Ok(wire.into_video(poll_after))
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
            self.request(Method::POST, "/videos")
                .timeout(self.config.request_timeout)
                .multipart(form)
        };
        self.video("create", Idempotent::No, build).await
    }

    async fn retrieve(&self, video_id: &str) -> Result<ProviderVideo, ProviderError> {
        let path = format!("/videos/{}", encode(video_id));
        self.video("retrieve", Idempotent::Yes, || {
            self.request(Method::GET, &path)
                .timeout(self.config.request_timeout)
        })
        .await
    }

    async fn remix(&self, video_id: &str, prompt: &str) -> Result<ProviderVideo, ProviderError> {
        let path = format!("/videos/{}/remix", encode(video_id));
        let body = serde_json::json!({ "prompt": prompt });
        self.video("remix", Idempotent::No, || {
            self.request(Method::POST, &path)
                .timeout(self.config.request_timeout)
                .json(&body)
        })
        .await
    }

    async fn download(&self, video_id: &str, variant: Variant) -> Result<Content, ProviderError> {
        let path = format!("/videos/{}/content", encode(video_id));
        let response = self
            .send("download", Idempotent::Yes, || {
                self.request(Method::GET, &path)
                    .query(&[("variant", variant.as_str())])
                    .header(ACCEPT, "application/binary")
            })
            .await?;
        let content_type =
            header_str(response.headers(), CONTENT_TYPE.as_str()).map(str::to_string);
        let content_length = header_str(response.headers(), CONTENT_LENGTH.as_str())
            .and_then(|v| v.parse::<u64>().ok());
        Ok(Content {
            content_type,
            content_length,
            body: checked_body(response, content_length),
        })
    }

    async fn delete(&self, video_id: &str) -> Result<(), ProviderError> {
        let path = format!("/videos/{}", encode(video_id));
        self.send("delete", Idempotent::Yes, || {
            self.request(Method::DELETE, &path)
                .timeout(self.config.request_timeout)
        })
        .await
        .map(|_| ())
    }
}

/// The body as a stream that fails, rather than ends early, when it is cut short.
fn checked_body(
    response: Response,
    expected: Option<u64>,
) -> futures::stream::BoxStream<'static, Result<Bytes, ProviderError>> {
    let inner = response.bytes_stream();
    futures::stream::unfold(
        (inner, 0u64, false),
        move |(mut inner, received, done)| async move {
            if done {
                return None;
            }
            match inner.next().await {
                Some(Ok(chunk)) => {
                    let received = received + chunk.len() as u64;
                    Some((Ok(chunk), (inner, received, false)))
                }
                Some(Err(e)) => Some((
                    Err(ProviderError::Transport {
                        message: format!(
                            "download interrupted after {received} bytes: {}",
                            describe(&e)
                        ),
                    }),
                    (inner, received, true),
                )),
                None => match expected {
                    Some(n) if n != received => Some((
                        Err(ProviderError::Transport {
                            message: format!("download ended after {received} of {n} bytes"),
                        }),
                        (inner, received, true),
                    )),
                    _ => None,
                },
            }
        },
    )
    .boxed()
}

fn encode(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect()
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// `retry-after-ms`, else `retry-after` in seconds or as an HTTP date.
fn retry_hint(headers: &HeaderMap) -> Option<Duration> {
    if let Some(ms) = header_str(headers, "retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return (ms >= 0.0).then(|| Duration::from_secs_f64(ms / 1000.0));
    }
    let raw = header_str(headers, "retry-after")?;
    if let Ok(secs) = raw.parse::<f64>() {
        return (secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(raw).ok()?;
    let wait = when.signed_duration_since(chrono::Utc::now());
    wait.to_std().ok().or(Some(Duration::ZERO))
}

/// Strip anything that could echo the key; reqwest errors carry the URL only.
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "body error"
    } else {
        "request failed"
    };
    match std::error::Error::source(e) {
        Some(source) => format!("{kind}: {source}"),
        None => kind.to_string(),
    }
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

async fn error_from_response(response: Response) -> ProviderError {
    let status = response.status();
    let retry_after = retry_hint(response.headers());
    let body = response.bytes().await.unwrap_or_default();
    let error = serde_json::from_slice::<WireErrorBody>(&body)
        .map(|b| b.error)
        .unwrap_or_default();
    let message = error
        .message
        .clone()
        .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
    match status {
        StatusCode::TOO_MANY_REQUESTS => ProviderError::RateLimited {
            retry_after,
            message,
        },
        StatusCode::NOT_FOUND => ProviderError::NotFound { message },
        StatusCode::REQUEST_TIMEOUT | StatusCode::CONFLICT => ProviderError::Unavailable {
            status: status.as_u16(),
            message,
        },
        s if s.is_server_error() => ProviderError::Unavailable {
            status: s.as_u16(),
            message,
        },
        s => {
            let code = error
                .code
                .or(error.kind)
                .unwrap_or_else(|| format!("http_{}", s.as_u16()));
            ProviderError::Rejected {
                status: s.as_u16(),
                reason: public_code(&code, ErrorCode::ProviderRejected),
                code,
                message,
                param: error.param,
            }
        }
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
}

#[derive(Deserialize)]
struct WireVideoError {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

impl WireVideo {
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
