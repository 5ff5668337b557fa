use super::*;
use serde_json::json;

const JSON: Option<&str> = Some("application/json; charset=utf-8");

fn create(body: Value) -> Result<CreateRequest, Rejection> {
    create_request(
        JSON,
        body.to_string().as_bytes(),
        &ValidationPolicy::default(),
    )
}

fn field_of(r: Result<impl std::fmt::Debug, Rejection>) -> Option<String> {
    match r {
        Err(Rejection::Invalid { field, .. }) => field,
        other => panic!("expected a 400, got {other:?}"),
    }
}

#[test]
fn a_minimal_body_takes_the_defaults() {
    let req = create(json!({"script": "A fox runs."})).unwrap();
    assert_eq!(req.model, Model::SORA_2);
    assert_eq!(req.seconds, 4);
    assert_eq!(req.size, "720x1280");
    assert!(req.keywords.is_empty() && req.metadata.is_empty());
}

#[test]
fn the_deployment_default_model_applies() {
    let policy = ValidationPolicy {
        default_model: Model::SORA_2_PRO,
        ..Default::default()
    };
    let req = create_request(JSON, br#"{"prompt":"x"}"#, &policy).unwrap();
    assert_eq!(req.model, Model::SORA_2_PRO);
}

#[test]
fn a_full_body_is_kept() {
    let req = create(json!({
        "script": "s", "style": "anime", "prompt": null, "keywords": ["a"],
        "negative_keywords": ["b"], "model": "sora-2-pro", "seconds": 12,
        "size": "1792x1024", "input_reference": {"upload_id": "up_01J9ZV6Q8W3X4Y5Z6A7B8C9D0E"},
        "callback_url": "https://example.com/hook", "metadata": {"k": "v"}
    }))
    .unwrap();
    assert_eq!(req.seconds, 12);
    assert_eq!(req.size, "1792x1024");
    assert_eq!(
        req.input_reference.as_deref(),
        Some("up_01J9ZV6Q8W3X4Y5Z6A7B8C9D0E")
    );
    assert_eq!(req.metadata.get("k").map(String::as_str), Some("v"));
    assert_eq!(req.prompt, None, "null reads as absent");
}

#[test]
fn every_rule_names_its_field() {
    let long = |n: usize| "x".repeat(n);
    let many = |n: usize| (0..n).map(|i| format!("k{i}")).collect::<Vec<_>>();
    let meta = |n: usize| {
        Value::Object(
            (0..n)
                .map(|i| (format!("k{i}"), json!("v")))
                .collect::<Map<_, _>>(),
        )
    };
    let table: Vec<(Value, &str)> = vec![
        (json!({}), "script"),
        (json!({"style": "anime"}), "script"),
        (json!({"script": ""}), "script"),
        (json!({"script": "   "}), "script"),
        (json!({"script": long(10_001)}), "script"),
        (json!({"script": 5}), "script"),
        (json!({"script": "s", "style": long(201)}), "style"),
        (json!({"script": "s", "style": ["x"]}), "style"),
        (json!({"prompt": long(32_001)}), "prompt"),
        (json!({"script": "s", "keywords": "a"}), "keywords"),
        (json!({"script": "s", "keywords": many(21)}), "keywords"),
        (json!({"script": "s", "keywords": [long(51)]}), "keywords"),
        (json!({"script": "s", "keywords": [1]}), "keywords"),
        (json!({"script": "s", "keywords": [""]}), "keywords"),
        (
            json!({"script": "s", "negative_keywords": many(21)}),
            "negative_keywords",
        ),
        (json!({"script": "s", "model": "sora-3"}), "model"),
        (json!({"script": "s", "model": 2}), "model"),
        (json!({"script": "s", "seconds": 10}), "seconds"),
        (json!({"script": "s", "seconds": "4"}), "seconds"),
        (json!({"script": "s", "seconds": 4.5}), "seconds"),
        (json!({"script": "s", "seconds": -4}), "seconds"),
        (json!({"script": "s", "size": "640x480"}), "size"),
        (json!({"script": "s", "size": "1024x1792"}), "size"),
        (
            json!({"script": "s", "input_reference": "up_1"}),
            "input_reference",
        ),
        (
            json!({"script": "s", "input_reference": {}}),
            "input_reference",
        ),
        (
            json!({"script": "s", "input_reference": {"upload_id": "up_1", "x": 1}}),
            "input_reference",
        ),
        (
            json!({"script": "s", "callback_url": "http://example.com"}),
            "callback_url",
        ),
        (
            json!({"script": "s", "callback_url": "not a url"}),
            "callback_url",
        ),
        (
            json!({"script": "s", "callback_url": "https://127.0.0.1/x"}),
            "callback_url",
        ),
        (
            json!({"script": "s", "callback_url": "https://10.1.2.3/x"}),
            "callback_url",
        ),
        (
            json!({"script": "s", "callback_url": "https://localhost/x"}),
            "callback_url",
        ),
        (
            json!({"script": "s", "callback_url": "https://[::1]/x"}),
            "callback_url",
        ),
        (
            json!({"script": "s", "callback_url": "https://169.254.169.254/"}),
            "callback_url",
        ),
        (
            json!({"script": "s", "callback_url": "https://u:p@example.com/"}),
            "callback_url",
        ),
        (json!({"script": "s", "metadata": []}), "metadata"),
        (json!({"script": "s", "metadata": meta(17)}), "metadata"),
        (json!({"script": "s", "metadata": {"k": 1}}), "metadata"),
        (
            json!({"script": "s", "metadata": {long(41): "v"}}),
            "metadata",
        ),
        (
            json!({"script": "s", "metadata": {"k": long(501)}}),
            "metadata",
        ),
        (json!({"script": "s", "colour": "red"}), "colour"),
    ];
    for (body, field) in table {
        let got = field_of(create(body.clone()));
        assert_eq!(got.as_deref(), Some(field), "body {body}");
    }
}

#[test]
fn limits_are_inclusive() {
    let at_limit = json!({
        "script": "x".repeat(10_000), "style": "y".repeat(200),
        "keywords": (0..20).map(|_| "z".repeat(50)).collect::<Vec<_>>(),
        "metadata": (0..16).map(|i| (format!("{i:0>40}"), json!("v".repeat(500)))).collect::<Map<_, _>>(),
    });
    assert!(create(at_limit).is_ok());
    // Characters, not bytes: 10,000 two-byte characters fit.
    assert!(create(json!({"script": "é".repeat(10_000)})).is_ok());
}

#[test]
fn local_mode_allows_loopback_callbacks() {
    let policy = ValidationPolicy {
        allow_private_callbacks: true,
        ..Default::default()
    };
    let body = br#"{"script":"s","callback_url":"http://127.0.0.1:9/hook"}"#;
    assert!(create_request(JSON, body, &policy).is_ok());
}

#[test]
fn envelope_errors_have_their_own_status() {
    let policy = ValidationPolicy::default();
    let big = vec![b' '; MAX_BODY_BYTES + 1];
    assert_eq!(
        create_request(JSON, &big, &policy),
        Err(Rejection::TooLarge {
            limit: MAX_BODY_BYTES
        })
    );
    assert!(matches!(
        create_request(Some("text/plain"), b"{}", &policy),
        Err(Rejection::UnsupportedMediaType { .. })
    ));
    assert!(matches!(
        create_request(None, b"{}", &policy),
        Err(Rejection::UnsupportedMediaType { .. })
    ));
    assert_eq!(
        field_of(create_request(JSON, b"{\"script\":", &policy)),
        None
    );
    assert_eq!(field_of(create_request(JSON, b"[1]", &policy)), None);
}

#[test]
fn remix_needs_a_prompt() {
    let p = ValidationPolicy::default();
    assert_eq!(
        field_of(remix_request(JSON, b"{}", &p)).as_deref(),
        Some("prompt")
    );
    assert_eq!(
        field_of(remix_request(JSON, br#"{"prompt":"x","seconds":4}"#, &p)).as_deref(),
        Some("seconds")
    );
    let ok = remix_request(
        JSON,
        br#"{"prompt":"make it night","metadata":{"a":"b"}}"#,
        &p,
    )
    .unwrap();
    assert_eq!(ok.prompt, "make it night");
}

#[test]
fn uploads_are_images_of_at_most_10_mib() {
    let ok = upload_request(JSON, br#"{"content_type":"image/png","bytes":1024}"#).unwrap();
    assert_eq!(ok.bytes, 1024);
    let table: &[(&[u8], &str)] = &[
        (br#"{"content_type":"image/gif","bytes":1}"#, "content_type"),
        (br#"{"bytes":1}"#, "content_type"),
        (br#"{"content_type":"image/png"}"#, "bytes"),
        (br#"{"content_type":"image/png","bytes":0}"#, "bytes"),
        (br#"{"content_type":"image/png","bytes":10485761}"#, "bytes"),
        (br#"{"content_type":"image/png","bytes":"5"}"#, "bytes"),
    ];
    for (body, field) in table {
        assert_eq!(
            field_of(upload_request(JSON, body)).as_deref(),
            Some(*field)
        );
    }
    assert!(upload_request(JSON, br#"{"content_type":"image/png","bytes":10485760}"#).is_ok());
}

/// JSON Schema's `integer` (what openapi.json promises) counts `8.0` as the integer 8;
/// a fraction, a negative or an inexact float is still refused, naming the field.
#[test]
fn whole_numbers_written_with_a_fraction_are_integers() {
    let req = create(json!({"script": "x", "seconds": 8.0})).unwrap();
    assert_eq!(req.seconds, 8);
    let up = upload_request(JSON, br#"{"content_type":"image/png","bytes":3486.0}"#).unwrap();
    assert_eq!(up.bytes, 3486);
    for bytes in ["3486.5", "-1.0", "1e300", "0.0"] {
        let body = format!(r#"{{"content_type":"image/png","bytes":{bytes}}}"#);
        assert_eq!(
            field_of(upload_request(JSON, body.as_bytes())).as_deref(),
            Some("bytes"),
            "{bytes}"
        );
    }
    assert_eq!(
        field_of(create(json!({"script": "x", "seconds": 8.25}))).as_deref(),
        Some("seconds")
    );
}

#[test]
fn list_queries() {
    let q = list_query([("limit", "5"), ("status", "completed"), ("cursor", "abc")]).unwrap();
    assert_eq!(q.limit, 5);
    assert_eq!(q.status, Some(Status::Completed));
    assert_eq!(q.cursor.as_deref(), Some("abc"));
    assert_eq!(list_query([]).unwrap().limit, 20);
    for (k, v, field) in [
        ("limit", "0", "limit"),
        ("limit", "101", "limit"),
        ("limit", "x", "limit"),
        ("status", "done", "status"),
        ("page", "2", "page"),
    ] {
        assert_eq!(field_of(list_query([(k, v)])).as_deref(), Some(field));
    }
}

#[test]
fn idempotency_keys() {
    assert_eq!(idempotency_key(b"abc-123").unwrap(), "abc-123");
    assert!(idempotency_key(&[b'a'; 255]).is_ok());
    for bad in [&b""[..], &[b'a'; 256][..], b"tab\there", "é".as_bytes()] {
        assert_eq!(
            field_of(idempotency_key(bad)).as_deref(),
            Some("Idempotency-Key")
        );
    }
}

#[test]
fn upload_ids_must_have_the_minted_shape() {
    let minted = crate::domain::ids::new_upload_id();
    let ok = create(json!({"script": "s", "input_reference": {"upload_id": minted}})).unwrap();
    assert_eq!(ok.input_reference, Some(minted.clone()));
    for bad in [
        "up_1".to_string(),
        "up_".to_string(),
        format!("up_{}", "0".repeat(5000)),
        format!("{minted}x"),
        minted.replace("up_", "vid_"),
        minted.to_lowercase().replace("up_", "UP_"),
        "up_01J9ZV6Q8W3X4Y5Z6A7B8C9D0\u{e9}".to_string(),
        "up_../../etc/passwd".to_string(),
        "up_01J9ZV6Q8W3X4Y5Z6A7B8C9D0E\n".to_string(),
    ] {
        let r = create(json!({"script": "s", "input_reference": {"upload_id": bad}}));
        assert_eq!(field_of(r).as_deref(), Some("input_reference"), "{bad:?}");
    }
}

#[test]
fn callback_urls_are_at_most_2048_characters() {
    let at = |n: usize| {
        let base = "https://example.com/";
        format!("{base}{}", "a".repeat(n - base.len()))
    };
    assert_eq!(at(MAX_CALLBACK_URL_CHARS).len(), 2048);
    let ok = create(json!({"script": "s", "callback_url": at(2048)})).unwrap();
    assert_eq!(ok.callback_url.map(|u| u.len()), Some(2048));
    for n in [2049, 20_000] {
        let r = create(json!({"script": "s", "callback_url": at(n)}));
        assert_eq!(field_of(r).as_deref(), Some("callback_url"), "{n}");
        let r = remix_request(
            JSON,
            json!({"prompt": "p", "callback_url": at(n)})
                .to_string()
                .as_bytes(),
            &ValidationPolicy::default(),
        );
        assert_eq!(field_of(r).as_deref(), Some("callback_url"), "remix {n}");
    }
}

#[test]
fn literal_private_hosts_are_refused_as_callbacks() {
    // Brackets and all: the private_address table, through callback_url validation.
    for host in [
        "[64:ff9b::a9fe:a9fe]",
        "[2002:7f00:1::]",
        "[::127.0.0.1]",
        "198.18.0.1",
        "240.0.0.1",
        "224.0.0.1",
    ] {
        let r = create(json!({"script": "s", "callback_url": format!("https://{host}/hook")}));
        assert_eq!(field_of(r).as_deref(), Some("callback_url"), "{host}");
    }
}

fn message_of(r: Result<impl std::fmt::Debug, Rejection>) -> String {
    match r {
        Err(Rejection::Invalid { message, .. }) => message,
        other => panic!("expected a 400, got {other:?}"),
    }
}

#[test]
fn each_model_takes_its_own_seconds_and_sizes_and_defaults() {
    let gen45 = create(json!({"script": "x", "model": "runway/gen4.5"})).unwrap();
    assert_eq!((gen45.seconds, gen45.size.as_str()), (5, "1280x720"));
    let veo =
        create(json!({"script": "x", "model": "runway/veo3.1", "seconds": 6, "size": "1080x1920"}))
            .unwrap();
    assert_eq!((veo.seconds, veo.size.as_str()), (6, "1080x1920"));
    let bad_seconds = create(json!({"script": "x", "model": "runway/veo3.1", "seconds": 5}));
    assert_eq!(
        message_of(bad_seconds),
        "seconds must be 4, 6 or 8 for runway/veo3.1"
    );
    let bad_size = create(json!({"script": "x", "model": "sora-2", "size": "1920x1080"}));
    assert_eq!(
        message_of(bad_size),
        "size must be 720x1280 or 1280x720 for sora-2"
    );
    let unknown = message_of(create(json!({"script": "x", "model": "runway/gen9"})));
    assert!(
        unknown.contains("runway/veo3.1_fast"),
        "lists the known: {unknown}"
    );
}

#[test]
fn a_model_whose_provider_has_no_key_is_refused_naming_model() {
    let policy = ValidationPolicy {
        available: vec![ProviderId::Runway],
        default_model: Model::RUNWAY_GEN45,
        ..Default::default()
    };
    let body = json!({"script": "x", "model": "sora-2"}).to_string();
    let refused = create_request(JSON, body.as_bytes(), &policy);
    let Err(Rejection::Invalid { field, message }) = refused else {
        panic!("expected a 400, got {refused:?}");
    };
    assert_eq!(field.as_deref(), Some("model"));
    assert!(
        message.contains("no key for openai") && message.contains("runway/gen4.5"),
        "{message}"
    );
    // The same for a variant, named by its place.
    let body =
        json!({"script": "x", "variants": [{"size": "720x1280", "model": "sora-2"}]}).to_string();
    assert_eq!(
        field_of(create_request(JSON, body.as_bytes(), &policy)).as_deref(),
        Some("variants[0].model")
    );
}

#[test]
fn variants_inherit_model_and_seconds_and_are_named_by_place() {
    let req = create(
        json!({"script": "x", "model": "sora-2", "seconds": 8, "variants": [
            {"size": "1280x720"},
            {"size": "720x1280", "model": "runway/gen4.5"},
            {"size": "1280x720", "model": "runway/veo3.1"}
        ]}),
    )
    .unwrap();
    let got: Vec<(&str, u32, &str)> = req
        .variants
        .iter()
        .map(|v| (v.model.id(), v.seconds, v.size.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("sora-2", 8, "1280x720"),
            ("runway/gen4.5", 8, "720x1280"),
            // veo3.1 offers 8 s too.
            ("runway/veo3.1", 8, "1280x720"),
        ]
    );
    let cases = [
        (
            json!({"script": "x", "variants": {"size": "720x1280"}}),
            "variants",
        ),
        (json!({"script": "x", "variants": [1]}), "variants[0]"),
        (
            json!({"script": "x", "variants": [{"model": "sora-2"}]}),
            "variants[0].size",
        ),
        (
            json!({"script": "x", "variants": [{"size": "720x1280", "colour": 1}]}),
            "variants[0].colour",
        ),
        (
            json!({"script": "x", "variants": [{"size": "720x1280"}, {"size": "720x1280", "seconds": 5}]}),
            "variants[1].seconds",
        ),
        (
            json!({"script": "x", "variants": [{"size": "a"}, {"size": "a"}, {"size": "a"}, {"size": "a"}]}),
            "variants",
        ),
    ];
    for (body, field) in cases {
        assert_eq!(
            field_of(create(body.clone())).as_deref(),
            Some(field),
            "{body}"
        );
    }
}

#[test]
fn a_later_variant_defaults_to_the_primarys_model_and_seconds() {
    let policy = ValidationPolicy::default();
    let v = variant_request(
        JSON,
        br#"{"size":"1280x720"}"#,
        &policy,
        Model::SORA_2_PRO,
        12,
    )
    .unwrap();
    assert_eq!(
        (v.model, v.seconds, v.size.as_str()),
        (Model::SORA_2_PRO, 12, "1280x720")
    );
    // gen4.5 has no 12 s: its own default.
    let v = variant_request(
        JSON,
        br#"{"size":"1280x720","model":"runway/gen4.5"}"#,
        &policy,
        Model::SORA_2_PRO,
        12,
    )
    .unwrap();
    assert_eq!(v.seconds, 5);
    assert_eq!(
        field_of(variant_request(JSON, br#"{}"#, &policy, Model::SORA_2, 4)).as_deref(),
        Some("size")
    );
}
