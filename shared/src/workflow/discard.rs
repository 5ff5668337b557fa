//! Leaving nothing behind for a job that was canceled or deleted while a step ran.
//!
//! A Lambda cannot be stopped: a download already running when the owner cancels or
//! deletes the job keeps writing, and the render stays at the provider. The steps check
//! the record after each asset they write and, when the job is gone or has ended, call
//! [`discard_assets`]; [`discard_render`] asks the provider to delete the video (where it
//! has a delete), best effort and bounded, so it never holds a step up for long.

use super::StepDeps;
use crate::domain::ids::{JobId, Owner};
use crate::domain::job::asset_key;
use crate::domain::AssetKind;
use crate::domain::{ProviderId, Status};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tracing::{info, warn};

/// The longest a provider delete may take; past it the render is left to the provider's
/// own expiry (about an hour for content).
pub const PROVIDER_DELETE_BOUND: Duration = Duration::from_secs(10);

/// Delete every asset object of the job. Each delete is tried even when one fails;
/// failures are logged with the job id.
pub async fn discard_assets(deps: &StepDeps, owner: &Owner, job_id: &JobId) {
    for kind in AssetKind::ALL {
        let key = asset_key(owner, job_id, kind);
        if let Err(e) = deps.objects.delete(&key).await {
            warn!(job_id = %job_id, key = %key, error = %e, "could not delete an asset of an ended job");
        }
    }
    info!(job_id = %job_id, "assets of an ended job deleted");
}

/// Ask the provider to delete the render. Best effort: an error or a slow answer is
/// logged with the job id and otherwise ignored.
pub async fn discard_render(deps: &StepDeps, job_id: &JobId, provider: ProviderId, video_id: &str) {
    let Some(adapter) = deps.providers.get(provider) else {
        warn!(job_id = %job_id, %provider, "no key for the provider of a render to delete");
        return;
    };
    match tokio::time::timeout(PROVIDER_DELETE_BOUND, adapter.delete(video_id)).await {
        Ok(Ok(())) => info!(job_id = %job_id, "render deleted at the provider"),
        Ok(Err(e)) => {
            warn!(job_id = %job_id, error = %e, "could not delete the render at the provider")
        }
        Err(_) => warn!(
            job_id = %job_id,
            bound_secs = PROVIDER_DELETE_BOUND.as_secs(),
            "the provider did not delete the render in time"
        ),
    }
}

/// The `cause` the API stops an execution with: why, and the render to delete. It
/// reaches the ABORTED backstop in the execution's status event (`detail.cause`), which
/// is the only place the render's id survives a DELETE (the record is gone by then).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopCause {
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_video_id: Option<String>,
    /// Who holds that render; causes written before there were several providers
    /// name none, and those were all OpenAI's.
    #[serde(default = "openai")]
    pub provider: ProviderId,
}

fn openai() -> ProviderId {
    ProviderId::OpenAi
}

impl StopCause {
    /// The cause text (JSON; StopExecution takes up to 32,768 characters).
    pub fn text(&self) -> String {
        // A struct of strings always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A cause this code wrote; `None` for any other text (a stop by hand).
    pub fn parse(text: &str) -> Option<StopCause> {
        serde_json::from_str(text).ok()
    }
}

/// After an execution was stopped (ABORTED): delete the render at the provider when the
/// job was canceled, or deleted (then the id comes from the stop's cause). A job stopped
/// any other way keeps its render.
pub async fn discard_abandoned_render(deps: &StepDeps, job_id: &JobId, cause: Option<&str>) {
    let render = match deps.jobs.get(job_id).await {
        Ok(Some(job)) if job.status == Status::Canceled => {
            job.provider_video_id.map(|id| (job.model.provider(), id))
        }
        Ok(Some(_)) => None,
        Ok(None) => cause
            .and_then(StopCause::parse)
            .and_then(|c| c.provider_video_id.map(|id| (c.provider, id))),
        Err(e) => {
            warn!(job_id = %job_id, error = %e, "could not read the job of a stopped execution");
            None
        }
    };
    if let Some((provider, video_id)) = render {
        discard_render(deps, job_id, provider, &video_id).await;
    }
}
