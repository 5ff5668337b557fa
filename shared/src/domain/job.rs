//! The job record: what the store keeps and every step updates.
//!
//! The public job object (the contract's JSON) is a view of this record made by
//! `api::view`; internal fields (owner, version, storage keys) never leave the service.

use super::error_code::ErrorCode;
use super::ids::{JobId, Owner};
use super::model::Model;
use super::status::{Status, TransitionError};
use super::timings::Timings;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::str::FromStr;

/// Why a job ended badly: one of the public codes, and the provider's own message
/// where it gave one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobError {
    #[serde(deserialize_with = "lenient_code")]
    pub code: ErrorCode,
    pub message: String,
}

impl JobError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        JobError {
            code,
            message: message.into(),
        }
    }
}

/// Records written by an older build may carry a code this one no longer lists: they
/// read as `internal` (the message is kept) rather than making the record unreadable.
fn lenient_code<'de, D: serde::Deserializer<'de>>(d: D) -> Result<ErrorCode, D::Error> {
    let raw = String::deserialize(d)?;
    Ok(raw.parse().unwrap_or(ErrorCode::Internal))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssetKind {
    Video,
    Thumbnail,
    Spritesheet,
}

impl AssetKind {
    pub const ALL: [AssetKind; 3] = [
        AssetKind::Video,
        AssetKind::Thumbnail,
        AssetKind::Spritesheet,
    ];

    /// The provider's `variant` name and ours are the same words.
    pub fn as_str(self) -> &'static str {
        match self {
            AssetKind::Video => "video",
            AssetKind::Thumbnail => "thumbnail",
            AssetKind::Spritesheet => "spritesheet",
        }
    }

    /// The content type we store and serve; the provider's header is not trusted for it.
    pub fn content_type(self) -> &'static str {
        match self {
            AssetKind::Video => "video/mp4",
            AssetKind::Thumbnail => "image/webp",
            AssetKind::Spritesheet => "image/jpeg",
        }
    }

    pub fn file_name(self) -> &'static str {
        match self {
            AssetKind::Video => "video.mp4",
            AssetKind::Thumbnail => "thumbnail.webp",
            AssetKind::Spritesheet => "spritesheet.jpg",
        }
    }
}

impl FromStr for AssetKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AssetKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| "must be video, thumbnail or spritesheet".to_string())
    }
}

/// One stored file of a finished job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asset {
    pub key: String,
    pub bytes: u64,
    pub content_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assets {
    pub video: Asset,
    /// `None` when the provider makes none (Runway).
    #[serde(default)]
    pub thumbnail: Option<Asset>,
    #[serde(default)]
    pub spritesheet: Option<Asset>,
}

impl Assets {
    pub fn get(&self, kind: AssetKind) -> Option<&Asset> {
        match kind {
            AssetKind::Video => Some(&self.video),
            AssetKind::Thumbnail => self.thumbnail.as_ref(),
            AssetKind::Spritesheet => self.spritesheet.as_ref(),
        }
    }
}

/// The storage key of a job's asset. Owner ids come from JWT `sub` claims and may hold
/// any character, so they are hex-encoded: keys stay safe for S3 and file systems alike.
pub fn asset_key(owner: &Owner, job_id: &JobId, kind: AssetKind) -> String {
    format!(
        "videos/{}/{}/{}",
        hex::encode(owner.as_str()),
        job_id,
        kind.file_name()
    )
}

/// The storage key of an upload (a reference image), scoped by owner like assets.
pub fn upload_key(owner: &Owner, upload_id: &str) -> String {
    format!("uploads/{}/{}", hex::encode(owner.as_str()), upload_id)
}

/// USD from integer cents, for the record's `*_usd` fields.
pub fn cents_to_usd(cents: u64) -> f64 {
    cents as f64 / 100.0
}

