//! The local HTTP server: the contract's `/v1` routes (the same `api::handle` the
//! Lambda calls), the `/v1/events` WebSocket (see `events`), and `/files/…`, which
//! serves signed, expiring links the way S3 serves presigned URLs. `GET /metrics`
//! ([`crate::prometheus`]) sits beside them.

use crate::events::{self, EventsDeps};
use axum::body::Body;
use axum::extract::ws::{rejection::WebSocketUpgradeRejection, WebSocketUpgrade};
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use futures::TryStreamExt;
use std::collections::HashMap;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use vidgen_shared::api::request::{Rejection, MAX_BODY_BYTES};
use vidgen_shared::api::{self, ApiDeps, ApiError};
use vidgen_shared::domain::ids::Owner;
use vidgen_shared::domain::MAX_UPLOAD_BYTES;
use vidgen_shared::events::feed::JobFeed;
use vidgen_shared::store::local_files::{LinkError, LocalObjectStore, PutError, SignedRequest};
use vidgen_shared::store::{ObjectStore, StoreError};

#[derive(Clone)]
pub struct AppState {
    api: Arc<ApiDeps>,
    /// The embedded file store whose signed links `/files` serves; `None` when files
    /// live in S3 (`VIDGEN_BACKEND=aws`), whose presigned links go to S3 itself.
    files: Option<Arc<LocalObjectStore>>,
    /// token → owner; empty = single-user.
    tokens: Arc<HashMap<String, String>>,
    /// What `/v1/events` connections read.
    feed: Arc<JobFeed>,
    /// Cancelled when the server stops, closing the event connections (upgraded
    /// connections outlive the HTTP server's graceful shutdown).
    closing: CancellationToken,
}

impl AppState {
    pub fn new(
        api: ApiDeps,
        files: Option<Arc<LocalObjectStore>>,
        tokens: Vec<(String, String)>,
        feed: Arc<JobFeed>,
        closing: CancellationToken,
    ) -> AppState {
        AppState {
            api: Arc::new(api),
            files,
            tokens: Arc::new(tokens.into_iter().collect()),
            feed,
            closing,
        }
    }

    /// The caller: the owner of the bearer token, or `local` when no tokens are set.
    fn owner(&self, headers: &HeaderMap) -> Option<String> {
        self.owner_of(bearer(headers))
    }

