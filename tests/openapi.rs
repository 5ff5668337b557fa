//! `openapi.json` against the running product: the whole local stack (`vidgen serve`'s
//! server, the workflow, the Sora simulator) over real sockets, every body it answers
//! checked against the response schema the document gives for that route and status.

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;
use vidgen_tests::{Harness, Store, ALICE, BOB};

const DOCUMENT: &str = include_str!("../openapi.json");

/// The document and a way to check an answer against it.
struct Contract {
    doc: Value,
}

impl Contract {
    fn load() -> Contract {
        Contract {
            doc: serde_json::from_str(DOCUMENT).expect("openapi.json is JSON"),
        }
    }

    fn deref<'a>(&'a self, node: &'a Value) -> &'a Value {
        match node.get("$ref").and_then(Value::as_str) {
            Some(r) => self
                .doc
                .pointer(r.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("{r} resolves")),
            None => node,
        }
    }

    /// A validator of one schema of the document, `$ref`s resolved in the document.
    fn validator(&self, schema: &Value) -> jsonschema::Validator {
        let wrapper = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": self.doc["components"],
            "allOf": [schema],
        });
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&wrapper)
            .unwrap_or_else(|e| panic!("schema {schema} compiles: {e}"))
    }

    fn assert_matches(&self, schema: &Value, instance: &Value, what: &str) {
        let validator = self.validator(schema);
        let errors: Vec<String> = validator
            .iter_errors(instance)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{what}: {instance:#} does not match the document: {errors:#?}"
        );
    }

    fn assert_schema(&self, name: &str, instance: &Value) {
        let schema = json!({ "$ref": format!("#/components/schemas/{name}") });
        self.assert_matches(&schema, instance, name);
    }

    /// The status is one the document lists for the operation; the body matches that
    /// response's schema (or is empty when it has none); its required headers are there.
    fn check(
        &self,
        method: &Method,
        template: &str,
        (status, headers, body): &(StatusCode, HeaderMap, Value),
    ) {
        let what = format!("{method} {template} {status}");
        let op = &self.doc["paths"][template][method.as_str().to_lowercase()];
        assert!(op.is_object(), "{method} {template} is documented");
        let Some(response) = op["responses"].get(status.as_str()) else {
            panic!("{what} is not a documented answer: {body}");
        };
        let response = self.deref(response);
        match response.pointer("/content/application~1json/schema") {
            Some(schema) => {
                assert_eq!(headers["content-type"], "application/json; charset=utf-8");
                self.assert_matches(schema, body, &what);
            }
            None => assert_eq!(body, &Value::Null, "{what} has no body"),
        }
        for (name, header) in response["headers"].as_object().into_iter().flatten() {
            if self.deref(header)["required"] == true {
                assert!(headers.contains_key(name.as_str()), "{what} has {name}");
            }
        }
    }
}

