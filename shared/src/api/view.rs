//! The public job object: a view of the record, with asset links minted fresh on
//! every read. Internal fields (owner, version, storage keys) never leave.

use super::{ApiDeps, ApiError};
use crate::domain::{AssetKind, Job};
use crate::store::ObjectStore;
use serde_json::{json, Value};
use std::time::Duration;

/// The job object as the routes return it.
pub async fn job_json(deps: &ApiDeps, job: &Job) -> Result<Value, ApiError> {
    job_object(deps.objects.as_ref(), deps.config.url_ttl, job).await
}

/// The job object, its asset links presigned by `objects` for `url_ttl`: all an events
/// notifier needs to send the same object the routes do.
pub async fn job_object(
    objects: &dyn ObjectStore,
    url_ttl: Duration,
    job: &Job,
) -> Result<Value, ApiError> {
    let assets = match &job.assets {
        None => Value::Null,
        Some(assets) => {
            let mut out = serde_json::Map::new();
            for kind in AssetKind::ALL {
                // An asset the provider does not make (Runway: no thumbnail) is null.
                let Some(asset) = assets.get(kind) else {
                    out.insert(kind.as_str().into(), Value::Null);
                    continue;
                };
                let link = objects.presign_get(&asset.key, url_ttl).await?;
                out.insert(
                    kind.as_str().into(),
                    json!({
                        "url": link.url,
                        "expires_at": link.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        "bytes": asset.bytes,
                        "content_type": asset.content_type,
                    }),
                );
            }
            Value::Object(out)
        }
    };
    let time =
        |t: &chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    Ok(json!({
        "id": job.id,
        "status": job.status,
        "progress": job.progress,
        "model": job.model,
        "provider": job.model.provider(),
        "seconds": job.seconds,
        "size": job.size,
        "prompt": job.prompt,
        "script": job.script,
        "style": job.style,
        "keywords": job.keywords,
        "negative_keywords": job.negative_keywords,
        "remixed_from": job.remixed_from,
        "variant_of": job.variant_of,
        "variants": job.variants,
        "provider_video_id": job.provider_video_id,
        "metadata": job.metadata,
        "created_at": time(&job.created_at),
        "updated_at": time(&job.updated_at),
        "completed_at": job.completed_at.as_ref().map(time),
        "error": job.error,
        "duration_seconds": job.duration_seconds,
        "estimated_cost_usd": job.estimated_cost_usd,
        "cost_usd": job.cost_usd,
        "timings": job.timings(),
        "assets": assets,
    }))
}
