//! Fuzz targets for everything that reads bytes from outside: request bodies and
//! queries, list cursors, event frames, the MP4 duration probe, webhook signatures and
//! bodies, and each provider's status, error and retry-header parsing. Each runs the
//! [`fuzzkit`] mutational fuzzer for `VIDGEN_FUZZ_SECS` (1 s in the test suite;
//! `benches/fuzz.sh` runs them longer and prints inputs per target). No input may
//! panic, hang or hold more than 256 MiB.

use crate::api::request::{
    create_request, idempotency_key, list_query, remix_request, upload_request, ValidationPolicy,
};
use crate::mp4_duration::Mp4DurationProbe;
use crate::provider::http as provider_http;
use crate::provider::{fal, openai, retry, runway};
use crate::webhooks_in;
use ::http::HeaderMap;
use fuzzkit::fuzz;

#[global_allocator]
static COUNTING: fuzzkit::CountingAllocator = fuzzkit::CountingAllocator;

const JSON: Option<&str> = Some("application/json");

/// `name: value` lines into headers (the first 32; bad names and values are skipped).
fn headers_from(input: &[u8]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for line in input.split(|b| *b == b'\n').take(32) {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        if let (Ok(name), Ok(value)) = (
            ::http::HeaderName::from_bytes(name),
            ::http::HeaderValue::from_bytes(value.trim_ascii()),
        ) {
            headers.append(name, value);
        }
    }
    headers
}

/// Headers up to the first blank line, the body after it.
fn headers_and_body(input: &[u8]) -> (HeaderMap, &[u8]) {
    match input.windows(2).position(|w| w == b"\n\n") {
        Some(at) => (headers_from(&input[..at]), &input[at + 2..]),
        None => (headers_from(input), &[]),
    }
}

#[test]
fn api_request_bodies() {
    let policy = ValidationPolicy::default();
    fuzz(
        "api_request_bodies",
        &[
            br#"{"script":"a fox","style":"cinematic","keywords":["snow"],"negative_keywords":["text"],"seconds":4,"size":"720x1280"}"#,
            br#"{"prompt":"p","model":"runway/gen4.5","variants":[{"size":"1280x720","seconds":8}],"metadata":{"k":"v"},"callback_url":"https://example.com/h","input_reference":{"upload_id":"up_01ARZ3NDEKTSV4RRFFQ69G5FAV"}}"#,
            br#"{"content_type":"image/png","bytes":100}"#,
        ],
        |body| {
            let _ = create_request(JSON, body, &policy);
            let _ = remix_request(JSON, body, &policy);
            let _ = upload_request(JSON, body);
            let _ = idempotency_key(body);
        },
    );
}

#[test]
fn api_list_query() {
    fuzz(
        "api_list_query",
        &[
            b"limit=20&cursor=abc&status=completed",
            b"limit=100&status=failed",
        ],
        |query| {
            let pairs: Vec<(String, String)> =
                url::form_urlencoded::parse(query).into_owned().collect();
            let _ = list_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        },
    );
}

#[test]
fn list_cursors() {
    fuzz(
        "list_cursors",
        &[b"eyJwayI6ImpvYiN2aWRfMDFBUlozTkRFS1RTVjRSUkZGUTY5RzVGQVYiLCJvIjoiYWxpY2UiLCJjIjoiMjAyNi0xMS0yN1QwMDowMDowMC4wMDAwMDAwMDBaIn0"],
        |cursor| {
            let _ = crate::store::dynamo::decode_cursor(&String::from_utf8_lossy(cursor), "alice");
        },
    );
}

