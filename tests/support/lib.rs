//! Helpers for the end-to-end tests: a whole local stack on 127.0.0.1 and an HTTP
//! client that speaks the contract.

use reqwest::{Method, StatusCode};
use serde_json::Value;
use sora_sim::runway::{RunwayConfig as RunwaySimConfig, RunwayStats, TaskInfo};
use sora_sim::SimConfig;
use std::time::Duration;
use vidgen::stack::{
    AwsBackend, Backend, FalChoice, ProviderChoice, RunningStack, RunwayChoice, StackConfig,
};
use vidgen_shared::aws::aws_test_env;
use vidgen_shared::workflow::WorkflowConfig;

/// A running stack with its data dir, two users and a fast simulator.
pub struct Harness {
    pub stack: RunningStack,
    pub dir: tempfile::TempDir,
    http: reqwest::Client,
    /// The S3 bucket of an AWS-store stack.
    bucket: Option<String>,
}

pub const ALICE: &str = "tok-alice";
pub const BOB: &str = "tok-bob";

/// Where a test stack keeps jobs and files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// redb and local files behind signed links (the default of `vidgen serve`).
    Embedded,
    /// DynamoDB on moto and S3 on s3s-fs, as `VIDGEN_BACKEND=aws` runs; the servers are
    /// started by scripts/test.sh, which sets `MOTO_ENDPOINT`, `S3S_ENDPOINT`,
    /// `S3S_ACCESS_KEY` and `S3S_SECRET_KEY`.
    Aws,
    /// The embedded store, with `runway/gen4.5` as the default model: a scenario that
    /// names no model runs through the Runway adapter and simulator.
    EmbeddedRunway,
    /// The AWS stores, with `runway/gen4.5` as the default model.
    AwsRunway,
}

/// What the AWS store needs: the settings scripts/aws-test-servers.sh writes.
const AWS_VARS: [&str; 4] = [
    "MOTO_ENDPOINT",
    "S3S_ENDPOINT",
    "S3S_ACCESS_KEY",
    "S3S_SECRET_KEY",
];

impl Store {
    /// Whether this backend's servers are configured. When they are not, says the test is
    /// skipped and answers false — or, with `VIDGEN_REQUIRE_AWS_TESTS=1` (scripts/test.sh,
    /// CI), fails the test naming the missing variables.
    pub fn available(self) -> bool {
        match self {
            Store::Embedded | Store::EmbeddedRunway => true,
            Store::Aws | Store::AwsRunway => aws_test_env(AWS_VARS).is_some(),
        }
    }

    /// Whether jobs that name no model go to Runway.
    pub fn runway(self) -> bool {
        matches!(self, Store::EmbeddedRunway | Store::AwsRunway)
    }

    /// A fresh table and bucket (or data dir) per stack, so tests never share state.
    fn backend(self) -> Backend {
        match self {
            Store::Embedded | Store::EmbeddedRunway => Backend::Embedded,
            Store::Aws | Store::AwsRunway => {
                let suffix = unique_suffix();
                Backend::Aws(AwsBackend {
                    table: format!("vidgen-e2e-{suffix}"),
                    bucket: format!("vidgen-e2e-{suffix}"),
                    create_missing: true,
                    clients: Some((
                        aws::dynamodb().expect("moto is running"),
                        aws::s3().expect("s3s-fs is running"),
                    )),
                    s3_force_path_style: true,
                })
            }
        }
    }
}

/// A lowercase ULID: unique names for tables, buckets and state machines.
pub fn unique_suffix() -> String {
    ulid::Ulid::new().to_string().to_lowercase()
}

/// SDK clients of the local AWS servers scripts/test.sh starts; `None` when they are not
/// configured (a failure instead with `VIDGEN_REQUIRE_AWS_TESTS=1`).
pub mod aws {
    use vidgen_shared::aws::{aws_test_env, s3_client, static_sdk_config};

    /// DynamoDB on moto.
    pub fn dynamodb() -> Option<aws_sdk_dynamodb::Client> {
        let [endpoint] = aws_test_env(["MOTO_ENDPOINT"])?;
        let sdk = static_sdk_config(&endpoint, "testing", "testing");
        Some(aws_sdk_dynamodb::Client::new(&sdk))
    }

    /// Step Functions on moto.
    pub fn sfn() -> Option<aws_sdk_sfn::Client> {
        let [endpoint] = aws_test_env(["MOTO_ENDPOINT"])?;
        let sdk = static_sdk_config(&endpoint, "testing", "testing");
        Some(aws_sdk_sfn::Client::new(&sdk))
    }

