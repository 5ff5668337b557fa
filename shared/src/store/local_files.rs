//! The local object store: files under the data dir, served by `vidgen serve` through
//! signed, expiring links — the one-machine stand-in for S3 and presigned URLs.
//!
//! Writes go to a temporary file in the same file system and are renamed into place
//! only when complete, so a failed or interrupted write leaves nothing visible.
//! A link is `{base}/files/{key}?method=GET|PUT&expires={unix}[&ct=…&len=…]&sig=…`,
//! with `sig` = hex HMAC-SHA256 over `method\nkey\nexpires\nct\nlen`; a PUT link pins
//! the content type and length it accepts.

use super::{ByteStream, ObjectMeta, ObjectStore, SignedUrl, StoreError};
use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

type HmacSha256 = Hmac<Sha256>;

#[derive(Clone)]
pub struct LocalObjectStore {
    root: PathBuf,
    public_base_url: String,
    signing_key: Vec<u8>,
}

/// Why a link was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the link is malformed: {0}")]
    Malformed(&'static str),
    #[error("the link's signature does not match")]
    BadSignature,
    #[error("the link has expired")]
    Expired,
}

/// What a verified link allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    pub key: String,
    pub method: String,
    pub content_type: Option<String>,
    pub bytes: Option<u64>,
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Keys are relative paths of safe characters with no empty, `.` or `..` segments.
pub fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.'))
}

fn content_type_of(key: &str) -> Option<&'static str> {
    match key.rsplit('.').next()? {
        "mp4" => Some("video/mp4"),
        "webp" => Some("image/webp"),
        "jpg" | "jpeg" => Some("image/jpeg"),
        "png" => Some("image/png"),
        _ => None,
    }
}

impl LocalObjectStore {
    pub fn new(root: PathBuf, public_base_url: String, signing_key: Vec<u8>) -> LocalObjectStore {
        LocalObjectStore {
            root,
            public_base_url: public_base_url.trim_end_matches('/').to_string(),
            signing_key,
        }
    }

    fn path(&self, key: &str) -> Result<PathBuf, StoreError> {
        if !valid_key(key) {
            return Err(StoreError::Backend(format!("invalid object key {key:?}")));
        }
        Ok(self.root.join(key))
    }

    /// The MAC over what a link pins: method, key, expiry, content type and length.
    fn mac(&self, method: &str, key: &str, expires: i64, ct: &str, len: &str) -> HmacSha256 {
        // HMAC takes keys of any length.
        let mut mac =
            HmacSha256::new_from_slice(&self.signing_key).expect("HMAC accepts any key length");
        mac.update(format!("{method}\n{key}\n{expires}\n{ct}\n{len}").as_bytes());
        mac
    }

    fn signature(&self, method: &str, key: &str, expires: i64, ct: &str, len: &str) -> String {
        hex::encode(
            self.mac(method, key, expires, ct, len)
                .finalize()
                .into_bytes(),
        )
    }

    fn link(
        &self,
        method: &str,
        key: &str,
        ttl: Duration,
        put: Option<(&str, u64)>,
    ) -> Result<SignedUrl, StoreError> {
        if !valid_key(key) {
            return Err(StoreError::Backend(format!("invalid object key {key:?}")));
        }
        let expires_at: DateTime<Utc> =
            Utc::now() + chrono::Duration::from_std(ttl).map_err(backend)?;
        let expires = expires_at.timestamp();
        let (ct, len) = put
            .map(|(c, l)| (c.to_string(), l.to_string()))
            .unwrap_or_default();
        let sig = self.signature(method, key, expires, &ct, &len);
        let mut url =
            url::Url::parse(&format!("{}/files/{key}", self.public_base_url)).map_err(backend)?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("method", method)
                .append_pair("expires", &expires.to_string());
            if put.is_some() {
                q.append_pair("ct", &ct).append_pair("len", &len);
            }
            q.append_pair("sig", &sig);
        }
        Ok(SignedUrl {
            url: url.to_string(),
            expires_at,
        })
    }

    /// Check a link the server received: `key` from the path, `query` its pairs.
    pub fn verify<'a>(
        &self,
        method: &str,
        key: &str,
        query: impl IntoIterator<Item = (&'a str, &'a str)>,
        now: DateTime<Utc>,
    ) -> Result<SignedRequest, LinkError> {
        if !valid_key(key) {
            return Err(LinkError::Malformed("bad key"));
        }
        let (mut signed_method, mut expires, mut ct, mut len, mut sig) =
            (None, None, String::new(), String::new(), None);
        for (k, v) in query {
            match k {
                "method" => signed_method = Some(v),
                "expires" => expires = v.parse::<i64>().ok(),
                "ct" => ct = v.to_string(),
                "len" => len = v.to_string(),
                "sig" => sig = Some(v),
                _ => {}
            }
        }
        let (Some(signed_method), Some(expires), Some(sig)) = (signed_method, expires, sig) else {
            return Err(LinkError::Malformed("missing method, expires or sig"));
        };
        if signed_method != method {
            return Err(LinkError::BadSignature);
        }
        let given = hex::decode(sig).map_err(|_| LinkError::BadSignature)?;
        // Constant-time comparison.
        self.mac(method, key, expires, &ct, &len)
            .verify_slice(&given)
            .map_err(|_| LinkError::BadSignature)?;
        if now.timestamp() > expires {
            return Err(LinkError::Expired);
        }
        Ok(SignedRequest {
            key: key.to_string(),
            method: method.to_string(),
            content_type: (!ct.is_empty()).then_some(ct),
            bytes: len.parse().ok(),
        })
    }

    /// The file behind a key, for the server to stream.
    pub fn file_path(&self, key: &str) -> Result<PathBuf, StoreError> {
        self.path(key)
    }
}

