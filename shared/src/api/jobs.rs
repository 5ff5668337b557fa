//! The job routes.

use super::request::{self as validation, Rejection, VariantRequest};
use super::{json, view, ApiDeps, ApiError, Call};
use crate::domain::ids::{JobId, Owner};
use crate::domain::{prompt, AssetKind, ErrorCode, Job, JobError, Model, NewJob, Status};
use crate::engine::EngineError;
use crate::store::update::UpdateError;
use crate::store::{update_job, CreateOutcome, IdempotencyRecord, StoreError};
use crate::workflow::WorkflowState;
use bytes::Bytes;
use chrono::Utc;
use http::{header, HeaderValue, Response, StatusCode};
use sha2::{Digest, Sha256};
use tracing::info;

/// The caller's job, or the same 404 for unknown and foreign ids.
async fn owned(deps: &ApiDeps, owner: &Owner, id: &str) -> Result<Job, ApiError> {
    let Some(id) = JobId::parse(id) else {
        return Err(ApiError::no_such_job());
    };
    match deps.jobs.get(&id).await? {
        Some(job) if &job.owner == owner => Ok(job),
        _ => Err(ApiError::no_such_job()),
    }
}

async fn job_response(
    deps: &ApiDeps,
    status: StatusCode,
    job: &Job,
) -> Result<Response<Bytes>, ApiError> {
    Ok(json(status, &view::job_json(deps, job).await?))
}

/// The Idempotency-Key header, validated, if present.
fn idempotency_key(call: &Call<'_>) -> Result<Option<String>, ApiError> {
    match call.request.headers().get("idempotency-key") {
        None => Ok(None),
        Some(raw) => Ok(Some(validation::idempotency_key(raw.as_bytes())?)),
    }
}

/// Hash of what a retry must repeat exactly: the route and the body, with the JSON
/// re-serialised canonically (sorted keys, no whitespace) so formatting doesn't matter.
fn request_hash(route: &str, body: &[u8]) -> String {
    let canonical = serde_json::from_slice::<serde_json::Value>(body)
        .map(|v| v.to_string())
        .unwrap_or_else(|_| String::from_utf8_lossy(body).into_owned());
    hex::encode(Sha256::digest(format!("{route}\n{canonical}").as_bytes()))
}

/// The answer to a create whose Idempotency-Key is already claimed: the first job (200)
/// for the same request, 409 for another request or when that job was deleted (a
/// replay never starts a second paid job).
async fn replay(
    deps: &ApiDeps,
    claim: Option<&IdempotencyRecord>,
    first: &IdempotencyRecord,
) -> Result<Response<Bytes>, ApiError> {
    if claim.is_none_or(|c| c.request_hash != first.request_hash) {
        return Err(ApiError::conflict(
            "this Idempotency-Key was already used with a different request",
        ));
    }
    let deleted = ApiError::conflict("the job made with this Idempotency-Key has been deleted");
    if first.job_deleted {
        return Err(deleted);
    }
    match deps.jobs.get(&first.job_id).await? {
        Some(existing) => job_response(deps, StatusCode::OK, &existing).await,
        None => Err(deleted),
    }
}

/// What one create request makes: `jobs[0]` is the job the answer shows (a primary,
/// or a variant added later); a primary's variants follow it. `parent` is the primary
/// a later variant joins, already updated to list it.
struct Creation {
    jobs: Vec<Job>,
    parent: Option<Job>,
}

impl Creation {
    /// A primary and one job per variant, linked both ways.
    fn primary(
        primary: NewJob,
        variants: &[VariantRequest],
        now: chrono::DateTime<Utc>,
    ) -> Creation {
        let mut primary = Job::new(primary, now);
        let variants: Vec<Job> = variants
            .iter()
            .map(|v| {
                Job::new(
                    NewJob::variant(&primary, v.model, v.seconds, v.size.clone()),
                    now,
                )
            })
            .collect();
        primary.variants = variants.iter().map(|v| v.id.clone()).collect();
        Creation {
            jobs: std::iter::once(primary).chain(variants).collect(),
            parent: None,
        }
    }
}

