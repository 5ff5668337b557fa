//! A small client of vidgen's own HTTP API, used by the CLI.

use anyhow::{bail, Context};
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use std::path::Path;
use tokio::io::AsyncWriteExt;

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    /// Where the events WebSocket is when it is not the API's own `/v1/events` (AWS:
    /// the stack's `EventsUrl` output).
    events_url: Option<String>,
}

impl Client {
    pub fn new(base: &str, token: Option<String>) -> anyhow::Result<Client> {
        Ok(Client {
            http: reqwest::Client::builder().build()?,
            base: base.trim_end_matches('/').to_string(),
            token,
            events_url: None,
        })
    }

    /// Use this events endpoint instead of the API's own `/v1/events`.
    pub fn with_events_url(mut self, url: Option<String>) -> Client {
        self.events_url = url;
        self
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

/// A connection to the events endpoint (`GET /v1/events` on `vidgen serve`, the
/// WebSocket API in AWS).
pub struct Events {
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    /// `job.updated` frames that arrived while waiting for `subscribed`.
    early: std::collections::VecDeque<Value>,
}

impl Client {
    /// The events endpoint: the one given, else the API's own `/v1/events`
    /// (`http(s)://host/…` → `ws(s)://host/…/v1/events`).
    pub fn events_url(&self) -> String {
        if let Some(url) = &self.events_url {
            return url.clone();
        }
        let base = match self.base.split_once("://") {
            Some(("https", rest)) => format!("wss://{rest}"),
            Some((_, rest)) => format!("ws://{rest}"),
            None => format!("ws://{}", self.base),
        };
        format!("{base}/v1/events")
    }

    /// Connect to [`Client::events_url`] with this client's token.
    pub async fn events(&self) -> anyhow::Result<Events> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let url = self.events_url();
        let mut request = url
            .as_str()
            .into_client_request()
            .with_context(|| format!("events URL {url}"))?;
        if let Some(token) = &self.token {
            let value = http::HeaderValue::from_str(&format!("Bearer {token}"))
                .context("the token is not a valid header value")?;
            request
                .headers_mut()
                .insert(http::header::AUTHORIZATION, value);
        }
        let (socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .with_context(|| format!("connecting to {url}"))?;
        Ok(Events {
            socket,
            early: Default::default(),
        })
    }
}

impl Events {
    /// Narrow the connection to `job_ids`; returns once the server confirmed it.
    pub async fn subscribe(&mut self, job_ids: &[&str]) -> anyhow::Result<()> {
        use tokio_tungstenite::tungstenite::Message;
        let frame = serde_json::json!({"action": "subscribe", "job_ids": job_ids});
        self.socket
            .send(Message::text(frame.to_string()))
            .await
            .context("sending subscribe")?;
        loop {
            let frame = self
                .next_frame()
                .await?
                .context("the events connection closed")?;
            match frame["type"].as_str() {
                Some("subscribed") => return Ok(()),
                Some("error") => bail!(
                    "the events endpoint refused subscribe: {}",
                    frame["error"]["message"].as_str().unwrap_or("no details")
                ),
                Some("job.updated") => self.early.push_back(frame["job"].clone()),
                _ => {}
            }
        }
    }

    /// The next changed job; `None` when the server closed the connection.
    pub async fn next_job(&mut self) -> anyhow::Result<Option<Value>> {
        if let Some(job) = self.early.pop_front() {
            return Ok(Some(job));
        }
        loop {
            let Some(frame) = self.next_frame().await? else {
                return Ok(None);
            };
            if frame["type"] == "job.updated" {
                return Ok(Some(frame["job"].clone()));
            }
        }
    }

    /// The next JSON text frame (pings are answered by the library).
    async fn next_frame(&mut self) -> anyhow::Result<Option<Value>> {
        use tokio_tungstenite::tungstenite::Message;
        while let Some(message) = self.socket.next().await {
            match message.context("reading the events connection")? {
                Message::Text(text) => {
                    return serde_json::from_str(text.as_str())
                        .map(Some)
                        .context("the events endpoint sent a frame that is not JSON")
                }
                Message::Close(_) => return Ok(None),
                _ => continue,
            }
        }
        Ok(None)
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}
