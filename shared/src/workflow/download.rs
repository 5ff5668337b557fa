//! DownloadToS3: stream every content variant from the provider into the object store.
//!
//! A running Lambda cannot be stopped, so a cancel or DELETE can land while this step
//! writes. After each asset it reads the record again; when the job is gone or has
//! ended it deletes what it wrote (and the render at the provider) and stops, so its
//! late writes leave nothing behind. The API marks the job canceled before it deletes
//! the objects, so a write that lands after the API's delete is always followed by a
//! check that sees the job ended.

use super::discard::{discard_assets, discard_render};
use super::{load_job, Next, StepDeps, StepError, WorkflowState};
use crate::domain::ids::{JobId, Owner};
use crate::domain::job::asset_key;
use crate::domain::ErrorCode;
use crate::domain::{Asset, AssetKind, Assets, Job, ProviderId, Status};
use crate::mp4_duration::Mp4DurationProbe;
use crate::provider::{ProviderError, Variant};
use crate::store::update::UpdateError;
use crate::store::{update_job, StoreError};
use chrono::Utc;
use futures::{StreamExt, TryStreamExt};
use std::sync::{Arc, Mutex};
use tracing::{info, instrument};

#[instrument(skip_all, fields(job_id = %state.job_id))]
pub async fn download_to_store(
    deps: &StepDeps,
    state: WorkflowState,
) -> Result<WorkflowState, StepError> {
    let job = load_job(deps, &state.job_id).await?;
    match job.status {
        Status::Downloading => {}
        // Straight from WaitForWebhook: the provider's signed webhook said the render
        // completed, which no status check has seen, so this step records it.
        Status::InProgress if state.pushed.is_some() => {
            update_job(deps.jobs.as_ref(), &job.id, |j| {
                j.mark_downloading(Utc::now())
            })
            .await?;
            info!("the provider's webhook said the render completed; downloading");
        }
        // A retry after the record was already completed: nothing left to do.
        Status::Completed => {
            return Ok(WorkflowState {
                next: Next::Done,
                ..state
            })
        }
        _ => return Err(StepError::JobEnded),
    }
    let video_id = job.provider_video_id.clone().ok_or_else(|| {
        StepError::failed(ErrorCode::Internal, "no provider video id to download")
    })?;

    let provider = deps.provider(&job)?;
    let (mut video, mut thumbnail, mut spritesheet) = (None, None, None);
    // The video's real playing time, read from its moov box as it streams past.
    let probe = Arc::new(Mutex::new(Mp4DurationProbe::new()));
    // Only what this provider makes; the video comes first and always.
    let kinds = AssetKind::ALL
        .into_iter()
        .filter(|kind| provider.variants().contains(&variant(*kind)));
    for kind in kinds {
        let key = asset_key(&job.owner, &job.id, kind);
        let content = provider
            .download(&video_id, variant(kind))
            .await
            .map_err(expired)?;
        // Provider errors inside the stream become store "source" errors; each
        // put_stream is all-or-nothing, so a retry starts clean.
        let tap = (kind == AssetKind::Video).then(|| probe.clone());
        let body = content
            .body
            .inspect_ok(move |chunk| {
                if let Some(Ok(mut probe)) = tap.as_ref().map(|p| p.lock()) {
                    probe.feed(chunk);
                }
            })
            .map_err(|e: ProviderError| StoreError::Source(e.to_string()))
            .boxed();
        let bytes = deps
            .objects
            .put_stream(&key, kind.content_type(), body)
            .await
            .map_err(|e| match e {
                StoreError::Source(detail) => {
                    // The detail can name the provider's host: logs only.
                    tracing::warn!(error = %detail, "download from the provider interrupted");
                    StepError::Retryable {
                        code: ErrorCode::ProviderUnavailable,
                        message: "the download from the provider was interrupted".into(),
                    }
                }
                other => other.into(),
            })?;
        info!(variant = kind.as_str(), bytes, "stored");
        still_wanted(deps, &job, &video_id).await?;
        let asset = Some(Asset {
            key,
            bytes,
            content_type: kind.content_type().into(),
        });
        match kind {
            AssetKind::Video => video = asset,
            AssetKind::Thumbnail => thumbnail = asset,
            AssetKind::Spritesheet => spritesheet = asset,
        }
    }
    let Some(video) = video else {
        return Err(StepError::failed(
            ErrorCode::Internal,
            "the provider makes no video variant",
        ));
    };
    let assets = Assets {
        video,
        thumbnail,
        spritesheet,
    };
    let duration = probe.lock().ok().and_then(|p| p.duration_seconds());
    let done = match update_job(deps.jobs.as_ref(), &job.id, |j| {
        j.mark_completed(assets.clone(), duration, Utc::now())
    })
    .await
    {
        Ok(done) => done,
        // Canceled or deleted since the last check: the assets are nobody's.
        Err(e @ (UpdateError::Refused(_) | UpdateError::NotFound(_))) => {
            discard(deps, &job.owner, &job.id, job.model.provider(), &video_id).await;
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    };
    info!(bytes = assets.video.bytes, "job completed");
    crate::telemetry::job_ended(&done);
    crate::callback::notify(deps.config.callbacks.as_ref(), &done).await;
    Ok(WorkflowState {
        next: Next::Done,
        ..state
    })
}

/// Whether the assets written so far may stay: `Ok` while the job is still
/// downloading. When it is gone or ended (canceled, failed) they are deleted, with the
/// render at the provider, and the step stops; when the record cannot be read they are
/// deleted too (a retry writes them again) and the step is retried.
async fn still_wanted(deps: &StepDeps, job: &Job, video_id: &str) -> Result<(), StepError> {
    let (owner, job_id) = (&job.owner, &job.id);
    match deps.jobs.get(job_id).await {
        Ok(Some(job)) if job.status == Status::Downloading => Ok(()),
        // An overlapping retry finished first; it wrote the same bytes under the same keys.
        Ok(Some(job)) if job.status == Status::Completed => Err(StepError::JobEnded),
        Ok(_) => {
            info!("the job was canceled or deleted during the download");
            discard(deps, owner, job_id, job.model.provider(), video_id).await;
            Err(StepError::JobEnded)
        }
        Err(e) => {
            discard_assets(deps, owner, job_id).await;
            Err(e.into())
        }
    }
}

async fn discard(
    deps: &StepDeps,
    owner: &Owner,
    job_id: &JobId,
    provider: ProviderId,
    video_id: &str,
) {
    discard_assets(deps, owner, job_id).await;
    discard_render(deps, job_id, provider, video_id).await;
}

fn variant(kind: AssetKind) -> Variant {
    match kind {
        AssetKind::Video => Variant::Video,
        AssetKind::Thumbnail => Variant::Thumbnail,
        AssetKind::Spritesheet => Variant::Spritesheet,
    }
}

/// Content is downloadable for about an hour after the render; past that a 404 is final.
fn expired(e: ProviderError) -> StepError {
    match e {
        ProviderError::NotFound { message } => StepError::Failed {
            code: ErrorCode::ContentUnavailable,
            message: format!("the provider no longer has the video's content: {message}"),
        },
        other => other.into(),
    }
}