/// Record the new jobs (with the idempotency claim), then start each one's workflow.
/// Records and workflows both or neither: a job whose start fails is recorded failed.
async fn create_and_start(
    deps: &ApiDeps,
    call: &Call<'_>,
    creation: Creation,
    route: &str,
) -> Result<Response<Bytes>, ApiError> {
    match try_create_and_start(deps, call, creation, route).await? {
        Created::Answer(response) => Ok(response),
        Created::ParentChanged => Err(ApiError::internal(
            "a create without a parent lost a parent race",
        )),
    }
}

/// What [`try_create_and_start`] did.
enum Created {
    /// The answer to send: the new job, a replay, or an error shape.
    Answer(Response<Bytes>),
    /// The primary a variant joins changed since it was read: nothing was written.
    ParentChanged,
}

async fn try_create_and_start(
    deps: &ApiDeps,
    call: &Call<'_>,
    creation: Creation,
    route: &str,
) -> Result<Created, ApiError> {
    let now = Utc::now();
    let Some(job) = creation.jobs.first().cloned() else {
        return Err(ApiError::internal("a create with no job"));
    };
    let claim = match &job.idempotency_key {
        None => None,
        Some(key) => Some(IdempotencyRecord {
            owner: call.owner.clone(),
            key: key.clone(),
            request_hash: request_hash(route, call.body()),
            job_id: job.id.clone(),
            expires_at: now
                + chrono::Duration::from_std(deps.config.idempotency_ttl)
                    .map_err(ApiError::internal)?,
            job_deleted: false,
        }),
    };
    let outcome = deps
        .jobs
        .create_all(
            &creation.jobs,
            creation.parent.as_ref(),
            claim.as_ref(),
            &deps.config.limits,
        )
        .await;
    match outcome {
        Ok(CreateOutcome::Created) => {}
        Err(StoreError::Conflict(why)) if creation.parent.is_some() => {
            info!(job_id = %job.id, %why, "the primary changed before the variant was recorded");
            return Ok(Created::ParentChanged);
        }
        Err(e) => return Err(e.into()),
        Ok(CreateOutcome::KeyExists(first)) => {
            return replay(deps, claim.as_ref(), &first)
                .await
                .map(Created::Answer)
        }
        Ok(CreateOutcome::LimitReached(refusal)) => {
            info!(job_id = %job.id, limit = ?refusal.limit, "create refused by a limit");
            return Err(ApiError::rate_limited(
                refusal.message(),
                refusal.retry_after,
            ));
        }
    }
    // Every job is started even when one fails (each failure is on its record); the
    // answer fails only when its own job could not start.
    let mut answer_failed = None;
    for (i, each) in creation.jobs.iter().enumerate() {
        if let Err(e) = start(deps, each).await {
            if i == 0 {
                answer_failed = Some(e);
            }
        }
    }
    if let Some(e) = answer_failed {
        return Err(e);
    }
    info!(job_id = %job.id, jobs = creation.jobs.len(), "job created");
    let mut response = job_response(deps, StatusCode::ACCEPTED, &job).await?;
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/videos/{}", job.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(Created::Answer(response))
}

/// Start one job's workflow; when that fails, record the job failed and say why.
async fn start(deps: &ApiDeps, job: &Job) -> Result<(), ApiError> {
    match deps
        .engine
        .start(&job.id, &WorkflowState::start(&job.id))
        .await
    {
        Ok(()) | Err(EngineError::AlreadyExists(_)) => Ok(()),
        Err(e) => {
            let reason = JobError::new(
                ErrorCode::WorkflowStartFailed,
                "the job could not be started; please try again",
            );
            let marked = update_job(deps.jobs.as_ref(), &job.id, |j| {
                j.mark_ended(Status::Failed, reason.clone(), Utc::now())
            })
            .await;
            match marked {
                Ok(failed) => crate::telemetry::job_ended(&failed),
                Err(mark) => {
                    tracing::error!(job_id = %job.id, error = %mark, "could not record the failed start")
                }
            }
            Err(ApiError::internal(format!(
                "starting the workflow of {}: {e}",
                job.id
            )))
        }
    }
}

