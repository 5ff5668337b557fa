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
//! execution-ended backstop; download-to-s3 storing the assets; the sweeper ending a
//! job whose execution never started. Run with webhooks off and on: on, the producers
//! (api, check-status, download-to-s3, sweeper) queue deliveries on moto SQS with their
//! own keys, and the webhook-sender (deployed only then) receives them with its keys,
//! reads the signing secret and delivers to a receiver on 127.0.0.1.
//! [`webhook_deliveries_through_sqs`] follows one good and one failing delivery through
//! the queue to the dead-letter queue.
//! S3 is moto's here (s3s-fs has its own keys); presigned links are only signed, never
//! fetched (moto's IAM check cannot read query-string signatures).

mod policy;

use aws_config::SdkConfig;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sqs::types::QueueAttributeName;
use lambda_http::{Body, Response};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use vidgen::deployment::Deployment;
use vidgen_shared::api::ApiDeps;
use vidgen_shared::aws::{aws_test_env, s3_client, static_sdk_config};
use vidgen_shared::callback::{CallbackSender, Delivery, WebhookSigner};
use vidgen_shared::config::Secret;
use vidgen_shared::deadline::Deadline;
use vidgen_shared::domain::ids::{JobId, Owner};
use vidgen_shared::domain::{Job, Limits, Model, NewJob};
use vidgen_shared::lambda_glue::{handle_sqs_batch, handle_step, LambdaError};
use vidgen_shared::settings::{ApiSettings, SenderSettings, StepSettings, SweeperSettings};
use vidgen_shared::store::dynamo::{create_table, DynamoJobStore};
use vidgen_shared::store::s3::create_bucket;
use vidgen_shared::store::JobStore;
use vidgen_shared::wiring::{api_deps, step_deps, sweep_deps, webhook_signer, AwsClients};
use vidgen_shared::workflow::sweep::{sweep, SweepDeps, SweepReport, STUCK_AFTER};
use vidgen_shared::workflow::{StepDeps, StepFunction};
use vidgen_tests::{unique_suffix, webhook_receiver};

/// The template's logical ids of the functions that are not workflow steps.
const API_FUNCTION: &str = "ApiFunction";
const SWEEPER_FUNCTION: &str = "SweeperFunction";
const SENDER_FUNCTION: &str = "WebhookSenderFunction";
const WS_AUTHORIZER: &str = "WsAuthorizerFunction";
const WS_EVENTS: &str = "WsEventsFunction";
const WS_NOTIFIER: &str = "WsNotifierFunction";
/// The signing secret's value (Standard Webhooks form).
const WEBHOOK_SECRET: &str = "whsec_c2VjcmV0LWtleQ==";
/// A callback URL the api accepts (https, public); deliveries to it are not attempted
/// here: the test checks they were queued, then removes them.
const OUTSIDE_HOOK: &str = "https://hooks.example.com/vidgen";
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

/// The webhook queue and what the webhook-sender does with it (webhooks on).
struct Webhooks {
    /// Built from the signer the sender read with its own keys; allowed to reach the
    /// receiver on 127.0.0.1 (in AWS it is not: `wiring::sender`).
    sender: CallbackSender,
    /// The sender's SQS client: the event source mapping receives and deletes with the
    /// function's role.
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    queue_arn: String,
    dlq_url: String,
    admin_sqs: aws_sdk_sqs::Client,
}

/// One configuration of the template's optional parts: which provider keys are set
/// (`OpenAiSecretArn`, `RunwaySecretArn`) and whether webhooks are on.
#[derive(Debug, Clone, Copy)]
struct Config {
    webhooks: bool,
    openai: bool,
    runway: bool,
}

impl Config {
    /// The OpenAI key alone (the simulator renders), webhooks as given.
    fn openai(webhooks: bool) -> Config {
        Config {
            webhooks,
            openai: true,
            runway: false,
        }
    }

    /// OpenAI's webhooks (`OpenAiWebhookSecretArn`, `PublicUrl`) go with the
    /// `callback_url` webhooks: on together, so both configurations are covered.
    fn provider_webhooks(self) -> bool {
        self.webhooks && self.openai
    }

