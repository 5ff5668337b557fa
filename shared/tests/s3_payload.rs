//! What the S3 adapter puts on the wire for a video's bytes: an unsigned payload (no
//! SHA-256 pass over the video for the signature) with a CRC32 checksum of each body,
//! which S3 checks, so integrity is not traded away. A small S3 stand-in on 127.0.0.1
//! records every PUT; s3s-fs (aws_stores.rs) checks the bytes themselves.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::Router;
use base64::Engine;
use futures::StreamExt;
use std::sync::{Arc, Mutex};
use vidgen_shared::aws::{s3_client, static_sdk_config};
use vidgen_shared::store::s3::{S3ObjectStore, MIN_PART_SIZE};
use vidgen_shared::store::ObjectStore;

/// (query, x-amz-content-sha256, x-amz-checksum-crc32, body) of every PUT.
type Puts = Arc<Mutex<Vec<(String, String, String, Bytes)>>>;

async fn s3(
    State(puts): State<Puts>,
    method: Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, [(&'static str, &'static str); 2], &'static str) {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("(none)")
            .to_string()
    };
    let query = query.unwrap_or_default();
    let xml = ("content-type", "application/xml");
    let etag = ("etag", "\"etag\"");
    match method {
        Method::PUT => {
            let sha = header("x-amz-content-sha256");
            let crc = header("x-amz-checksum-crc32");
            puts.lock().unwrap().push((query, sha, crc, body));
            (StatusCode::OK, [xml, etag], "")
        }
        Method::POST if query.contains("uploads") => (
            StatusCode::OK,
            [xml, etag],
            "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>\
             <UploadId>u1</UploadId></InitiateMultipartUploadResult>",
        ),
        Method::POST => (
            StatusCode::OK,
            [xml, etag],
            "<CompleteMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>\
             <ETag>\"etag\"</ETag></CompleteMultipartUploadResult>",
        ),
        _ => (StatusCode::NOT_IMPLEMENTED, [xml, etag], ""),
    }
}

/// CRC-32 (IEEE, reflected), as `x-amz-checksum-crc32` carries it: base64 of the
/// big-endian value. Bitwise, so the test shares no code with the SDK's.
fn crc32_base64(data: &[u8]) -> String {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    base64::engine::general_purpose::STANDARD.encode((!crc).to_be_bytes())
}

async fn stand_in() -> (S3ObjectStore, Puts) {
    let puts = Puts::default();
    let app = Router::new()
        .fallback(s3)
        .with_state(puts.clone())
        // Parts are 5 MiB, over axum's 2 MiB default.
        .layer(axum::extract::DefaultBodyLimit::max(2 * MIN_PART_SIZE));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let sdk = static_sdk_config(&format!("http://{addr}"), "testing", "testing");
    let store = S3ObjectStore::new(s3_client(&sdk, true), "b").with_multipart(MIN_PART_SIZE, 2);
    (store, puts)
}

fn body(size: usize) -> (Vec<u8>, vidgen_shared::store::ByteStream) {
    let data: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
    let chunks: Vec<_> = data
        .chunks(64 * 1024)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    (data, futures::stream::iter(chunks).boxed())
}

#[tokio::test]
async fn parts_and_small_bodies_go_unsigned_with_a_crc32_of_their_bytes() {
    let (store, puts) = stand_in().await;
    let size = 2 * MIN_PART_SIZE + 1234;
    let (data, stream) = body(size);
    assert_eq!(
        store.put_stream("k", "video/mp4", stream).await.unwrap(),
        size as u64
    );
    let (small, stream) = body(1000);
    store.put_stream("s", "image/webp", stream).await.unwrap();

    let mut puts = puts.lock().unwrap().clone();
    assert_eq!(puts.len(), 4, "three parts and one PutObject");
    let single = puts.pop().unwrap();
    let mut sent = Vec::new();
    for (query, sha, crc, bytes) in puts.iter().chain([&single]) {
        assert_eq!(sha, "UNSIGNED-PAYLOAD", "{query}");
        assert_eq!(*crc, crc32_base64(bytes), "{query}");
        if query.contains("UploadPart") {
            sent.push((query.clone(), bytes.clone()));
        }
    }
    sent.sort_by_key(|(query, _)| {
        ["partNumber=1&", "partNumber=2&", "partNumber=3&"]
            .iter()
            .position(|p| query.contains(p))
    });
    let joined: Vec<u8> = sent.iter().flat_map(|(_, b)| b.to_vec()).collect();
    assert!(joined == data, "the parts, in order, are the video");
    assert_eq!(single.3.as_ref(), small.as_slice());
}