/// Call, check the answer against the document, return it.
async fn call(
    h: &Harness,
    contract: &Contract,
    method: Method,
    template: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (StatusCode, HeaderMap, Value) {
    let answer = h.call(method.clone(), path, token, body).await;
    contract.check(&method, template, &answer);
    answer
}

/// Poll the job until it ends, checking every state it is read in; returns the end.
async fn follow(h: &Harness, contract: &Contract, id: &str) -> (Value, Vec<String>) {
    let mut seen = Vec::new();
    for _ in 0..400 {
        let (status, _, job) = call(
            h,
            contract,
            Method::GET,
            "/v1/videos/{id}",
            &format!("/v1/videos/{id}"),
            Some(ALICE),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{job}");
        let now = job["status"].as_str().expect("status").to_string();
        if seen.last() != Some(&now) {
            seen.push(now.clone());
        }
        if matches!(
            now.as_str(),
            "completed" | "failed" | "canceled" | "timed_out"
        ) {
            return (job, seen);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("job {id} did not end");
}

#[tokio::test]
async fn every_answer_of_the_running_stack_matches_the_document() {
    let contract = Contract::load();
    let h = Harness::start(Store::Embedded).await;

    // The document itself, without a token, byte for byte.
    let served = h
        .fetch(&format!("{}/v1/openapi.json", h.stack.base_url))
        .await;
    assert_eq!(served, (StatusCode::OK, DOCUMENT.as_bytes().to_vec()));
    call(
        &h,
        &contract,
        Method::GET,
        "/v1/openapi.json",
        "/v1/openapi.json",
        None,
        None,
    )
    .await;
    let (status, _, health) = call(
        &h,
        &contract,
        Method::GET,
        "/v1/health",
        "/v1/health",
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    contract.assert_schema("Health", &health);

    // A job to completion: queued, then every state it is read in, then completed.
    let body = json!({
        "script": "A fox runs through snow.",
        "style": "cinematic",
        "keywords": ["snow"],
        "negative_keywords": ["text"],
        "metadata": {"order": "42"},
    });
    let (status, headers, queued) = call(
        &h,
        &contract,
        Method::POST,
        "/v1/videos",
        "/v1/videos",
        Some(ALICE),
        Some(&body),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(queued["status"], "queued");
    contract.assert_schema("Job", &queued);
    let id = queued["id"].as_str().expect("id").to_string();
    assert_eq!(headers["location"], format!("/v1/videos/{id}").as_str());
    let (done, seen) = follow(&h, &contract, &id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert!(done["assets"]["video"]["url"].is_string(), "{done}");
    contract.assert_schema("Job", &done);
    assert!(seen.len() >= 2, "read in more than one state: {seen:?}");

    // The same job differently: the content redirect, a remix, an idempotent retry.
    let content = call(
        &h,
        &contract,
        Method::GET,
        "/v1/videos/{id}/content",
        &format!("/v1/videos/{id}/content?variant=spritesheet"),
        Some(ALICE),
        None,
    )
    .await;
    assert_eq!(content.0, StatusCode::FOUND);
    let (status, _, remix) = call(
        &h,
        &contract,
        Method::POST,
        "/v1/videos/{id}/remix",
        &format!("/v1/videos/{id}/remix"),
        Some(ALICE),
        Some(&json!({"prompt": "Now at night", "metadata": {"of": "fox"}})),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(remix["remixed_from"], id.as_str());
    // The catalog; a Runway job with a variant, both to completed (assets without a
    // thumbnail or spritesheet); one more variant added later.
    let (status, _, models) = call(
        &h,
        &contract,
        Method::GET,
        "/v1/models",
        "/v1/models",
        Some(ALICE),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(models["data"].as_array().is_some_and(|m| !m.is_empty()));
    let runway_body = json!({"script": "A fox.", "model": "runway/gen4.5",
        "variants": [{"size": "720x1280"}]});
    let (status, _, primary) = call(
        &h,
        &contract,
        Method::POST,
        "/v1/videos",
        "/v1/videos",
        Some(ALICE),
        Some(&runway_body),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{primary}");
    let primary_id = primary["id"].as_str().expect("id").to_string();
    let variant_id = primary["variants"][0]
        .as_str()
        .expect("a variant")
        .to_string();
    for job in [&primary_id, &variant_id] {
        let (done, _) = follow(&h, &contract, job).await;
        assert_eq!(done["status"], "completed", "{done}");
        assert!(done["assets"]["thumbnail"].is_null(), "{done}");
    }
    let (status, _, later) = call(
        &h,
        &contract,
        Method::POST,
        "/v1/videos/{id}/variants",
        &format!("/v1/videos/{primary_id}/variants"),
        Some(ALICE),
        Some(&json!({"size": "1280x720", "seconds": 4})),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{later}");
    assert_eq!(later["variant_of"], primary_id.as_str());

    let retried_body = json!({"prompt": "a calm lake"});
    for expected in [StatusCode::ACCEPTED, StatusCode::OK] {
        let answer = h
            .raw(
                Method::POST,
                "/v1/videos",
                Some(ALICE),
                Some(("application/json", retried_body.to_string())),
                &[("idempotency-key", "openapi-retry")],
            )
            .await;
        contract.check(&Method::POST, "/v1/videos", &answer);
        assert_eq!(answer.0, expected, "{}", answer.2);
    }

    // A job to failure: the provider's moderation refusal at create.
    let (status, _, refused) = call(
        &h,
        &contract,
        Method::POST,
        "/v1/videos",
        "/v1/videos",
        Some(ALICE),
        Some(&json!({"prompt": "bad [sim:moderation_create]"})),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (failed, _) = follow(&h, &contract, refused["id"].as_str().expect("id")).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(failed["error"]["code"].is_string(), "{failed}");
    contract.assert_schema("Job", &failed);

    // A job canceled while it runs.
    let (_, _, running) = call(
        &h,
        &contract,
        Method::POST,
        "/v1/videos",
        "/v1/videos",
        Some(ALICE),
        Some(&json!({"prompt": "slow [sim:never_finish]"})),
    )
    .await;
    let running_id = running["id"].as_str().expect("id");
    let (status, _, canceled) = call(
        &h,
        &contract,
        Method::POST,
        "/v1/videos/{id}/cancel",
        &format!("/v1/videos/{running_id}/cancel"),
        Some(ALICE),
        None,
    )
    .await;
    assert_eq!(
        (status, &canceled["status"]),
        (StatusCode::OK, &json!("canceled"))
    );

    // Lists: every job, and one filtered page with a cursor.
    let (status, _, all) = call(
        &h,
        &contract,
        Method::GET,
        "/v1/videos",
        "/v1/videos?limit=100",
        Some(ALICE),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    contract.assert_schema("JobList", &all);
    assert!(all["data"].as_array().expect("data").len() >= 5, "{all}");
    let (_, _, page) = call(
        &h,
        &contract,
        Method::GET,
        "/v1/videos",
        "/v1/videos?limit=1",
        Some(ALICE),
        None,
    )
    .await;
    let cursor = page["next_cursor"].as_str().expect("a next page");
    let (_, _, next) = call(
        &h,
        &contract,
        Method::GET,
        "/v1/videos",
        &format!("/v1/videos?limit=1&cursor={cursor}"),
        Some(ALICE),
        None,
    )
    .await;
    assert_ne!(next["data"][0]["id"], page["data"][0]["id"]);
    let (_, _, failures) = call(
        &h,
        &contract,
        Method::GET,
        "/v1/videos",
        "/v1/videos?status=failed",
        Some(ALICE),
        None,
    )
    .await;
    assert_eq!(failures["data"][0]["id"], failed["id"]);

    // An upload slot.
    let (status, _, upload) = call(
        &h,
        &contract,
        Method::POST,
        "/v1/uploads",
        "/v1/uploads",
        Some(ALICE),
        Some(&json!({"content_type": "image/webp", "bytes": 2048})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    contract.assert_schema("Upload", &upload);

    // Error bodies: each in the Error shape and documented for its route.
    let path = format!("/v1/videos/{id}");
    let errors = [
        (
            Method::GET,
            "/v1/videos/{id}",
            path.clone(),
            Some(BOB),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            Method::GET,
            "/v1/videos/{id}",
            path.clone(),
            None,
            None,
            StatusCode::UNAUTHORIZED,
        ),
        (
            Method::POST,
            "/v1/videos",
            "/v1/videos".into(),
            Some(ALICE),
            Some(json!({"script": "x", "seconds": 5})),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/v1/videos/{id}/cancel",
            format!("{path}/cancel"),
            Some(ALICE),
            None,
            StatusCode::CONFLICT,
        ),
        (
            Method::POST,
            "/v1/videos/{id}/remix",
            format!("/v1/videos/{running_id}/remix"),
            Some(ALICE),
            Some(json!({"prompt": "again"})),
            StatusCode::CONFLICT,
        ),
        (
            Method::GET,
            "/v1/videos/{id}/content",
            format!("/v1/videos/{running_id}/content"),
            Some(ALICE),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            Method::GET,
            "/v1/videos",
            "/v1/videos?colour=red".into(),
            Some(ALICE),
            None,
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (method, template, path, token, body, expected) in errors {
        let answer = call(&h, &contract, method, template, &path, token, body.as_ref()).await;
        assert_eq!(answer.0, expected, "{path}: {}", answer.2);
        contract.assert_schema("Error", &answer.2);
    }
    for (content_type, body, expected) in [
        (
            "text/plain",
            "{}".to_string(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "application/json",
            "x".repeat(70 * 1024),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "application/json",
            "{not json".to_string(),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let answer = h
            .raw(
                Method::POST,
                "/v1/videos",
                Some(ALICE),
                Some((content_type, body)),
                &[],
            )
            .await;
        assert_eq!(answer.0, expected);
        contract.check(&Method::POST, "/v1/videos", &answer);
    }
    // 405: not an operation of the document, but its MethodNotAllowed response.
    let answer = h.call(Method::PUT, "/v1/openapi.json", None, None).await;
    assert_eq!(answer.0, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(answer.1["allow"], "GET");
    let not_allowed = contract.doc["components"]["responses"]["MethodNotAllowed"].clone();
    contract.assert_matches(
        &not_allowed["content"]["application/json"]["schema"],
        &answer.2,
        "405",
    );

    // Delete last: 204, no body.
    let (status, _, _) = call(
        &h,
        &contract,
        Method::DELETE,
        "/v1/videos/{id}",
        &path,
        Some(ALICE),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}
