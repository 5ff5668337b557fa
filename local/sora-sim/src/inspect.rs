//! `GET /_sim/renders`: a test-only inspection route on every simulator, part of no
//! provider's API (the real services have nothing like it). It lists every render the
//! simulator made, as the provider's own books would: one entry per accepted create
//! (or remix), deleted ones included, with the prompt it was made from and, once it
//! succeeded, the length and SHA-256 of the `video` content it serves. The chaos soak
//! (`benches/soak.sh`) counts creates per job from it (Runway has no list API) and
//! checks each completed job's bytes against it. No auth: it reveals no secret, and
//! only the simulators serve it.

use crate::content;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// What a succeeded render serves as its `video` variant.
pub(crate) enum VideoBytes {
    /// Generated content of this length (`video_bytes`), seeded by the render id.
    Generated(u64),
    /// These exact bytes (the sample MP4, or it retimed).
    Exact(Vec<u8>),
}

/// Length and hex SHA-256 of the content.
fn digest(id: &str, bytes: &VideoBytes) -> (u64, String) {
    match bytes {
        VideoBytes::Generated(len) => (*len, hex::encode(content::expected_digest(id, *len))),
        VideoBytes::Exact(all) => (all.len() as u64, hex::encode(Sha256::digest(all))),
    }
}

/// One entry of the listing; `video` is `None` unless the render succeeded.
pub(crate) fn entry(id: &str, prompt: &str, status: &str, video: Option<VideoBytes>) -> Value {
    let (len, sha256) = match video.map(|v| digest(id, &v)) {
        Some((len, sha)) => (Some(len), Some(sha)),
        None => (None, None),
    };
    json!({"id": id, "prompt": prompt, "status": status, "video_len": len, "video_sha256": sha256})
}

/// The listing's body.
pub(crate) fn listing(entries: Vec<Value>) -> Value {
    json!({"object": "list", "data": entries})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_carries_the_digest_of_what_is_served() {
        let e = entry("vid_1", "p", "completed", Some(VideoBytes::Generated(1000)));
        assert_eq!(e["video_len"], 1000);
        assert_eq!(
            e["video_sha256"],
            hex::encode(content::expected_digest("vid_1", 1000))
        );
        let e = entry("vid_1", "p", "failed", None);
        assert!(e["video_sha256"].is_null() && e["video_len"].is_null());
        let e = entry(
            "x",
            "p",
            "completed",
            Some(VideoBytes::Exact(b"abc".to_vec())),
        );
        assert_eq!(
            e["video_sha256"],
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