    /// S3 on s3s-fs, which checks signatures and expiry.
    pub fn s3() -> Option<aws_sdk_s3::Client> {
        let [endpoint, key, secret] =
            aws_test_env(["S3S_ENDPOINT", "S3S_ACCESS_KEY", "S3S_SECRET_KEY"])?;
        Some(s3_client(
            &static_sdk_config(&endpoint, &key, &secret),
            true,
        ))
    }
}

/// Small budgets and fast renders, so failure paths finish in seconds.
pub fn fast_config(dir: &std::path::Path, store: Store) -> StackConfig {
    let mut config = StackConfig::local(
        "127.0.0.1:0".parse().expect("literal address"),
        dir.to_path_buf(),
    );
    config.backend = store.backend();
    config.provider = ProviderChoice::Simulator(SimConfig {
        render_time: Duration::from_millis(400),
        ..SimConfig::default()
    });
    config.runway = RunwayChoice::Simulator(RunwaySimConfig {
        pending_time: Duration::from_millis(100),
        render_time: Duration::from_millis(400),
        ..RunwaySimConfig::default()
    });
    config.fal = FalChoice::Simulator(sora_sim::fal::FalConfig {
        queue_time: Duration::from_millis(100),
        render_time: Duration::from_millis(400),
        ..sora_sim::fal::FalConfig::default()
    });
    if store.runway() {
        config.api.policy.default_model = vidgen_shared::domain::Model::RUNWAY_GEN45;
    }
    config.tokens = vec![(ALICE.into(), "alice".into()), (BOB.into(), "bob".into())];
    config.time_scale = 0.05;
    config.workflow = WorkflowConfig {
        min_wait: Duration::from_secs(1),
        max_wait: Duration::from_secs(2),
        budget_standard: Duration::from_secs(3),
        ..WorkflowConfig::default()
    };
    config
}

impl Harness {
    pub async fn start(store: Store) -> Harness {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = fast_config(dir.path(), store);
        Harness::with_config(dir, config).await
    }

