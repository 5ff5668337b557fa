//! CheckStatus: ask the provider how the render goes, record progress, pick the next hop.

use super::{load_job, Next, StepDeps, StepError, WorkflowConfig, WorkflowState};
use crate::domain::job::cents_to_usd;
use crate::domain::ErrorCode;
use crate::provider::{ProviderStatus, VideoProvider};
use crate::store::update_job;
use chrono::Utc;
use std::time::Duration;
use tracing::{info, instrument};

#[instrument(skip_all, fields(job_id = %state.job_id, polls = state.polls))]
pub async fn check_status(
    deps: &StepDeps,
    state: WorkflowState,
) -> Result<WorkflowState, StepError> {
    let polls = state.polls.saturating_add(1);
    let now = Utc::now();
    if state.deadline.is_some_and(|d| now.timestamp() > d) {
        return Err(StepError::TimedOut {
            message: "the provider did not finish the video within the time budget".into(),
        });
    }
    if polls > deps.config.max_polls {
        return Err(StepError::TimedOut {
            message: format!(
                "the provider did not finish the video within {} status checks",
                deps.config.max_polls
            ),
        });
    }
    let video_id = state
        .provider_video_id
        .clone()
        .ok_or_else(|| StepError::failed(ErrorCode::Internal, "no provider video id to check"))?;
    let job = load_job(deps, &state.job_id).await?;
    if job.status.is_terminal() {
        return Err(StepError::JobEnded);
    }

    let provider = deps.provider(&job)?;
    let video = provider.retrieve(&video_id).await?;
    let next = match video.status {
        ProviderStatus::Completed => {
            update_job(deps.jobs.as_ref(), &job.id, |j| {
                j.mark_downloading(Utc::now())?;
                j.record_cost(video.cost_cents);
                Ok::<_, crate::domain::TransitionError>(())
            })
            .await?;
            info!("render completed; downloading");
            Next::Download
        }
        ProviderStatus::Failed => {
            if video.cost_cents.is_some() {
                // What a failed render was charged (moderated ones are) stays on the
                // record; RecordFailure then ends the job.
                let charged = update_job(deps.jobs.as_ref(), &job.id, |j| {
                    j.record_cost(video.cost_cents);
                    Ok::<_, std::convert::Infallible>(())
                })
                .await;
                if let Err(e) = charged {
                    tracing::warn!(error = %e, "could not record the failed render's cost");
                }
            }
            let (code, message) = video.error.map(|e| (e.code, e.message)).unwrap_or_else(|| {
                (
                    ErrorCode::VideoGenerationFailed,
                    "the provider could not make the video".into(),
                )
            });
            return Err(StepError::Failed { code, message });
        }
        ProviderStatus::Queued | ProviderStatus::InProgress | ProviderStatus::Other(_) => {
            if let ProviderStatus::Other(s) = &video.status {
                tracing::warn!(status = %s, "unknown provider status; still waiting");
            }
            // Write only when something changed: most polls see the same record.
            let cost_changed =
                video.cost_cents.is_some() && job.cost_usd != video.cost_cents.map(cents_to_usd);
            if job.status != crate::domain::Status::InProgress
                || video.progress > job.progress
                || cost_changed
            {
                update_job(deps.jobs.as_ref(), &job.id, |j| {
                    j.record_progress(video.progress, Utc::now())?;
                    j.record_cost(video.cost_cents);
                    Ok::<_, crate::domain::TransitionError>(())
                })
                .await?;
            }
            Next::Wait
        }
    };
    Ok(WorkflowState {
        polls,
        wait_seconds: wait_before_poll(provider.as_ref(), video.poll_after, polls, &deps.config),
        next,
        ..state
    })
}

/// [`next_wait_seconds`], never shorter than the provider's own floor (Runway: updates
/// come no more often than every 5 s, so polling faster only spends requests).
pub(crate) fn wait_before_poll(
    provider: &dyn VideoProvider,
    hint: Option<Duration>,
    polls: u32,
    config: &WorkflowConfig,
) -> u64 {
    let floor = provider.min_poll_interval().as_secs_f64().ceil() as u64;
    next_wait_seconds(hint, polls, config).max(floor)
}

/// Seconds to wait before check number `polls + 1`: the provider's hint when it gave
/// one, else a gentle backoff from `min_wait` (×1.5 per check), both kept within
/// `min_wait..=max_wait` so a bad hint can neither hammer the provider nor stall the job.
pub fn next_wait_seconds(hint: Option<Duration>, polls: u32, config: &WorkflowConfig) -> u64 {
    let min = config.min_wait.as_secs().max(1);
    let max = config.max_wait.as_secs().max(min);
    let wanted = match hint {
        Some(h) => h.as_secs_f64().ceil() as u64,
        None => (min as f64 * 1.5f64.powi(polls.min(32) as i32)).round() as u64,
    };
    wanted.clamp(min, max)
}
