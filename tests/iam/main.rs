//! Each function's real code path with credentials limited to exactly that function's
//! actions from `template.yaml`, on a moto that enforces IAM (scripts/aws-test-servers.sh
//! starts it with `INITIAL_NO_AUTH_ACTION_COUNT`, sets up an admin user and writes
//! `MOTO_IAM_ENDPOINT`, `MOTO_IAM_ADMIN_KEY`, `MOTO_IAM_ADMIN_SECRET`). A permission the
//! template forgets fails here, as it would in AWS.
//!
//! Every `AWS::Serverless::Function` of the template gets an IAM user with its actions
//! ([`policy::actions`]) on `"*"` (moto matches nothing narrower; the scoping is checked
//! on the template by `shared/tests/template.rs`). The set-up (table, bucket, secrets,
//! state machine, users) is the admin's; everything a function does is done with its
//! own keys: the api's create (with an Idempotency-Key), reference upload check, get,
//! list, cancel and delete; submit; check-status's poll, RecordFailure and the
//! execution-ended backstop; download-to-s3 storing the assets. Run with webhooks off
//! and on (the secret ARN set, so the functions that send webhooks read it at init).
//! S3 is moto's here (s3s-fs has its own keys); presigned links are only signed, never
//! fetched (moto's IAM check cannot read query-string signatures).

mod policy;

use aws_config::SdkConfig;
use lambda_http::{Body, Response};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use vidgen::deployment::Deployment;
use vidgen_shared::api::ApiDeps;
use vidgen_shared::aws::{aws_test_env, s3_client, static_sdk_config};
use vidgen_shared::deadline::Deadline;
use vidgen_shared::lambda_glue::{handle_step, LambdaError};
use vidgen_shared::settings::{ApiSettings, StepSettings};
use vidgen_shared::store::dynamo::{create_table, DynamoJobStore};
use vidgen_shared::store::s3::create_bucket;
use vidgen_shared::store::JobStore;
use vidgen_shared::wiring::{api_deps, step_deps, AwsClients};
use vidgen_shared::workflow::{StepDeps, StepFunction};
use vidgen_tests::unique_suffix;

/// The template's logical id of the API function.
const API_FUNCTION: &str = "ApiFunction";
const OWNER: &str = "alice";

fn template() -> serde_yaml_ng::Value {
    let text = include_str!("../../template.yaml");
    serde_yaml_ng::from_str(text).expect("template.yaml is YAML")
}

/// The IAM-enforcing moto, or `None` (a skip, or a failure with
/// `VIDGEN_REQUIRE_AWS_TESTS=1`).
fn moto() -> Option<(String, SdkConfig)> {
    let [endpoint, key, secret] = aws_test_env([
        "MOTO_IAM_ENDPOINT",
        "MOTO_IAM_ADMIN_KEY",
        "MOTO_IAM_ADMIN_SECRET",
    ])?;
    let admin = static_sdk_config(&endpoint, &key, &secret);
    Some((endpoint, admin))
}

/// An IAM user allowed exactly `actions` (on `"*"`), and SDK settings signing with its key.
async fn user(
    admin: &SdkConfig,
    endpoint: &str,
    name: &str,
    actions: &BTreeSet<String>,
) -> SdkConfig {
    let iam = aws_sdk_iam::Client::new(admin);
    iam.create_user()
        .user_name(name)
        .send()
        .await
        .expect("create user");
    let document = json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
    });
    iam.put_user_policy()
        .user_name(name)
        .policy_name("template-actions")
        .policy_document(document.to_string())
        .send()
        .await
        .expect("put user policy");
    let key = iam
        .create_access_key()
        .user_name(name)
        .send()
        .await
        .expect("create access key");
    let key = key.access_key().expect("a key");
    static_sdk_config(endpoint, key.access_key_id(), key.secret_access_key())
}

/// A deployment on the IAM-enforcing moto: each function's clients sign with its own
/// user's keys.
struct Stack {
    api: ApiDeps,
    steps: BTreeMap<&'static str, StepDeps>,
    /// The admin's view of the jobs, for set-up only.
    admin_jobs: DynamoJobStore,
    admin_s3: aws_sdk_s3::Client,
    bucket: String,
    /// Functions whose code path ran.
    exercised: BTreeSet<String>,
    functions: Vec<String>,
    _sim: sora_sim::Simulator,
}