/// The reference image's upload, if it is the caller's, unexpired, uploaded, and small
/// enough for every provider that will receive it.
async fn check_reference(
    deps: &ApiDeps,
    owner: &Owner,
    upload_id: &str,
    models: &[crate::domain::Model],
) -> Result<(), ApiError> {
    let uploaded = match deps.jobs.get_upload(upload_id).await? {
        Some(up) if &up.owner == owner && up.expires_at > Utc::now() => {
            deps.objects.head(&up.key).await?
        }
        _ => None,
    };
    let Some(meta) = uploaded else {
        return Err(ApiError::invalid(
            "input_reference",
            "input_reference.upload_id is unknown, expired, or its image has not been uploaded yet",
        ));
    };
    for model in models {
        let max = model.provider().max_reference_bytes();
        if meta.bytes > max {
            return Err(ApiError::invalid(
                "input_reference",
                format!(
                    "the reference image is {} bytes; {} (model {model}) takes at most {max}",
                    meta.bytes,
                    model.provider()
                ),
            ));
        }
    }
    Ok(())
}

pub async fn create(deps: &ApiDeps, call: &Call<'_>) -> Result<Response<Bytes>, ApiError> {
    let req = validation::create_request(call.content_type(), call.body(), &deps.config.policy)?;
    let key = idempotency_key(call)?;
    let models: Vec<Model> = req.models().collect();
    if let Some(upload_id) = &req.input_reference {
        check_reference(deps, call.owner, upload_id, &models).await?;
    }
    // A model with a negative-prompt field gets the negative keywords there instead.
    let avoid: &[String] = if req.model.spec().negative_prompt {
        &[]
    } else {
        &req.negative_keywords
    };
    let composed = match &req.prompt {
        Some(verbatim) => verbatim.clone(),
        None => prompt::compose(
            req.script.as_deref().unwrap_or_default(),
            req.style.as_deref(),
            &req.keywords,
            avoid,
        ),
    };
    // The provider's own cap on the prompt (Runway: 1000 UTF-16 units), caught here
    // rather than failing the job at submit.
    let prompt_field = if req.prompt.is_some() {
        "prompt"
    } else {
        "script"
    };
    for model in &models {
        if let Some(why) = model.spec().prompt_too_long(&composed) {
            return Err(ApiError::invalid(prompt_field, why));
        }
    }
    let primary = NewJob {
        script: req.script,
        style: req.style,
        keywords: req.keywords,
        negative_keywords: req.negative_keywords,
        metadata: req.metadata,
        input_reference: req.input_reference,
        callback_url: req.callback_url,
        idempotency_key: key,
        ..NewJob::new(call.owner, req.model, req.seconds, req.size, composed)
    };
    let creation = Creation::primary(primary, &req.variants, Utc::now());
    create_and_start(deps, call, creation, "POST /v1/videos").await
}

/// How many times adding a variant re-reads its primary after losing a race to
/// another write of it (a progress update, another variant).
const PARENT_ATTEMPTS: u32 = 5;

