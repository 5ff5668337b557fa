//! Reading the assets a task names (`promptImage`, `videoUri`/`promptVideo`), as Runway
//! does before it renders: URLs are really fetched with a plain GET (no redirects
//! followed), data URIs decoded. What arrived is recorded so tests can check the right
//! bytes reached the provider.
//!
//! Limits are Runway's documented ones: images ≤ 16 MB by URL and ≤ 5 MB as a data URI;
//! videos ≤ 32 MB by URL and ≤ 16 MB as a data URI. An asset that cannot be read (a
//! failed fetch, a non-2xx answer, a redirect, too big, not an image/video) makes the
//! task end `FAILED` with `ASSET.INVALID`; a URI Runway would refuse outright (plain
//! `http://` to a non-local host) is a 400 at create.

use super::validate::{AssetKind, AssetRef};
use base64::Engine;
use futures::StreamExt;
use std::time::Duration;

const MB: u64 = 1024 * 1024;

/// What the simulator read for one asset field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedAsset {
    /// JSON path of the field, e.g. `promptImage` or `promptImage[0].uri`.
    pub field: String,
    /// `url` or `data`.
    pub source: &'static str,
    pub bytes: u64,
    /// The answer's (or data URI's) declared content type.
    pub content_type: String,
    /// An image's size, when it is one.
    pub dimensions: Option<(u32, u32)>,
}

/// Why an asset URI is refused before any task exists (a 400).
pub(crate) fn check_scheme(asset: &AssetRef, allow_http: bool) -> Result<(), String> {
    let lower = asset.uri.to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("data:") || lower.starts_with("runway://")
    {
        return Ok(());
    }
    if lower.starts_with("http://") {
        let local = url::Url::parse(&asset.uri).ok().is_some_and(|u| {
            matches!(
                u.host_str(),
                Some("127.0.0.1" | "localhost" | "[::1]" | "::1")
            )
        });
        if allow_http && local {
            return Ok(());
        }
        return Err("Must be an HTTPS URL (plain http:// is refused).".into());
    }
    Err("Must be an HTTPS URL, a Runway upload URI or a base64 data URI.".into())
}

/// Read one asset; `Err` is the task's `failure` text.
pub(crate) async fn fetch(
    client: &reqwest::Client,
    asset: &AssetRef,
) -> Result<FetchedAsset, String> {
    let (url_limit, data_limit) = match asset.kind {
        AssetKind::Image => (16 * MB, 5 * MB),
        AssetKind::Video => (32 * MB, 16 * MB),
    };
    let field = asset.field.clone();
    let (source, content_type, body) = if asset.uri.to_ascii_lowercase().starts_with("data:") {
        let (ct, body) =
            decode_data_uri(&asset.uri, data_limit).map_err(|e| format!("{field}: {e}"))?;
        ("data", ct, body)
    } else if asset.uri.to_ascii_lowercase().starts_with("runway://") {
        return Err(format!(
            "{field}: the upload {} does not exist (uploads are not simulated).",
            asset.uri
        ));
    } else {
        let (ct, body) = fetch_url(client, &asset.uri, url_limit)
            .await
            .map_err(|e| format!("{field}: {e}"))?;
        ("url", ct, body)
    };
    let dimensions = match asset.kind {
        AssetKind::Image => {
            let size = imagesize::blob_size(&body)
                .map_err(|_| format!("{field}: the asset is not a readable image."))?;
            Some((
                u32::try_from(size.width).unwrap_or(u32::MAX),
                u32::try_from(size.height).unwrap_or(u32::MAX),
            ))
        }
        AssetKind::Video => {
            let mp4 = body.get(4..8) == Some(b"ftyp");
            let webm = body.starts_with(&[0x1a, 0x45, 0xdf, 0xa3]);
            if !(mp4 || webm) {
                return Err(format!("{field}: the asset is not a readable video."));
            }
            None
        }
    };
    Ok(FetchedAsset {
        field,
        source,
        bytes: body.len() as u64,
        content_type,
        dimensions,
    })
}

fn decode_data_uri(uri: &str, limit: u64) -> Result<(String, Vec<u8>), String> {
    let rest = &uri["data:".len()..];
    let (meta, data) = rest
        .split_once(',')
        .ok_or("a data URI needs a ',' before its data.")?;
    let Some(content_type) = meta.strip_suffix(";base64") else {
        return Err("only base64 data URIs are accepted.".into());
    };
    // Base64 grows data by 4/3: refuse before decoding something far too big.
    if data.len() as u64 > limit / 3 * 4 + 4 {
        return Err(format!("a data URI may hold at most {} MB.", limit / MB));
    }
    let body = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|e| format!("the data URI is not valid base64: {e}."))?;
    if body.len() as u64 > limit {
        return Err(format!("a data URI may hold at most {} MB.", limit / MB));
    }
    Ok((content_type.to_string(), body))
}

async fn fetch_url(
    client: &reqwest::Client,
    url: &str,
    limit: u64,
) -> Result<(String, Vec<u8>), String> {
    let response = client
        .get(url)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .map_err(|e| format!("fetching the URL failed: {e}"))?;
    let status = response.status();
    if !status.is_success() {
        // Redirects are not followed: a 3xx lands here too, as Runway documents.
        return Err(format!(
            "fetching the URL answered HTTP {}.",
            status.as_u16()
        ));
    }
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(format!("the asset is larger than {} MB.", limit / MB));
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| format!("reading the URL's body failed: {e}"))?;
        body.extend_from_slice(&chunk);
        if body.len() as u64 > limit {
            return Err(format!("the asset is larger than {} MB.", limit / MB));
        }
    }
    Ok((content_type, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asset(uri: &str) -> AssetRef {
        AssetRef {
            field: "promptImage".into(),
            uri: uri.into(),
            kind: AssetKind::Image,
        }
    }

    #[test]
    fn plain_http_only_to_this_machine_and_only_when_allowed() {
        assert!(check_scheme(&asset("https://example.com/a.png"), false).is_ok());
        assert!(check_scheme(&asset("data:image/png;base64,AA=="), false).is_ok());
        assert!(check_scheme(&asset("http://127.0.0.1:9/a.png"), true).is_ok());
        assert!(check_scheme(&asset("http://localhost:9/a.png"), true).is_ok());
        assert!(check_scheme(&asset("http://127.0.0.1:9/a.png"), false).is_err());
        assert!(check_scheme(&asset("http://example.com/a.png"), true).is_err());
        assert!(check_scheme(&asset("ftp://example.com/a.png"), true).is_err());
    }

    #[test]
    fn data_uris_are_decoded_within_their_limit() {
        let (ct, body) = decode_data_uri("data:image/png;base64,AAEC", 5 * MB).unwrap();
        assert_eq!((ct.as_str(), body), ("image/png", vec![0, 1, 2]));
        assert!(decode_data_uri("data:image/png,abc", MB).is_err());
        assert!(decode_data_uri("data:image/png;base64", MB).is_err());
        assert!(decode_data_uri("data:image/png;base64,!!!", MB).is_err());
        let big = "A".repeat(8 * 1024 * 1024);
        let e = decode_data_uri(&format!("data:image/png;base64,{big}"), 5 * MB).unwrap_err();
        assert!(e.contains("5 MB"), "{e}");
    }
}
