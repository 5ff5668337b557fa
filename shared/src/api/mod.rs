//! The public HTTP contract (`shared/reference/http-api.md`), transport-neutral.
//!
//! The Lambda (lambda_http) and the local server both turn their request into an
//! `http::Request<Bytes>`, work out the caller (owner), and call [`handle`].

mod console;
mod errors;
mod jobs;
mod models;
mod provider_webhooks;
pub mod request;
mod uploads;
mod view;

#[cfg(test)]
mod tests;

pub use errors::ApiError;
/// The public job object, as every route and every event carries it.
pub use view::{job_json, job_object};

use crate::callback::DeliveryQueue;
use crate::domain::ids::Owner;
use crate::domain::Limits;
use crate::engine::WorkflowEngine;
use crate::store::{JobStore, ObjectStore};
use crate::webhooks_in::receiver::ProviderWebhooks;
use bytes::Bytes;
use http::{header, Response, StatusCode};
pub use request::ValidationPolicy;
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
    /// Where a canceled job's `callback_url` delivery is queued; `None` sends no webhooks.
    pub callbacks: Option<Arc<dyn DeliveryQueue>>,
    /// Per-owner limits on unfinished jobs and daily estimated spend.
    pub limits: Limits,
    /// The events WebSocket the console connects to (AWS: the WebSocket API's `wss://`
    /// stage URL, `VIDGEN_EVENTS_URL`); `None`: the same origin's `/v1/events`.
    pub events_url: Option<String>,
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
            limits: Limits::DEFAULT,
            events_url: None,
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
    /// What provider webhooks are verified with (built once per process).
    pub webhooks: Arc<ProviderWebhooks>,
}

/// The parts of a request the routes use.
pub(crate) struct Call<'a> {
    pub owner: &'a Owner,
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
/// token's owner locally); `None` answers 401 on every route of [`ROUTES`] that needs
/// an owner (all but `/v1/health` and `/v1/openapi.json`).
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
        Err(e) => {
            if let Some(cause) = &e.cause {
                tracing::error!(error = %cause, "internal error");
            }
            e.into_response()
        }
    };
    if let Ok(v) = http::HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", v);
    }
    tracing::info!(status = response.status().as_u16(), "answered");
    response
}

/// The contract as an OpenAPI 3.1 document (`openapi.json` at the repository root),
/// embedded so `GET /v1/openapi.json` serves it byte for byte.
pub const OPENAPI_JSON: &str = include_str!("../../../openapi.json");

/// What answers a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    /// Anyone may call it (no owner needed).
    Public(PublicOp),
    /// Only an authenticated caller (owner); without one the answer is 401.
    Owned(OwnedOp),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicOp {
    /// The web console (`GET /`): a static page; its API calls carry the token.
    Console,
    Health,
    OpenApi,
    /// The provider's signature is the auth.
    ProviderWebhook,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnedOp {
    CreateVideo,
    ListVideos,
    GetVideo,
    DeleteVideo,
    RemixVideo,
    CancelVideo,
    AddVariant,
    VideoContent,
    CreateUpload,
    ListModels,
}

/// One route the API serves: a method and a path template (`{name}` matches one segment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteSpec {
    pub method: &'static str,
    pub path: &'static str,
    pub handler: Handler,
}

impl RouteSpec {
    const fn public(method: &'static str, path: &'static str, op: PublicOp) -> RouteSpec {
        RouteSpec {
            method,
            path,
            handler: Handler::Public(op),
        }
    }

    const fn owned(method: &'static str, path: &'static str, op: OwnedOp) -> RouteSpec {
        RouteSpec {
            method,
            path,
            handler: Handler::Owned(op),
        }
    }

    /// Whether the route needs an authenticated caller.
    pub fn needs_owner(&self) -> bool {
        matches!(self.handler, Handler::Owned(_))
    }

    /// The path's parameter values, in order, when `path` fits this route's template.
    pub fn fit<'p>(&self, path: &'p str) -> Option<Vec<&'p str>> {
        let mut template = self.path.split('/');
        let mut given = path.split('/');
        let mut params = Vec::new();
        loop {
            match (template.next(), given.next()) {
                (None, None) => return Some(params),
                (Some(t), Some(g)) if t.starts_with('{') && t.ends_with('}') => params.push(g),
                (Some(t), Some(g)) if t == g => {}
                _ => return None,
            }
        }
    }
}