    pub async fn with_config(dir: tempfile::TempDir, config: StackConfig) -> Harness {
        let bucket = match &config.backend {
            Backend::Aws(aws) => Some(aws.bucket.clone()),
            Backend::Embedded => None,
        };
        let stack = RunningStack::start(config).await.expect("stack starts");
        Harness {
            stack,
            dir,
            bucket,
            // Redirects are asserted, not followed.
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        self.raw(
            method,
            path,
            token,
            body.map(|b| ("application/json", b.to_string())),
            &[],
        )
        .await
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, String)>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.stack.base_url));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some((ct, b)) = body {
            r = r.header("content-type", ct).body(b);
        }
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        let response = r.send().await.expect("request sent");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, headers, body)
    }

    /// Poll until the job ends; returns the final job.
    pub async fn wait_for_end(&self, id: &str, token: &str) -> Value {
        for _ in 0..400 {
            let (status, _, job) = self
                .call(Method::GET, &format!("/v1/videos/{id}"), Some(token), None)
                .await;
            assert_eq!(status, StatusCode::OK, "{job}");
            if matches!(
                job["status"].as_str(),
                Some("completed" | "failed" | "canceled" | "timed_out")
            ) {
                return job;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("job {id} did not end");
    }

    pub async fn fetch(&self, url: &str) -> (StatusCode, Vec<u8>) {
        let r = self.http.get(url).send().await.expect("GET sent");
        let status = r.status();
        (
            status,
            r.bytes().await.map(|b| b.to_vec()).unwrap_or_default(),
        )
    }

    /// Every stored object whose key starts with `prefix`, read from the store itself
    /// (the files under the data dir, or the S3 bucket).
    pub async fn object_keys(&self, prefix: &str) -> Vec<String> {
        match &self.bucket {
            Some(bucket) => {
                let listed = aws::s3()
                    .expect("s3s-fs is running")
                    .list_objects_v2()
                    .bucket(bucket)
                    .prefix(prefix)
                    .send()
                    .await
                    .expect("the bucket lists");
                listed
                    .contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string))
                    .collect()
            }
            None => {
                let root = self.dir.path().join("files");
                let mut found = Vec::new();
                let mut dirs = vec![root.clone()];
                while let Some(d) = dirs.pop() {
                    let Ok(entries) = std::fs::read_dir(&d) else {
                        continue;
                    };
                    for entry in entries.flatten() {
                        let path = entry.path();
                        if path.is_dir() {
                            dirs.push(path);
                        } else if let Ok(rel) = path.strip_prefix(&root) {
                            let key = rel.to_string_lossy().replace('\\', "/");
                            if key.starts_with(prefix) {
                                found.push(key);
                            }
                        }
                    }
                }
                found
            }
        }
    }

    /// Wait until no execution and no step runs (a step outlives a stopped execution).
    pub async fn wait_until_idle(&self) {
        for _ in 0..600 {
            if self.stack.engine.is_idle() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the engine is still busy");
    }

    /// The simulator's own list of videos, over HTTP with its key.
    pub async fn sim_video_ids(&self) -> Vec<String> {
        let sim = self.stack.simulator.as_ref().expect("the simulator runs");
        let mut r = self
            .http
            .get(format!("{}/videos?limit=100", sim.base_url()));
        if let Some(key) = &sim.config().api_key {
            r = r.bearer_auth(key);
        }
        let listed: Value = r
            .send()
            .await
            .expect("simulator answers")
            .json()
            .await
            .expect("a JSON list");
        listed["data"]
            .as_array()
            .map(|videos| {
                videos
                    .iter()
                    .filter_map(|v| v["id"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn sim_config(&self) -> &SimConfig {
        self.stack
            .simulator
            .as_ref()
            .expect("the simulator runs")
            .config()
    }

    /// Renders asked of either provider's simulator (creates and remixes).
    pub fn renders_asked(&self) -> u64 {
        let sora = self.sim_stats();
        let runway = self.runway_stats();
        sora.creates + sora.remixes + runway.creates()
    }

    /// Faults either simulator served (429s, 5xx).
    pub fn faults_served(&self) -> u64 {
        self.sim_stats().faults_served + self.runway_stats().faults_served
    }

    /// What the Runway simulator was asked.
    pub fn runway_stats(&self) -> RunwayStats {
        self.runway_sim().stats()
    }

    /// One Runway task as the simulator holds it.
    pub fn runway_task(&self, id: &str) -> TaskInfo {
        self.runway_sim()
            .task(id)
            .expect("the Runway simulator has the task")
    }

    /// The last create body the Runway simulator received, with its route.
    pub fn runway_last_create(&self) -> (sora_sim::runway::Route, Value) {
        self.runway_sim()
            .last_create()
            .expect("a create reached the Runway simulator")
    }

    /// The built-in fal simulator.
    pub fn fal_sim(&self) -> &sora_sim::fal::FalSimulator {
        self.stack
            .fal_simulator
            .as_ref()
            .expect("the stack runs the fal simulator")
    }

    pub fn runway_sim_config(&self) -> &RunwaySimConfig {
        self.runway_sim().config()
    }

    fn runway_sim(&self) -> &sora_sim::runway::RunwaySimulator {
        self.stack
            .runway_simulator
            .as_ref()
            .expect("the Runway simulator runs")
    }

    pub fn sim_stats(&self) -> sora_sim::SimStats {
        self.stack
            .simulator
            .as_ref()
            .expect("the simulator runs")
            .stats()
    }
}

/// One webhook delivery as a receiver saw it.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// `/hook` (answered 204) or `/fail` (answered 500).
    pub path: String,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

/// A webhook receiver on 127.0.0.1: every POST to `/hook` is kept and answered 204,
/// every POST to `/fail` kept and answered 500 (a receiver that is down).
/// Returns the `/hook` URL to give as `callback_url` and the deliveries seen so far.
pub async fn webhook_receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Delivery>>>) {
    use axum::http::{HeaderMap, StatusCode, Uri};
    use axum::routing::post;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let keep = move |answer: StatusCode| {
        let log = log.clone();
        post(
            move |uri: Uri, headers: HeaderMap, body: axum::body::Bytes| async move {
                log.lock().expect("receiver log").push(Delivery {
                    path: uri.path().to_string(),
                    headers,
                    body: body.to_vec(),
                });
                answer
            },
        )
    };
    let app = axum::Router::new()
        .route("/hook", keep(StatusCode::NO_CONTENT))
        .route("/fail", keep(StatusCode::INTERNAL_SERVER_ERROR));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("receiver binds");
    let url = format!("http://{}/hook", listener.local_addr().expect("bound"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, seen)
}

/// What an outside test driver (a Python or Node script) did: its exit status and output.
pub struct Outside {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Run an outside test driver off the runtime's threads, so the stack under test keeps
/// serving while it runs; its output is shown as the test's. Panics naming `what` when
/// it cannot start or outlasts `limit`.
pub async fn run_outside(
    mut command: std::process::Command,
    what: &str,
    limit: Duration,
) -> Outside {
    let run = tokio::task::spawn_blocking(move || command.output());
    let output = tokio::time::timeout(limit, run)
        .await
        .unwrap_or_else(|_| panic!("{what} ends within {limit:?}"))
        .expect("the runner's thread ends")
        .unwrap_or_else(|e| panic!("{what} starts: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    println!("{stdout}");
    eprintln!("{stderr}");
    Outside {
        status: output.status,
        stdout,
        stderr,
    }
}
