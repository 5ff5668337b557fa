//! What the scenarios share: request bodies and the create-and-wait steps.

pub use reqwest::{Method, StatusCode};
pub use serde_json::{json, Value};
pub use vidgen_tests::{fast_config, webhook_receiver, Harness, Store, ALICE, BOB};

pub fn create_body(script: &str) -> Value {
    json!({"script": script, "style": "cinematic", "keywords": ["snow"], "negative_keywords": ["text"]})
}

/// Make a job from a verbatim prompt (simulator markers included) and wait for its end.
pub async fn run_to_end(h: &Harness, prompt: &str) -> Value {
    let job = create(h, ALICE, &json!({ "prompt": prompt })).await;
    h.wait_for_end(job["id"].as_str().unwrap(), ALICE).await
}

pub async fn create(h: &Harness, token: &str, body: &Value) -> Value {
    let (status, headers, job) = h
        .call(Method::POST, "/v1/videos", Some(token), Some(body))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    let id = job["id"].as_str().unwrap().to_string();
    assert_eq!(headers["location"], format!("/v1/videos/{id}").as_str());
    job
}
