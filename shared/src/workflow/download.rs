//! DownloadToS3: stream every content variant from the provider into the object store.

use super::{load_job, Next, StepDeps, StepError, WorkflowState};
use crate::domain::job::asset_key;
use crate::domain::ErrorCode;
use crate::domain::{Asset, AssetKind, Assets, Status};
use crate::mp4_duration::Mp4DurationProbe;
use crate::provider::{ProviderError, Variant};
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

    let mut stored = Vec::with_capacity(3);
    // The video's real playing time, read from its moov box as it streams past.
    let probe = Arc::new(Mutex::new(Mp4DurationProbe::new()));
    for kind in AssetKind::ALL {
        let key = asset_key(&job.owner, &job.id, kind);
        let content = deps
            .provider
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
        stored.push(Asset {
            key,
            bytes,
            content_type: kind.content_type().into(),
        });
    }
    let mut stored = stored.into_iter();
    let (Some(video), Some(thumbnail), Some(spritesheet)) =
        (stored.next(), stored.next(), stored.next())
    else {
        return Err(StepError::failed(
            ErrorCode::Internal,
            "an asset went missing",
        ));
    };
    let assets = Assets {
        video,
        thumbnail,
        spritesheet,
    };
    let duration = probe.lock().ok().and_then(|p| p.duration_seconds());
    let done = update_job(deps.jobs.as_ref(), &job.id, |j| {
        j.mark_completed(assets.clone(), duration, Utc::now())
    })
    .await?;
    info!(bytes = assets.video.bytes, "job completed");
    crate::callback::notify(deps.config.callbacks.as_ref(), &done).await;
    Ok(WorkflowState {
        next: Next::Done,
        ..state
    })
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