async fn remove_quietly(path: &Path) {
    let _ = tokio::fs::remove_file(path).await;
}

/// Why a PUT through a link stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum PutError {
    /// The body was not the length the link was signed for.
    #[error("the link is for {expected} bytes; {sent} were sent")]
    WrongLength { expected: u64, sent: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl LocalObjectStore {
    /// Store a PUT through a link pinned to `expected` bytes: exactly that many, or
    /// nothing changes. The body streams to a temporary file, is cut off as soon as it
    /// runs past `expected`, and is renamed over `key` only once its length is checked,
    /// so a short, long or broken PUT leaves the previous upload as it was.
    pub async fn put_exact(
        &self,
        key: &str,
        body: ByteStream,
        expected: u64,
    ) -> Result<u64, PutError> {
        self.write(key, body, Some(expected)).await
    }

    /// Stream `body` to a temporary file, then rename it over `key`; with `exact`, only
    /// when the body is exactly that long.
    async fn write(
        &self,
        key: &str,
        mut body: ByteStream,
        exact: Option<u64>,
    ) -> Result<u64, PutError> {
        let target = self.path(key)?;
        let tmp_dir = self.root.join(".tmp");
        tokio::fs::create_dir_all(&tmp_dir).await.map_err(backend)?;
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(backend)?;
        }
        let tmp = tmp_dir.join(ulid::Ulid::new().to_string());
        let mut file = tokio::fs::File::create(&tmp).await.map_err(backend)?;
        let mut written = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    drop(file);
                    remove_quietly(&tmp).await;
                    return Err(e.into());
                }
            };
            let total = written.saturating_add(chunk.len() as u64);
            if let Some(expected) = exact.filter(|&n| total > n) {
                drop(file);
                remove_quietly(&tmp).await;
                return Err(PutError::WrongLength {
                    expected,
                    sent: format!("more than {expected}"),
                });
            }
            if let Err(e) = file.write_all(&chunk).await {
                drop(file);
                remove_quietly(&tmp).await;
                return Err(backend(e).into());
            }
            written = total;
        }
        if let Some(expected) = exact.filter(|&n| n != written) {
            drop(file);
            remove_quietly(&tmp).await;
            return Err(PutError::WrongLength {
                expected,
                sent: written.to_string(),
            });
        }
        let finished = async {
            file.flush().await?;
            file.sync_all().await?;
            drop(file);
            tokio::fs::rename(&tmp, &target).await
        };
        if let Err(e) = finished.await {
            remove_quietly(&tmp).await;
            return Err(backend(e).into());
        }
        Ok(written)
    }
}

