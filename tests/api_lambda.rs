//! The API Lambda as API Gateway invokes it — HTTP API payload 2.0 events carrying the
//! JWT authorizer's claims — on the AWS adapters over the wire: DynamoDB and Step
//! Functions on moto, S3 on s3s-fs. Checks what only the AWS wiring can get wrong: the
//! owner comes from `sub`, every job has exactly one execution named after it, cancel
//! stops it, and a failed start leaves the record saying so.

use lambda_http::{Body, Response};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use vidgen_shared::api::ApiDeps;
use vidgen_shared::aws::static_sdk_config;
use vidgen_shared::engine::sfn::StepFunctionsEngine;
use vidgen_shared::settings::ApiSettings;
use vidgen_shared::store::dynamo::create_table;
use vidgen_shared::store::s3::create_bucket;
use vidgen_shared::wiring::{api_deps, AwsClients};
use vidgen_tests::{aws, unique_suffix, Store};

struct Deployment {
    deps: ApiDeps,
    sfn: aws_sdk_sfn::Client,
    state_machine_arn: String,
}

/// A table, a bucket and the real state machine definition (Lambda ARNs substituted as
/// SAM does), wired by `wiring::api_deps` from settings as the template sets them.
async fn deploy() -> Option<Deployment> {
    if !Store::Aws.available() {
        return None;
    }
    let (dynamodb, s3, sfn) = (aws::dynamodb()?, aws::s3()?, aws::sfn()?);
    let suffix = unique_suffix();
    let (table, bucket) = (
        format!("vidgen-api-{suffix}"),
        format!("vidgen-api-{suffix}"),
    );
    create_table(&dynamodb, &table).await.expect("table");
    create_bucket(&s3, &bucket).await.expect("bucket");
    let mut definition = include_str!("../infra/state-machine.asl.json").to_string();
    for function in vidgen_shared::workflow::StepFunction::ALL {
        definition = definition.replace(
            &format!("${{{}}}", function.substitution()),
            &format!(
                "arn:aws:lambda:us-east-1:123456789012:function:vidgen-{}",
                function.name()
            ),
        );
    }
    let created = sfn
        .create_state_machine()
        .name(format!("vidgen-jobs-{suffix}"))
        .definition(definition)
        .role_arn("arn:aws:iam::123456789012:role/vidgen-state-machine")
        .send()
        .await
        .expect("state machine");
    let state_machine_arn = created.state_machine_arn().to_string();
    let moto = std::env::var("MOTO_ENDPOINT").expect("checked by available()");
    let variables = BTreeMap::from([
        ("TABLE_NAME", table.as_str()),
        ("BUCKET_NAME", bucket.as_str()),
        ("STATE_MACHINE_ARN", state_machine_arn.as_str()),
        ("SORA_MODEL", "sora-2"),
        ("URL_TTL_SECS", "3600"),
        ("AWS_ENDPOINT_URL", moto.as_str()),
        ("RUST_LOG", "info"),
    ]);
    let settings = ApiSettings::from_lookup(&|name| variables.get(name).map(|v| v.to_string()))
        .expect("settings");
    // One SDK config serves moto; S3 is s3s-fs, on its own endpoint with its own keys.
    let mut clients = AwsClients::new(
        &static_sdk_config(&moto, "testing", "testing"),
        settings.common.s3_force_path_style,
    );
    clients.s3 = s3;
    let deps = api_deps(&settings, &clients).await.expect("deps");
    Some(Deployment {
        deps,
        sfn,
        state_machine_arn,
    })
}

/// An API Gateway HTTP API (payload 2.0) event; `sub` present means the JWT authorizer
/// let the request through with that claim.
fn event(method: &str, path_and_query: &str, sub: Option<&str>, body: Option<&Value>) -> Value {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let mut context = json!({
        "accountId": "123456789012",
        "apiId": "api-id",
        "domainName": "api-id.execute-api.us-east-1.amazonaws.com",
        "domainPrefix": "api-id",
        "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9", "userAgent": "tests"},
        "requestId": "gw-Ab12Cd34",
        "routeKey": "$default",
        "stage": "$default",
        "time": "25/Nov/2026:15:00:00 +0000",
        "timeEpoch": 1_795_100_000_000u64
    });
    if let Some(sub) = sub {
        context["authorizer"] =
            json!({"jwt": {"claims": {"sub": sub, "iss": "https://issuer.example"}, "scopes": []}});
    }
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {"content-type": "application/json", "host": "api-id.execute-api.us-east-1.amazonaws.com"},
        "requestContext": context,
        "body": body.map(Value::to_string),
        "isBase64Encoded": false
    })
}