async fn deploy(webhooks: bool) -> Option<Stack> {
    let (endpoint, admin) = moto()?;
    let suffix = unique_suffix();
    let (table, bucket) = (
        format!("vidgen-iam-{suffix}"),
        format!("vidgen-iam-{suffix}"),
    );
    let admin_dynamodb = aws_sdk_dynamodb::Client::new(&admin);
    let admin_s3 = s3_client(&admin, true);
    create_table(&admin_dynamodb, &table).await.expect("table");
    create_bucket(&admin_s3, &bucket).await.expect("bucket");
    let secrets = aws_sdk_secretsmanager::Client::new(&admin);
    let secret = |name: String, value: &'static str| {
        let secrets = secrets.clone();
        async move {
            let out = secrets
                .create_secret()
                .name(name)
                .secret_string(value)
                .send()
                .await
                .expect("secret");
            out.arn().expect("an ARN").to_string()
        }
    };
    let api_key = "sk-iam-test";
    let openai_arn = secret(
        format!("vidgen-openai-{suffix}"),
        r#"{"OPENAI_API_KEY": "sk-iam-test"}"#,
    )
    .await;
    let webhook_arn = if webhooks {
        Some(secret(format!("vidgen-hooks-{suffix}"), "whsec_c2VjcmV0LWtleQ==").await)
    } else {
        None
    };
    let mut definition = include_str!("../../infra/state-machine.asl.json").to_string();
    for f in StepFunction::ALL {
        definition = definition.replace(
            &format!("${{{}}}", f.substitution()),
            &format!(
                "arn:aws:lambda:us-east-1:123456789012:function:vidgen-{}",
                f.name()
            ),
        );
    }
    let state_machine_arn = aws_sdk_sfn::Client::new(&admin)
        .create_state_machine()
        .name(format!("vidgen-jobs-{suffix}"))
        .definition(definition)
        .role_arn("arn:aws:iam::123456789012:role/vidgen-state-machine")
        .send()
        .await
        .expect("state machine")
        .state_machine_arn()
        .to_string();
    let sim = sora_sim::Simulator::start(
        "127.0.0.1:0".parse().expect("literal address"),
        sora_sim::SimConfig {
            api_key: Some(api_key.into()),
            render_time: Duration::from_millis(300),
            ..Default::default()
        },
    )
    .await
    .expect("simulator");

    // What the template sets; each function's loader reads only its own variables
    // (the webhook secret is offered to every function: one that read it without the
    // permission would fail to start).
    let mut variables = BTreeMap::from([
        ("TABLE_NAME", table.clone()),
        ("BUCKET_NAME", bucket.clone()),
        ("STATE_MACHINE_ARN", state_machine_arn),
        ("SORA_MODEL", "sora-2".to_string()),
        ("URL_TTL_SECS", "3600".to_string()),
        ("OPENAI_SECRET_ARN", openai_arn),
        ("OPENAI_BASE_URL", sim.base_url()),
        ("AWS_ENDPOINT_URL", endpoint.clone()),
        ("RUST_LOG", "info".to_string()),
    ]);
    if let Some(arn) = webhook_arn {
        variables.insert("WEBHOOK_SECRET_ARN", arn);
    }
    let lookup = |name: &str| variables.get(name).cloned();

    let template = template();
    let conditions = BTreeMap::from([("HasWebhookSecret", webhooks)]);
    let functions = policy::functions(&template);
    assert!(functions.iter().any(|f| f == API_FUNCTION), "{functions:?}");
    let mut clients = BTreeMap::new();
    for function in &functions {
        let actions =
            policy::actions(&template, function, &conditions).unwrap_or_else(|e| panic!("{e}"));
        let name = format!("{function}-{suffix}");
        let sdk = user(&admin, &endpoint, &name, &actions).await;
        clients.insert(function.clone(), AwsClients::new(&sdk, true));
    }
    let settings = ApiSettings::from_lookup(&lookup).expect("api settings");
    let api = api_deps(&settings, &clients[API_FUNCTION])
        .await
        .unwrap_or_else(|e| panic!("the api starts with only its template actions: {e}"));
    let mut steps = BTreeMap::new();
    for f in StepFunction::ALL {
        let settings = StepSettings::from_lookup(f, &lookup).expect("step settings");
        let own = clients
            .get(f.template_resource())
            .unwrap_or_else(|| panic!("template.yaml has no {}", f.template_resource()));
        let deps = step_deps(&settings, own)
            .await
            .unwrap_or_else(|e| panic!("{} starts with only its template actions: {e}", f.name()));
        steps.insert(f.template_resource(), deps);
    }
    Some(Stack {
        api,
        steps,
        admin_jobs: DynamoJobStore::new(admin_dynamodb, &table),
        admin_s3,
        bucket,
        exercised: BTreeSet::new(),
        functions,
        _sim: sim,
    })
}

