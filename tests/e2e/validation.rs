//! Bad requests answer the error contract and leave nothing behind.

use crate::common::*;

/// A request body with its content type.
type Body<'a> = Option<(&'a str, String)>;

on_both_stores!(bad_requests_answer_the_contract_and_leave_nothing_behind,);

async fn bad_requests_answer_the_contract_and_leave_nothing_behind(store: Store) {
    let h = Harness::start(store).await;
    let cases: Vec<(Body, StatusCode, Option<&str>)> = vec![
        (
            Some((
                "application/json",
                json!({"script": "x", "seconds": 10}).to_string(),
            )),
            StatusCode::BAD_REQUEST,
            Some("seconds"),
        ),
        (
            Some((
                "application/json",
                json!({"script": "x", "colour": 1}).to_string(),
            )),
            StatusCode::BAD_REQUEST,
            Some("colour"),
        ),
        (
            Some(("application/json", json!({"style": "anime"}).to_string())),
            StatusCode::BAD_REQUEST,
            Some("script"),
        ),
        (
            Some((
                "application/json",
                json!({"script": "x", "size": "1792x1024"}).to_string(),
            )),
            StatusCode::BAD_REQUEST,
            Some("size"),
        ),
        (
            Some((
                "application/json",
                json!({"script": "x", "input_reference": {"upload_id": "up_nope"}}).to_string(),
            )),
            StatusCode::BAD_REQUEST,
            Some("input_reference"),
        ),
        (
            Some(("application/json", "{\"script\":".to_string())),
            StatusCode::BAD_REQUEST,
            None,
        ),
        (
            Some(("text/plain", "hello".to_string())),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            None,
        ),
        (
            Some((
                "application/json",
                format!("{{\"script\":\"{}\"}}", "x".repeat(70_000)),
            )),
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
        ),
    ];
    for (body, status, field) in cases {
        let (got, headers, err) = h
            .raw(Method::POST, "/v1/videos", Some(ALICE), body, &[])
            .await;
        assert_eq!(got, status, "{err}");
        assert_eq!(err["error"]["field"].as_str(), field, "{err}");
        assert!(err["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
        assert!(headers.contains_key("x-request-id"));
    }
    let (_, _, page) = h.call(Method::GET, "/v1/videos", Some(ALICE), None).await;
    assert!(
        page["data"].as_array().unwrap().is_empty(),
        "nothing was written"
    );
    assert_eq!(h.sim_stats().creates, 0, "nothing was started");
}