    /// The template's conditions for this configuration.
    fn conditions(self) -> BTreeMap<&'static str, bool> {
        BTreeMap::from([
            ("HasWebhookSecret", self.webhooks),
            ("HasOpenAiKey", self.openai),
            ("HasRunwayKey", self.runway),
            // The fal adapter's IAM is that of the Runway key (one more optional
            // secret); its own tests cover it, this suite deploys without it.
            ("HasFalKey", false),
            ("HasOpenAiWebhookSecret", self.provider_webhooks()),
            ("HasPublicUrl", self.provider_webhooks()),
        ])
    }
}

/// A deployment on the IAM-enforcing moto: each function's clients sign with its own
/// user's keys.
struct Stack {
    api: ApiDeps,
    steps: BTreeMap<&'static str, StepDeps>,
    sweep: SweepDeps,
    webhooks: Option<Webhooks>,
    /// The admin's view of the jobs, for set-up only.
    admin_jobs: DynamoJobStore,
    admin_s3: aws_sdk_s3::Client,
    bucket: String,
    /// Each function's clients, signing with its own keys.
    clients: BTreeMap<String, AwsClients>,
    /// The Runway key's secret, when the configuration has one.
    runway_secret_arn: Option<String>,
    admin: SdkConfig,
    endpoint: String,
    suffix: String,
    /// Functions whose code path ran.
    exercised: BTreeSet<String>,
    functions: Vec<String>,
    _sim: sora_sim::Simulator,
}

async fn deploy(config: Config) -> Option<Stack> {
    let webhooks = config.webhooks;
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
    let openai_arn = if config.openai {
        Some(
            secret(
                format!("vidgen-openai-{suffix}"),
                r#"{"OPENAI_API_KEY": "sk-iam-test"}"#,
            )
            .await,
        )
    } else {
        None
    };
    let runway_arn = if config.runway {
        Some(
            secret(
                format!("vidgen-runway-{suffix}"),
                r#"{"RUNWAYML_API_SECRET": "key_iam-test"}"#,
            )
            .await,
        )
    } else {
        None
    };
    let webhook_arn = if webhooks {
        Some(secret(format!("vidgen-hooks-{suffix}"), WEBHOOK_SECRET).await)
    } else {
        None
    };
    // The api reads OpenAI's endpoint secret at init, with its own keys.
    let openai_webhook_arn = if config.provider_webhooks() {
        Some(
            secret(
                format!("vidgen-openai-hooks-{suffix}"),
                r#"{"OPENAI_WEBHOOK_SECRET": "whsec_b3BlbmFpLWhvb2tz"}"#,
            )
            .await,
        )
    } else {
        None
    };
    let admin_sqs = aws_sdk_sqs::Client::new(&admin);
    let queues = if webhooks {
        Some(webhook_queues(&admin_sqs, &suffix).await)
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
        ("OPENAI_BASE_URL", sim.base_url()),
        ("AWS_ENDPOINT_URL", endpoint.clone()),
        ("RUST_LOG", "info".to_string()),
    ]);
    // The provider keys and the default model, as the template's parameters set them.
    let mut providers = Vec::new();
    if let Some(arn) = openai_arn {
        variables.insert("OPENAI_SECRET_ARN", arn);
        providers.push("openai");
    }
    if let Some(arn) = &runway_arn {
        variables.insert("RUNWAYML_SECRET_ARN", arn.clone());
        variables.insert("RUNWAYML_BASE_URL", sim.base_url());
        providers.push("runway");
    }
    variables.insert("VIDGEN_PROVIDERS", providers.join(","));
    let default_model = if config.openai {
        Model::SORA_2
    } else {
        Model::RUNWAY_GEN45
    };
    variables.insert("VIDGEN_DEFAULT_MODEL", default_model.as_str().to_string());
    if let Some(arn) = webhook_arn {
        variables.insert("WEBHOOK_SECRET_ARN", arn);
    }
    if let Some((queue_url, _, _)) = &queues {
        variables.insert("WEBHOOK_QUEUE_URL", queue_url.clone());
    }
    if let Some(arn) = openai_webhook_arn {
        variables.insert("OPENAI_WEBHOOK_SECRET_ARN", arn);
        variables.insert("OPENAI_WEBHOOKS", "1".to_string());
        variables.insert(
            "VIDGEN_PUBLIC_URL",
            "https://vidgen.example.com".to_string(),
        );
    }
    let lookup = |name: &str| variables.get(name).cloned();

    let template = template();
    let conditions = config.conditions();
    let functions = policy::functions(&template, &conditions).unwrap_or_else(|e| panic!("{e}"));
    assert!(functions.iter().any(|f| f == API_FUNCTION), "{functions:?}");
    assert_eq!(
        functions.iter().any(|f| f == SENDER_FUNCTION),
        webhooks,
        "the sender is deployed exactly when webhooks are on: {functions:?}"
    );
    let mut clients = BTreeMap::new();
    for function in &functions {
        let actions =
            policy::actions(&template, function, &conditions).unwrap_or_else(|e| panic!("{e}"));
        if actions.is_empty() {
            // The ws-authorizer calls no AWS API (only the issuer's keys over HTTPS);
            // IAM refuses a policy without actions.
            continue;
        }
        let name = format!("{function}-{suffix}");
        let sdk = user(&admin, &endpoint, &name, &actions).await;
        clients.insert(function.clone(), AwsClients::new(&sdk, true));
    }
    let settings = ApiSettings::from_lookup(&lookup).expect("api settings");
    let api = api_deps(&settings, &clients[API_FUNCTION])
        .await
        .unwrap_or_else(|e| panic!("the api starts with only its template actions: {e}"));
    assert_eq!(
        api.webhooks.takes_openai(),
        config.provider_webhooks(),
        "the api read OpenAI's webhook secret exactly when it was given one"
    );
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
    let settings = SweeperSettings::from_lookup(&lookup).expect("sweeper settings");
    let sweep = sweep_deps(&settings, &clients[SWEEPER_FUNCTION])
        .await
        .unwrap_or_else(|e| panic!("the sweeper starts with only its template actions: {e}"));
    let webhooks = match queues {
        Some((queue_url, queue_arn, dlq_url)) => {
            let own = &clients[SENDER_FUNCTION];
            let settings = SenderSettings::from_lookup(&lookup).expect("sender settings");
            let signer = webhook_signer(&settings, own).await.unwrap_or_else(|e| {
                panic!("the webhook-sender starts with only its template actions: {e}")
            });
            Some(Webhooks {
                sender: CallbackSender::new(signer, true).with_retries(1, Duration::ZERO),
                sqs: own.sqs.clone(),
                queue_url,
                queue_arn,
                dlq_url,
                admin_sqs,
            })
        }
        None => None,
    };
    Some(Stack {
        api,
        steps,
        sweep,
        webhooks,
        admin_jobs: DynamoJobStore::new(admin_dynamodb, &table),
        admin_s3,
        bucket,
        clients,
        runway_secret_arn: runway_arn,
        admin,
        endpoint,
        suffix,
        exercised: BTreeSet::new(),
        functions,
        _sim: sim,
    })
}