/// The job record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: JobId,
    pub owner: Owner,
    pub status: Status,
    pub progress: u8,
    pub model: Model,
    pub seconds: u32,
    /// One of the model's sizes, `WIDTHxHEIGHT`.
    pub size: String,
    /// The prompt the provider receives (composed or verbatim).
    pub prompt: String,
    pub script: Option<String>,
    pub style: Option<String>,
    #[serde(default)]
    pub keywords: Vec<String>,
    #[serde(default)]
    pub negative_keywords: Vec<String>,
    pub remixed_from: Option<JobId>,
    /// For a variant: the primary job, whose prompt and reference it renders again.
    #[serde(default)]
    pub variant_of: Option<JobId>,
    /// For a primary: its variants, in the order they were made.
    #[serde(default)]
    pub variants: Vec<JobId>,
    /// For a remix: the source job's provider video id, which the provider remixes.
    #[serde(default)]
    pub remix_source_video_id: Option<String>,
    pub provider_video_id: Option<String>,
    /// When submit last set out to ask the provider for the render, written before the
    /// request: with no `provider_video_id`, a render may exist that the record never
    /// heard of, and submit must find it rather than create another.
    #[serde(default)]
    pub submit_attempted_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// When the job was recorded (queued).
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the provider accepted the render (submit recorded its video id).
    #[serde(default)]
    pub submitted_at: Option<DateTime<Utc>>,
    /// When the provider said the render was done (a status check, or its webhook),
    /// i.e. when the download began.
    #[serde(default)]
    pub rendered_at: Option<DateTime<Utc>>,
    /// When the job ended: stored (`completed`), or failed, timed out or canceled.
    pub completed_at: Option<DateTime<Utc>>,
    pub error: Option<JobError>,
    pub duration_seconds: Option<f64>,
    pub estimated_cost_usd: f64,
    /// What the provider says the render costs: its estimate while it renders, its
    /// charge once it ended. `None` when the provider does not say (OpenAI).
    #[serde(default)]
    pub cost_usd: Option<f64>,
    /// Upload id of the reference image, if any.
    #[serde(default)]
    pub input_reference: Option<String>,
    #[serde(default)]
    pub callback_url: Option<String>,
    #[serde(default)]
    pub assets: Option<Assets>,
    /// The Idempotency-Key the job was created with, if any.
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// The Step Functions task token of the execution's wait for the provider's webhook,
    /// set by the state machine itself (`WaitForWebhook`). A capability: never shown in
    /// the API or logged. Left out of the item when absent, so the state machine's
    /// conditions can test for the attribute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_token: Option<TaskToken>,
    /// When a verified provider webhook said the render ended. Once set, the state
    /// machine no longer arms a webhook wait (its condition fails and it polls).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_received_at: Option<DateTime<Utc>>,
    /// Optimistic-concurrency counter: every write is conditional on it.
    pub version: u64,
}

/// A Step Functions task token: a credential for the outcome of one waiting Task.
/// Its `Debug` never shows it, so a logged job does not leak it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskToken(String);

impl std::fmt::Debug for TaskToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TaskToken(<{} characters>)", self.0.chars().count())
    }
}

impl std::ops::Deref for TaskToken {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<String> for TaskToken {
    fn from(token: String) -> TaskToken {
        TaskToken(token)
    }
}

impl From<&str> for TaskToken {
    fn from(token: &str) -> TaskToken {
        TaskToken(token.to_string())
    }
}

/// What creating a job needs; the rest of the record starts empty.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub id: JobId,
    pub owner: Owner,
    pub model: Model,
    pub seconds: u32,
    pub size: String,
    pub prompt: String,
    pub script: Option<String>,
    pub style: Option<String>,
    pub keywords: Vec<String>,
    pub negative_keywords: Vec<String>,
    pub remixed_from: Option<JobId>,
    pub variant_of: Option<JobId>,
    pub remix_source_video_id: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub input_reference: Option<String>,
    pub callback_url: Option<String>,
    pub idempotency_key: Option<String>,
}