/// Every route the API serves: the router decides 404, 405 (and `Allow`) and 401 from
/// this table alone, and `openapi.json` documents exactly these (a test holds them equal).
/// For one path, list methods in the order `Allow` should name them.
pub const ROUTES: &[RouteSpec] = &[
    RouteSpec::public("GET", "/", PublicOp::Console),
    RouteSpec::public("GET", "/v1/health", PublicOp::Health),
    RouteSpec::public("GET", "/v1/openapi.json", PublicOp::OpenApi),
    RouteSpec::public(
        "POST",
        "/v1/provider-webhooks/{provider}",
        PublicOp::ProviderWebhook,
    ),
    RouteSpec::owned("GET", "/v1/videos", OwnedOp::ListVideos),
    RouteSpec::owned("POST", "/v1/videos", OwnedOp::CreateVideo),
    RouteSpec::owned("GET", "/v1/videos/{id}", OwnedOp::GetVideo),
    RouteSpec::owned("DELETE", "/v1/videos/{id}", OwnedOp::DeleteVideo),
    RouteSpec::owned("POST", "/v1/videos/{id}/remix", OwnedOp::RemixVideo),
    RouteSpec::owned("POST", "/v1/videos/{id}/cancel", OwnedOp::CancelVideo),
    RouteSpec::owned("POST", "/v1/videos/{id}/variants", OwnedOp::AddVariant),
    RouteSpec::owned("GET", "/v1/videos/{id}/content", OwnedOp::VideoContent),
    RouteSpec::owned("POST", "/v1/uploads", OwnedOp::CreateUpload),
    RouteSpec::owned("GET", "/v1/models", OwnedOp::ListModels),
];

async fn route(
    deps: &ApiDeps,
    owner: Option<&str>,
    request: &http::Request<Bytes>,
) -> Result<Response<Bytes>, ApiError> {
    // `/v1/videos/` is `/v1/videos`; `/` itself stays `/` (the console).
    let path = match request.uri().path().trim_end_matches('/') {
        "" => "/",
        path => path,
    };
    let on_path: Vec<(&RouteSpec, Vec<&str>)> = ROUTES
        .iter()
        .filter_map(|spec| spec.fit(path).map(|params| (spec, params)))
        .collect();
    if on_path.is_empty() {
        return Err(ApiError::not_found("no such route"));
    }
    // A known path that needs a caller says 401 before it says 405.
    if owner.is_none() && on_path.iter().any(|(spec, _)| spec.needs_owner()) {
        return Err(ApiError::unauthorized());
    }
    let Some((spec, params)) = on_path
        .iter()
        .find(|(spec, _)| spec.method == request.method().as_str())
    else {
        let allow: Vec<&str> = on_path.iter().map(|(spec, _)| spec.method).collect();
        return Err(ApiError::method_not_allowed(allow.join(", ")));
    };
    let op = match spec.handler {
        Handler::Public(PublicOp::Console) => return Ok(console::serve(deps).await),
        Handler::Public(PublicOp::Health) => {
            return Ok(json(
                StatusCode::OK,
                &serde_json::json!({"status": "ok", "version": deps.config.version}),
            ))
        }
        Handler::Public(PublicOp::OpenApi) => return Ok(openapi()),
        Handler::Public(PublicOp::ProviderWebhook) => {
            let provider = params.first().copied().unwrap_or_default();
            return provider_webhooks::receive(deps, request, provider).await;
        }
        Handler::Owned(op) => op,
    };
    let Some(owner) = owner.map(Owner::new) else {
        return Err(ApiError::unauthorized());
    };
    let call = Call {
        owner: &owner,
        request,
    };
    // Every templated route has exactly one parameter, the job id.
    let id = params.first().copied().unwrap_or_default();
    match op {
        OwnedOp::CreateVideo => jobs::create(deps, &call).await,
        OwnedOp::ListVideos => jobs::list(deps, &call).await,
        OwnedOp::GetVideo => jobs::get(deps, &call, id).await,
        OwnedOp::DeleteVideo => jobs::delete(deps, &call, id).await,
        OwnedOp::RemixVideo => jobs::remix(deps, &call, id).await,
        OwnedOp::CancelVideo => jobs::cancel(deps, &call, id).await,
        OwnedOp::AddVariant => jobs::add_variant(deps, &call, id).await,
        OwnedOp::ListModels => Ok(models::list(deps)),
        OwnedOp::VideoContent => jobs::content(deps, &call, id).await,
        OwnedOp::CreateUpload => uploads::create(deps, &call).await,
    }
}

/// `GET /v1/openapi.json`: the embedded document, as it is in the repository.
fn openapi() -> Response<Bytes> {
    let mut r = Response::new(Bytes::from_static(OPENAPI_JSON.as_bytes()));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
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
