//! How long a job spent in each stage, from the times its record keeps.

use super::job::Job;
use super::status::Status;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// How long a job spent queued, rendering and downloading, in seconds with millisecond
/// precision. `None` (the job object's `timings: null`) until the provider accepted the
/// job; then each stage is `None` until it is over:
/// - `queue_seconds`: recorded → the provider accepted it (always known once submitted);
/// - `render_seconds`: accepted → the provider said the render was done;
/// - `download_seconds`: render done → every asset stored; only on `completed` (a job
///   that failed or was canceled while downloading stored nothing it keeps).
///
/// A job that failed or was canceled keeps the stages it finished. Clocks of different
/// machines write these times, so a tiny negative difference reads as 0.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Timings {
    pub queue_seconds: f64,
    pub render_seconds: Option<f64>,
    pub download_seconds: Option<f64>,
}

impl Timings {
    pub fn of(job: &Job) -> Option<Timings> {
        let submitted = job.submitted_at?;
        let rendered = job.rendered_at;
        let stored = job.completed_at.filter(|_| job.status == Status::Completed);
        Some(Timings {
            queue_seconds: seconds_between(job.created_at, submitted),
            render_seconds: rendered.map(|r| seconds_between(submitted, r)),
            download_seconds: rendered.zip(stored).map(|(r, s)| seconds_between(r, s)),
        })
    }
}

/// `to - from` in seconds, to the millisecond, never negative.
fn seconds_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_milliseconds().max(0) as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::job::tests::sample_job;
    use crate::domain::{Asset, Assets, ErrorCode, JobError};
    use chrono::Duration;

    fn assets() -> Assets {
        Assets {
            video: Asset {
                key: "k".into(),
                bytes: 1,
                content_type: "video/mp4".into(),
            },
            thumbnail: None,
            spritesheet: None,
        }
    }

    fn ms(n: i64) -> Duration {
        Duration::milliseconds(n)
    }

    #[test]
    fn each_stage_is_known_once_it_is_over() {
        let t0 = Utc::now();
        let mut job = sample_job(t0);
        assert_eq!(job.timings(), None, "queued: null");
        job.mark_submitted("video_1", t0 + ms(1_250)).unwrap();
        assert_eq!(
            job.timings(),
            Some(Timings {
                queue_seconds: 1.25,
                render_seconds: None,
                download_seconds: None
            })
        );
        job.record_progress(50, t0 + ms(30_000)).unwrap();
        job.mark_downloading(t0 + ms(61_251)).unwrap();
        assert_eq!(job.timings().unwrap().render_seconds, Some(60.001));
        assert_eq!(job.timings().unwrap().download_seconds, None);
        job.mark_completed(assets(), Some(4.0), t0 + ms(63_751))
            .unwrap();
        assert_eq!(
            job.timings(),
            Some(Timings {
                queue_seconds: 1.25,
                render_seconds: Some(60.001),
                download_seconds: Some(2.5)
            })
        );
    }

    #[test]
    fn the_render_end_is_the_first_one_seen() {
        let t0 = Utc::now();
        let mut job = sample_job(t0);
        job.mark_submitted("video_1", t0).unwrap();
        job.mark_downloading(t0 + ms(5_000)).unwrap();
        // A retried check-status, or the webhook after a check saw it, marks it again.
        job.mark_downloading(t0 + ms(9_000)).unwrap();
        assert_eq!(job.rendered_at, Some(t0 + ms(5_000)));
    }

    #[test]
    fn an_ended_job_keeps_what_was_known() {
        let t0 = Utc::now();
        let mut failed = sample_job(t0);
        failed.mark_submitted("video_1", t0 + ms(500)).unwrap();
        failed
            .mark_ended(
                Status::Failed,
                JobError::new(ErrorCode::ModerationBlocked, "no"),
                t0 + ms(9_000),
            )
            .unwrap();
        assert_eq!(
            failed.timings(),
            Some(Timings {
                queue_seconds: 0.5,
                render_seconds: None,
                download_seconds: None
            })
        );
        // Canceled mid-download: the render is known, the download never finished.
        let mut canceled = sample_job(t0);
        canceled.mark_submitted("video_1", t0).unwrap();
        canceled.mark_downloading(t0 + ms(3_000)).unwrap();
        canceled.mark_canceled(t0 + ms(4_000)).unwrap();
        let t = canceled.timings().unwrap();
        assert_eq!((t.render_seconds, t.download_seconds), (Some(3.0), None));
        // Never submitted: nothing to show.
        let mut early = sample_job(t0);
        early.mark_canceled(t0 + ms(1)).unwrap();
        assert_eq!(early.timings(), None);
    }

    #[test]
    fn clock_skew_never_shows_a_negative_stage() {
        let t0 = Utc::now();
        let mut job = sample_job(t0);
        job.mark_submitted("video_1", t0 - ms(40)).unwrap();
        assert_eq!(job.timings().unwrap().queue_seconds, 0.0);
    }

    #[test]
    fn old_records_without_the_new_times_still_read() {
        let job = sample_job(Utc::now());
        let mut stored = serde_json::to_value(&job).unwrap();
        let fields = stored.as_object_mut().unwrap();
        fields.remove("submitted_at");
        fields.remove("rendered_at");
        let read: Job = serde_json::from_value(stored).unwrap();
        assert_eq!((read.submitted_at, read.rendered_at), (None, None));
    }
}
