//! The Step Functions engine's SendTaskSuccess / SendTaskFailure over the wire.
//!
//! moto (5.2.1, the test servers' mode) accepts every SendTask* call whatever the token
//! — it runs no executions, so it has no tokens to check — which shows the requests are
//! well-formed and the success path, but never a refusal. The refusals are shown here
//! against a small real server that speaks Step Functions' JSON protocol and answers
//! as AWS does (`__type` in a 400 body), recording what it was sent.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use vidgen_shared::aws::{aws_test_env, static_sdk_config};
use vidgen_shared::engine::sfn::StepFunctionsEngine;
use vidgen_shared::engine::{
    CallbackAnswer, EngineError, WorkflowEngine, MAX_CAUSE_CHARS, MAX_ERROR_CHARS,
};

/// (X-Amz-Target, body) of every request.
type Seen = Arc<Mutex<Vec<(String, Value)>>>;

/// Answers by token: `closed-*` with the error named after the dash, `echo` with a
/// ValidationException whose message quotes the token (as AWS's do), else success.
async fn step_functions(
    State(seen): State<Seen>,
    headers: HeaderMap,
    raw: axum::body::Bytes,
) -> (StatusCode, Json<Value>) {
    // `application/x-amz-json-1.0`, which axum's `Json` extractor would refuse.
    let body: Value = serde_json::from_slice(&raw).unwrap_or_default();
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let token = body["taskToken"].as_str().unwrap_or_default().to_string();
    seen.lock().unwrap().push((target, body));
    let refuse = |kind: &str, message: String| {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({
                "__type": format!("com.amazonaws.swf.service.v2.model#{kind}"),
                "message": message,
            })),
        )
    };
    if let Some(kind) = token.strip_prefix("closed-") {
        return refuse(kind, "no such task".into());
    }
    if token.starts_with("echo") {
        return refuse(
            "ValidationException",
            format!("1 validation error detected: Value '{token}' at 'taskToken' failed"),
        );
    }
    if token.starts_with("kms") {
        return refuse("KmsAccessDeniedException", "denied".into());
    }
    (StatusCode::OK, Json(json!({})))
}

async fn fake_sfn() -> (StepFunctionsEngine, Seen) {
    let seen: Seen = Arc::default();
    let app = Router::new()
        .route("/", post(step_functions))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = aws_sdk_sfn::Client::new(&static_sdk_config(
        &format!("http://{addr}"),
        "testing",
        "testing",
    ));
    let arn = "arn:aws:states:us-east-1:123456789012:stateMachine:vidgen";
    (StepFunctionsEngine::new(client, arn), seen)
}

#[tokio::test]
async fn a_token_nobody_waits_on_is_a_closed_wait() {
    let (engine, seen) = fake_sfn().await;
    for kind in ["TaskTimedOut", "InvalidToken", "TaskDoesNotExist"] {
        let token = format!("closed-{kind}");
        assert_eq!(
            engine
                .send_task_success(&token, &json!({"ok": true}))
                .await
                .unwrap(),
            CallbackAnswer::Closed,
            "SendTaskSuccess answered {kind}"
        );
        assert_eq!(
            engine.send_task_failure(&token, "E", "c").await.unwrap(),
            CallbackAnswer::Closed,
            "SendTaskFailure answered {kind}"
        );
    }
    assert_eq!(seen.lock().unwrap().len(), 6);
}

#[tokio::test]
async fn delivered_calls_carry_the_output_and_the_clipped_error_and_cause() {
    let (engine, seen) = fake_sfn().await;
    let output = json!({"provider_status": "completed", "n": 1});
    assert_eq!(
        engine.send_task_success("tok-1", &output).await.unwrap(),
        CallbackAnswer::Delivered
    );
    let error = "E".repeat(MAX_ERROR_CHARS + 1);
    let cause = "é".repeat(MAX_CAUSE_CHARS + 5);
    assert_eq!(
        engine
            .send_task_failure("tok-2", &error, &cause)
            .await
            .unwrap(),
        CallbackAnswer::Delivered
    );
    let seen = seen.lock().unwrap();
    let (target, body) = &seen[0];
    assert_eq!(target, "AWSStepFunctions.SendTaskSuccess");
    assert_eq!(body["taskToken"], "tok-1");
    let sent: Value = serde_json::from_str(body["output"].as_str().unwrap()).unwrap();
    assert_eq!(sent, output, "the output is the JSON, as a string");
    let (target, body) = &seen[1];
    assert_eq!(target, "AWSStepFunctions.SendTaskFailure");
    assert_eq!(body["taskToken"], "tok-2");
    assert_eq!(body["error"], "E".repeat(MAX_ERROR_CHARS));
    assert_eq!(body["cause"], "é".repeat(MAX_CAUSE_CHARS));
}

#[tokio::test]
async fn other_refusals_are_errors_that_never_name_the_token() {
    let (engine, _) = fake_sfn().await;
    let token = "echo-AAAAsecret-token-valueZZZZ";
    for result in [
        engine.send_task_success(token, &json!({})).await,
        engine.send_task_failure(token, "E", "c").await,
    ] {
        match result {
            Err(EngineError::Backend(m)) => {
                assert!(m.contains("ValidationException"), "{m}");
                assert!(!m.contains("secret-token"), "the token leaked: {m}");
            }
            other => panic!("a validation refusal answered {other:?}"),
        }
    }
    match engine.send_task_success("kms-1", &json!({})).await {
        Err(EngineError::Backend(m)) => assert!(m.contains("KmsAccessDenied"), "{m}"),
        other => panic!("a KMS refusal answered {other:?}"),
    }
}

/// moto's Step Functions takes both calls as AWS would take a good token's.
#[tokio::test]
async fn moto_takes_well_formed_callbacks() {
    let Some([ep]) = aws_test_env(["MOTO_ENDPOINT"]) else {
        return;
    };
    let client = aws_sdk_sfn::Client::new(&static_sdk_config(&ep, "testing", "testing"));
    let engine = StepFunctionsEngine::new(
        client,
        "arn:aws:states:us-east-1:123456789012:stateMachine:vidgen",
    );
    assert_eq!(
        engine
            .send_task_success("a-token", &json!({"done": true}))
            .await
            .unwrap(),
        CallbackAnswer::Delivered
    );
    assert_eq!(
        engine
            .send_task_failure("a-token", &"E".repeat(300), "why")
            .await
            .unwrap(),
        CallbackAnswer::Delivered
    );
}
