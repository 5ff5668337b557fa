//! The S3 object store.
//!
//! `put_stream` never holds more than `part_size × (concurrency + 1)` bytes: one part
//! being filled and at most `concurrency` parts in flight. Bodies that fit in one part
//! go up in a single PutObject; larger ones as a multipart upload that is aborted on any
//! error, so no partial object ever becomes visible (the bucket's lifecycle rule also
//! aborts stragglers after a day).
//!
//! Bodies go up with an unsigned payload: the SDK would otherwise hash every byte with
//! SHA-256 for the signature, a second pass over the video on top of the CRC32 checksum
//! it sends anyway (`x-amz-checksum-crc32`, which S3 checks), so integrity is kept and
//! the download step spends less CPU per byte.

use super::{ByteStream, ObjectMeta, ObjectStore, SignedUrl, StoreError};
use async_trait::async_trait;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream as SdkBody;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use std::time::Duration;

/// S3's smallest allowed part (all but the last).
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;

/// The part buffers of one multipart upload. A part's bytes come back here once S3 has
/// answered for it (the SDK has dropped its handle by then), so an upload allocates
/// `concurrency + 1` buffers however long the video. Allocating each part afresh let
/// glibc raise its mmap threshold to the part size at the first free; later parts then
/// came from per-thread heaps that fragment and stay resident, and peak RSS grew with
/// the video's length (benches/download.sh, 2 GiB).
struct PartBuffers {
    part_size: usize,
    spare: Vec<BytesMut>,
}

impl PartBuffers {
    fn new(part_size: usize) -> PartBuffers {
        PartBuffers {
            part_size,
            spare: Vec::new(),
        }
    }

    /// An empty buffer with room for a part: a returned one if there is one.
    fn take(&mut self) -> BytesMut {
        self.spare
            .pop()
            .unwrap_or_else(|| BytesMut::with_capacity(self.part_size))
    }

    /// Keep a sent part's allocation for the next part, if nothing else holds it (a
    /// handle still alive elsewhere just means a fresh buffer next time).
    fn give_back(&mut self, sent: Bytes) {
        if let Ok(mut buf) = sent.try_into_mut() {
            buf.clear();
            if buf.capacity() >= self.part_size {
                self.spare.push(buf);
            }
        }
    }
}

#[derive(Clone)]
pub struct S3ObjectStore {
    client: Client,
    bucket: String,
    part_size: usize,
    concurrency: usize,
}

fn backend<E: std::error::Error>(e: E) -> StoreError {
    StoreError::Backend(DisplayErrorContext(&e).to_string())
}

impl S3ObjectStore {
    pub fn new(client: Client, bucket: impl Into<String>) -> S3ObjectStore {
        S3ObjectStore {
            client,
            bucket: bucket.into(),
            part_size: 8 * 1024 * 1024,
            // Three 8 MiB parts in flight, 32 MiB of video with the one being filled:
            // benches/download.sh measured 57.8 MiB peak RSS at 256 MiB with three,
            // 64.2 MiB with four; upload throughput to S3 is per connection.
            concurrency: 3,
        }
    }

    pub fn with_multipart(mut self, part_size: usize, concurrency: usize) -> S3ObjectStore {
        self.part_size = part_size.max(MIN_PART_SIZE);
        self.concurrency = concurrency.max(1);
        self
    }

    /// Fill `buf` up to a part from the stream; false once the stream has ended.
    async fn fill(
        &self,
        body: &mut ByteStream,
        buf: &mut BytesMut,
        carry: &mut Option<Bytes>,
    ) -> Result<bool, StoreError> {
        if let Some(rest) = carry.take() {
            buf.extend_from_slice(&rest);
        }
        while buf.len() < self.part_size {
            match body.next().await {
                Some(Ok(chunk)) => {
                    let room = self.part_size - buf.len();
                    if chunk.len() > room {
                        buf.extend_from_slice(&chunk[..room]);
                        *carry = Some(chunk.slice(room..));
                    } else {
                        buf.extend_from_slice(&chunk);
                    }
                }
                Some(Err(e)) => return Err(e),
                None => return Ok(false),
            }
        }
        Ok(true)
    }

    async fn multipart(
        &self,
        key: &str,
        content_type: &str,
        first: Bytes,
        mut body: ByteStream,
        mut carry: Option<Bytes>,
    ) -> Result<u64, StoreError> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .send()
            .await
            .map_err(backend)?;
        let upload_id = created
            .upload_id()
            .ok_or_else(|| StoreError::Backend("S3 gave no upload id".into()))?
            .to_string();
        let result = async {
            let mut parts = Vec::new();
            let mut buffers = PartBuffers::new(self.part_size);
            let mut in_flight = FuturesUnordered::new();
            let mut next_part = Some(first);
            let mut number = 0i32;
            let mut total = 0u64;
            // A stream that has ended must not be polled again: the provider's body
            // (an unfold) panics if it is.
            let mut ended = false;
            loop {
                while in_flight.len() >= self.concurrency {
                    let done: Result<(CompletedPart, Bytes), StoreError> = in_flight
                        .next()
                        .await
                        .unwrap_or_else(|| Err(StoreError::Backend("no part".into())));
                    let (part, sent) = done?;
                    parts.push(part);
                    buffers.give_back(sent);
                }
                let Some(part) = next_part.take() else { break };
                number += 1;
                total += part.len() as u64;
                let n = number;
                let sent = part.clone();
                let request = self
                    .client
                    .upload_part()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(&upload_id)
                    .part_number(n)
                    .body(SdkBody::from(part))
                    .customize()
                    .disable_payload_signing();
                in_flight.push(async move {
                    let out = request.send().await.map_err(backend)?;
                    let part = CompletedPart::builder()
                        .set_e_tag(out.e_tag().map(str::to_string))
                        .part_number(n)
                        .build();
                    Ok::<_, StoreError>((part, sent))
                });
                if ended {
                    continue;
                }
                let mut buf = buffers.take();
                ended = !self.fill(&mut body, &mut buf, &mut carry).await?;
                if !buf.is_empty() {
                    next_part = Some(buf.freeze());
                }
            }
            while let Some(done) = in_flight.next().await {
                parts.push(done?.0);
            }
            parts.sort_by_key(|p| p.part_number());
            self.client
                .complete_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(&upload_id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                )
                .send()
                .await
                .map_err(backend)?;
            Ok(total)
        }
        .await;
        if result.is_err() {
            let aborted = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(&upload_id)
                .send()
                .await;
            if let Err(e) = aborted {
                tracing::error!(key, error = %DisplayErrorContext(&e), "could not abort a multipart upload; the lifecycle rule will");
            }
        }
        result
    }
}

