//! Runway's task API adapter (reference: `runway-api.md`; the `runwayml` SDK wins).
//!
//! PLACEHOLDER while the adapter is written on its own branch: every call answers
//! `NotSent`, so nothing can reach Runway through it yet.

use super::{
    Content, CreateVideo, ProviderError, ProviderVideo, RecentSearch, RemixVideo, Variant,
    VideoProbe, VideoProvider,
};
use crate::config::Secret;
use crate::deadline::Deadline;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct RunwayConfig {
    /// The API host, without `/v1`, e.g. `https://api.dev.runwayml.com`.
    pub base_url: String,
    pub api_key: Secret,
    /// The shortest pause between two status checks of one task (Runway: 5 s).
    pub min_poll_interval: Duration,
}

impl RunwayConfig {
    pub fn new(base_url: impl Into<String>, api_key: Secret) -> RunwayConfig {
        RunwayConfig {
            base_url: base_url.into(),
            api_key,
            min_poll_interval: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RunwayProvider {
    config: RunwayConfig,
}

impl RunwayProvider {
    pub fn new(config: RunwayConfig) -> Result<RunwayProvider, ProviderError> {
        Ok(RunwayProvider { config })
    }
}

fn unbuilt() -> ProviderError {
    ProviderError::NotSent {
        message: "the Runway adapter is not built yet".into(),
    }
}

#[async_trait]
impl VideoProvider for RunwayProvider {
    async fn create(&self, _request: &CreateVideo) -> Result<ProviderVideo, ProviderError> {
        Err(unbuilt())
    }
    async fn retrieve(&self, _video_id: &str) -> Result<ProviderVideo, ProviderError> {
        Err(unbuilt())
    }
    async fn remix(&self, _request: &RemixVideo) -> Result<ProviderVideo, ProviderError> {
        Err(unbuilt())
    }
    fn variants(&self) -> &'static [Variant] {
        Variant::VIDEO_ONLY
    }
    async fn download(&self, _video_id: &str, _variant: Variant) -> Result<Content, ProviderError> {
        Err(unbuilt())
    }
    async fn delete(&self, _video_id: &str) -> Result<(), ProviderError> {
        Err(unbuilt())
    }
    fn min_poll_interval(&self) -> Duration {
        self.config.min_poll_interval
    }
    async fn find_recent(&self, _probe: &VideoProbe) -> Result<RecentSearch, ProviderError> {
        Ok(RecentSearch::Inconclusive {
            reason: "Runway cannot list tasks".into(),
        })
    }
    fn with_deadline(&self, _deadline: Deadline) -> Arc<dyn VideoProvider> {
        Arc::new(self.clone())
    }
}
