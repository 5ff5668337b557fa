//! The provider port: everything vidgen needs from a video generator.
//!
//! Adapters: the OpenAI Videos API ([`openai::OpenAiProvider`]) and Runway's task API
//! ([`runway::RunwayProvider`]) and fal's queue API ([`fal::FalProvider`]). [`Providers`] holds the ones a deployment has keys for;
//! each job's model names its provider.

pub mod fal;
pub(crate) mod http;
pub mod openai;
mod registry;
pub mod retry;
pub mod runway;

pub use registry::Providers;

use crate::deadline::Deadline;
use crate::domain::ErrorCode;
use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use std::sync::Arc;
use std::time::Duration;

/// What to render.
#[derive(Debug, Clone)]
pub struct CreateVideo {
    pub prompt: String,
    /// The provider's own model name (`sora-2`, `gen4.5`): the catalog's `provider_model`.
    pub model: String,
    pub seconds: u32,
    /// `WIDTHxHEIGHT`.
    pub size: String,
    /// Things to keep out, for a model with a negative-prompt field (else they are
    /// already stated in `prompt`).
    pub negative_prompt: Option<String>,
    pub input_reference: Option<ReferenceImage>,
    /// Where the provider should push the render's end, for a provider that takes a
    /// per-request webhook (fal's `?fal_webhook=`); `None` when this deployment has no
    /// public URL or the job is polled.
    pub webhook_url: Option<String>,
}

/// What to remix: a completed render of ours, changed as `prompt` says.
#[derive(Debug, Clone)]
pub struct RemixVideo {
    /// The source's video at the provider (OpenAI remixes by id).
    pub source_video_id: String,
    /// A presigned link to the source's stored video (Runway fetches the video itself).
    pub source_video_url: Option<String>,
    /// The source's stored video itself, when it is small enough to send inline
    /// (Runway: a data URI). Preferred to the link: a link presigned for GET cannot
    /// answer the HEAD request Runway makes first.
    pub source_video_bytes: Option<Bytes>,
    pub prompt: String,
    /// The source job's provider model, seconds and size.
    pub model: String,
    pub seconds: u32,
    pub size: String,
}

/// What a render we asked for looks like among the provider's recent videos: the exact
/// request, and the window its `created_at` falls in. The provider takes no tag of
/// ours, so this is all a submit that lost the create's answer can match on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoProbe {
    pub prompt: String,
    pub model: String,
    pub seconds: u32,
    pub size: String,
    /// For a remix: the source video; `None` for a plain create.
    pub remixed_from: Option<String>,
    /// The provider's `created_at` (unix seconds) is at least this…
    pub created_from: i64,
    /// …and at most this.
    pub created_until: i64,
}

/// What [`VideoProvider::find_recent`] learned.
#[derive(Debug, Clone, PartialEq)]
pub enum RecentSearch {
    /// Exactly one video fits: the render was made, and this is it.
    Found(ProviderVideo),
    /// The whole window was read and nothing fits: the provider made nothing.
    Absent,
    /// No answer either way (several videos fit, or the window was longer than is
    /// read, or the provider cannot list): never a guess.
    Inconclusive { reason: String },
}

/// A reference image that becomes the first frame.
#[derive(Clone)]
pub struct ReferenceImage {
    pub bytes: Bytes,
    pub content_type: String,
    pub file_name: String,
}

impl std::fmt::Debug for ReferenceImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReferenceImage")
            .field("bytes", &self.bytes.len())
            .field("content_type", &self.content_type)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderStatus {
    Queued,
    InProgress,
    Completed,
    Failed,
    /// A status this build does not know; treated as still rendering, and logged.
    Other(String),
}

/// The provider's failure reason for a `failed` video.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderFailure {
    /// The public code the adapter maps the provider's reason to.
    pub code: ErrorCode,
    /// The provider's own code, for logs.
    pub provider_code: Option<String>,
    pub message: String,
}

