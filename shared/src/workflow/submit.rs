//! Submit: hand the job to the provider (create, or remix of the source's video).
//!
//! The one step that spends money, so it is built around the window between the
//! provider making a render and the record knowing its id:
//! 1. a mark goes on the record (a conditional write) before the provider hears of the
//!    job, so of two submits only one asks, and a later one knows a render may exist;
//! 2. the returned id is recorded, the write retried in-process until shortly before
//!    the deadline (a store fault that outlasts it leaves the mark for step 3);
//! 3. a submit that finds the mark but no id never creates blindly: it looks for the
//!    render among the provider's recent videos ([`VideoProvider::find_recent`]) and
//!    adopts it; only when the provider shows for certain that nothing was made does it
//!    ask again, and when it cannot tell, the job ends `submit_uncertain`;
//! 4. a render the record can no longer take (the job was canceled or deleted in the
//!    window) is deleted at the provider, best effort, logged with the job id.
//!
//! [`VideoProvider::find_recent`]: crate::provider::VideoProvider::find_recent

use super::check_status::wait_before_poll;
use super::contract::{StepFunction, CLEANUP_RESERVE};
use super::{load_job, Next, StepDeps, StepError, WorkflowState};
use crate::deadline::Deadline;
use crate::domain::ids::JobId;
use crate::domain::job::SubmitRefused;
use crate::domain::AssetKind;
use crate::domain::ErrorCode;
use crate::domain::MAX_UPLOAD_BYTES;
use crate::domain::{Job, Status, TransitionError};
use crate::provider::{
    CreateVideo, RecentSearch, ReferenceImage, RemixVideo, VideoProbe, VideoProvider,
};
use crate::store::update::UpdateError;
use crate::store::update_job;
use chrono::{DateTime, Utc};
use std::time::Duration;
use tracing::{info, instrument, warn};

/// How far the provider's clock may be from ours when matching `created_at`.
const CLOCK_SKEW: Duration = Duration::from_secs(120);

/// The first pause between tries of a failed record write; it doubles up to the max.
const WRITE_PAUSE: Duration = Duration::from_millis(200);
const MAX_WRITE_PAUSE: Duration = Duration::from_secs(2);

/// The time left, at the end, for deleting an orphaned render at the provider.
const DELETE_RESERVE: Duration = Duration::from_secs(1);

#[instrument(skip_all, fields(job_id = %state.job_id))]
pub async fn submit(
    deps: &StepDeps,
    state: WorkflowState,
    deadline: Deadline,
) -> Result<WorkflowState, StepError> {
    let job = load_job(deps, &state.job_id).await?;
    if job.status.is_terminal() {
        return Err(StepError::JobEnded);
    }
    let video_id = match (&job.provider_video_id, job.submit_attempted_at) {
        (Some(id), _) => id.clone(),
        (None, None) => render(deps, &job, None, deadline).await?,
        (None, Some(attempted_at)) => match find_lost_render(deps, &job, attempted_at).await? {
            Some(id) => record(deps, &job, &id, None, deadline).await?,
            None => render(deps, &job, Some(attempted_at), deadline).await?,
        },
    };
    let now = Utc::now();
    let deadline = now + deps.config.budget(job.model);
    let provider = deps.provider(&job)?;
    let wait_seconds = wait_before_poll(provider.as_ref(), None, 0, &deps.config);
    let callback = waits_for_webhook(deps, provider.as_ref());
    if callback {
        // A webhook that names only the provider's video (OpenAI's) finds the job by
        // this. Written on every try, so a retry after a failed write repairs it.
        deps.jobs
            .put_provider_ref(job.model.provider(), &video_id, &job.id)
            .await?;
    }
    Ok(WorkflowState {
        job_id: job.id,
        provider_video_id: Some(video_id),
        polls: 0,
        deadline: Some(deadline.timestamp()),
        wait_seconds,
        next: Next::Wait,
        callback,
        pushed: None,
        webhook_wait_seconds: if callback {
            deps.config.webhook_wait_seconds(job.model)
        } else {
            0
        },
    })
}

/// Whether the job waits for its provider's webhook: the provider pushes, and this
/// deployment has a public URL for the webhook route.
fn waits_for_webhook(deps: &StepDeps, provider: &dyn VideoProvider) -> bool {
    provider.pushes() && deps.config.public_url.is_some()
}