#[async_trait]
impl ObjectStore for LocalObjectStore {
    async fn put_stream(
        &self,
        key: &str,
        _content_type: &str,
        body: ByteStream,
    ) -> Result<u64, StoreError> {
        match self.write(key, body, None).await {
            Ok(n) => Ok(n),
            Err(PutError::Store(e)) => Err(e),
            Err(e) => Err(backend(e)),
        }
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
        let bytes = tokio::fs::read(self.path(key)?).await.map_err(backend)?;
        Ok(Some((Bytes::from(bytes), meta)))
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StoreError> {
        match tokio::fs::metadata(self.path(key)?).await {
            Ok(m) if m.is_file() => Ok(Some(ObjectMeta {
                bytes: m.len(),
                content_type: content_type_of(key).map(str::to_string),
            })),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(backend(e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match tokio::fs::remove_file(self.path(key)?).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(backend(e)),
            _ => Ok(()),
        }
    }

    async fn presign_get(&self, key: &str, ttl: Duration) -> Result<SignedUrl, StoreError> {
        self.link("GET", key, ttl, None)
    }

    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        bytes: u64,
        ttl: Duration,
    ) -> Result<SignedUrl, StoreError> {
        self.link("PUT", key, ttl, Some((content_type, bytes)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::stream;

    fn store(dir: &Path) -> LocalObjectStore {
        LocalObjectStore::new(
            dir.to_path_buf(),
            "http://127.0.0.1:9".into(),
            b"k".to_vec(),
        )
    }

    fn query(url: &str) -> (String, Vec<(String, String)>) {
        let u = url::Url::parse(url).unwrap();
        let key = u.path().trim_start_matches("/files/").to_string();
        (
            key,
            u.query_pairs()
                .map(|(a, b)| (a.into_owned(), b.into_owned()))
                .collect(),
        )
    }

    fn verify(
        s: &LocalObjectStore,
        method: &str,
        key: &str,
        q: &[(String, String)],
        now: DateTime<Utc>,
    ) -> Result<SignedRequest, LinkError> {
        s.verify(
            method,
            key,
            q.iter().map(|(a, b)| (a.as_str(), b.as_str())),
            now,
        )
    }

    #[tokio::test]
    async fn writes_are_all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let ok: ByteStream = stream::iter(vec![
            Ok(Bytes::from_static(b"ab")),
            Ok(Bytes::from_static(b"c")),
        ])
        .boxed();
        assert_eq!(
            s.put_stream("videos/a/video.mp4", "video/mp4", ok)
                .await
                .unwrap(),
            3
        );
        let (bytes, meta) = s
            .get_bytes("videos/a/video.mp4", 10)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (bytes.as_ref(), meta.content_type.as_deref()),
            (&b"abc"[..], Some("video/mp4"))
        );
        let bad: ByteStream = stream::iter(vec![
            Ok(Bytes::from_static(b"ab")),
            Err(StoreError::Source("cut".into())),
        ])
        .boxed();
        assert!(s
            .put_stream("videos/b/video.mp4", "video/mp4", bad)
            .await
            .is_err());
        assert_eq!(
            s.head("videos/b/video.mp4").await.unwrap(),
            None,
            "nothing visible"
        );
        assert_eq!(
            std::fs::read_dir(dir.path().join(".tmp")).unwrap().count(),
            0,
            "no leftovers"
        );
        assert!(
            s.get_bytes("videos/a/video.mp4", 2).await.is_err(),
            "size limit"
        );
        s.delete("videos/a/video.mp4").await.unwrap();
        s.delete("videos/a/video.mp4").await.unwrap();
        assert!(s.path("../etc/passwd").is_err() && s.path("/abs").is_err());
    }

    #[tokio::test]
    async fn links_verify_and_refuse_tampering_and_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let link = s
            .presign_get("videos/x/video.mp4", Duration::from_secs(60))
            .await
            .unwrap();
        let (key, q) = query(&link.url);
        let now = Utc::now();
        assert!(verify(&s, "GET", &key, &q, now).is_ok());
        assert_eq!(
            verify(&s, "PUT", &key, &q, now),
            Err(LinkError::BadSignature),
            "method is signed"
        );
        assert_eq!(
            verify(&s, "GET", "videos/y/video.mp4", &q, now),
            Err(LinkError::BadSignature),
            "key is signed"
        );
        let mut tampered = q.clone();
        for (k, v) in tampered.iter_mut() {
            if k == "expires" {
                *v = (v.parse::<i64>().unwrap() + 3600).to_string();
            }
        }
        assert_eq!(
            verify(&s, "GET", &key, &tampered, now),
            Err(LinkError::BadSignature),
            "expiry is signed"
        );
        assert_eq!(
            verify(&s, "GET", &key, &q, now + chrono::Duration::seconds(61)),
            Err(LinkError::Expired)
        );
        let other = LocalObjectStore::new(
            dir.path().to_path_buf(),
            "http://x".into(),
            b"other".to_vec(),
        );
        assert_eq!(
            verify(&other, "GET", &key, &q, now),
            Err(LinkError::BadSignature),
            "key material matters"
        );
    }

    #[tokio::test]
    async fn put_links_pin_type_and_length() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let link = s
            .presign_put("uploads/o/up_1", "image/png", 42, Duration::from_secs(60))
            .await
            .unwrap();
        let (key, q) = query(&link.url);
        let ok = verify(&s, "PUT", &key, &q, Utc::now()).unwrap();
        assert_eq!(
            (ok.content_type.as_deref(), ok.bytes),
            (Some("image/png"), Some(42))
        );
        let swapped: Vec<_> = q
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    if k == "ct" {
                        "image/gif".to_string()
                    } else {
                        v.clone()
                    },
                )
            })
            .collect();
        assert_eq!(
            verify(&s, "PUT", &key, &swapped, Utc::now()),
            Err(LinkError::BadSignature)
        );
    }
}
