use super::*;
use crate::domain::{Model, ProviderId};
use bytes::Bytes;

fn request(model: &str, seconds: u32, size: &str) -> CreateVideo {
    CreateVideo {
        prompt: "a fox".into(),
        model: model.into(),
        seconds,
        size: size.into(),
        negative_prompt: Some("blur".into()),
        input_reference: None,
        webhook_url: None,
    }
}

fn image() -> ReferenceImage {
    ReferenceImage {
        bytes: Bytes::from_static(b"\x89PNG"),
        content_type: "image/png".into(),
        file_name: "a.png".into(),
    }
}

#[test]
fn every_fal_model_of_the_catalog_has_a_mapping() {
    let fal: Vec<Model> = Model::all()
        .filter(|m| m.provider() == ProviderId::Fal)
        .collect();
    assert!(fal.len() >= 4);
    for m in fal {
        let spec = m.spec();
        let mapping =
            fal_model(spec.provider_model).unwrap_or_else(|| panic!("{m} has no input mapping"));
        assert_eq!(spec.input_reference, mapping.image.is_some(), "{m}");
        assert_eq!(spec.negative_prompt, mapping.negative_prompt, "{m}");
        assert!(!spec.remix, "{m}: fal cannot remix");
        for s in spec.sizes {
            assert!(shape(s.name).is_ok(), "{m} {}", s.name);
        }
    }
}

#[test]
fn veo_takes_suffixed_seconds_ratio_resolution_and_audio() {
    let (endpoint, body) = create_body(&request("fal-ai/veo3.1", 6, "1080x1920")).unwrap();
    assert_eq!(endpoint, "fal-ai/veo3.1");
    assert_eq!(
        body,
        json!({"prompt": "a fox", "duration": "6s", "aspect_ratio": "9:16",
            "resolution": "1080p", "generate_audio": true, "negative_prompt": "blur"})
    );
}

#[test]
fn kling_takes_plain_seconds_and_no_resolution() {
    let model = "fal-ai/kling-video/v2.1/master/text-to-video";
    let (endpoint, body) = create_body(&request(model, 10, "1080x1080")).unwrap();
    assert_eq!(endpoint, model);
    assert_eq!(
        body,
        json!({"prompt": "a fox", "duration": "10", "aspect_ratio": "1:1",
            "negative_prompt": "blur"})
    );
}

#[test]
fn wan_takes_frames_at_sixteen_a_second() {
    let (_, body) = create_body(&request(
        "fal-ai/wan/v2.2-a14b/text-to-video",
        5,
        "1280x720",
    ))
    .unwrap();
    assert_eq!(body["num_frames"], json!(81));
    assert_eq!(body["frames_per_second"], json!(16));
    assert_eq!(body["resolution"], json!("720p"));
    assert_eq!(body["aspect_ratio"], json!("16:9"));
    assert!(body.get("duration").is_none());
}

#[test]
fn an_image_goes_to_the_image_endpoint_as_a_data_uri() {
    let mut veo = request("fal-ai/veo3.1/fast", 8, "1280x720");
    veo.input_reference = Some(image());
    let (endpoint, body) = create_body(&veo).unwrap();
    assert_eq!(endpoint, "fal-ai/veo3.1/fast/image-to-video");
    assert_eq!(body["image_url"], json!("data:image/png;base64,iVBORw=="));
    assert_eq!(body["aspect_ratio"], json!("16:9"));

    let mut kling = request(
        "fal-ai/kling-video/v2.1/master/text-to-video",
        5,
        "1920x1080",
    );
    kling.input_reference = Some(image());
    let (endpoint, body) = create_body(&kling).unwrap();
    assert_eq!(endpoint, "fal-ai/kling-video/v2.1/master/image-to-video");
    // Kling's image-to-video takes no aspect ratio: the image's shape decides.
    assert!(body.get("aspect_ratio").is_none());

    let mut wan = request("fal-ai/wan/v2.2-a14b/text-to-video", 5, "1280x720");
    wan.input_reference = Some(image());
    let err = create_body(&wan).unwrap_err();
    assert!(
        matches!(&err, ProviderError::Rejected { param: Some(p), .. } if p == "input_reference"),
        "{err:?}"
    );
}

#[test]
fn unknown_models_and_bad_sizes_are_refused_before_sending() {
    let err = create_body(&request("fal-ai/veo3", 8, "1280x720")).unwrap_err();
    assert!(err.message().contains("fal-ai/veo3"), "{err:?}");
    let err = create_body(&request("fal-ai/veo3.1", 8, "wide")).unwrap_err();
    assert!(
        matches!(&err, ProviderError::Rejected { param: Some(p), .. } if p == "size"),
        "{err:?}"
    );
}

fn submit(base: &str, id: &str) -> WireSubmit {
    WireSubmit {
        request_id: "r1".into(),
        response_url: format!("{base}/{id}"),
        status_url: format!("{base}/{id}/status"),
        cancel_url: format!("{base}/{id}/cancel"),
    }
}

