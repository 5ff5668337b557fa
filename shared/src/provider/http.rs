//! HTTP plumbing every provider adapter shares: one pooled client, retries by
//! [`RetryPolicy`], the step's deadline, capped JSON reads, checked streaming bodies,
//! and transport errors described without the request's secrets.
//!
//! Retries: 429 and refused connections are retried for every call (the provider did
//! not act on them); 5xx, 408/409 and timeouts only for calls marked
//! [`Idempotent::Yes`]. A create that may have reached the provider is NOT retried
//! here: doing so can make (and bill) a second video. It fails as retryable instead,
//! and the workflow's own retry re-runs submit, which first checks the job record. A
//! provider's `x-should-retry` header, when sent, decides instead (as its SDKs do).
//!
//! With a deadline ([`Http::with_deadline`], one per step invocation) no call waits or
//! sends past it: a retry that would not end in time is handed back as the error, for
//! Step Functions' Retry to make later.

use super::retry::RetryPolicy;
use super::{Content, ProviderError};
use crate::deadline::Deadline;
use bytes::Bytes;
use futures::StreamExt;
use reqwest::header::{HeaderMap, CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::{RequestBuilder, Response, StatusCode};
use std::time::Duration;
use tracing::warn;

/// The most bytes of a JSON answer (a video or task, a list page, an error) read from
/// a provider.
pub const MAX_JSON_BODY: u64 = 1024 * 1024;

/// Whether a call's whole exchange is bounded by the request timeout (JSON answers), or
/// only its silences are (streamed downloads, which take as long as they take).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bounded {
    Whole,
    Silences,
}

/// Whether repeating a call can do harm (a create makes a new, billed video).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Idempotent {
    Yes,
    No,
}

/// A non-2xx answer, read up to [`MAX_JSON_BODY`], for an adapter to turn into its
/// [`ProviderError`]: the status decides what the caller does, the body only adds the
/// provider's code and message.
pub(crate) struct ErrorAnswer {
    pub status: StatusCode,
    /// `retry-after-ms` / `retry-after`, read safely.
    pub retry_after: Option<Duration>,
    pub body: Bytes,
    /// The body was larger than [`MAX_JSON_BODY`] and was not read.
    pub too_large: bool,
}

/// An error answer of any status (an invalid one reads as 400) and body, for the fuzz
/// targets of each adapter's error reading.
#[cfg(test)]
pub(crate) fn fuzz_answer(status: u16, body: &[u8]) -> ErrorAnswer {
    ErrorAnswer {
        status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        retry_after: None,
        body: Bytes::copy_from_slice(body),
        too_large: false,
    }
}

impl ErrorAnswer {
    /// `HTTP <status>`, noting a body too large to read: the message when the body
    /// says nothing usable.
    pub fn bare_message(&self) -> String {
        if self.too_large {
            format!(
                "HTTP {} (the error body was too large to read)",
                self.status.as_u16()
            )
        } else {
            format!("HTTP {}", self.status.as_u16())
        }
    }

    /// The error for a non-2xx answer from a provider's output link (a CDN or signed
    /// URL, not its API): 403/404/410 mean the output is gone (`gone` says how), which
    /// a fresh read of the render may cure; `link` names the link in the message.
    pub fn output_link_error(self, link: &str, gone: &str) -> ProviderError {
        let message = format!("{link} answered HTTP {}", self.status.as_u16());
        match self.status {
            StatusCode::FORBIDDEN | StatusCode::NOT_FOUND | StatusCode::GONE => {
                ProviderError::NotFound {
                    message: format!("{message}: {gone}"),
                }
            }
            _ => self
                .common_error(&message)
                .unwrap_or(ProviderError::Protocol { message }),
        }
    }

    /// The error for the statuses every provider treats alike (429, 404, 408/409,
    /// 5xx), or `None` for a refusal the adapter reads itself.
    pub fn common_error(&self, message: &str) -> Option<ProviderError> {
        let message = message.to_string();
        Some(match self.status {
            StatusCode::TOO_MANY_REQUESTS => ProviderError::RateLimited {
                retry_after: self.retry_after,
                message,
            },
            StatusCode::NOT_FOUND => ProviderError::NotFound { message },
            StatusCode::REQUEST_TIMEOUT | StatusCode::CONFLICT => ProviderError::Unavailable {
                status: self.status.as_u16(),
                message,
            },
            s if s.is_server_error() => ProviderError::Unavailable {
                status: s.as_u16(),
                message,
            },
            _ => return None,
        })
    }
}