/// The provider's view of one video job.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderVideo {
    pub id: String,
    pub status: ProviderStatus,
    /// 0-100, approximate.
    pub progress: u8,
    pub error: Option<ProviderFailure>,
    /// The provider's hint for when to poll again (`openai-poll-after-ms`).
    pub poll_after: Option<Duration>,
    /// What the provider says the render costs, in USD cents: its estimate while it
    /// renders, its charge once ended. `None` when it does not say.
    pub cost_cents: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Video,
    Thumbnail,
    Spritesheet,
}

impl Variant {
    pub const ALL: &'static [Variant] = &[Variant::Video, Variant::Thumbnail, Variant::Spritesheet];
    pub const VIDEO_ONLY: &'static [Variant] = &[Variant::Video];

    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Video => "video",
            Variant::Thumbnail => "thumbnail",
            Variant::Spritesheet => "spritesheet",
        }
    }
}

/// A streamed download. Dropping it closes the connection.
pub struct Content {
    pub content_type: Option<String>,
    pub content_length: Option<u64>,
    pub body: BoxStream<'static, Result<Bytes, ProviderError>>,
}

/// Provider failures, typed by what the caller should do about them.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    /// 429: slow down; `retry_after` is the provider's hint.
    #[error("the provider is rate limiting requests: {message}")]
    RateLimited {
        retry_after: Option<Duration>,
        message: String,
    },
    /// 5xx, 408, 409: a passing fault on the provider's side.
    #[error("the provider failed ({status}): {message}")]
    Unavailable { status: u16, message: String },
    /// The provider turned the request away under load before acting on it (Runway's
    /// 502/503/504, "load shedding"): nothing was made, and trying again is right.
    #[error("the provider is shedding load ({status}): {message}")]
    Shed { status: u16, message: String },
    /// Connection reset, body cut short, or no answer in time: the request may have
    /// reached the provider.
    #[error("could not reach the provider: {message}")]
    Transport { message: String },
    /// The request never left: the connection could not be made, or the step's
    /// deadline left no time to send it. The provider did nothing.
    #[error("did not reach the provider: {message}")]
    NotSent { message: String },
    /// 4xx other than the above: the request itself is refused (moderation, bad field,
    /// bad key). The provider's own code and message are kept.
    #[error("the provider refused the request ({status}, {code}): {message}")]
    Rejected {
        status: u16,
        /// The provider's own code, for logs and tests.
        code: String,
        /// The public code the adapter maps it to (e.g. `moderation_blocked`).
        reason: ErrorCode,
        message: String,
        param: Option<String>,
    },
    /// 404 on a video or its content.
    #[error("the provider has no such video or content: {message}")]
    NotFound { message: String },
    /// An answer we could not read.
    #[error("the provider's answer could not be read: {message}")]
    Protocol { message: String },
}

