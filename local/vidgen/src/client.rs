//! A small client of vidgen's own HTTP API, used by the CLI.

use anyhow::{bail, Context};
use futures::StreamExt;
use serde_json::Value;
use std::path::Path;
use tokio::io::AsyncWriteExt;

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    pub fn new(base: &str, token: Option<String>) -> anyhow::Result<Client> {
        Ok(Client {
            http: reqwest::Client::builder().build()?,
            base: base.trim_end_matches('/').to_string(),
            token,
        })
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    async fn json(&self, r: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let response = r
            .send()
            .await
            .with_context(|| format!("calling {}", self.base))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let message = body["error"]["message"].as_str().unwrap_or("no details");
            let field = body["error"]["field"]
                .as_str()
                .map(|f| format!(" (field {f})"))
                .unwrap_or_default();
            bail!("the API answered {status}: {message}{field}");
        }
        Ok(body)
    }

    pub async fn create(&self, body: &Value) -> anyhow::Result<Value> {
        self.json(self.req(reqwest::Method::POST, "/v1/videos").json(body))
            .await
    }

    pub async fn get(&self, id: &str) -> anyhow::Result<Value> {
        self.json(self.req(reqwest::Method::GET, &format!("/v1/videos/{id}")))
            .await
    }

    pub async fn list(&self, status: Option<&str>) -> anyhow::Result<Value> {
        let mut r = self.req(reqwest::Method::GET, "/v1/videos");
        if let Some(s) = status {
            r = r.query(&[("status", s)]);
        }
        self.json(r).await
    }

    pub async fn remix(&self, id: &str, prompt: &str) -> anyhow::Result<Value> {
        let body = serde_json::json!({ "prompt": prompt });
        self.json(
            self.req(reqwest::Method::POST, &format!("/v1/videos/{id}/remix"))
                .json(&body),
        )
        .await
    }

    pub async fn cancel(&self, id: &str) -> anyhow::Result<Value> {
        self.json(self.req(reqwest::Method::POST, &format!("/v1/videos/{id}/cancel")))
            .await
    }

    /// Stream a presigned link to a file; returns the bytes written.
    pub async fn download(&self, url: &str, to: &Path) -> anyhow::Result<u64> {
        let response = self.http.get(url).send().await?.error_for_status()?;
        let tmp = to.with_extension("part");
        let mut file = tokio::fs::File::create(&tmp)
            .await
            .with_context(|| format!("creating {}", tmp.display()))?;
        let mut body = response.bytes_stream();
        let mut written = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            file.write_all(&chunk).await?;
            written += chunk.len() as u64;
        }
        file.flush().await?;
        tokio::fs::rename(&tmp, to).await?;
        Ok(written)
    }
}