/// A submit before this one set out to ask the provider and its answer never reached
/// the record. `Some(id)`: the render it made. `None`: the provider shows it made
/// nothing, so asking again makes the only render.
async fn find_lost_render(
    deps: &StepDeps,
    job: &Job,
    attempted_at: DateTime<Utc>,
) -> Result<Option<String>, StepError> {
    let skew = CLOCK_SKEW.as_secs() as i64;
    // The request went out after the mark and ended by that invocation's deadline.
    let longest = StepFunction::Submit.lambda_timeout().as_secs() as i64;
    let probe = VideoProbe {
        prompt: job.prompt.clone(),
        model: job.model.spec().provider_model.into(),
        seconds: job.seconds,
        size: job.size.clone(),
        remixed_from: job.remix_source_video_id.clone(),
        created_from: attempted_at.timestamp() - skew,
        created_until: attempted_at.timestamp() + longest + skew,
    };
    let search = match deps.provider(job)?.find_recent(&probe).await? {
        // The list does not show the reference image: another job's render of the same
        // prompt from another image would match, and must never be handed to this one.
        RecentSearch::Found(_) if job.input_reference.is_some() => RecentSearch::Inconclusive {
            reason: "a video fits, but the provider does not show which reference image it was made from".into(),
        },
        other => other,
    };
    match search {
        RecentSearch::Found(video) => {
            info!(provider_video_id = %video.id, "found the render an earlier submit asked for");
            Ok(Some(video.id))
        }
        RecentSearch::Absent => {
            info!("the provider made nothing for the earlier submit; asking again");
            Ok(None)
        }
        RecentSearch::Inconclusive { reason } => {
            warn!(%reason, "cannot tell whether the provider made the render");
            Err(StepError::failed(
                ErrorCode::SubmitUncertain,
                format!(
                    "the provider's answer to this job's render was lost and it cannot be \
                     told which video is this job's ({reason}); the job was not sent again, \
                     so it is not paid for twice"
                ),
            ))
        }
    }
}

/// What the provider is asked for.
enum Ask {
    Create(CreateVideo),
    Remix(RemixVideo),
}

/// Mark the record, ask the provider, record the id. `seen` is the mark this submit
/// found (when the provider has shown the earlier ask made nothing): the new mark
/// replaces exactly that one, so two submits never both ask.
async fn render(
    deps: &StepDeps,
    job: &Job,
    seen: Option<DateTime<Utc>>,
    deadline: Deadline,
) -> Result<String, StepError> {
    let provider = deps.provider(job)?;
    let ask = match &job.remix_source_video_id {
        Some(source) => Ask::Remix(remix_request(deps, job, source).await?),
        None => Ask::Create(create_request(deps, job).await?),
    };
    let attempted_at = Utc::now();
    update_job(deps.jobs.as_ref(), &job.id, |j| {
        j.mark_submit_attempted(seen, attempted_at)
    })
    .await
    .map_err(|e| match e {
        UpdateError::Refused(SubmitRefused::NotQueued(status)) if status.is_terminal() => {
            StepError::JobEnded
        }
        // Another submit got there first; the workflow's retry finds its id.
        UpdateError::Refused(refused) => StepError::Retryable {
            code: ErrorCode::SubmitUncertain,
            message: refused.to_string(),
        },
        other => other.into(),
    })?;
    let asked = match &ask {
        Ask::Create(request) => provider.create(request).await,
        Ask::Remix(request) => provider.remix(request).await,
    };
    let video = match asked {
        Ok(video) => video,
        Err(e) if e.may_have_acted() => {
            warn!(error = %e, "the provider may have made the render; the next try looks for it");
            return Err(e.into());
        }
        Err(e) => {
            // Nothing was made: take the mark off, so the next try simply asks again.
            // Should that write fail, the next try finds the mark, sees nothing at the
            // provider, and asks again all the same.
            let now = Utc::now();
            let cleared = write_until(deps, &job.id, deadline.less(CLEANUP_RESERVE), |j| {
                j.clear_submit_attempt(now)
            })
            .await;
            if let Err(clear) = cleared {
                warn!(error = %clear, "could not take the submit mark off");
            }
            return Err(e.into());
        }
    };
    info!(provider_video_id = %video.id, cost_cents = ?video.cost_cents, "provider accepted the job");
    record(deps, job, &video.id, video.cost_cents, deadline).await
}