/// An API Gateway HTTP API (payload 2.0) event through the JWT authorizer as `OWNER`.
fn event(
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Value {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let mut all = json!({"content-type": "application/json", "host": "api-id.execute-api.us-east-1.amazonaws.com"});
    for (k, v) in headers {
        all[*k] = json!(v);
    }
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": all,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api-id",
            "domainName": "api-id.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "api-id",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9", "userAgent": "tests"},
            "requestId": "gw-Ab12Cd34",
            "routeKey": "$default",
            "stage": "$default",
            "time": "25/Nov/2026:15:00:00 +0000",
            "timeEpoch": 1_795_100_000_000u64,
            "authorizer": {"jwt": {"claims": {"sub": OWNER, "iss": "https://issuer.example"}, "scopes": []}}
        },
        "body": body.map(Value::to_string),
        "isBase64Encoded": false
    })
}

impl Stack {
    /// The api Lambda's handler, with the api function's keys; the status and JSON body.
    async fn api(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> (u16, Value) {
        self.exercised.insert(API_FUNCTION.into());
        let request =
            lambda_http::request::from_str(&event(method, path, headers, body).to_string())
                .expect("a valid event");
        let response: Response<Body> = api_lambda::handle(&self.api, request).await;
        let status = response.status().as_u16();
        let json = match response.body() {
            Body::Text(text) => serde_json::from_str(text).unwrap_or(Value::Null),
            _ => Value::Null,
        };
        (status, json)
    }

    /// One invocation of a step function, with that function's keys.
    async fn step(&mut self, function: StepFunction, payload: Value) -> Result<Value, LambdaError> {
        let id = function.template_resource();
        self.exercised.insert(id.into());
        let deadline = Deadline::after(function.lambda_timeout());
        handle_step(&self.steps[id], function, payload, deadline).await
    }

    /// A step that must succeed.
    async fn ok(&mut self, function: StepFunction, payload: Value) -> Value {
        self.step(function, payload.clone())
            .await
            .unwrap_or_else(|e| panic!("{} on {payload}: {e:?}", function.name()))
    }

    /// Poll (check-status) until the render is done: the state download-to-s3 takes,
    /// or the poll's error.
    async fn poll_until_done(&mut self, mut state: Value) -> Result<Value, LambdaError> {
        for _ in 0..100 {
            state = self
                .step(
                    StepFunction::CheckStatus,
                    json!({"action": "poll", "state": state}),
                )
                .await?;
            if state["next"] == "download" {
                return Ok(state);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the render did not finish: {state}");
    }

    async fn create(&mut self, body: Value, headers: &[(&str, &str)]) -> String {
        let (status, job) = self.api("POST", "/v1/videos", headers, Some(&body)).await;
        assert_eq!(status, 202, "create: {job}");
        job["id"].as_str().expect("an id").to_string()
    }

    async fn status(&mut self, id: &str) -> Value {
        let (status, job) = self
            .api("GET", &format!("/v1/videos/{id}"), &[], None)
            .await;
        assert_eq!(status, 200, "get: {job}");
        job
    }
}

async fn every_function_runs_with_only_its_template_actions(webhooks: bool) {
    let Some(mut s) = deploy(webhooks).await else {
        return;
    };

    // A reference image: the api hands out the link (and records the upload); the
    // client's PUT is the admin's here (see the module docs).
    let png = sora_sim::png_header(720, 1280);
    let (status, up) = s
        .api(
            "POST",
            "/v1/uploads",
            &[],
            Some(&json!({"content_type": "image/png", "bytes": png.len()})),
        )
        .await;
    assert_eq!(status, 201, "upload: {up}");
    let upload_id = up["upload_id"].as_str().expect("an upload id").to_string();
    let upload = s
        .admin_jobs
        .get_upload(&upload_id)
        .await
        .expect("read")
        .expect("the upload is recorded");
    s.admin_s3
        .put_object()
        .bucket(&s.bucket)
        .key(&upload.key)
        .content_type("image/png")
        .body(png.into())
        .send()
        .await
        .expect("the image is uploaded");

    // 1. A job to the end: create (with an idempotency claim, a transaction), submit
    // (reads the reference image), polls, download, then get, list, delete.
    let body = json!({
        "prompt": "A lighthouse.",
        "input_reference": {"upload_id": upload_id},
    });
    let key = [("idempotency-key", "iam-test-1")];
    let id = s.create(body.clone(), &key).await;
    let (status, again) = s.api("POST", "/v1/videos", &key, Some(&body)).await;
    assert!(status == 200 || status == 202, "replay: {again}");
    assert_eq!(again["id"], id.as_str(), "the replay answers the first job");
    let state = s.ok(StepFunction::Submit, json!({"job_id": id})).await;
    let state = s.poll_until_done(state).await.expect("polls");
    s.ok(StepFunction::Download, state).await;
    let done = s.status(&id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert!(done["assets"]["video"]["url"].is_string(), "{done}");
    for path in ["/v1/videos", "/v1/videos?status=completed"] {
        let (status, page) = s.api("GET", path, &[], None).await;
        assert_eq!(status, 200, "{path}: {page}");
        assert!(
            page["data"]
                .as_array()
                .is_some_and(|d| d.iter().any(|j| j["id"] == id.as_str())),
            "{path}: {page}"
        );
    }
    let (status, gone) = s
        .api("DELETE", &format!("/v1/videos/{id}"), &[], None)
        .await;
    assert_eq!(status, 204, "delete: {gone}");
    let (status, _) = s.api("GET", &format!("/v1/videos/{id}"), &[], None).await;
    assert_eq!(status, 404);

    // 2. Cancel: the record, then StopExecution; the ABORTED backstop (as the
    // EventBridge rule delivers it) leaves the canceled job alone.
    let id = s
        .create(json!({"prompt": "Canceled. [sim:never_finish]"}), &[])
        .await;
    let (status, canceled) = s
        .api("POST", &format!("/v1/videos/{id}/cancel"), &[], None)
        .await;
    assert_eq!(
        (status, canceled["status"].as_str()),
        (200, Some("canceled")),
        "{canceled}"
    );
    let deployment = Deployment::embedded().expect("template");
    let (function, input) = deployment
        .execution_ended(&id, "ABORTED", None)
        .expect("forwarded");
    s.ok(function, input).await;
    assert_eq!(s.status(&id).await["status"], "canceled");

    // 3. Stopped by hand mid-render: the backstop writes the reason.
    let id = s
        .create(json!({"prompt": "Stopped. [sim:never_finish]"}), &[])
        .await;
    s.ok(StepFunction::Submit, json!({"job_id": id})).await;
    let (function, input) = deployment
        .execution_ended(&id, "ABORTED", None)
        .expect("forwarded");
    s.ok(function, input).await;
    let stopped = s.status(&id).await;
    assert_eq!(stopped["error"]["code"], "workflow_stopped", "{stopped}");

    // 4. A render that fails: the poll's error goes, as the Catch puts it, to
    // RecordFailure.
    let id = s.create(json!({"prompt": "Fails. [sim:fail]"}), &[]).await;
    let state = s.ok(StepFunction::Submit, json!({"job_id": id})).await;
    let failure = s
        .poll_until_done(state)
        .await
        .expect_err("the render fails");
    let cause = json!({"errorType": failure.error_type, "errorMessage": failure.error_message});
    let input = json!({
        "action": "record_failure",
        "job_id": id,
        "failure": {"Error": failure.error_type, "Cause": cause.to_string()},
    });
    s.ok(StepFunction::CheckStatus, input).await;
    let failed = s.status(&id).await;
    assert_eq!(failed["status"], "failed", "{failed}");

    // Every function of the template ran.
    let missing: Vec<_> = s
        .functions
        .iter()
        .filter(|f| !s.exercised.contains(*f))
        .collect();
    assert!(
        missing.is_empty(),
        "template.yaml functions with no code path in tests/iam/main.rs: {missing:?}; add one"
    );
}

#[tokio::test]
async fn webhooks_off() {
    every_function_runs_with_only_its_template_actions(false).await;
}

#[tokio::test]
async fn webhooks_on() {
    every_function_runs_with_only_its_template_actions(true).await;
}

/// The check itself: a user without an action is refused by this moto, so a green run
/// above means the actions were enough, not that nothing was checked.
#[tokio::test]
async fn moto_refuses_what_a_user_was_not_given() {
    let Some((endpoint, admin)) = moto() else {
        return;
    };
    let suffix = unique_suffix();
    let table = format!("vidgen-iam-deny-{suffix}");
    let admin_dynamodb = aws_sdk_dynamodb::Client::new(&admin);
    create_table(&admin_dynamodb, &table).await.expect("table");
    let only_put = BTreeSet::from(["dynamodb:PutItem".to_string()]);
    let sdk = user(&admin, &endpoint, &format!("deny-{suffix}"), &only_put).await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let key = aws_sdk_dynamodb::types::AttributeValue::S("x".into());
    client
        .put_item()
        .table_name(&table)
        .item("pk", key.clone())
        .send()
        .await
        .expect("PutItem is allowed");
    let refused = client
        .get_item()
        .table_name(&table)
        .key("pk", key)
        .send()
        .await
        .expect_err("GetItem was not given");
    let text = format!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(&refused));
    assert!(text.contains("AccessDenied"), "{text}");
}