async fn invoke(d: &Deployment, event: Value) -> (u16, Response<Body>, Value) {
    let request = lambda_http::request::from_str(&event.to_string()).expect("a valid event");
    let response = api_lambda::handle(&d.deps, request).await;
    let status = response.status().as_u16();
    let json = match response.body() {
        Body::Text(text) => serde_json::from_str(text).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    (status, response, json)
}

async fn call(
    d: &Deployment,
    method: &str,
    path: &str,
    sub: Option<&str>,
    body: Option<&Value>,
) -> (u16, Response<Body>, Value) {
    invoke(d, event(method, path, sub, body)).await
}

async fn executions(d: &Deployment) -> Vec<(String, String)> {
    let listed = d
        .sfn
        .list_executions()
        .state_machine_arn(&d.state_machine_arn)
        .send()
        .await
        .expect("listed");
    listed
        .executions()
        .iter()
        .map(|e| (e.name().to_string(), e.status().as_str().to_string()))
        .collect()
}

#[tokio::test]
async fn jobs_and_executions_come_in_pairs_owned_by_the_jwt_subject() {
    let Some(d) = deploy().await else {
        return;
    };
    let body = json!({"script": "A heron at dusk", "style": "documentary"});

    // Created: one execution, named after the job, whose input is the job id.
    let (status, response, job) = call(&d, "POST", "/v1/videos", Some("alice"), Some(&body)).await;
    assert_eq!(status, 202, "{job}");
    let id = job["id"].as_str().unwrap().to_string();
    assert_eq!(
        response.headers()["location"],
        format!("/v1/videos/{id}").as_str()
    );
    assert_eq!(
        response.headers()["x-request-id"],
        "gw-Ab12Cd34",
        "API Gateway's id"
    );
    assert_eq!(
        executions(&d).await,
        vec![(id.clone(), "RUNNING".to_string())]
    );
    let execution = d
        .sfn
        .describe_execution()
        .execution_arn(
            StepFunctionsEngine::new(d.sfn.clone(), &d.state_machine_arn).execution_arn(&id),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        execution.input(),
        Some(json!({"job_id": id}).to_string().as_str())
    );

    // The owner is the token's subject: bob cannot see it, no subject is 401.
    let (status, _, _) = call(&d, "GET", &format!("/v1/videos/{id}"), Some("bob"), None).await;
    assert_eq!(status, 404);
    let (status, _, err) = call(&d, "GET", "/v1/videos", None, None).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    let (status, _, page) = call(&d, "GET", "/v1/videos?limit=5", Some("alice"), None).await;
    assert_eq!(status, 200);
    assert_eq!(
        page["data"][0]["id"],
        id.as_str(),
        "listed through the owner index"
    );

    // A rejected body writes nothing and starts nothing.
    let (status, _, err) = call(
        &d,
        "POST",
        "/v1/videos",
        Some("alice"),
        Some(&json!({"script": "x", "seconds": 5})),
    )
    .await;
    assert_eq!(
        (status, err["error"]["field"].as_str()),
        (400, Some("seconds"))
    );
    assert_eq!(executions(&d).await.len(), 1);

    // Cancel stops the execution and ends the record.
    let cancel = format!("/v1/videos/{id}/cancel");
    let (status, _, canceled) = call(&d, "POST", &cancel, Some("alice"), None).await;
    assert_eq!(
        (status, canceled["status"].as_str()),
        (200, Some("canceled"))
    );
    assert_eq!(
        executions(&d).await,
        vec![(id.clone(), "ABORTED".to_string())]
    );
    let (status, _, _) = call(&d, "POST", &cancel, Some("alice"), None).await;
    assert_eq!(status, 409);

    // Delete removes the record.
    let (status, _, _) = call(
        &d,
        "DELETE",
        &format!("/v1/videos/{id}"),
        Some("alice"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _, _) = call(&d, "GET", &format!("/v1/videos/{id}"), Some("alice"), None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn an_idempotent_retry_starts_no_second_execution() {
    let Some(d) = deploy().await else {
        return;
    };
    let body = json!({"script": "Once only"});
    let with_key = |body: &Value| {
        let mut e = event("POST", "/v1/videos", Some("alice"), Some(body));
        e["headers"]["idempotency-key"] = json!("order-7");
        e
    };
    let (first, _, a) = invoke(&d, with_key(&body)).await;
    let (second, _, b) = invoke(&d, with_key(&body)).await;
    assert_eq!((first, second), (202, 200));
    assert_eq!(a["id"], b["id"]);
    let (conflict, _, _) = invoke(&d, with_key(&json!({"script": "Something else"}))).await;
    assert_eq!(conflict, 409);
    assert_eq!(executions(&d).await.len(), 1, "one job, one execution");
    // The same key from another owner is another request.
    let mut bobs = with_key(&body);
    bobs["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = json!("bob");
    let (status, _, c) = invoke(&d, bobs).await;
    assert_eq!(status, 202);
    assert_ne!(c["id"], a["id"]);
}

#[tokio::test]
async fn a_workflow_that_cannot_start_leaves_the_record_saying_so() {
    let Some(mut d) = deploy().await else {
        return;
    };
    // A state machine that does not exist: StartExecution fails.
    let missing = d.state_machine_arn.replace("vidgen-jobs-", "vidgen-gone-");
    d.deps.engine = Arc::new(StepFunctionsEngine::new(d.sfn.clone(), missing));
    let (status, response, err) = call(
        &d,
        "POST",
        "/v1/videos",
        Some("alice"),
        Some(&json!({"script": "x"})),
    )
    .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (500, Some("internal"))
    );
    assert!(
        !err.to_string().contains("arn:aws"),
        "a 5xx says nothing of internals: {err}"
    );
    assert!(response.headers().contains_key("x-request-id"));
    let (_, _, page) = call(&d, "GET", "/v1/videos", Some("alice"), None).await;
    let job = &page["data"][0];
    assert_eq!(job["status"], "failed", "{page}");
    assert_eq!(job["error"]["code"], "workflow_start_failed");
}