/// Why the record did not take a provider id.
#[derive(Debug, thiserror::Error)]
enum RecordRefused {
    #[error(transparent)]
    Ended(#[from] TransitionError),
    #[error("the job already has the provider's video {0}")]
    Other(String),
}

/// Put `video_id` on the record, retrying a failing store until shortly before the
/// deadline. A job that was canceled or deleted meanwhile cannot take it: that render
/// is deleted at the provider. The id the record holds is returned.
async fn record(
    deps: &StepDeps,
    job: &Job,
    video_id: &str,
    cost_cents: Option<u64>,
    deadline: Deadline,
) -> Result<String, StepError> {
    let job_id = &job.id;
    let now = Utc::now();
    let written = write_until(deps, job_id, deadline.less(CLEANUP_RESERVE), |j| {
        match &j.provider_video_id {
            Some(recorded) if recorded == video_id => Ok(()),
            Some(recorded) => Err(RecordRefused::Other(recorded.clone())),
            None => {
                j.mark_submitted(video_id, now)?;
                j.record_cost(cost_cents);
                Ok(())
            }
        }
    })
    .await;
    match written {
        Ok(_) => Ok(video_id.to_string()),
        Err(UpdateError::Refused(RecordRefused::Other(recorded))) => {
            delete_orphan(deps, job, video_id, deadline).await;
            Ok(recorded)
        }
        Err(e @ (UpdateError::NotFound(_) | UpdateError::Refused(RecordRefused::Ended(_)))) => {
            delete_orphan(deps, job, video_id, deadline).await;
            Err(e.into())
        }
        // The mark stays on the record: the workflow's retry adopts this render.
        Err(UpdateError::Store(e)) => {
            warn!(provider_video_id = %video_id, error = %e, "could not record the provider's video before the deadline; the next try adopts it");
            Err(e.into())
        }
    }
}

/// `update_job`, its store faults retried with growing pauses while a pause still ends
/// before `until`.
async fn write_until<E, F>(
    deps: &StepDeps,
    job_id: &JobId,
    until: Deadline,
    mut change: F,
) -> Result<Job, UpdateError<E>>
where
    F: FnMut(&mut Job) -> Result<(), E> + Send,
    E: Send,
{
    let mut pause = WRITE_PAUSE;
    loop {
        match update_job(deps.jobs.as_ref(), job_id, &mut change).await {
            Err(UpdateError::Store(e)) if until.fits(pause, Duration::ZERO) => {
                warn!(error = %e, pause_ms = pause.as_millis() as u64, "the record write failed; trying again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_WRITE_PAUSE);
            }
            other => return other,
        }
    }
}

/// A render no job will use: delete it at the provider so it stops costing, best
/// effort (the provider may refuse while it renders).
async fn delete_orphan(deps: &StepDeps, job: &Job, video_id: &str, deadline: Deadline) {
    let job_id = &job.id;
    let Ok(provider) = deps.provider(job) else {
        return;
    };
    let provider = provider.with_deadline(deadline.less(DELETE_RESERVE));
    match provider.delete(video_id).await {
        Ok(()) => {
            info!(job_id = %job_id, provider_video_id = %video_id, "deleted the render the job can no longer take")
        }
        Err(e) => {
            warn!(job_id = %job_id, provider_video_id = %video_id, error = %e, "could not delete the render the job can no longer take")
        }
    }
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
    let spec = job.model.spec();
    let negative_prompt = (spec.negative_prompt && !job.negative_keywords.is_empty())
        .then(|| crate::domain::prompt::negative_prompt(&job.negative_keywords));
    let webhook_url = if waits_for_webhook(deps, deps.provider(job)?.as_ref()) {
        deps.config.webhook_url(job.model.provider(), &job.id)
    } else {
        None
    };
    Ok(CreateVideo {
        prompt: job.prompt.clone(),
        model: spec.provider_model.into(),
        seconds: job.seconds,
        size: job.size.clone(),
        negative_prompt,
        input_reference,
        webhook_url,
    })
}

/// How long the link to a remix's source video stays valid: the provider fetches it
/// while it accepts the task, so an hour is ample.
const SOURCE_LINK_TTL: Duration = Duration::from_secs(3600);

async fn remix_request(
    deps: &StepDeps,
    job: &Job,
    source_video_id: &str,
) -> Result<RemixVideo, StepError> {
    // A provider with no inline limit remixes its own render by id (OpenAI): no copy.
    let inline_limit = job.model.provider().max_inline_video_bytes();
    let (mut source_video_url, mut source_video_bytes) = (None, None);
    if let (Some(source_job), true) = (&job.remixed_from, inline_limit > 0) {
        let key = crate::domain::job::asset_key(&job.owner, source_job, AssetKind::Video);
        // The bytes themselves when within the limit; else (or when they cannot be
        // read) a link.
        source_video_bytes = match deps.objects.get_bytes(&key, inline_limit).await {
            Ok(found) => found.map(|(bytes, _)| bytes),
            Err(e) => {
                info!(error = %e, "the source video goes by link, not inline");
                None
            }
        };
        if source_video_bytes.is_none() {
            source_video_url = Some(deps.objects.presign_get(&key, SOURCE_LINK_TTL).await?.url);
        }
    }
    Ok(RemixVideo {
        source_video_id: source_video_id.to_string(),
        source_video_url,
        source_video_bytes,
        prompt: job.prompt.clone(),
        model: job.model.spec().provider_model.into(),
        seconds: job.seconds,
        size: job.size.clone(),
    })
}