/// How an adapter reads a non-2xx answer.
pub(crate) type ReadError = fn(ErrorAnswer) -> ProviderError;

/// One provider's HTTP client, retry policy and (per step invocation) deadline.
#[derive(Debug, Clone)]
pub(crate) struct Http {
    pub client: reqwest::Client,
    /// Whole-request timeout for JSON calls.
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
    /// Set per step invocation by [`Http::with_deadline`].
    pub deadline: Option<Deadline>,
}

impl Http {
    /// A pooled rustls client; `read_timeout` bounds the silences of every body.
    pub fn new(
        connect_timeout: Duration,
        read_timeout: Duration,
        request_timeout: Duration,
        retry: RetryPolicy,
    ) -> Result<Http, ProviderError> {
        let builder = crate::tls::reqwest_builder().map_err(|e| ProviderError::Transport {
            message: format!("could not build the HTTP client: {e}"),
        })?;
        let client = builder
            .connect_timeout(connect_timeout)
            .read_timeout(read_timeout)
            .user_agent(concat!("vidgen/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ProviderError::Transport {
                message: format!("could not build the HTTP client: {e}"),
            })?;
        Ok(Http {
            client,
            request_timeout,
            retry,
            deadline: None,
        })
    }

    pub fn with_deadline(&self, deadline: Deadline) -> Http {
        Http {
            deadline: Some(deadline),
            ..self.clone()
        }
    }

    /// One request, bounded by the deadline if there is one: a `Whole` call's timeout
    /// is cut to the time left, and none is started once it has passed.
    fn attempt(
        &self,
        bounded: Bounded,
        build: &impl Fn() -> RequestBuilder,
    ) -> Option<RequestBuilder> {
        let request = build();
        let Some(deadline) = self.deadline else {
            return Some(match bounded {
                Bounded::Whole => request.timeout(self.request_timeout),
                Bounded::Silences => request,
            });
        };
        let left = deadline.remaining();
        if left.is_zero() {
            return None;
        }
        Some(match bounded {
            Bounded::Whole => request.timeout(self.request_timeout.min(left)),
            Bounded::Silences => request,
        })
    }

