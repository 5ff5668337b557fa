//! What the scenarios share: request bodies and the create-and-wait steps.

pub use reqwest::{Method, StatusCode};
pub use serde_json::{json, Value};
pub use vidgen::stack::StackConfig;
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

/// Wait until job `id` is at the provider (`in_progress`), stop the server mid-render,
/// and start it again on the same data and config: the restarted stack.
pub async fn restart_mid_render(h: Harness, id: &str, config: StackConfig) -> Harness {
    for _ in 0..200 {
        let (_, _, now) = h
            .call(Method::GET, &format!("/v1/videos/{id}"), Some(ALICE), None)
            .await;
        if now["status"] == "in_progress" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let Harness { stack, dir, .. } = h;
    stack.shutdown().await;
    Harness::with_config(dir, config).await
}

/// Upload `png` as alice's reference image through the presigned PUT; its upload id.
pub async fn upload_png(h: &Harness, png: &[u8]) -> String {
    let (status, _, up) = h
        .call(
            Method::POST,
            "/v1/uploads",
            Some(ALICE),
            Some(&json!({"content_type": "image/png", "bytes": png.len()})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{up}");
    let put = reqwest::Client::new()
        .put(up["url"].as_str().unwrap())
        .header("content-type", "image/png")
        .body(png.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::OK);
    up["upload_id"].as_str().unwrap().to_string()
}
