//! Reading the assets a task names (`promptImage`, `videoUri`/`promptVideo`), as Runway
//! does when it accepts a create: URLs are really fetched, data URIs decoded. What
//! arrived is recorded so tests can check the right bytes reached the provider.
//!
//! Runway's documented rules (docs.dev.runwayml.com/assets/inputs):
//! - URLs must be HTTPS, name a domain (not an IP address), be at most 2048 characters,
//!   answer a HEAD request, answer with a `Content-Type` matching the asset's media type
//!   (`application/octet-stream` and other generic values are refused) and a
//!   `Content-Length`; redirects are not followed (a 3xx is a failure).
//! - Size limits: images 16 MB by URL, 5 MB as a data URI; videos 32 MB and 16 MB.
//! - An asset that cannot be used is a 400 at create naming the field and the reason
//!   (docs.dev.runwayml.com/errors/troubleshooting).
//!
//! Local relaxation: with `allow_http_assets`, plain `http://` to `127.0.0.1`/`localhost`
//! is accepted, IP or not. `require_head: false` skips the HEAD check.

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

const IMAGE_TYPES: &[&str] = &["image/jpeg", "image/png", "image/webp"];
const VIDEO_TYPES: &[&str] = &["video/mp4", "video/quicktime", "video/webm"];

/// How the simulator reads assets.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rules {
    pub allow_http: bool,
    pub require_head: bool,
}

/// Check and read one asset; `Err` is the reason, for a 400 naming the field.
pub(crate) async fn read(
    client: &reqwest::Client,
    asset: &AssetRef,
    rules: Rules,
) -> Result<FetchedAsset, String> {
    let (url_limit, data_limit, types) = match asset.kind {
        AssetKind::Image => (16 * MB, 5 * MB, IMAGE_TYPES),
        AssetKind::Video => (32 * MB, 16 * MB, VIDEO_TYPES),
    };
    let lower = asset.uri.to_ascii_lowercase();
    let (source, content_type, body) = if lower.starts_with("data:") {
        let (ct, body) = decode_data_uri(&asset.uri, data_limit)?;
        ("data", ct, body)
    } else if lower.starts_with("runway://") {
        return Err(format!(
            "the upload {} does not exist (uploads are not simulated).",
            asset.uri
        ));
    } else {
        check_url(&asset.uri, rules.allow_http)?;
        if rules.require_head {
            head(client, &asset.uri).await?;
        }
        let (ct, body) = fetch_url(client, &asset.uri, url_limit).await?;
        ("url", ct, body)
    };
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if !types.contains(&media_type.as_str()) {
        return Err(format!(
            "unsupported Content-Type '{content_type}': expected one of {}.",
            types.join(", ")
        ));
    }
    let dimensions = match asset.kind {
        AssetKind::Image => {
            let size = imagesize::blob_size(&body)
                .map_err(|_| "the asset is not a readable image.".to_string())?;
            Some((
                u32::try_from(size.width).unwrap_or(u32::MAX),
                u32::try_from(size.height).unwrap_or(u32::MAX),
            ))
        }
        AssetKind::Video => {
            let mp4 = body.get(4..8) == Some(b"ftyp");
            let webm = body.starts_with(&[0x1a, 0x45, 0xdf, 0xa3]);
            if !(mp4 || webm) {
                return Err("the asset is not a readable video.".into());
            }
            None
        }
    };
    Ok(FetchedAsset {
        field: asset.field.clone(),
        source,
        bytes: body.len() as u64,
        content_type,
        dimensions,
    })
}

/// The URL rules that need no request.
fn check_url(uri: &str, allow_http: bool) -> Result<(), String> {
    if uri.len() > 2048 {
        return Err(format!(
            "the URL is {} characters long; at most 2048 are allowed.",
            uri.len()
        ));
    }
    let url = url::Url::parse(uri).map_err(|e| format!("the URL cannot be parsed: {e}."))?;
    let local = matches!(
        url.host(),
        Some(url::Host::Domain("localhost"))
            | Some(url::Host::Ipv4(std::net::Ipv4Addr::LOCALHOST))
            | Some(url::Host::Ipv6(std::net::Ipv6Addr::LOCALHOST))
    );
    if allow_http && local {
        return Ok(());
    }
    if url.scheme() != "https" {
        return Err("the URL must use HTTPS.".into());
    }
    if !matches!(url.host(), Some(url::Host::Domain(_))) {
        return Err("the URL must name a domain, not an IP address.".into());
    }
    Ok(())
}

async fn head(client: &reqwest::Client, url: &str) -> Result<(), String> {
    let response = client
        .head(url)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .map_err(|e| format!("the HEAD request failed: {e}"))?;
    if !response.status().is_success() {
        return Err(format!(
            "the URL answered a HEAD request with HTTP {}; Runway requires HEAD support.",
            response.status().as_u16()
        ));
    }
    Ok(())
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
    let Some(length) = response.content_length() else {
        return Err("the URL's answer has no Content-Length.".into());
    };
    if length > limit {
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

    #[test]
    fn urls_follow_runways_rules_with_a_local_relaxation() {
        assert!(check_url("https://example.com/a.png", false).is_ok());
        assert!(check_url("http://127.0.0.1:9/a.png", true).is_ok());
        assert!(check_url("http://localhost:9/a.png", true).is_ok());
        assert!(check_url("http://127.0.0.1:9/a.png", false).is_err());
        assert!(check_url("http://example.com/a.png", true).is_err());
        assert!(check_url("https://93.184.216.34/a.png", true)
            .unwrap_err()
            .contains("IP"));
        assert!(check_url("ftp://example.com/a.png", true).is_err());
        let long = format!("https://example.com/{}", "a".repeat(2048));
        assert!(check_url(&long, false).unwrap_err().contains("2048"));
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