    /// Send with retries; `build` makes a fresh request each attempt (multipart bodies
    /// cannot be replayed); `read_error` turns a non-2xx answer into the error.
    pub async fn send(
        &self,
        what: &str,
        idempotent: Idempotent,
        bounded: Bounded,
        read_error: ReadError,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Response, ProviderError> {
        let mut attempt = 0;
        let mut last: Option<ProviderError> = None;
        loop {
            let Some(request) = self.attempt(bounded, &build) else {
                return Err(last.unwrap_or_else(|| ProviderError::NotSent {
                    message: format!("no time left to send the {what} before the step's deadline"),
                }));
            };
            let (error, hint) = match request.send().await {
                Ok(response) if response.status().is_success() => return Ok(response),
                Ok(response) => {
                    let status = response.status();
                    let should_retry =
                        header_str(response.headers(), "x-should-retry").map(|v| v == "true");
                    let hint = retry_hint(response.headers());
                    let error = read_error(error_answer(response).await);
                    let retry = should_retry.unwrap_or(match error {
                        ProviderError::RateLimited { .. } | ProviderError::Shed { .. } => true,
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
                    // A connection never made sent nothing; anything later might have
                    // reached the provider.
                    let error = if e.is_connect() {
                        ProviderError::NotSent {
                            message: describe(&e),
                        }
                    } else {
                        ProviderError::Transport {
                            message: describe(&e),
                        }
                    };
                    if !(e.is_connect() || idempotent == Idempotent::Yes) {
                        return Err(error);
                    }
                    warn!(call = what, error = %error, attempt, "provider unreachable; retrying");
                    (error, None)
                }
            };
            let Some(delay) = self.retry.delay(attempt, hint) else {
                return Err(error);
            };
            // The retry must end before the deadline, with a whole request's time after
            // the wait; otherwise Step Functions' Retry waits instead of this Lambda.
            if let Some(deadline) = self.deadline {
                if !deadline.fits(delay, self.request_timeout) {
                    warn!(
                        call = what,
                        attempt,
                        delay_ms = delay.as_millis() as u64,
                        "no time for another try before the step's deadline; handing the retry to the workflow"
                    );
                    return Err(error);
                }
            }
            tokio::time::sleep(delay).await;
            last = Some(error);
            attempt += 1;
        }
    }

    /// A JSON answer of type `T`, and the answer's headers.
    pub async fn json<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        idempotent: Idempotent,
        read_error: ReadError,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<(T, HeaderMap), ProviderError> {
        let response = self
            .send(what, idempotent, Bounded::Whole, read_error, build)
            .await?;
        let headers = response.headers().clone();
        let body = read_capped(response).await.map_err(|e| match e {
            BodyError::TooLarge => ProviderError::Protocol {
                message: format!("the {what} answer is larger than {MAX_JSON_BODY} bytes"),
            },
            BodyError::Transport(e) => ProviderError::Transport {
                message: describe(&e),
            },
        })?;
        let wire: T = serde_json::from_slice(&body).map_err(|e| ProviderError::Protocol {
            message: format!("unexpected {what} answer: {e}"),
        })?;
        Ok((wire, headers))
    }
}

/// A streamed download: its type, its length if stated, and a body that fails rather
/// than ends early when cut short.
pub(crate) fn content(response: Response) -> Content {
    let content_type = header_str(response.headers(), CONTENT_TYPE.as_str()).map(str::to_string);
    let content_length =
        header_str(response.headers(), CONTENT_LENGTH.as_str()).and_then(|v| v.parse::<u64>().ok());
    Content {
        content_type,
        content_length,
        body: checked_body(response, content_length),
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
                    let received = received.saturating_add(chunk.len() as u64);
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

/// An id as one URL path segment.
pub(crate) fn encode(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect()
}

pub(crate) fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// `retry-after-ms`, else `retry-after` in seconds or as an HTTP date. Any bytes are
/// safe here: odd numbers (negative, NaN, infinite, huge) never panic, and huge ones
/// are clamped (see [`super::retry::hint_from_secs`]).
pub(crate) fn retry_hint(headers: &HeaderMap) -> Option<Duration> {
    if let Some(ms) = header_str(headers, "retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return super::retry::hint_from_secs(ms / 1000.0);
    }
    let raw = header_str(headers, "retry-after")?;
    if let Ok(secs) = raw.parse::<f64>() {
        return super::retry::hint_from_secs(secs);
    }
    let when = chrono::DateTime::parse_from_rfc2822(raw).ok()?;
    let wait = when.signed_duration_since(chrono::Utc::now());
    Some(
        wait.to_std()
            .map_or(Duration::ZERO, |w| w.min(super::retry::MAX_HINT)),
    )
}

/// Strip anything that could echo a secret; reqwest errors carry the URL only, and
/// the source error is described without it.
pub(crate) fn describe(e: &reqwest::Error) -> String {
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

/// Why a JSON answer was not read.
enum BodyError {
    TooLarge,
    Transport(reqwest::Error),
}

/// A JSON answer of at most [`MAX_JSON_BODY`] bytes, refused as soon as it is known to
/// be larger: by its `content-length`, or while it streams (no length, or a lying one).
async fn read_capped(mut response: Response) -> Result<Bytes, BodyError> {
    if response.content_length().is_some_and(|n| n > MAX_JSON_BODY) {
        return Err(BodyError::TooLarge);
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if (body.len() as u64).saturating_add(chunk.len() as u64) > MAX_JSON_BODY {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// A non-2xx answer with its body read (up to the cap; a body that fails to arrive
/// reads as empty, the status still says what happened).
async fn error_answer(response: Response) -> ErrorAnswer {
    let status = response.status();
    let retry_after = retry_hint(response.headers());
    let (body, too_large) = match read_capped(response).await {
        Ok(body) => (body, false),
        Err(BodyError::TooLarge) => (Bytes::new(), true),
        Err(BodyError::Transport(_)) => (Bytes::new(), false),
    };
    ErrorAnswer {
        status,
        retry_after,
        body,
        too_large,
    }
}