impl ProviderError {
    /// Whether trying the same call again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ProviderError::RateLimited { .. }
                | ProviderError::Unavailable { .. }
                | ProviderError::Shed { .. }
                | ProviderError::Transport { .. }
                | ProviderError::NotSent { .. }
        )
    }

    /// Whether a create or remix that failed this way may still have made (and billed)
    /// a video: false only when the provider is known to have done nothing (a 429, a
    /// refusal, a request that never left).
    pub fn may_have_acted(&self) -> bool {
        !matches!(
            self,
            ProviderError::RateLimited { .. }
                | ProviderError::Shed { .. }
                | ProviderError::Rejected { .. }
                | ProviderError::NotFound { .. }
                | ProviderError::NotSent { .. }
        )
    }

    /// The public code a job that ends on this error shows.
    pub fn code(&self) -> ErrorCode {
        match self {
            ProviderError::RateLimited { .. }
            | ProviderError::Unavailable { .. }
            | ProviderError::Shed { .. }
            | ProviderError::Transport { .. }
            | ProviderError::NotSent { .. } => ErrorCode::ProviderUnavailable,
            ProviderError::Rejected { reason, .. } => *reason,
            ProviderError::NotFound { .. } => ErrorCode::ContentUnavailable,
            ProviderError::Protocol { .. } => ErrorCode::ProviderProtocolError,
        }
    }

    /// The same error with its message rewritten (e.g. a secret masked out of it).
    pub fn map_message(self, f: impl FnOnce(String) -> String) -> ProviderError {
        match self {
            ProviderError::RateLimited {
                retry_after,
                message,
            } => ProviderError::RateLimited {
                retry_after,
                message: f(message),
            },
            ProviderError::Unavailable { status, message } => ProviderError::Unavailable {
                status,
                message: f(message),
            },
            ProviderError::Shed { status, message } => ProviderError::Shed {
                status,
                message: f(message),
            },
            ProviderError::Transport { message } => ProviderError::Transport {
                message: f(message),
            },
            ProviderError::NotSent { message } => ProviderError::NotSent {
                message: f(message),
            },
            ProviderError::Rejected {
                status,
                code,
                reason,
                message,
                param,
            } => ProviderError::Rejected {
                status,
                code,
                reason,
                message: f(message),
                param,
            },
            ProviderError::NotFound { message } => ProviderError::NotFound {
                message: f(message),
            },
            ProviderError::Protocol { message } => ProviderError::Protocol {
                message: f(message),
            },
        }
    }

    /// The human message, without the variant's framing.
    pub fn message(&self) -> &str {
        match self {
            ProviderError::RateLimited { message, .. }
            | ProviderError::Unavailable { message, .. }
            | ProviderError::Shed { message, .. }
            | ProviderError::Transport { message }
            | ProviderError::NotSent { message }
            | ProviderError::Rejected { message, .. }
            | ProviderError::NotFound { message }
            | ProviderError::Protocol { message } => message,
        }
    }
}

/// A refusal an adapter makes before sending, for a limit the provider states: no
/// request was made, so nothing was billed. `provider_rejected` is the public code: the
/// provider does not accept the value (`invalid_request` is for our own API's answers).
pub(crate) fn refused(code: &str, param: &str, message: String) -> ProviderError {
    ProviderError::Rejected {
        status: 400,
        code: code.into(),
        reason: ErrorCode::ProviderRejected,
        message,
        param: Some(param.into()),
    }
}

/// The provider port.
#[async_trait]
pub trait VideoProvider: Send + Sync {
    async fn create(&self, request: &CreateVideo) -> Result<ProviderVideo, ProviderError>;
    async fn retrieve(&self, video_id: &str) -> Result<ProviderVideo, ProviderError>;
    async fn remix(&self, request: &RemixVideo) -> Result<ProviderVideo, ProviderError>;
    /// The content variants this provider makes (the video always; OpenAI also a
    /// thumbnail and a spritesheet).
    fn variants(&self) -> &'static [Variant];
    /// Stream one content variant of a completed video.
    async fn download(&self, video_id: &str, variant: Variant) -> Result<Content, ProviderError>;
    async fn delete(&self, video_id: &str) -> Result<(), ProviderError>;
    /// Whether this provider, as configured, pushes a signed webhook when a render ends
    /// (fal always; OpenAI when a webhook secret is configured; Runway never). The
    /// workflow then waits on a task token instead of polling, if the deployment has a
    /// public URL for the webhook route.
    fn pushes(&self) -> bool {
        false
    }
    /// The shortest sensible pause between two status checks of one render.
    fn min_poll_interval(&self) -> Duration {
        Duration::ZERO
    }
    /// Look for the render `probe` describes among the provider's recent videos.
    async fn find_recent(&self, probe: &VideoProbe) -> Result<RecentSearch, ProviderError>;
    /// This provider with every call, its retries included, ending by `deadline`: a
    /// retry that would run past it is not made, and the last error is returned for the
    /// workflow's own retry to take over.
    fn with_deadline(&self, deadline: Deadline) -> Arc<dyn VideoProvider>;
}