#[test]
fn the_video_id_is_the_response_url_under_the_queue_base() {
    let base = "https://queue.fal.run";
    let ok = submit(base, "fal-ai/veo3.1/requests/r1");
    assert_eq!(video_id_of(base, &ok).unwrap(), "fal-ai/veo3.1/requests/r1");

    // Another host: our key must never be sent there.
    let elsewhere = submit("https://evil.example", "fal-ai/veo3.1/requests/r1");
    let err = video_id_of(base, &elsewhere).unwrap_err();
    assert!(matches!(err, ProviderError::Protocol { .. }), "{err:?}");
    // A host that merely starts like ours.
    let lookalike = submit(
        "https://queue.fal.run.evil.example",
        "fal-ai/veo3.1/requests/r1",
    );
    assert!(video_id_of(base, &lookalike).is_err());

    let mut moved = submit(base, "fal-ai/veo3.1/requests/r1");
    moved.status_url = "https://queue.fal.run/fal-ai/other/requests/r1/status".into();
    let err = video_id_of(base, &moved).unwrap_err();
    assert!(err.message().contains("status_url"), "{err:?}");

    let mut cancel = submit(base, "fal-ai/veo3.1/requests/r1");
    cancel.cancel_url = "https://queue.fal.run/x/y/requests/r1/cancel".into();
    assert!(video_id_of(base, &cancel)
        .unwrap_err()
        .message()
        .contains("cancel_url"));

    let other = submit(base, "fal-ai/veo3.1/requests/r2");
    assert!(video_id_of(base, &other)
        .unwrap_err()
        .message()
        .contains("another request"));

    for bad in [
        "fal-ai/veo3.1/requests/../r1",
        "fal-ai/requests/r1",
        "a/b/requests/r1?x=1",
    ] {
        assert!(check_video_id(bad).is_err(), "{bad}");
    }
}

fn answer(status: u16, body: Value) -> ErrorAnswer {
    ErrorAnswer {
        status: StatusCode::from_u16(status).unwrap(),
        retry_after: Some(Duration::from_secs(3)),
        body: Bytes::from(body.to_string()),
        too_large: false,
    }
}

#[test]
fn errors_are_read_from_fals_bodies() {
    let e = read_error(answer(
        422,
        json!({"detail": [{"loc": ["body", "duration"], "msg": "Input should be '4s', '6s' or '8s'", "type": "literal_error", "input": 5}]}),
    ));
    assert_eq!(
        e,
        ProviderError::Rejected {
            status: 422,
            code: "literal_error".into(),
            reason: ErrorCode::ProviderRejected,
            message: "duration: Input should be '4s', '6s' or '8s'".into(),
            param: Some("duration".into()),
        }
    );
    let e = read_error(answer(
        422,
        json!({"detail": [{"loc": ["body", "prompt"], "msg": "flagged", "type": "content_policy_violation"}]}),
    ));
    assert_eq!(e.code(), ErrorCode::ModerationBlocked);

    let e = read_error(answer(401, json!({"detail": "bad key fal_secret"})));
    assert!(
        matches!(&e, ProviderError::Rejected { status: 401, .. })
            && !e.message().contains("fal_secret"),
        "{e:?}"
    );
    let e = read_error(answer(429, json!({"detail": "Rate limit exceeded"})));
    assert_eq!(
        e,
        ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(3)),
            message: "Rate limit exceeded".into()
        }
    );
    let e = read_error(answer(400, json!({"status": "ALREADY_COMPLETED"})));
    assert!(matches!(&e, ProviderError::Rejected { code, .. } if code == "ALREADY_COMPLETED"));
    assert!(matches!(
        read_error(answer(503, json!({"detail": "Internal Server Error"}))),
        ProviderError::Unavailable { status: 503, .. }
    ));
}

#[test]
fn a_completed_status_with_an_error_is_a_failure() {
    let s: WireStatus = serde_json::from_value(json!({"status": "COMPLETED", "logs": null,
        "error": "flagged by a content checker", "error_type": "content_policy_violation"}))
    .unwrap();
    let f = s.failure().unwrap();
    assert_eq!(f.code, ErrorCode::ModerationBlocked);
    let s: WireStatus = serde_json::from_value(
        json!({"status": "COMPLETED", "error": "Internal Server Error", "error_type": "runner_server_error"}),
    )
    .unwrap();
    assert_eq!(s.failure().unwrap().code, ErrorCode::VideoGenerationFailed);
    let s: WireStatus =
        serde_json::from_value(json!({"status": "COMPLETED", "error": null})).unwrap();
    assert_eq!(s.failure(), None);
}

#[test]
fn a_result_needs_an_http_video_url() {
    assert!(video_link(&json!({"video": {"url": "https://v3.fal.media/files/a.mp4"}})).is_ok());
    assert!(video_link(&json!({"video": {"url": "file:///etc/passwd"}})).is_err());
    assert!(video_link(&json!({"images": []})).is_err());
}