#[test]
fn event_client_frames() {
    fuzz(
        "event_client_frames",
        &[br#"{"action":"subscribe","job_ids":["vid_01ARZ3NDEKTSV4RRFFQ69G5FAV"]}"#],
        |frame| {
            let _ = crate::events::parse_client_message(&String::from_utf8_lossy(frame));
        },
    );
}

#[test]
fn mp4_duration_probe() {
    let sample = four_second_mp4_head();
    let mut probe = Mp4DurationProbe::new();
    probe.feed(&sample);
    assert_eq!(
        probe.duration_seconds(),
        Some(4.0),
        "the seed is a real MP4 head"
    );
    fuzz("mp4_duration_probe", &[&sample], |bytes| {
        // Fed whole, and in uneven chunks as a download arrives.
        let mut whole = Mp4DurationProbe::new();
        whole.feed(bytes);
        let mut chunked = Mp4DurationProbe::new();
        let mut rest = bytes;
        let mut size = 1;
        while !rest.is_empty() {
            let (now, later) = rest.split_at(size.min(rest.len()));
            chunked.feed(now);
            rest = later;
            size = size * 3 + 1;
        }
        assert_eq!(
            whole.duration_seconds(),
            chunked.duration_seconds(),
            "chunking changed the answer"
        );
    });
}

/// A minimal MP4 head: `ftyp`, then `moov` with an `mvhd` of 4 s (timescale 1000).
fn four_second_mp4_head() -> Vec<u8> {
    let mut mvhd = Vec::new();
    mvhd.extend_from_slice(&[0, 0, 0, 0]); // version 0, flags
    mvhd.extend_from_slice(&[0; 8]); // creation, modification
    mvhd.extend_from_slice(&1000u32.to_be_bytes());
    mvhd.extend_from_slice(&4000u32.to_be_bytes());
    mvhd.extend_from_slice(&[0; 80]);
    let boxed = |kind: &[u8], body: &[u8]| {
        let mut b = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.extend_from_slice(body);
        b
    };
    let mvhd = boxed(b"mvhd", &mvhd);
    let mut out = boxed(b"ftyp", b"isom\0\0\x02\0isomiso2avc1mp41");
    out.extend(boxed(b"moov", &mvhd));
    out
}

#[test]
fn openai_webhooks() {
    let secret =
        webhooks_in::openai::OpenAiWebhookSecret::parse("whsec_c2VjcmV0LWZvci1mdXp6aW5nLW9ubHk=")
            .expect("a valid test secret");
    fuzz(
        "openai_webhooks",
        &[b"webhook-id: wh_1\nwebhook-timestamp: 1795700000\nwebhook-signature: v1,AAAA\n\n{\"id\":\"evt_1\",\"type\":\"video.completed\",\"created_at\":1795700000,\"data\":{\"id\":\"video_1\"}}"],
        |input| {
            let (headers, body) = headers_and_body(input);
            let _ = webhooks_in::openai::verify(&headers, body, &secret, 1_795_700_000);
            let _ = webhooks_in::openai::OpenAiEvent::parse("wh_1", body);
        },
    );
}

#[test]
fn fal_webhooks_and_jwks() {
    let jwks = br#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
    let keys = webhooks_in::jwks::parse_jwks(jwks).expect("a valid test key set");
    fuzz(
        "fal_webhooks_and_jwks",
        &[
            b"x-fal-webhook-request-id: r1\nx-fal-webhook-user-id: u1\nx-fal-webhook-timestamp: 1795700000\nx-fal-webhook-signature: 00ff\n\n{\"request_id\":\"r1\",\"status\":\"OK\",\"payload\":{\"video\":{\"url\":\"https://x/y.mp4\"}}}",
            jwks,
        ],
        |input| {
            let (headers, body) = headers_and_body(input);
            let _ = webhooks_in::fal::verify_with_keys(&headers, body, &keys, 1_795_700_000);
            let _ = webhooks_in::fal::FalEvent::parse(body);
            let _ = webhooks_in::jwks::parse_jwks(input);
        },
    );
}

#[test]
fn provider_status_bodies() {
    fuzz(
        "provider_status_bodies",
        &[
            br#"{"id":"video_1","object":"video","status":"in_progress","progress":40,"model":"sora-2","seconds":"4","size":"720x1280","created_at":1795700000}"#,
            br#"{"data":[{"id":"video_1","status":"failed","error":{"code":"moderation_blocked","message":"no"}}],"has_more":true,"last_id":"video_1"}"#,
            br#"{"id":"2fe49a0a-9637-487d-8908-17613d7d9a1f","status":"SUCCEEDED","progress":1,"output":["https://x/y.mp4"],"createdAt":"2026-11-27T00:00:00Z"}"#,
            br#"{"request_id":"r1","response_url":"https://queue.fal.run/fal-ai/veo3.1/requests/r1","status_url":"https://queue.fal.run/fal-ai/veo3.1/requests/r1/status","cancel_url":"https://queue.fal.run/fal-ai/veo3.1/requests/r1/cancel"}"#,
            br#"{"status":"COMPLETED","error":"blocked","error_type":"content_policy_violation","video":{"url":"https://x/y.mp4"}}"#,
        ],
        |body| {
            openai::fuzz_surface::status(body);
            runway::fuzz_surface::status(body);
            fal::fuzz_surface::status(body);
        },
    );
}

#[test]
fn provider_error_bodies() {
    fuzz(
        "provider_error_bodies",
        &[
            b"\x01\x90{\"error\":{\"message\":\"bad seconds\",\"type\":\"invalid_request_error\",\"param\":\"seconds\",\"code\":null}}",
            b"\x01\xad{\"error\":\"You have exceeded the rate limit.\"}",
            b"\x01\xa6{\"detail\":[{\"loc\":[\"body\",\"duration\"],\"msg\":\"bad\",\"type\":\"literal_error\"}]}",
        ],
        |input| {
            // Two bytes of status (any u16, valid or not), then the body.
            let (status, body) = match input {
                [a, b, rest @ ..] => (u16::from_be_bytes([*a, *b]), rest),
                _ => (500, input),
            };
            openai::fuzz_surface::error(status, body);
            runway::fuzz_surface::error(status, body);
            fal::fuzz_surface::error(status, body);
        },
    );
}

#[test]
fn retry_headers() {
    fuzz(
        "retry_headers",
        &[
            b"retry-after: 3\nretry-after-ms: 1500\nopenai-poll-after-ms: 2000",
            b"retry-after: Fri, 27 Nov 2026 02:00:00 GMT",
        ],
        |input| {
            let headers = headers_from(input);
            let _ = provider_http::retry_hint(&headers);
            openai::fuzz_surface::poll_hint(&headers);
            let text = String::from_utf8_lossy(input);
            let _ = retry::parse_hint(&text, true);
            let _ = retry::parse_hint(&text, false);
        },
    );
}