#[async_trait]
impl ObjectStore for S3ObjectStore {
    async fn put_stream(
        &self,
        key: &str,
        content_type: &str,
        mut body: ByteStream,
    ) -> Result<u64, StoreError> {
        let mut first = BytesMut::with_capacity(self.part_size);
        let mut carry = None;
        let more = self.fill(&mut body, &mut first, &mut carry).await?;
        if !more {
            let len = first.len() as u64;
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .content_type(content_type)
                .body(SdkBody::from(first.freeze()))
                .customize()
                .disable_payload_signing()
                .send()
                .await
                .map_err(backend)?;
            return Ok(len);
        }
        self.multipart(key, content_type, first.freeze(), body, carry)
            .await
    }

    async fn get_bytes(
        &self,
        key: &str,
        max_bytes: u64,
    ) -> Result<Option<(Bytes, ObjectMeta)>, StoreError> {
        let Some(meta) = self.head(key).await? else {
            return Ok(None);
        };
        if meta.bytes > max_bytes {
            return Err(StoreError::Backend(format!(
                "object {key} is {} bytes, over the {max_bytes} limit",
                meta.bytes
            )));
        }
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(backend)?;
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))?
            .into_bytes();
        Ok(Some((bytes, meta)))
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StoreError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => Ok(Some(ObjectMeta {
                bytes: out.content_length().unwrap_or(0).max(0) as u64,
                content_type: out.content_type().map(str::to_string),
            })),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_not_found()) => Ok(None),
            Err(e) => Err(backend(e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn presign_get(&self, key: &str, ttl: Duration) -> Result<SignedUrl, StoreError> {
        let (config, expires_at) = presigning(ttl)?;
        let req = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(backend)?;
        Ok(SignedUrl {
            url: req.uri().to_string(),
            expires_at,
        })
    }

    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        bytes: u64,
        ttl: Duration,
    ) -> Result<SignedUrl, StoreError> {
        let (config, expires_at) = presigning(ttl)?;
        let req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(i64::try_from(bytes).map_err(|e| StoreError::Backend(e.to_string()))?)
            .presigned(config)
            .await
            .map_err(backend)?;
        Ok(SignedUrl {
            url: req.uri().to_string(),
            expires_at,
        })
    }
}

/// A presigning config for `ttl`, and when links made with it stop working.
fn presigning(ttl: Duration) -> Result<(PresigningConfig, DateTime<Utc>), StoreError> {
    let config = PresigningConfig::expires_in(ttl).map_err(backend)?;
    let ttl = chrono::Duration::from_std(ttl).map_err(|e| StoreError::Backend(e.to_string()))?;
    Ok((config, Utc::now() + ttl))
}

/// Create the bucket unless it is already ours (for local runs and tests; production
/// uses the template, which also sets encryption, the public-access block and lifecycle).
pub async fn create_bucket(client: &Client, bucket: &str) -> Result<(), StoreError> {
    // HeadBucket first: S3 emulators disagree on what CreateBucket says about a bucket
    // the caller already owns.
    if client.head_bucket().bucket(bucket).send().await.is_ok() {
        return Ok(());
    }
    match client.create_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_bucket_already_owned_by_you()) =>
        {
            Ok(())
        }
        Err(e) => Err(backend(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(buffers: &mut PartBuffers, byte: u8) -> BytesMut {
        let mut buf = buffers.take();
        buf.extend_from_slice(&vec![byte; MIN_PART_SIZE]);
        buf
    }

    #[test]
    fn a_sent_part_buffer_is_reused_once_nothing_else_holds_it() {
        let mut buffers = PartBuffers::new(MIN_PART_SIZE);
        let buf = filled(&mut buffers, 7);
        let allocation = buf.as_ptr();
        let part = buf.freeze();
        let sent = part.clone();
        drop(part); // the request's handle, gone once S3 has answered
        buffers.give_back(sent);
        let again = buffers.take();
        assert_eq!(again.as_ptr(), allocation);
        assert!(again.is_empty());
        assert!(again.capacity() >= MIN_PART_SIZE);
    }

    #[test]
    fn a_part_still_held_elsewhere_is_left_alone() {
        let mut buffers = PartBuffers::new(MIN_PART_SIZE);
        let part = filled(&mut buffers, 7).freeze();
        let held = part.clone();
        buffers.give_back(part);
        let next = filled(&mut buffers, 9);
        assert_ne!(next.as_ptr(), held.as_ptr());
        assert!(held.iter().all(|&b| b == 7));
        assert_eq!(held.len(), MIN_PART_SIZE);
    }
}
