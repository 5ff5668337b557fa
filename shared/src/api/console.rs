//! `GET /`: the web console, one static page embedded in the binary so it is always
//! the API's own version (README "Web console").
//!
//! The page's markup, style and script live in `shared/console/` as ordinary files; they
//! are put together here into one document, with the events URL in a `<meta>`. The
//! script and style are inline, so the Content-Security-Policy names them by hash (no
//! `'unsafe-inline'`) and allows only the API (`'self'`), the events WebSocket and the
//! origin of the signed file links.

use super::ApiDeps;
use base64::Engine as _;
use bytes::Bytes;
use http::{header, HeaderValue, Response};
use sha2::{Digest, Sha256};
use std::time::Duration;

const PAGE: &str = include_str!("../../console/index.html");
const SCRIPT: &str = include_str!("../../console/console.js");
const STYLE: &str = include_str!("../../console/console.css");

/// `'sha256-…'` of an inline element's exact text, as CSP compares it.
fn csp_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// Text safe inside a double-quoted HTML attribute.
fn attribute(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The scheme, host and port of an absolute URL (`https://h:1`), for CSP; `None` when it
/// is not one a browser could load.
fn origin(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    match parsed.origin() {
        url::Origin::Tuple(..) => Some(parsed.origin().ascii_serialization()),
        url::Origin::Opaque(_) => None,
    }
}

/// The page, with `events_url` in its `<meta>` (empty: the page uses the same origin's
/// `/v1/events`).
pub fn page(events_url: &str) -> String {
    PAGE.replace("{{events_url}}", &attribute(events_url))
        .replace("{{style}}", STYLE)
        .replace("{{script}}", SCRIPT)
}

/// The Content-Security-Policy of the page. `files`: the origin signed file links point
/// at (S3 in AWS; the server itself locally, already `'self'`).
pub fn content_security_policy(events_url: &str, files: Option<&str>) -> String {
    let mut connect = vec!["'self'".to_string()];
    let mut media = vec!["'self'".to_string()];
    if let Some(files) = files {
        connect.push(files.to_string());
        media.push(files.to_string());
    }
    if let Some(events) = origin(events_url) {
        connect.push(events);
    }
    format!(
        "default-src 'none'; script-src {script}; style-src {style}; connect-src {connect}; \
         img-src {media} data:; media-src {media}; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'",
        script = csp_hash(SCRIPT),
        style = csp_hash(STYLE),
        connect = connect.join(" "),
        media = media.join(" "),
    )
}

/// `GET /`.
pub async fn serve(deps: &ApiDeps) -> Response<Bytes> {
    let events_url = deps.config.events_url.as_deref().unwrap_or("");
    // Where signed links point: presigning is local computation (no request is made),
    // so a link for a key that does not exist tells the files' origin.
    let files = deps
        .objects
        .presign_get("console/origin", Duration::from_secs(60))
        .await
        .ok()
        .and_then(|link| origin(&link.url));
    let csp = content_security_policy(events_url, files.as_deref());
    let mut r = Response::new(Bytes::from(page(events_url)));
    let headers = r.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    // The CSP is built from URLs that parsed and from base64: always a valid header value;
    // should it not be, the page is still served (without the policy) rather than failing.
    if let Ok(v) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_carries_its_script_style_and_an_escaped_events_url() {
        let html = page("wss://x.example/prod?a=1&b=\"<>");
        assert!(html.contains(
            r#"<meta name="vidgen-events-url" content="wss://x.example/prod?a=1&amp;b=&quot;&lt;&gt;">"#
        ));
        assert!(html.contains(&format!("<script>{SCRIPT}</script>")));
        assert!(html.contains(&format!("<style>{STYLE}</style>")));
        assert!(!html.contains("{{"), "every placeholder is filled");
        assert!(page("").contains(r#"<meta name="vidgen-events-url" content="">"#));
    }

    #[test]
    fn the_policy_allows_the_inline_script_by_hash_and_only_the_named_origins() {
        let csp = content_security_policy(
            "wss://abc.execute-api.eu-west-1.amazonaws.com/prod",
            Some("https://bucket.s3.eu-west-1.amazonaws.com"),
        );
        assert!(csp.contains(&format!("script-src {};", csp_hash(SCRIPT))));
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
        assert!(csp.contains(
            "connect-src 'self' https://bucket.s3.eu-west-1.amazonaws.com wss://abc.execute-api.eu-west-1.amazonaws.com;"
        ));
        assert!(csp.contains("media-src 'self' https://bucket.s3.eu-west-1.amazonaws.com;"));
        assert!(csp.starts_with("default-src 'none';"));
        // No events URL (local): the same origin's /v1/events, covered by 'self'.
        assert!(content_security_policy("", None).contains("connect-src 'self';"));
    }

    #[test]
    fn hashes_are_of_the_exact_text() {
        // Known vector: SHA-256("") in base64.
        assert_eq!(
            csp_hash(""),
            "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='"
        );
    }
}
