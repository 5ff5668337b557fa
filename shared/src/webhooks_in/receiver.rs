//! The webhook route's state: what each provider's deliveries are verified with, and the
//! memory of recent deliveries. Built once per process (a Lambda's cold start, the
//! local server's start) so the JWKS cache outlives a request.

use super::jwks::{JwksCache, JwksConfig, JwksError};
use super::openai::{OpenAiEventKind, OpenAiWebhookSecret};
use super::wake::{PushedOutcome, RenderPushed};
use super::{fal, openai, Delivery, DeliveryKey, RecentDeliveries, WebhookError};
use crate::domain::ProviderId;
use http::HeaderMap;
use std::sync::Mutex;
use std::time::Instant;

/// Recent deliveries remembered at most (each a provider name and an id).
const RECENT_CAPACITY: usize = 10_000;

/// A verified delivery.
#[derive(Debug)]
pub struct Verified {
    pub key: DeliveryKey,
    /// What it says of a render; `None` for an event that is not about a render's end.
    pub push: Option<RenderPushed>,
}

/// Why a delivery is not taken.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// This deployment takes no webhooks from the provider (no fal key, no OpenAI
    /// webhook secret), or the provider is unknown.
    #[error("this deployment takes no webhooks from {0:?}")]
    NotConfigured(String),
    #[error(transparent)]
    Webhook(#[from] WebhookError),
}

pub struct ProviderWebhooks {
    fal: Option<JwksCache>,
    openai: Option<OpenAiWebhookSecret>,
    recent: Mutex<RecentDeliveries>,
}

impl std::fmt::Debug for ProviderWebhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        f.debug_struct("ProviderWebhooks")
            .field("fal", &self.fal.is_some())
            .field("openai", &self.openai.is_some())
            .finish()
    }
}

impl ProviderWebhooks {
    /// `fal_jwks`: where fal publishes its signing keys, when this deployment renders
    /// with fal; `openai`: the OpenAI webhook endpoint's secret, when one is set.
    pub fn new(
        fal_jwks: Option<url::Url>,
        openai: Option<OpenAiWebhookSecret>,
    ) -> Result<ProviderWebhooks, JwksError> {
        Ok(ProviderWebhooks {
            fal: fal_jwks
                .map(|url| JwksCache::new(url, JwksConfig::default()))
                .transpose()?,
            openai,
            recent: Mutex::new(RecentDeliveries::new(
                RecentDeliveries::DEFAULT_TTL,
                RECENT_CAPACITY,
            )),
        })
    }

    /// From the settings: fal's deliveries are verified with the keys at
    /// `fal_jwks_url` (fetched when the first one comes), OpenAI's with its secret when
    /// one is set.
    pub fn from_config(config: &super::WebhookConfig) -> Result<ProviderWebhooks, JwksError> {
        let url = url::Url::parse(&config.fal_jwks_url)
            .map_err(|e| JwksError::Invalid(format!("FAL_JWKS_URL is not a URL: {e}")))?;
        ProviderWebhooks::new(Some(url), config.openai_secret.clone())
    }

    /// Takes none: every delivery is refused as not configured.
    pub fn none() -> ProviderWebhooks {
        ProviderWebhooks {
            fal: None,
            openai: None,
            recent: Mutex::new(RecentDeliveries::new(RecentDeliveries::DEFAULT_TTL, 1)),
        }
    }

    /// Whether OpenAI's deliveries are taken (a webhook secret is configured).
    pub fn takes_openai(&self) -> bool {
        self.openai.is_some()
    }

    /// Verify a delivery to `/v1/provider-webhooks/{provider}` at `now_unix`.
    pub async fn verify(
        &self,
        provider: &str,
        headers: &HeaderMap,
        body: &[u8],
        now_unix: i64,
    ) -> Result<Verified, Refused> {
        let not_configured = || Refused::NotConfigured(provider.to_string());
        match provider.parse::<ProviderId>() {
            Ok(ProviderId::Fal) => {
                let jwks = self.fal.as_ref().ok_or_else(not_configured)?;
                let event = fal::verify(headers, body, jwks, now_unix, Instant::now()).await?;
                let outcome = match event.status {
                    fal::FalStatus::Ok => PushedOutcome::Completed,
                    fal::FalStatus::Error => PushedOutcome::Failed {
                        message: event
                            .error
                            .clone()
                            .unwrap_or_else(|| "fal reported an error".into()),
                    },
                };
                Ok(Verified {
                    key: event.delivery_key(),
                    push: Some(RenderPushed {
                        provider: ProviderId::Fal,
                        render_id: event.request_id,
                        outcome,
                    }),
                })
            }
            Ok(ProviderId::OpenAi) => {
                let secret = self.openai.as_ref().ok_or_else(not_configured)?;
                let event = openai::verify(headers, body, secret, now_unix)?;
                let push = match &event.kind {
                    OpenAiEventKind::VideoCompleted { video_id } => {
                        Some((video_id, PushedOutcome::Completed))
                    }
                    OpenAiEventKind::VideoFailed { video_id } => Some((
                        video_id,
                        PushedOutcome::Failed {
                            message: "OpenAI reported that the video failed".into(),
                        },
                    )),
                    OpenAiEventKind::Other { .. } => None,
                }
                .map(|(video_id, outcome)| RenderPushed {
                    provider: ProviderId::OpenAi,
                    render_id: video_id.clone(),
                    outcome,
                });
                Ok(Verified {
                    key: event.delivery_key(),
                    push,
                })
            }
            _ => Err(not_configured()),
        }
    }

    /// Whether `key` was handled already (recently, in this process). Record a
    /// delivery only once it was handled, so a delivery that failed is tried again.
    pub fn seen(&self, key: &DeliveryKey) -> bool {
        self.recent_memory().is_recent(key, Instant::now())
    }

    /// Remember `key` as handled.
    pub fn handled(&self, key: DeliveryKey) -> Delivery {
        self.recent_memory().record(key, Instant::now())
    }

    fn recent_memory(&self) -> std::sync::MutexGuard<'_, RecentDeliveries> {
        // Only inserts and removals happen under the lock; a poisoned one is consistent.
        self.recent.lock().unwrap_or_else(|p| p.into_inner())
    }
}