/// `POST /v1/videos/{id}/variants`: one more job from the primary's prompt.
pub async fn add_variant(
    deps: &ApiDeps,
    call: &Call<'_>,
    id: &str,
) -> Result<Response<Bytes>, ApiError> {
    let key = idempotency_key(call)?;
    let route = format!("POST /v1/videos/{id}/variants");
    for attempt in 1..=PARENT_ATTEMPTS {
        let primary = owned(deps, call.owner, id).await?;
        if let Some(of) = &primary.variant_of {
            return Err(ApiError::conflict(format!(
                "job {} is itself a variant of {of}; add variants to {of}",
                primary.id
            )));
        }
        if primary.remixed_from.is_some() {
            return Err(ApiError::conflict(format!(
                "job {} is a remix; remixes keep their source's size and have no variants",
                primary.id
            )));
        }
        let req = validation::variant_request(
            call.content_type(),
            call.body(),
            &deps.config.policy,
            primary.model,
            primary.seconds,
        )?;
        if primary.variants.len() >= validation::MAX_VARIANTS {
            return Err(ApiError::conflict(format!(
                "job {} already has {} variants, the most a job may have",
                primary.id,
                validation::MAX_VARIANTS
            )));
        }
        if let Some(why) = req.model.spec().prompt_too_long(&primary.prompt) {
            return Err(ApiError::invalid("model", why));
        }
        if let Some(upload_id) = &primary.input_reference {
            if !req.model.spec().input_reference {
                return Err(ApiError::invalid(
                    "model",
                    format!(
                        "model {} takes no reference image, and job {} has one",
                        req.model, primary.id
                    ),
                ));
            }
            check_reference(deps, call.owner, upload_id, &[req.model]).await?;
        }
        let variant = Job::new(
            NewJob {
                idempotency_key: key.clone(),
                ..NewJob::variant(&primary, req.model, req.seconds, req.size)
            },
            Utc::now(),
        );
        let mut parent = primary.clone();
        parent.variants.push(variant.id.clone());
        parent.version += 1;
        let creation = Creation {
            jobs: vec![variant],
            parent: Some(parent),
        };
        match try_create_and_start(deps, call, creation, &route).await? {
            Created::Answer(response) => return Ok(response),
            Created::ParentChanged => {
                info!(job_id = %primary.id, attempt, "the primary changed while a variant was added; trying again");
            }
        }
    }
    Err(ApiError::conflict(
        "the job kept changing while the variant was added; please try again",
    ))
}

pub async fn get(deps: &ApiDeps, call: &Call<'_>, id: &str) -> Result<Response<Bytes>, ApiError> {
    let job = owned(deps, call.owner, id).await?;
    job_response(deps, StatusCode::OK, &job).await
}

pub async fn list(deps: &ApiDeps, call: &Call<'_>) -> Result<Response<Bytes>, ApiError> {
    let pairs = call.query_pairs();
    let q = validation::list_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    let page = deps
        .jobs
        .list(call.owner, q.status, q.limit, q.cursor.as_deref())
        .await?;
    let mut data = Vec::with_capacity(page.jobs.len());
    for job in &page.jobs {
        data.push(view::job_json(deps, job).await?);
    }
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "data": data, "next_cursor": page.next_cursor }),
    ))
}

pub async fn remix(deps: &ApiDeps, call: &Call<'_>, id: &str) -> Result<Response<Bytes>, ApiError> {
    let req = validation::remix_request(call.content_type(), call.body(), &deps.config.policy)?;
    let key = idempotency_key(call)?;
    let source = owned(deps, call.owner, id).await?;
    let source_video = match (&source.status, &source.provider_video_id) {
        (Status::Completed, Some(video)) => video.clone(),
        _ => {
            return Err(ApiError::conflict(format!(
                "only completed jobs can be remixed; this one is {}",
                source.status
            )))
        }
    };
    if let Some(why) = source.model.spec().prompt_too_long(&req.prompt) {
        return Err(ApiError::invalid("prompt", why));
    }
    if !source.model.spec().remix {
        return Err(ApiError::conflict(format!(
            "jobs of model {} cannot be remixed",
            source.model
        )));
    }
    let new = NewJob {
        metadata: req.metadata,
        callback_url: req.callback_url,
        idempotency_key: key,
        ..NewJob::remix(&source, &source_video, req.prompt)
    };
    let creation = Creation::primary(new, &[], Utc::now());
    create_and_start(deps, call, creation, &format!("POST /v1/videos/{id}/remix")).await
}