impl NewJob {
    /// A job that renders `prompt` with a fresh id; the optional parts start empty and
    /// callers set the ones they have (`NewJob { script, ..NewJob::new(…) }`).
    pub fn new(
        owner: &Owner,
        model: Model,
        seconds: u32,
        size: impl Into<String>,
        prompt: impl Into<String>,
    ) -> NewJob {
        NewJob {
            id: JobId::new(),
            owner: owner.clone(),
            model,
            seconds,
            size: size.into(),
            prompt: prompt.into(),
            script: None,
            style: None,
            keywords: Vec::new(),
            negative_keywords: Vec::new(),
            remixed_from: None,
            variant_of: None,
            remix_source_video_id: None,
            metadata: BTreeMap::new(),
            input_reference: None,
            callback_url: None,
            idempotency_key: None,
        }
    }

    /// A remix of `source`, whose render the provider knows as `source_video`: the same
    /// owner, model, seconds and size; `instruction` goes to the provider verbatim.
    /// A variant of `primary`: its prompt, reference image, keywords, callback and
    /// metadata, rendered with another model, length or size.
    pub fn variant(primary: &Job, model: Model, seconds: u32, size: impl Into<String>) -> NewJob {
        NewJob {
            script: primary.script.clone(),
            style: primary.style.clone(),
            keywords: primary.keywords.clone(),
            negative_keywords: primary.negative_keywords.clone(),
            variant_of: Some(primary.id.clone()),
            metadata: primary.metadata.clone(),
            input_reference: primary.input_reference.clone(),
            callback_url: primary.callback_url.clone(),
            ..NewJob::new(&primary.owner, model, seconds, size, primary.prompt.clone())
        }
    }

    pub fn remix(source: &Job, source_video: &str, instruction: impl Into<String>) -> NewJob {
        NewJob {
            remixed_from: Some(source.id.clone()),
            remix_source_video_id: Some(source_video.to_string()),
            ..NewJob::new(
                &source.owner,
                source.model,
                source.seconds,
                source.size.clone(),
                instruction,
            )
        }
    }
}

impl Job {
    pub fn new(new: NewJob, now: DateTime<Utc>) -> Job {
        let estimated_cost_usd = new.model.estimate_usd(&new.size, new.seconds);
        Job {
            id: new.id,
            owner: new.owner,
            status: Status::Queued,
            progress: 0,
            model: new.model,
            seconds: new.seconds,
            size: new.size,
            prompt: new.prompt,
            script: new.script,
            style: new.style,
            keywords: new.keywords,
            negative_keywords: new.negative_keywords,
            remixed_from: new.remixed_from,
            variant_of: new.variant_of,
            variants: Vec::new(),
            remix_source_video_id: new.remix_source_video_id,
            provider_video_id: None,
            submit_attempted_at: None,
            metadata: new.metadata,
            created_at: now,
            updated_at: now,
            submitted_at: None,
            rendered_at: None,
            completed_at: None,
            error: None,
            duration_seconds: None,
            estimated_cost_usd,
            cost_usd: None,
            input_reference: new.input_reference,
            callback_url: new.callback_url,
            assets: None,
            idempotency_key: new.idempotency_key,
            task_token: None,
            push_received_at: None,
            version: 0,
        }
    }

    fn move_to(&mut self, next: Status, now: DateTime<Utc>) -> Result<(), TransitionError> {
        self.status.check(next)?;
        self.status = next;
        self.updated_at = now;
        Ok(())
    }

    /// Submit is about to ask the provider for the render. `seen` is the mark the
    /// submit found on the record (`None`, or one the provider showed made nothing): it
    /// must still be there, so of two submits only one gets past this.
    pub fn mark_submit_attempted(
        &mut self,
        seen: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), SubmitRefused> {
        if self.status != Status::Queued {
            return Err(SubmitRefused::NotQueued(self.status));
        }
        if self.provider_video_id.is_some() || self.submit_attempted_at != seen {
            return Err(SubmitRefused::AlreadyAttempted);
        }
        self.submit_attempted_at = Some(now);
        self.updated_at = now;
        Ok(())
    }

