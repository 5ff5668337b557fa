//! The public HTTP contract (`shared/reference/http-api.md`), transport-neutral.
//!
//! The Lambda (lambda_http) and the local server both turn their request into an
//! `http::Request<Bytes>`, work out the caller (owner), and call [`handle`].

mod errors;
mod jobs;
mod uploads;
mod view;

pub use errors::ApiError;

use crate::callback::CallbackSender;
use crate::domain::validation::ValidationPolicy;
use crate::engine::WorkflowEngine;
use crate::store::{JobStore, ObjectStore};
use bytes::Bytes;
use http::{header, Method, Response, StatusCode};
use std::sync::Arc;
use std::time::Duration;

/// The longest `URL_TTL_SECS` honoured: 12 h. In AWS, links are signed with the API
/// Lambda's temporary role credentials, and a presigned URL stops working when the
/// credentials that signed it expire, whatever its own expiry says; role sessions last
/// at most 12 h. template.yaml's `UrlTtlSeconds` has the same maximum.
pub const MAX_URL_TTL_SECS: u64 = 12 * 3600;

/// `URL_TTL_SECS`, refused (naming the variable) above [`MAX_URL_TTL_SECS`] rather than
/// promising links that die early.
pub fn check_url_ttl(ttl: Duration) -> Result<Duration, crate::config::ConfigError> {
    if ttl.as_secs() > MAX_URL_TTL_SECS {
        return Err(crate::config::ConfigError {
            var: "URL_TTL_SECS".into(),
            message: format!(
                "{} s is longer than {MAX_URL_TTL_SECS} s (12 h): presigned links are signed \
                 with temporary role credentials and stop working when those expire",
                ttl.as_secs()
            ),
        });
    }
    Ok(ttl)
}

/// Knobs of the API.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub policy: ValidationPolicy,
    /// Lifetime of presigned GET links in job objects and content redirects (default 1 h).
    pub url_ttl: Duration,
    /// Lifetime of presigned PUT links for uploads (default 15 min).
    pub upload_url_ttl: Duration,
    /// How long an upload stays usable as a reference image (default 24 h).
    pub upload_ttl: Duration,
    /// How long an Idempotency-Key is remembered (24 h).
    pub idempotency_ttl: Duration,
    /// Reported by /v1/health.
    pub version: String,
    /// Tells a canceled job's `callback_url`; `None` sends no webhooks.
    pub callbacks: Option<CallbackSender>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            policy: ValidationPolicy::default(),
            url_ttl: Duration::from_secs(3600),
            upload_url_ttl: Duration::from_secs(15 * 60),
            upload_ttl: Duration::from_secs(24 * 3600),
            idempotency_ttl: Duration::from_secs(24 * 3600),
            version: env!("CARGO_PKG_VERSION").to_string(),
            callbacks: None,
        }
    }
}

/// What the API needs.
#[derive(Clone)]
pub struct ApiDeps {
    pub jobs: Arc<dyn JobStore>,
    pub objects: Arc<dyn ObjectStore>,
    pub engine: Arc<dyn WorkflowEngine>,
    pub config: ApiConfig,
}

/// The parts of a request the routes use.
pub(crate) struct Call<'a> {
    pub owner: &'a str,
    pub request: &'a http::Request<Bytes>,
}

impl Call<'_> {
    pub fn content_type(&self) -> Option<&str> {
        self.request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
    }

    pub fn body(&self) -> &[u8] {
        self.request.body()
    }

    pub fn query_pairs(&self) -> Vec<(String, String)> {
        query_pairs(self.request.uri())
    }
}

/// The URI's query, decoded, in order (repeated names kept).
pub fn query_pairs(uri: &http::Uri) -> Vec<(String, String)> {
    uri.query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

/// Serve one request. `owner` is the authenticated caller (JWT `sub` in AWS, the
/// token's owner locally); `None` answers 401 on every route but `/v1/health`.
pub async fn handle(
    deps: &ApiDeps,
    owner: Option<&str>,
    request: http::Request<Bytes>,
) -> Response<Bytes> {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|id| {
            (1..=128).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map(str::to_string)
        .unwrap_or_else(crate::domain::ids::new_request_id);
    let span = tracing::info_span!("request", request_id = %request_id, method = %request.method(), path = %request.uri().path());
    let _enter = span.enter();
    let mut response = match route(deps, owner, &request).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    if let Ok(v) = http::HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", v);
    }
    tracing::info!(status = response.status().as_u16(), "answered");
    response
}

async fn route(
    deps: &ApiDeps,
    owner: Option<&str>,
    request: &http::Request<Bytes>,
) -> Result<Response<Bytes>, ApiError> {
    let path = request.uri().path().trim_end_matches('/');
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let method = request.method();
    if segments == ["v1", "health"] {
        return match *method {
            Method::GET => Ok(json(
                StatusCode::OK,
                &serde_json::json!({"status": "ok", "version": deps.config.version}),
            )),
            _ => Err(ApiError::method_not_allowed("GET")),
        };
    }
    // Every other route needs a caller; check the route exists first so typos still 404.
    let allowed = match segments.as_slice() {
        ["v1", "videos"] => "GET, POST",
        ["v1", "videos", _] => "GET, DELETE",
        ["v1", "videos", _, "remix" | "cancel"] => "POST",
        ["v1", "videos", _, "content"] => "GET",
        ["v1", "uploads"] => "POST",
        _ => return Err(ApiError::not_found("no such route")),
    };
    let Some(owner) = owner else {
        return Err(ApiError::unauthorized());
    };
    let call = Call { owner, request };
    match (method.clone(), segments.as_slice()) {
        (Method::POST, ["v1", "videos"]) => jobs::create(deps, &call).await,
        (Method::GET, ["v1", "videos"]) => jobs::list(deps, &call).await,
        (Method::GET, ["v1", "videos", id]) => jobs::get(deps, &call, id).await,
        (Method::DELETE, ["v1", "videos", id]) => jobs::delete(deps, &call, id).await,
        (Method::POST, ["v1", "videos", id, "remix"]) => jobs::remix(deps, &call, id).await,
        (Method::POST, ["v1", "videos", id, "cancel"]) => jobs::cancel(deps, &call, id).await,
        (Method::GET, ["v1", "videos", id, "content"]) => jobs::content(deps, &call, id).await,
        (Method::POST, ["v1", "uploads"]) => uploads::create(deps, &call).await,
        _ => Err(ApiError::method_not_allowed(allowed)),
    }
}

/// A JSON response with the contract's content type.
pub(crate) fn json(status: StatusCode, body: &serde_json::Value) -> Response<Bytes> {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut r = Response::new(Bytes::from(bytes));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}
