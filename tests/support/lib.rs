//! Helpers for the end-to-end tests: a whole local stack on 127.0.0.1 and an HTTP
//! client that speaks the contract.

use reqwest::{Method, StatusCode};
use serde_json::Value;
use sora_sim::SimConfig;
use std::time::Duration;
use vidgen::stack::{ProviderChoice, RunningStack, StackConfig};
use vidgen_shared::workflow::WorkflowConfig;

/// A running stack with its data dir, two users and a fast simulator.
pub struct Harness {
    pub stack: RunningStack,
    pub dir: tempfile::TempDir,
    http: reqwest::Client,
}

pub const ALICE: &str = "tok-alice";
pub const BOB: &str = "tok-bob";

/// Small budgets and fast renders, so failure paths finish in seconds.
pub fn fast_config(dir: &std::path::Path) -> StackConfig {
    let mut config = StackConfig::local(
        "127.0.0.1:0".parse().expect("literal address"),
        dir.to_path_buf(),
    );
    config.provider = ProviderChoice::Simulator(SimConfig {
        render_time: Duration::from_millis(400),
        ..SimConfig::default()
    });
    config.tokens = vec![(ALICE.into(), "alice".into()), (BOB.into(), "bob".into())];
    config.time_scale = 0.05;
    config.workflow = WorkflowConfig {
        min_wait: Duration::from_secs(1),
        max_wait: Duration::from_secs(2),
        budget_sora2: Duration::from_secs(3),
        ..WorkflowConfig::default()
    };
    config
}

impl Harness {
    pub async fn start() -> Harness {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = fast_config(dir.path());
        Harness::with_config(dir, config).await
    }

    pub async fn with_config(dir: tempfile::TempDir, config: StackConfig) -> Harness {
        let stack = RunningStack::start(config).await.expect("stack starts");
        Harness {
            stack,
            dir,
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

    pub fn sim_config(&self) -> &SimConfig {
        self.stack
            .simulator
            .as_ref()
            .expect("the simulator runs")
            .config()
    }

    pub fn sim_stats(&self) -> sora_sim::SimStats {
        self.stack
            .simulator
            .as_ref()
            .expect("the simulator runs")
            .stats()
    }
}