    /// The provider is known to have made nothing (a 429, a refusal): the next submit
    /// may ask again.
    pub fn clear_submit_attempt(&mut self, now: DateTime<Utc>) -> Result<(), SubmitRefused> {
        if self.status != Status::Queued {
            return Err(SubmitRefused::NotQueued(self.status));
        }
        if self.provider_video_id.is_none() {
            self.submit_attempted_at = None;
            self.updated_at = now;
        }
        Ok(())
    }

    /// The provider accepted the job.
    pub fn mark_submitted(
        &mut self,
        provider_video_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), TransitionError> {
        self.move_to(Status::InProgress, now)?;
        self.provider_video_id = Some(provider_video_id.to_string());
        self.submitted_at = Some(now);
        Ok(())
    }

    /// Provider progress; it only ever rises, whatever the provider reports.
    pub fn record_progress(
        &mut self,
        progress: u8,
        now: DateTime<Utc>,
    ) -> Result<(), TransitionError> {
        self.move_to(Status::InProgress, now)?;
        self.progress = self.progress.max(progress.min(100));
        Ok(())
    }

    /// Keep what the provider says the render costs; `None` (it did not say) keeps
    /// what the record has.
    pub fn record_cost(&mut self, cents: Option<u64>) {
        if let Some(cents) = cents {
            self.cost_usd = Some(cents_to_usd(cents));
        }
    }

    pub fn mark_downloading(&mut self, now: DateTime<Utc>) -> Result<(), TransitionError> {
        self.move_to(Status::Downloading, now)?;
        self.progress = 100;
        // Both ways a render is known done (a status check, the provider's webhook)
        // come through here; a retried step keeps the first time.
        self.rendered_at.get_or_insert(now);
        Ok(())
    }

    pub fn mark_completed(
        &mut self,
        assets: Assets,
        duration_seconds: Option<f64>,
        now: DateTime<Utc>,
    ) -> Result<(), TransitionError> {
        self.move_to(Status::Completed, now)?;
        self.assets = Some(assets);
        self.duration_seconds = duration_seconds;
        self.completed_at = Some(now);
        self.progress = 100;
        Ok(())
    }

    /// End the job as `failed` or `timed_out` with the reason.
    pub fn mark_ended(
        &mut self,
        status: Status,
        error: JobError,
        now: DateTime<Utc>,
    ) -> Result<(), TransitionError> {
        debug_assert!(matches!(status, Status::Failed | Status::TimedOut));
        self.move_to(status, now)?;
        self.error = Some(error);
        self.completed_at = Some(now);
        Ok(())
    }

    pub fn mark_canceled(&mut self, now: DateTime<Utc>) -> Result<(), TransitionError> {
        self.move_to(Status::Canceled, now)?;
        self.completed_at = Some(now);
        Ok(())
    }

    /// How long the job spent in each stage so far; see [`Timings::of`].
    pub fn timings(&self) -> Option<Timings> {
        Timings::of(self)
    }
}

