//! The contract's error shape: `{"error":{"code","message","field"}}`.

use super::request::{Rejection, MAX_BODY_BYTES};
use crate::domain::ErrorCode;
use bytes::Bytes;
use http::{Response, StatusCode};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    pub field: Option<String>,
    allow: Option<String>,
    /// Seconds for a `Retry-After` header (429).
    retry_after: Option<u64>,
    /// What really went wrong, for the log only (5xx): `api::handle` logs it with the
    /// request id when it answers.
    pub cause: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            allow: None,
            retry_after: None,
            cause: None,
        }
    }

    /// 429 `rate_limited`: the owner is at one of its limits; `Retry-After` says when to
    /// try again (whole seconds, at least 1).
    pub fn rate_limited(message: impl Into<String>, retry_after: std::time::Duration) -> ApiError {
        ApiError {
            retry_after: Some(retry_after.as_secs().max(1)),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::RateLimited,
                message,
            )
        }
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            field: Some(field.to_string()),
            ..ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest, message)
        }
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, message)
    }

    /// Unknown ids and other owners' ids get the same answer.
    pub fn no_such_job() -> ApiError {
        ApiError::not_found("no video job with that id")
    }

    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, ErrorCode::Conflict, message)
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            "a valid bearer token is required",
        )
    }

    /// A signed link that is invalid, expired, or used for something it was not made
    /// for (403, as S3 answers a bad presigned URL).
    pub fn link_refused(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, ErrorCode::Unauthorized, message)
    }

    /// `GET /v1/events` without a WebSocket handshake (426, naming the `Upgrade` header).
    pub fn upgrade_required() -> ApiError {
        ApiError {
            field: Some("Upgrade".into()),
            ..ApiError::new(
                StatusCode::UPGRADE_REQUIRED,
                ErrorCode::InvalidRequest,
                "this is a WebSocket endpoint: connect with `Upgrade: websocket`",
            )
        }
    }

    /// A known path with the wrong method; `allow` lists the right ones (`GET, POST`).
    pub fn method_not_allowed(allow: impl Into<String>) -> ApiError {
        let allow = allow.into();
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::InvalidRequest,
            format!("this route accepts {allow}"),
        )
        .with_allow(allow)
    }

    fn with_allow(mut self, allow: String) -> ApiError {
        self.allow = Some(allow);
        self
    }

    /// A refused provider webhook: 400 naming the header or `body` we cannot read, 401
    /// for a bad or stale signature, 503 when the signing keys cannot be had (the
    /// provider delivers again later).
    pub fn webhook_refused(e: &crate::webhooks_in::WebhookError) -> ApiError {
        use crate::webhooks_in::WebhookError as W;
        match e {
            W::MissingHeader(h) | W::MalformedHeader { header: h, .. } => {
                ApiError::invalid(h, e.to_string())
            }
            W::BodyNotJson(_) | W::BodyShape { .. } => ApiError::invalid("body", e.to_string()),
            W::TimestampTooOld { .. } | W::TimestampTooNew { .. } | W::BadSignature => ApiError {
                message: e.to_string(),
                ..ApiError::unauthorized()
            },
            W::KeysUnavailable(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Internal,
                "the provider's signing keys are unavailable for now; deliver again later",
            ),
        }
    }

    /// A 500 that says nothing of internals; the cause goes to the log with the request id.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        ApiError {
            cause: Some(cause.to_string()),
            ..ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::Internal,
                "something went wrong on our side; the x-request-id header identifies this request",
            )
        }
    }

    pub fn into_response(self) -> Response<Bytes> {
        let body = serde_json::json!({
            "error": {"code": self.code, "message": self.message, "field": self.field}
        });
        let mut r = super::json(self.status, &body);
        if let Some(allow) = self
            .allow
            .and_then(|a| http::HeaderValue::from_str(&a).ok())
        {
            r.headers_mut().insert(http::header::ALLOW, allow);
        }
        if let Some(secs) = self.retry_after {
            r.headers_mut()
                .insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
        }
        r
    }
}

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> ApiError {
        match r {
            Rejection::Invalid { field, message } => ApiError {
                field,
                ..ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest, message)
            },
            Rejection::TooLarge { limit } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::InvalidRequest,
                format!("the body is larger than {} KiB", limit / 1024),
            ),
            Rejection::UnsupportedMediaType { got } => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::InvalidRequest,
                format!(
                    "the body must be application/json; got {}",
                    got.as_deref().unwrap_or("no content type")
                ),
            ),
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> ApiError {
        match e {
            crate::store::StoreError::InvalidCursor => {
                ApiError::invalid("cursor", "cursor is not one this API returned")
            }
            other => ApiError::internal(other),
        }
    }
}

const _: () = assert!(MAX_BODY_BYTES == 64 * 1024);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_have_the_contract_shape() {
        let r = ApiError::invalid("seconds", "seconds must be 4, 8 or 12").into_response();
        assert_eq!(r.status(), 400);
        let body: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"error": {"code": "invalid_request", "message": "seconds must be 4, 8 or 12", "field": "seconds"}})
        );
        let r = ApiError::internal("db exploded at /secret/path").into_response();
        let text = String::from_utf8_lossy(r.body()).to_string();
        assert!(!text.contains("secret") && text.contains("\"internal\""));
        assert_eq!(
            ApiError::from(Rejection::TooLarge { limit: 65536 }).status,
            413
        );
        assert_eq!(
            ApiError::from(Rejection::UnsupportedMediaType { got: None }).status,
            415
        );
    }
}