/// The admin's webhook queue and its dead-letter queue, as the template makes them but
/// with a short visibility timeout and one receive before the DLQ, so a failed
/// delivery reaches the DLQ within the test: (queue URL, queue ARN, DLQ URL).
async fn webhook_queues(admin: &aws_sdk_sqs::Client, suffix: &str) -> (String, String, String) {
    let dlq_url = admin
        .create_queue()
        .queue_name(format!("vidgen-hooks-dlq-{suffix}"))
        .send()
        .await
        .expect("dead-letter queue")
        .queue_url()
        .expect("a URL")
        .to_string();
    let dlq_arn = queue_arn(admin, &dlq_url).await;
    let redrive = json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1});
    let queue_url = admin
        .create_queue()
        .queue_name(format!("vidgen-hooks-{suffix}"))
        .attributes(QueueAttributeName::VisibilityTimeout, "2")
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .send()
        .await
        .expect("webhook queue")
        .queue_url()
        .expect("a URL")
        .to_string();
    let arn = queue_arn(admin, &queue_url).await;
    (queue_url, arn, dlq_url)
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes")
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .expect("a queue ARN")
        .clone()
}

/// Every message waiting on `url` (received, so hidden for the visibility timeout).
async fn receive_all(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<aws_sdk_sqs::types::Message> {
    let mut all = Vec::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap_or_else(|e| panic!("receive: {}", aws_sdk_sqs::error::DisplayErrorContext(&e)));
        let batch = out.messages().to_vec();
        if batch.is_empty() {
            return all;
        }
        all.extend(batch);
    }
}