/// Stop the workflow, then record `canceled`. `Ok(None)` when the job had already ended.
/// Record `canceled`, then stop the workflow. `Ok(None)` when the job had already ended.
///
/// The write comes first: stopping an execution makes Step Functions emit ABORTED at
/// once, and the EventBridge backstop that records stopped executions may run before
/// any later write. With `canceled` already on the record, the backstop (and every step
/// still running) finds the job ended and leaves it alone.
async fn stop(deps: &ApiDeps, job: &Job) -> Result<Option<Job>, ApiError> {
    if job.status.is_terminal() {
        return Ok(None);
    }
    let canceled =
        match update_job(deps.jobs.as_ref(), &job.id, |j| j.mark_canceled(Utc::now())).await {
            Ok(canceled) => canceled,
            Err(UpdateError::Refused(_)) | Err(UpdateError::NotFound(_)) => return Ok(None),
            Err(UpdateError::Store(e)) => return Err(e.into()),
        };
    info!(job_id = %job.id, "job canceled");
    crate::telemetry::job_ended(&canceled);
    // The render's id rides in the cause: the ABORTED backstop deletes it at the
    // provider, even after a DELETE removed the record.
    let cause = crate::workflow::discard::StopCause {
        reason: "canceled by its owner".into(),
        provider_video_id: canceled.provider_video_id.clone(),
        provider: canceled.model.provider(),
    };
    if let Err(e) = deps.engine.stop(&job.id, &cause.text()).await {
        // The record already says canceled, so each step stops at its next look
        // (JobEnded); the cancel itself has happened.
        tracing::warn!(job_id = %job.id, error = %e, "could not stop the workflow of a canceled job");
    }
    crate::callback::notify(deps.config.callbacks.as_ref(), &canceled).await;
    Ok(Some(canceled))
}

pub async fn cancel(
    deps: &ApiDeps,
    call: &Call<'_>,
    id: &str,
) -> Result<Response<Bytes>, ApiError> {
    let job = owned(deps, call.owner, id).await?;
    match stop(deps, &job).await? {
        Some(canceled) => job_response(deps, StatusCode::OK, &canceled).await,
        None => {
            let now = deps
                .jobs
                .get(&job.id)
                .await?
                .map(|j| j.status)
                .unwrap_or(job.status);
            Err(ApiError::conflict(format!(
                "the job has already ended ({now})"
            )))
        }
    }
}

pub async fn delete(
    deps: &ApiDeps,
    call: &Call<'_>,
    id: &str,
) -> Result<Response<Bytes>, ApiError> {
    let job = owned(deps, call.owner, id).await?;
    stop(deps, &job).await?;
    // Read again: a download may have finished while we stopped it.
    let latest = deps.jobs.get(&job.id).await?.unwrap_or(job);
    for kind in AssetKind::ALL {
        let key = crate::domain::job::asset_key(&latest.owner, &latest.id, kind);
        deps.objects.delete(&key).await?;
    }
    deps.jobs.delete(&latest.id).await?;
    info!(job_id = %latest.id, "job deleted");
    let mut r = Response::new(Bytes::new());
    *r.status_mut() = StatusCode::NO_CONTENT;
    Ok(r)
}

pub async fn content(
    deps: &ApiDeps,
    call: &Call<'_>,
    id: &str,
) -> Result<Response<Bytes>, ApiError> {
    let mut variant = AssetKind::Video;
    for (k, v) in call.query_pairs() {
        match k.as_str() {
            "variant" => {
                variant = v.parse::<AssetKind>().map_err(|why| {
                    ApiError::from(Rejection::field("variant", format!("variant {why}")))
                })?
            }
            other => {
                return Err(ApiError::invalid(
                    other,
                    format!("unknown query parameter {other:?}; allowed: variant"),
                ))
            }
        }
    }
    let job = owned(deps, call.owner, id).await?;
    let Some(assets) = &job.assets else {
        return Err(ApiError::not_found(format!(
            "the job's content is not available (status {})",
            job.status
        )));
    };
    let Some(asset) = assets.get(variant) else {
        return Err(ApiError::not_found(format!(
            "{} renders no {}",
            job.model.provider(),
            variant.as_str()
        )));
    };
    let link = deps
        .objects
        .presign_get(&asset.key, deps.config.url_ttl)
        .await?;
    let mut r = Response::new(Bytes::new());
    *r.status_mut() = StatusCode::FOUND;
    let location = HeaderValue::from_str(&link.url).map_err(ApiError::internal)?;
    r.headers_mut().insert(header::LOCATION, location);
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

#[cfg(test)]
mod tests;