    fn owner_of(&self, token: Option<&str>) -> Option<String> {
        if self.tokens.is_empty() {
            return Some("local".into());
        }
        self.tokens.get(token?.trim()).cloned()
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

/// Bodies above the contract's 64 KiB still reach the API, which answers its own 413.
const API_BODY_LIMIT: usize = 1024 * 1024;
/// Uploads are at most 10 MiB, pinned further by each link.
const FILE_BODY_LIMIT: usize = 10 * 1024 * 1024 + 1;

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/v1/events", any(events_route))
        // The web console; the API answers it like any public route.
        .route("/", any(api_route))
        .route("/v1", any(api_route))
        .route("/v1/{*rest}", any(api_route))
        .layer(DefaultBodyLimit::max(API_BODY_LIMIT))
        .with_state(state.clone())
        .merge(crate::prometheus::router());
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

/// `GET /v1/events`: the caller is the bearer token's owner, or `?access_token=`'s
/// (browsers cannot set headers on a WebSocket); an unknown token is refused before the
/// upgrade. Any other method answers the contract's 405.
async fn events_route(
    State(state): State<AppState>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    request: Request,
) -> Response {
    if request.method() != Method::GET {
        return into_axum(ApiError::method_not_allowed("GET").into_response());
    }
    let query_token = api::query_pairs(request.uri())
        .into_iter()
        .find(|(k, _)| k == "access_token")
        .map(|(_, v)| v);
    let token = bearer(request.headers()).or(query_token.as_deref());
    let Some(owner) = state.owner_of(token) else {
        return into_axum(ApiError::unauthorized().into_response());
    };
    let Ok(upgrade) = upgrade else {
        return into_axum(ApiError::upgrade_required().into_response());
    };
    let deps = EventsDeps {
        api: state.api.clone(),
        feed: state.feed.clone(),
        closing: state.closing.clone(),
    };
    upgrade.on_upgrade(move |socket| events::serve(socket, deps, Owner::new(owner)))
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
    // The body may be exactly the signed length, which is at most the upload cap.
    let expected = match signed.bytes {
        Some(n) if n <= MAX_UPLOAD_BYTES => n,
        _ => {
            return link_error(
                StatusCode::FORBIDDEN,
                "the link does not pin an upload length within 10 MiB",
            )
        }
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n != expected) {
        return link_error(
            StatusCode::FORBIDDEN,
            &format!(
                "the link is for {expected} bytes; the request declares {}",
                declared.unwrap_or_default()
            ),
        );
    }
    let body = request
        .into_body()
        .into_data_stream()
        .map_err(|e| StoreError::Source(e.to_string()));
    // Checked before it replaces anything: a bad PUT leaves the previous upload.
    match files.put_exact(&key, Box::pin(body), expected).await {
        Ok(_) => StatusCode::OK.into_response(),
        Err(e @ PutError::WrongLength { .. }) => link_error(StatusCode::FORBIDDEN, &e.to_string()),
        Err(PutError::Store(StoreError::Source(e))) => {
            tracing::warn!(error = %e, "upload body failed");
            StatusCode::BAD_REQUEST.into_response()
        }
        Err(PutError::Store(e)) => {
            tracing::error!(error = %e, "storing an upload");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::stack::{RunningStack, StackConfig};
    use std::time::Duration;

    /// A PUT link is for exactly its signed length; a bad PUT never touches the file a
    /// good one left.
    #[tokio::test]
    async fn a_bad_put_leaves_the_previous_upload_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let stack = RunningStack::start(StackConfig::local(
            "127.0.0.1:0".parse().unwrap(),
            dir.path().to_path_buf(),
        ))
        .await
        .unwrap();
        let key = "uploads/616c696365/up_01J9ZV6Q8W3X4Y5Z6A7B8C9D0E";
        let good: Vec<u8> = (0..100u8).collect();
        let link = stack
            .objects
            .presign_put(key, "image/png", 100, Duration::from_secs(60))
            .await
            .unwrap();
        let client = reqwest::Client::new();
        let put = |body: Vec<u8>| {
            client
                .put(&link.url)
                .header("content-type", "image/png")
                .body(body)
                .send()
        };
        assert_eq!(put(good.clone()).await.unwrap().status(), 200);
        let stored = || async {
            stack
                .objects
                .get_bytes(key, 1 << 30)
                .await
                .unwrap()
                .map(|(b, _)| b.to_vec())
        };
        assert_eq!(stored().await.as_deref(), Some(&good[..]));

        // Too short, too long, far too long (beyond the 10 MiB cap), and a body with
        // no length that runs past the signed one: all refused, the good file stays.
        for body in [vec![1u8; 50], vec![2u8; 101], vec![3u8; 11 * 1024 * 1024]] {
            let n = body.len();
            let status = put(body).await.unwrap().status();
            assert!(status.is_client_error(), "{n} bytes: {status}");
            assert_eq!(
                stored().await.as_deref(),
                Some(&good[..]),
                "after {n} bytes"
            );
        }
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
            vec![Ok(vec![4u8; 80]), Ok(vec![4u8; 80])];
        let status = client
            .put(&link.url)
            .header("content-type", "image/png")
            .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_client_error(), "streamed: {status}");
        assert_eq!(
            stored().await.as_deref(),
            Some(&good[..]),
            "after a streamed body"
        );
        // No temporary files are left behind.
        let tmp = dir.path().join("files").join(".tmp");
        let left = std::fs::read_dir(&tmp).map(|d| d.count()).unwrap_or(0);
        assert_eq!(left, 0);

        // A new good PUT still replaces it.
        let newer = vec![9u8; 100];
        assert_eq!(put(newer.clone()).await.unwrap().status(), 200);
        assert_eq!(stored().await.as_deref(), Some(&newer[..]));
        stack.shutdown().await;
    }
}