async fn delete_message(sqs: &aws_sdk_sqs::Client, url: &str, m: &aws_sdk_sqs::types::Message) {
    sqs.delete_message()
        .queue_url(url)
        .receipt_handle(m.receipt_handle().expect("a receipt handle"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("delete: {}", aws_sdk_sqs::error::DisplayErrorContext(&e)));
}

/// That a receiver got `d` with valid Standard Webhooks headers, signed with the
/// secret the sender read; its event.
fn signed_event(d: &vidgen_tests::Delivery) -> Value {
    let header = |name: &str| {
        d.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no {name} header: {:?}", d.headers))
            .to_string()
    };
    let (id, timestamp) = (header("webhook-id"), header("webhook-timestamp"));
    let timestamp: i64 = timestamp.parse().expect("a unix timestamp");
    let signer = WebhookSigner::new(&Secret::new(WEBHOOK_SECRET)).expect("a valid secret");
    assert!(
        signer.verify(
            &id,
            timestamp,
            &d.body,
            &header("webhook-signature"),
            chrono::Utc::now().timestamp(),
            Duration::from_secs(300),
        ),
        "a valid signature: {:?}",
        d.headers
    );
    let event: Value = serde_json::from_slice(&d.body).expect("a JSON event");
    assert_eq!(event["id"], id.as_str(), "{event}");
    event
}

/// A message's body as the delivery the producers queue.
fn delivery(message: &aws_sdk_sqs::types::Message) -> Delivery {
    let body = message.body().expect("a body");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not a delivery ({e}): {body}"))
}

/// A job record written by the admin, last touched longer ago than the sweeper waits,
/// with no execution: what the API leaves when it dies between the record and
/// StartExecution.
async fn stale_job(jobs: &DynamoJobStore, callback_url: Option<&str>) -> JobId {
    let new = NewJob {
        callback_url: callback_url.map(str::to_string),
        ..NewJob::new(&Owner::new(OWNER), Model::SORA_2, 4, "720x1280", "Stuck.")
    };
    let touched = chrono::Utc::now() - STUCK_AFTER - chrono::Duration::minutes(1);
    let job = Job::new(new, touched);
    jobs.create(&job, None, &Limits::UNLIMITED)
        .await
        .expect("the stale record");
    job.id
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

    /// The WebSocket functions with only their template actions: ws-events stores,
    /// narrows and forgets a connection through its routes; the notifier lists an
    /// owner's connections and forgets a gone one. The ws-authorizer calls no AWS API.
    /// The notifier's `execute-api:ManageConnections` cannot be checked here: moto's
    /// Management API neither enforces it nor answers 410 (aws-semantics §6, §9);
    /// shared/tests/template.rs checks the grant and its resource.
    async fn websocket(&mut self) {
        use vidgen_shared::events::connections::{
            create_table as create_connections, Connections, DynamoConnections,
        };
        use vidgen_shared::events::ws::handle_route;
        let table = format!("vidgen-iam-connections-{}", self.suffix);
        create_connections(&aws_sdk_dynamodb::Client::new(&self.admin), &table)
            .await
            .expect("connections table");
        let routes = DynamoConnections::new(self.clients[WS_EVENTS].dynamodb.clone(), &table);
        let notifier = DynamoConnections::new(self.clients[WS_NOTIFIER].dynamodb.clone(), &table);
        let owner = format!("alice-{}", self.suffix);
        let event = |route: &str, body: Option<&str>| {
            serde_json::from_value(json!({
                "requestContext": {
                    "routeKey": route, "connectionId": "C1=", "stage": "v1",
                    "domainName": "abc.execute-api.us-east-1.amazonaws.com",
                    "connectedAt": 1, "requestTimeEpoch": 1,
                    "authorizer": {"principalId": owner, "owner": owner}
                },
                "body": body
            }))
            .expect("a route event")
        };
        let now = chrono::Utc::now();
        handle_route(&routes, &event("$connect", None), now)
            .await
            .expect("$connect with ws-events' actions");
        let subscribe =
            json!({"action": "subscribe", "job_ids": [JobId::new().as_str()]}).to_string();
        let answer = handle_route(&routes, &event("subscribe", Some(&subscribe)), now)
            .await
            .expect("subscribe with ws-events' actions");
        assert!(answer.body.unwrap().contains("\"subscribed\""));
        let owner = Owner::new(&owner);
        let listed = notifier
            .list(&owner)
            .await
            .expect("the notifier lists with its actions");
        assert_eq!(listed.len(), 1);
        notifier
            .delete(&owner, "C1=")
            .await
            .expect("the notifier forgets a gone connection with its actions");
        assert!(notifier.list(&owner).await.unwrap().is_empty());
        self.exercised
            .extend([WS_AUTHORIZER, WS_EVENTS, WS_NOTIFIER].map(String::from));
    }

    /// One scheduled run of the sweeper, with its keys.
    async fn sweep(&mut self) -> SweepReport {
        self.exercised.insert(SWEEPER_FUNCTION.into());
        sweep(&self.sweep, chrono::Utc::now())
            .await
            .expect("the sweeper lists the unfinished jobs")
    }

    /// With webhooks on: that a producer queued job `id`'s `kind` event for
    /// [`OUTSIDE_HOOK`]. Every waiting delivery to it is removed (with the sender's keys,
    /// as its event source would after delivering): nothing here answers it.
    async fn expect_queued(&mut self, id: &str, kind: &str) {
        let Some(w) = &self.webhooks else {
            return;
        };
        let messages = receive_all(&w.sqs, &w.queue_url).await;
        let seen: Vec<_> = messages
            .iter()
            .map(|m| (delivery(m).job_id.to_string(), delivery(m).event.kind))
            .collect();
        assert!(
            seen.iter().any(|(j, k)| j == id && k == kind),
            "no {kind} queued for {id}; queued: {seen:?}"
        );
        for m in &messages {
            assert_eq!(delivery(m).url, OUTSIDE_HOOK, "{m:?}");
            delete_message(&w.sqs, &w.queue_url, m).await;
        }
    }

    /// The webhook-sender's invocation for `messages`, as its SQS event source makes
    /// it: the event, the handler, then the delivered messages deleted with the
    /// sender's keys (the failures stay, to come back or reach the DLQ).
    async fn deliver(&mut self, messages: &[aws_sdk_sqs::types::Message]) -> Vec<String> {
        self.exercised.insert(SENDER_FUNCTION.into());
        let w = self.webhooks.as_ref().expect("webhooks are on");
        let mut event = SqsEvent::default();
        event.records = messages
            .iter()
            .map(|m| {
                let mut record = SqsMessage::default();
                record.message_id = m.message_id().map(str::to_string);
                record.receipt_handle = m.receipt_handle().map(str::to_string);
                record.body = m.body().map(str::to_string);
                record.md5_of_body = m.md5_of_body().map(str::to_string);
                record.event_source = Some("aws:sqs".into());
                record.event_source_arn = Some(w.queue_arn.clone());
                record.aws_region = Some("us-east-1".into());
                record
            })
            .collect();
        let failed: Vec<String> = handle_sqs_batch(&w.sender, event)
            .await
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect();
        for m in messages {
            if !failed.iter().any(|id| Some(id.as_str()) == m.message_id()) {
                delete_message(&w.sqs, &w.queue_url, m).await;
            }
        }
        failed
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
    let Some(mut s) = deploy(Config::openai(webhooks)).await else {
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
        "callback_url": OUTSIDE_HOOK,
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
    s.expect_queued(&id, "video.completed").await;
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
        .create(
            json!({"prompt": "Canceled. [sim:never_finish]", "callback_url": OUTSIDE_HOOK}),
            &[],
        )
        .await;
    let (status, canceled) = s
        .api("POST", &format!("/v1/videos/{id}/cancel"), &[], None)
        .await;
    assert_eq!(
        (status, canceled["status"].as_str()),
        (200, Some("canceled")),
        "{canceled}"
    );
    s.expect_queued(&id, "video.canceled").await;
    let deployment = Deployment::embedded().expect("template");
    let (function, input) = deployment
        .execution_ended(&id, "ABORTED", None, None)
        .expect("forwarded");
    s.ok(function, input).await;
    assert_eq!(s.status(&id).await["status"], "canceled");

    // 3. Stopped by hand mid-render: the backstop writes the reason.
    let id = s
        .create(json!({"prompt": "Stopped. [sim:never_finish]"}), &[])
        .await;
    s.ok(StepFunction::Submit, json!({"job_id": id})).await;
    let (function, input) = deployment
        .execution_ended(&id, "ABORTED", None, None)
        .expect("forwarded");
    s.ok(function, input).await;
    let stopped = s.status(&id).await;
    assert_eq!(stopped["error"]["code"], "workflow_stopped", "{stopped}");

    // 4. A render that fails: the poll's error goes, as the Catch puts it, to
    // RecordFailure.
    let id = s
        .create(
            json!({"prompt": "Fails. [sim:fail]", "callback_url": OUTSIDE_HOOK}),
            &[],
        )
        .await;
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
    s.expect_queued(&id, "video.failed").await;

    // 5. The sweeper: a record whose execution never started (DescribeExecution finds
    // none) ends `workflow_start_failed`; with webhooks on, its delivery goes through
    // the queue to the webhook-sender and on, signed, to the receiver.
    let (hook, seen) = webhook_receiver().await;
    let stuck = stale_job(&s.admin_jobs, Some(&hook)).await;
    let report = s.sweep().await;
    assert_eq!(
        (report.checked, report.ended, report.errors),
        (1, 1, 0),
        "{report:?}"
    );
    let ended = s.status(stuck.as_ref()).await;
    assert_eq!(ended["status"], "failed", "{ended}");
    assert_eq!(ended["error"]["code"], "workflow_start_failed", "{ended}");
    if let Some(w) = &s.webhooks {
        let messages = receive_all(&w.sqs, &w.queue_url).await;
        let jobs: Vec<_> = messages.iter().map(|m| delivery(m).job_id).collect();
        assert_eq!(
            jobs,
            std::slice::from_ref(&stuck),
            "the sweeper queued its one delivery"
        );
        let failed = s.deliver(&messages).await;
        assert!(failed.is_empty(), "{failed:?}");
        let got = seen.lock().expect("receiver log").clone();
        assert_eq!(got.len(), 1, "{got:?}");
        let event = signed_event(&got[0]);
        assert_eq!(event["type"], "video.failed", "{event}");
        assert_eq!(event["data"]["id"], stuck.as_ref(), "{event}");
    }

    s.websocket().await;

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

/// The SQS path end to end, each side with its own keys: the sweeper (a producer)
/// queues two deliveries, the sender's handler gets them as one SQS event, delivers
/// both signed; the receiver that answers 500 makes its message a batch item failure,
/// which SQS shows again and, past `maxReceiveCount`, moves to the dead-letter queue;
/// the delivered one is gone.
#[tokio::test]
async fn webhook_deliveries_through_sqs() {
    let Some(mut s) = deploy(Config::openai(true)).await else {
        return;
    };
    let (hook, seen) = webhook_receiver().await;
    let down = hook.replace("/hook", "/fail");
    let good = stale_job(&s.admin_jobs, Some(&hook)).await;
    let bad = stale_job(&s.admin_jobs, Some(&down)).await;
    let report = s.sweep().await;
    assert_eq!((report.ended, report.errors), (2, 0), "{report:?}");

    let w = s.webhooks.as_ref().expect("webhooks are on");
    let messages = receive_all(&w.sqs, &w.queue_url).await;
    assert_eq!(messages.len(), 2, "{messages:?}");
    let id_of = |job: &JobId| {
        messages
            .iter()
            .find(|m| &delivery(m).job_id == job)
            .and_then(|m| m.message_id())
            .unwrap_or_else(|| panic!("no message for {job}"))
            .to_string()
    };
    let bad_message = id_of(&bad);
    let failed = s.deliver(&messages).await;
    assert_eq!(
        failed,
        std::slice::from_ref(&bad_message),
        "only the 500 is a batch item failure"
    );

    let got = seen.lock().expect("receiver log").clone();
    let mut paths: Vec<_> = got.iter().map(|d| d.path.as_str()).collect();
    paths.sort_unstable();
    assert_eq!(paths, ["/fail", "/hook"], "both were delivered once");
    for d in &got {
        let event = signed_event(d);
        let job = if d.path == "/hook" { &good } else { &bad };
        assert_eq!(event["data"]["id"], job.as_ref(), "{event}");
        assert_eq!(event["type"], "video.failed", "{event}");
    }

    // After the visibility timeout the failed message is received again: past
    // maxReceiveCount (1 here) SQS moves it to the DLQ instead. The delivered one was
    // deleted.
    let w = s.webhooks.as_ref().expect("webhooks are on");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let again = receive_all(&w.sqs, &w.queue_url).await;
    assert!(again.is_empty(), "{again:?}");
    let dead = receive_all(&w.admin_sqs, &w.dlq_url).await;
    let dead: Vec<_> = dead
        .iter()
        .map(|m| m.message_id().map(str::to_string))
        .collect();
    assert_eq!(
        dead,
        [Some(bad_message)],
        "the failed delivery rests in the DLQ"
    );
}

/// A stack with only a Runway key: each step starts by reading that secret with its own
/// keys (`deploy` fails otherwise), the api starts with `runway` as its only provider
/// and a Runway default model, and the functions without the grant are refused the
/// secret — as is a step whose template grants no key. The render itself goes through
/// the Runway adapter's own tests.
#[tokio::test]
async fn runway_key_only() {
    let config = Config {
        webhooks: false,
        openai: false,
        runway: true,
    };
    let Some(mut s) = deploy(config).await else {
        return;
    };
    let arn = s.runway_secret_arn.clone().expect("a Runway secret");

    // The api: Runway's models are available, OpenAI's are listed but not; the default
    // model is Runway's, and an OpenAI model is refused.
    let (status, models) = s.api("GET", "/v1/models", &[], None).await;
    assert_eq!(status, 200, "{models}");
    let listed = models["data"].as_array().expect("a list of models");
    assert_eq!(listed.len(), Model::all().count(), "{models}");
    for m in listed {
        let runway = m["provider"] == "runway";
        assert_eq!(m["available"], runway, "{m}");
    }
    let id = s.create(json!({"prompt": "A lighthouse."}), &[]).await;
    let job = s.status(&id).await;
    assert_eq!(job["model"], Model::RUNWAY_GEN45.as_str(), "{job}");
    let (status, refused) = s
        .api(
            "POST",
            "/v1/videos",
            &[],
            Some(&json!({"prompt": "A lighthouse.", "model": "sora-2"})),
        )
        .await;
    assert_eq!(status, 400, "{refused}");
    assert!(refused.to_string().contains("model"), "{refused}");
    let (status, _) = s
        .api("DELETE", &format!("/v1/videos/{id}"), &[], None)
        .await;
    assert_eq!(status, 204);

    // Read with a function's own keys: allowed exactly where the template grants it.
    let read = |client: &aws_sdk_secretsmanager::Client| {
        let (client, arn) = (client.clone(), arn.clone());
        async move {
            client
                .get_secret_value()
                .secret_id(arn)
                .send()
                .await
                .map(drop)
                .map_err(|e| format!("{}", aws_sdk_secretsmanager::error::DisplayErrorContext(&e)))
        }
    };
    for f in StepFunction::ALL {
        let id = f.template_resource();
        read(&s.clients[id].secrets)
            .await
            .unwrap_or_else(|e| panic!("{id} reads the Runway key: {e}"));
    }
    for id in [API_FUNCTION, SWEEPER_FUNCTION] {
        let e = read(&s.clients[id].secrets)
            .await
            .expect_err("no grant, no read");
        assert!(e.contains("AccessDenied"), "{id}: {e}");
    }
    // A submit step deployed without the Runway key has no GetSecretValue at all: the
    // read above is the conditional grant's doing.
    let template = template();
    let no_key = Config {
        runway: false,
        ..config
    };
    let actions = policy::actions(&template, "SubmitFunction", &no_key.conditions())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !actions.contains("secretsmanager:GetSecretValue"),
        "{actions:?}"
    );
    let sdk = user(
        &s.admin,
        &s.endpoint,
        &format!("submit-no-key-{}", s.suffix),
        &actions,
    )
    .await;
    let e = read(&aws_sdk_secretsmanager::Client::new(&sdk))
        .await
        .expect_err("no key, no grant");
    assert!(e.contains("AccessDenied"), "{e}");

    let report = s.sweep().await;
    assert_eq!(report.errors, 0, "{report:?}");
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
