//! `POST /v1/uploads`: a presigned PUT for a reference image.

use super::request as validation;
use super::{json, ApiDeps, ApiError, Call};
use crate::domain::ids::new_upload_id;
use crate::domain::job::upload_key;
use crate::store::Upload;
use bytes::Bytes;
use chrono::Utc;
use http::{Response, StatusCode};

pub async fn create(deps: &ApiDeps, call: &Call<'_>) -> Result<Response<Bytes>, ApiError> {
    let req = validation::upload_request(call.content_type(), call.body())?;
    let now = Utc::now();
    let id = new_upload_id();
    let upload = Upload {
        key: upload_key(call.owner, &id),
        id,
        owner: call.owner.clone(),
        content_type: req.content_type,
        bytes: req.bytes,
        created_at: now,
        expires_at: now
            + chrono::Duration::from_std(deps.config.upload_ttl).map_err(ApiError::internal)?,
    };
    let link = deps
        .objects
        .presign_put(
            &upload.key,
            &upload.content_type,
            upload.bytes,
            deps.config.upload_url_ttl,
        )
        .await?;
    deps.jobs.put_upload(&upload).await?;
    Ok(json(
        StatusCode::CREATED,
        &serde_json::json!({
            "upload_id": upload.id,
            "url": link.url,
            "expires_at": link.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }),
    ))
}