/// Why submit may not ask the provider now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitRefused {
    #[error("the job is {0}, not queued")]
    NotQueued(Status),
    #[error("a submit of this job has already asked the provider")]
    AlreadyAttempted,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn sample_job(now: DateTime<Utc>) -> Job {
        Job::new(
            NewJob {
                id: sample_id(),
                script: Some("a cat".into()),
                ..NewJob::new(&Owner::new("alice"), Model::SORA_2, 4, "720x1280", "a cat")
            },
            now,
        )
    }

    /// A fixed, well-formed job id.
    pub fn sample_id() -> JobId {
        JobId::parse("vid_01ARZ3NDEKTSV4RRFFQ69G5FAV").expect("a well-formed id")
    }

    fn asset(kind: AssetKind) -> Asset {
        Asset {
            key: asset_key(&Owner::new("alice"), &sample_id(), kind),
            bytes: 10,
            content_type: kind.content_type().into(),
        }
    }

    #[test]
    fn a_logged_job_never_shows_its_task_token() {
        let mut job = sample_job(Utc::now());
        job.task_token = Some("AQCEAAAAKgAAAAMAAAAAAAAAAV-secret".into());
        let logged = format!("{job:?}");
        assert!(!logged.contains("secret"), "{logged}");
        assert!(logged.contains("TaskToken(<33 characters>)"), "{logged}");
        // The record itself keeps it.
        let stored = serde_json::to_value(&job).unwrap();
        assert_eq!(stored["task_token"], "AQCEAAAAKgAAAAMAAAAAAAAAAV-secret");
    }

    #[test]
    fn a_job_walks_the_happy_path() {
        let t0 = Utc::now();
        let mut job = sample_job(t0);
        assert_eq!(job.status, Status::Queued);
        assert_eq!(job.estimated_cost_usd, 0.4);
        job.mark_submitted("video_1", t0).unwrap();
        job.record_progress(40, t0).unwrap();
        job.record_progress(20, t0).unwrap();
        assert_eq!(job.progress, 40, "progress never falls");
        job.mark_downloading(t0).unwrap();
        let assets = Assets {
            video: asset(AssetKind::Video),
            thumbnail: Some(asset(AssetKind::Thumbnail)),
            spritesheet: Some(asset(AssetKind::Spritesheet)),
        };
        job.mark_completed(assets, Some(4.0), t0).unwrap();
        assert_eq!(job.status, Status::Completed);
        assert!(job.completed_at.is_some());
        assert!(job.mark_canceled(t0).is_err(), "completed is final");
    }

    #[test]
    fn an_ended_job_keeps_its_reason() {
        let t0 = Utc::now();
        let mut job = sample_job(t0);
        job.mark_ended(
            Status::Failed,
            JobError::new(ErrorCode::ModerationBlocked, "no"),
            t0,
        )
        .unwrap();
        assert_eq!(
            job.error.as_ref().unwrap().code,
            ErrorCode::ModerationBlocked
        );
        assert!(job.record_progress(50, t0).is_err());
        assert!(job
            .mark_ended(
                Status::TimedOut,
                JobError::new(ErrorCode::TimedOut, "y"),
                t0
            )
            .is_err());
        assert_eq!(job.status, Status::Failed);
    }

    #[test]
    fn only_one_submit_asks_the_provider() {
        let t0 = Utc::now();
        let mut job = sample_job(t0);
        let t1 = t0 + chrono::Duration::seconds(1);
        job.mark_submit_attempted(None, t0).unwrap();
        assert_eq!(job.submit_attempted_at, Some(t0));
        assert_eq!(
            job.mark_submit_attempted(None, t1),
            Err(SubmitRefused::AlreadyAttempted),
            "a second submit that saw no mark"
        );
        // One that saw this very mark (and the provider showing it made nothing) may.
        job.mark_submit_attempted(Some(t0), t1).unwrap();
        assert_eq!(
            job.mark_submit_attempted(Some(t0), t1),
            Err(SubmitRefused::AlreadyAttempted)
        );
        job.clear_submit_attempt(t1).unwrap();
        job.mark_submit_attempted(None, t1).unwrap();
        job.mark_submitted("video_1", t1).unwrap();
        assert!(job.clear_submit_attempt(t1).is_err());
        assert_eq!(
            job.submit_attempted_at,
            Some(t1),
            "kept once an id is recorded"
        );
        assert_eq!(
            job.mark_submit_attempted(Some(t1), t1),
            Err(SubmitRefused::NotQueued(Status::InProgress))
        );
        let mut canceled = sample_job(t0);
        canceled.mark_canceled(t0).unwrap();
        assert_eq!(
            canceled.mark_submit_attempted(None, t0),
            Err(SubmitRefused::NotQueued(Status::Canceled))
        );
    }

    #[test]
    fn keys_hide_odd_owner_ids() {
        let key = asset_key(&Owner::new("../a b"), &sample_id(), AssetKind::Video);
        assert_eq!(
            key,
            "videos/2e2e2f612062/vid_01ARZ3NDEKTSV4RRFFQ69G5FAV/video.mp4"
        );
        assert_eq!(
            upload_key(&Owner::new("bob"), "up_1"),
            "uploads/626f62/up_1"
        );
    }
}
