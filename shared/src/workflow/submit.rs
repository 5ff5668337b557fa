//! Submit: hand the job to the provider (create, or remix of the source's video).

use super::{load_job, next_wait_seconds, Next, StepDeps, StepError, WorkflowState};
use crate::deadline::Deadline;
use crate::domain::ErrorCode;
use crate::domain::MAX_UPLOAD_BYTES;
use crate::domain::{Job, Status};
use crate::provider::{CreateVideo, ReferenceImage};
use crate::store::update_job;
use chrono::Utc;
use tracing::{info, instrument};

#[instrument(skip_all, fields(job_id = %state.job_id))]
pub async fn submit(
    deps: &StepDeps,
    state: WorkflowState,
    _deadline: Deadline,
) -> Result<WorkflowState, StepError> {
    let job = load_job(deps, &state.job_id).await?;
    if job.status.is_terminal() {
        return Err(StepError::JobEnded);
    }
    // A retried submit after the provider accepted the job must not create (and bill)
    // a second video: the id was recorded before anything else.
    let video_id = match &job.provider_video_id {
        Some(id) => id.clone(),
        None => {
            let video = match &job.remix_source_video_id {
                Some(source) => deps.provider.remix(source, &job.prompt).await?,
                None => {
                    deps.provider
                        .create(&create_request(deps, &job).await?)
                        .await?
                }
            };
            info!(provider_video_id = %video.id, "provider accepted the job");
            let id = video.id.clone();
            update_job(deps.jobs.as_ref(), &job.id, |j| {
                j.mark_submitted(&id, Utc::now())
            })
            .await?;
            id
        }
    };
    let now = Utc::now();
    let deadline = now + deps.config.budget(job.model);
    Ok(WorkflowState {
        job_id: job.id,
        provider_video_id: Some(video_id),
        polls: 0,
        deadline: Some(deadline.timestamp()),
        wait_seconds: next_wait_seconds(None, 0, &deps.config),
        next: Next::Wait,
    })
}

async fn create_request(deps: &StepDeps, job: &Job) -> Result<CreateVideo, StepError> {
    debug_assert_eq!(job.status, Status::Queued);
    let input_reference = match &job.input_reference {
        None => None,
        Some(upload_id) => {
            let upload = deps.jobs.get_upload(upload_id).await?.ok_or_else(|| {
                StepError::failed(
                    ErrorCode::InputReferenceMissing,
                    format!("upload {upload_id} no longer exists"),
                )
            })?;
            let (bytes, _meta) = deps
                .objects
                .get_bytes(&upload.key, MAX_UPLOAD_BYTES)
                .await?
                .ok_or_else(|| {
                    StepError::failed(
                        ErrorCode::InputReferenceMissing,
                        format!("upload {upload_id} has no image"),
                    )
                })?;
            let extension = upload.content_type.rsplit('/').next().unwrap_or("img");
            Some(ReferenceImage {
                bytes,
                content_type: upload.content_type.clone(),
                file_name: format!("reference.{extension}"),
            })
        }
    };
    Ok(CreateVideo {
        prompt: job.prompt.clone(),
        model: job.model.as_str().into(),
        seconds: job.seconds,
        size: job.size.as_str().into(),
        input_reference,
    })
}
