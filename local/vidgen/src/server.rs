//! The local HTTP server: the contract's `/v1` routes (the same `api::handle` the
//! Lambda calls) and `/files/…`, which serves signed, expiring links the way S3
//! serves presigned URLs.

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use futures::TryStreamExt;
use std::collections::HashMap;
use std::sync::Arc;
use vidgen_shared::api::request::{Rejection, MAX_BODY_BYTES};
use vidgen_shared::api::{self, ApiDeps, ApiError};
use vidgen_shared::store::local_files::{LinkError, LocalObjectStore, SignedRequest};
use vidgen_shared::store::{ObjectStore, StoreError};

#[derive(Clone)]
pub struct AppState {
    api: Arc<ApiDeps>,
    /// The embedded file store whose signed links `/files` serves; `None` when files
    /// live in S3 (`VIDGEN_BACKEND=aws`), whose presigned links go to S3 itself.
    files: Option<Arc<LocalObjectStore>>,
    /// token → owner; empty = single-user.
    tokens: Arc<HashMap<String, String>>,
}

impl AppState {
    pub fn new(
        api: ApiDeps,
        files: Option<Arc<LocalObjectStore>>,
        tokens: Vec<(String, String)>,
    ) -> AppState {
        AppState {
            api: Arc::new(api),
            files,
            tokens: Arc::new(tokens.into_iter().collect()),
        }
    }

    /// The caller: the owner of the bearer token, or `local` when no tokens are set.
    fn owner(&self, headers: &HeaderMap) -> Option<String> {
        if self.tokens.is_empty() {
            return Some("local".into());
        }
        let token = headers
            .get(header::AUTHORIZATION)?
            .to_str()
            .ok()?
            .strip_prefix("Bearer ")?;
        self.tokens.get(token.trim()).cloned()
    }
}

/// Bodies above the contract's 64 KiB still reach the API, which answers its own 413.
const API_BODY_LIMIT: usize = 1024 * 1024;
/// Uploads are at most 10 MiB, pinned further by each link.
const FILE_BODY_LIMIT: usize = 10 * 1024 * 1024 + 1;

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/v1", any(api_route))
        .route("/v1/{*rest}", any(api_route))
        .layer(DefaultBodyLimit::max(API_BODY_LIMIT))
        .with_state(state.clone());
    match state.files {
        Some(files) => api.merge(
            Router::new()
                .route("/files/{*key}", get(get_file).put(put_file))
                .layer(DefaultBodyLimit::max(FILE_BODY_LIMIT))
                .with_state(files),
        ),
        None => api,
    }
}

pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    if let Err(e) = axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!(error = %e, "server stopped");
    }
}

async fn api_route(State(state): State<AppState>, request: Request) -> Response {
    let owner = state.owner(request.headers());
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, API_BODY_LIMIT).await {
        Ok(b) => b,
        Err(_) => {
            let too_big = Rejection::TooLarge {
                limit: MAX_BODY_BYTES,
            };
            return into_axum(ApiError::from(too_big).into_response());
        }
    };
    let request = http::Request::from_parts(parts, body);
    into_axum(api::handle(&state.api, owner.as_deref(), request).await)
}

fn into_axum(response: http::Response<bytes::Bytes>) -> Response {
    let (parts, body) = response.into_parts();
    Response::from_parts(parts, Body::from(body))
}

/// A refused file link (403, as S3 refuses a bad presigned URL) or a missing file
/// (404), in the contract's error shape.
fn link_error(status: StatusCode, message: &str) -> Response {
    let error = if status == StatusCode::NOT_FOUND {
        ApiError::not_found(message)
    } else {
        ApiError::link_refused(message)
    };
    into_axum(error.into_response())
}

fn verify(
    files: &LocalObjectStore,
    method: &Method,
    key: &str,
    request: &Request,
) -> Result<SignedRequest, LinkError> {
    let pairs = api::query_pairs(request.uri());
    files.verify(
        method.as_str(),
        key,
        pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        chrono::Utc::now(),
    )
}

fn forbidden(e: LinkError) -> Response {
    link_error(StatusCode::FORBIDDEN, &e.to_string())
}

async fn get_file(
    State(files): State<Arc<LocalObjectStore>>,
    Path(key): Path<String>,
    request: Request,
) -> Response {
    if let Err(e) = verify(&files, &Method::GET, &key, &request) {
        return forbidden(e);
    }
    let meta = match files.head(&key).await {
        Ok(Some(m)) => m,
        Ok(None) => return link_error(StatusCode::NOT_FOUND, "no such file"),
        Err(e) => {
            tracing::error!(error = %e, "reading a file");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let file = match files.file_path(&key) {
        Ok(path) => match tokio::fs::File::open(path).await {
            Ok(f) => f,
            Err(_) => return link_error(StatusCode::NOT_FOUND, "no such file"),
        },
        Err(_) => return link_error(StatusCode::NOT_FOUND, "no such file"),
    };
    Response::builder()
        .status(StatusCode::OK)
        .header(
            header::CONTENT_TYPE,
            meta.content_type
                .unwrap_or_else(|| "application/octet-stream".into()),
        )
        .header(header::CONTENT_LENGTH, meta.bytes)
        .body(Body::from_stream(tokio_util::io::ReaderStream::new(file)))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

async fn put_file(
    State(files): State<Arc<LocalObjectStore>>,
    Path(key): Path<String>,
    request: Request,
) -> Response {
    let signed = match verify(&files, &Method::PUT, &key, &request) {
        Ok(s) => s,
        Err(e) => return forbidden(e),
    };
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if content_type != signed.content_type {
        return link_error(
            StatusCode::FORBIDDEN,
            "the content type is not the one the link was made for",
        );
    }
    let expected = signed.bytes.unwrap_or(0);
    let body = request
        .into_body()
        .into_data_stream()
        .map_err(|e| StoreError::Source(e.to_string()));
    let stored = files
        .put_stream(
            &key,
            content_type.as_deref().unwrap_or_default(),
            Box::pin(body),
        )
        .await;
    match stored {
        Ok(n) if n == expected => StatusCode::OK.into_response(),
        Ok(n) => {
            let _ = files.delete(&key).await;
            link_error(
                StatusCode::FORBIDDEN,
                &format!("the link is for {expected} bytes; {n} were sent"),
            )
        }
        Err(e) => {
            tracing::warn!(error = %e, "upload failed");
            StatusCode::BAD_REQUEST.into_response()
        }
    }
}
