//! The `vidgen` command line.

use crate::client::Client;
use crate::stack::{RunningStack, StackConfig};
use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Turn a script and a style into a video, locally or through a deployed API.
#[derive(Parser, Debug)]
#[command(name = "vidgen", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the HTTP API, the workflow and the stores on this machine.
    Serve {
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        #[arg(long, default_value = ".vidgen", env = "VIDGEN_DATA_DIR")]
        data_dir: PathBuf,
        /// Multiply every workflow wait by this (tests use small values).
        #[arg(long, default_value_t = 1.0)]
        time_scale: f64,
    },
    /// Make a video and save it. Without --api, runs everything in-process.
    Generate(GenerateArgs),
    /// Show a job; with --watch, follow it live until it ends.
    Status {
        id: String,
        /// Print every change of status or progress until the job ends (over the
        /// events WebSocket, polling when it is unreachable), then the job.
        #[arg(long)]
        watch: bool,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// List your jobs, newest first.
    List {
        #[arg(long)]
        status: Option<String>,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Make a new video from a completed one and a new prompt, and save it.
    Remix {
        id: String,
        #[arg(long)]
        prompt: String,
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Stop a running job.
    Cancel {
        id: String,
        #[command(flatten)]
        api: ApiArgs,
    },
}

#[derive(Args, Debug, Clone)]
pub struct ApiArgs {
    /// Base URL of a served or deployed vidgen API.
    #[arg(long, env = "VIDGEN_API", default_value = "http://127.0.0.1:8080")]
    pub api: String,
    #[arg(long, env = "VIDGEN_TOKEN")]
    pub token: Option<String>,
    /// The events WebSocket, when it is not the API's own `/v1/events` (in AWS: the
    /// stack's `EventsUrl` output).
    #[arg(long, env = "VIDGEN_EVENTS_URL")]
    pub events_url: Option<String>,
}

impl ApiArgs {
    fn client(&self) -> anyhow::Result<Client> {
        Ok(Client::new(&self.api, self.token.clone())?.with_events_url(self.events_url.clone()))
    }
}

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// The narration or scene text.
    #[arg(long)]
    pub script: String,
    #[arg(long)]
    pub style: Option<String>,
    #[arg(long)]
    pub model: Option<String>,
    #[arg(long)]
    pub seconds: Option<u32>,
    #[arg(long)]
    pub size: Option<String>,
    /// Woven into the prompt (repeatable).
    #[arg(long = "keyword")]
    pub keywords: Vec<String>,
    /// Stated as things to avoid (repeatable).
    #[arg(long = "avoid")]
    pub avoid: Vec<String>,
    /// Where to save the MP4 (default: <job id>.mp4).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also render the same prompt at this size, as a variant job (repeatable, at most
    /// 3); each is saved beside the main file, named with its size.
    #[arg(long = "variant", value_name = "SIZE")]
    pub variants: Vec<String>,
    /// Drive this API instead of running everything in-process.
    #[arg(long, env = "VIDGEN_API")]
    pub api: Option<String>,
    #[arg(long, env = "VIDGEN_TOKEN")]
    pub token: Option<String>,
    /// With --api: its events WebSocket, when it is not the API's own `/v1/events`.
    #[arg(long, env = "VIDGEN_EVENTS_URL")]
    pub events_url: Option<String>,
    /// Data dir of the in-process stack.
    #[arg(long, default_value = ".vidgen", env = "VIDGEN_DATA_DIR")]
    pub data_dir: PathBuf,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve {
            addr,
            data_dir,
            time_scale,
        } => {
            let mut config = StackConfig::local(addr, data_dir).apply_env()?;
            config.time_scale = time_scale;
            let single_user = config.tokens.is_empty();
            let stack = RunningStack::start(config).await?;
            println!(
                "vidgen serving {}/v1 (provider: {}; store: {})",
                stack.base_url, stack.provider_name, stack.store_name
            );
            println!(
                "webhooks to callback_url are signed with the secret in {}",
                stack.webhook_secret_source
            );
            if single_user {
                println!("single-user mode: every request is owned by \"local\" (set VIDGEN_LOCAL_TOKENS=alice:tok1,bob:tok2 for several)");
            }
            tokio::signal::ctrl_c().await?;
            stack.shutdown().await;
            Ok(())
        }
        Command::Generate(args) => generate(args).await,
        Command::Status { id, watch, api } => {
            let client = api.client()?;
            let job = if watch {
                follow(&client, &id, |_, line| println!("{id}: {line}")).await?
            } else {
                client.get(&id).await?
            };
            println!("{}", serde_json::to_string_pretty(&job)?);
            Ok(())
        }
        Command::List { status, api } => {
            let page = api.client()?.list(status.as_deref()).await?;
            for job in page["data"].as_array().into_iter().flatten() {
                println!(
                    "{}  {:<11} {:>3}%  {}",
                    job["id"].as_str().unwrap_or("?"),
                    job["status"].as_str().unwrap_or("?"),
                    job["progress"],
                    job["created_at"].as_str().unwrap_or("")
                );
            }
            Ok(())
        }
        Command::Remix {
            id,
            prompt,
            out,
            api,
        } => {
            let client = api.client()?;
            let job = client.remix(&id, &prompt).await?;
            finish(&client, job, out).await
        }
        Command::Cancel { id, api } => {
            let job = api.client()?.cancel(&id).await?;
            println!("{} is {}", id, job["status"].as_str().unwrap_or("?"));
            Ok(())
        }
    }
}

async fn generate(args: GenerateArgs) -> anyhow::Result<()> {
    let mut body = json!({ "script": args.script });
    for (key, value) in [
        ("style", args.style.map(Value::from)),
        ("model", args.model.map(Value::from)),
        ("seconds", args.seconds.map(Value::from)),
        ("size", args.size.map(Value::from)),
    ] {
        if let Some(v) = value {
            body[key] = v;
        }
    }
    if !args.keywords.is_empty() {
        body["keywords"] = json!(args.keywords);
    }
    if !args.avoid.is_empty() {
        body["negative_keywords"] = json!(args.avoid);
    }
    if !args.variants.is_empty() {
        let variants: Vec<Value> = args
            .variants
            .iter()
            .map(|size| json!({ "size": size }))
            .collect();
        body["variants"] = Value::Array(variants);
    }
    match args.api {
        Some(api) => {
            let client = Client::new(&api, args.token)?.with_events_url(args.events_url);
            let job = client.create(&body).await?;
            finish_all(&client, job, args.out).await
        }
        None => {
            let config = StackConfig::local("127.0.0.1:0".parse()?, args.data_dir).apply_env()?;
            let stack = RunningStack::start(config).await?;
            eprintln!("running locally (provider: {})", stack.provider_name);
            let client = Client::new(&stack.base_url, None)?;
            let result = match client.create(&body).await {
                Ok(job) => finish_all(&client, job, args.out).await,
                Err(e) => Err(e),
            };
            stack.shutdown().await;
            result
        }
    }
}

/// Follow a job and each of its variants to their end and save every video: the
/// primary at `out` (default `<id>.mp4`), each variant beside it as `<stem>-<size>.mp4`
/// (default `<variant id>.mp4`). Every job is followed even when one fails; the first
/// failure is the result.
async fn finish_all(client: &Client, job: Value, out: Option<PathBuf>) -> anyhow::Result<()> {
    let variants: Vec<String> = job["variants"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let mut result = finish(client, job, out.clone()).await;
    for id in variants {
        let variant = client.get(&id).await?;
        let size = variant["size"].as_str().unwrap_or("variant").to_string();
        let path = out.as_ref().map(|primary| variant_path(primary, &size));
        let done = finish(client, variant, path).await;
        if result.is_ok() {
            result = done;
        }
    }
    result
}

/// `clip.mp4` + `1280x720` → `clip-1280x720.mp4`.
fn variant_path(primary: &std::path::Path, size: &str) -> PathBuf {
    let stem = primary
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "video".into());
    let name = match primary.extension() {
        Some(ext) => format!("{stem}-{size}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{size}"),
    };
    primary.with_file_name(name)
}

/// How long `follow` waits for an event before it reads the job anyway.
const QUIET_LIMIT: Duration = Duration::from_secs(30);
/// The polling pace when the events endpoint is unreachable.
const POLL_EVERY: Duration = Duration::from_millis(500);

/// Follow job `id` until it ends and return it, calling `on_change` with the job at
/// every change of status or progress seen. Live over the events endpoint; when it
/// cannot be reached or drops, by polling `GET /v1/videos/{id}`.
pub async fn follow(
    client: &Client,
    id: &str,
    mut on_change: impl FnMut(&Value, &str),
) -> anyhow::Result<Value> {
    let mut events = match client.events().await {
        Ok(mut events) => match events.subscribe(&[id]).await {
            Ok(()) => Some(events),
            Err(e) => {
                tracing::info!(error = %e, "events unavailable; polling");
                None
            }
        },
        Err(e) => {
            tracing::info!(error = format!("{e:#}"), "events unavailable; polling");
            None
        }
    };
    // Read once after subscribing: a change made before it is not missed.
    let mut job = client.get(id).await?;
    let mut last = String::new();
    loop {
        let line = format!(
            "{} {}%",
            job["status"].as_str().unwrap_or("?"),
            job["progress"].as_u64().unwrap_or(0)
        );
        if line != last {
            on_change(&job, &line);
            last = line;
        }
        if is_ended(&job) {
            if let Some(events) = events.take() {
                events.close().await;
            }
            return Ok(job);
        }
        job = match events.as_mut() {
            Some(live) => match tokio::time::timeout(QUIET_LIMIT, live.next_job()).await {
                Ok(Ok(Some(update))) if update["id"] == id => update,
                Ok(Ok(Some(_))) => continue,
                // Quiet for long: read the job, keep listening.
                Err(_) => client.get(id).await?,
                Ok(Ok(None)) | Ok(Err(_)) => {
                    tracing::info!("the events connection ended; polling");
                    events = None;
                    client.get(id).await?
                }
            },
            None => {
                tokio::time::sleep(POLL_EVERY).await;
                client.get(id).await?
            }
        };
    }
}

fn is_ended(job: &Value) -> bool {
    job["status"]
        .as_str()
        .and_then(|s| s.parse::<vidgen_shared::domain::Status>().ok())
        .is_some_and(|s| s.is_terminal())
}

/// Follow a job to its end with a progress bar, then save the video.
async fn finish(client: &Client, job: Value, out: Option<PathBuf>) -> anyhow::Result<()> {
    let id = job["id"]
        .as_str()
        .context("the API returned a job without an id")?
        .to_string();
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(100);
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg:<24} [{bar:30}] {pos:>3}% {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    } else {
        ProgressBar::hidden()
    };
    let job = follow(client, &id, |job, line| {
        bar.set_position(job["progress"].as_u64().unwrap_or(0));
        bar.set_message(format!(
            "{id:.12}… {}",
            job["status"].as_str().unwrap_or("?")
        ));
        if bar.is_hidden() {
            eprintln!("{id}: {line}");
        }
    })
    .await?;
    bar.finish_and_clear();
    let status = job["status"].as_str().unwrap_or("?");
    if status != "completed" {
        let code = job["error"]["code"].as_str().unwrap_or("none");
        let message = job["error"]["message"]
            .as_str()
            .unwrap_or("no reason given");
        bail!("job {id} ended {status}: {code}: {message}");
    }
    let url = job["assets"]["video"]["url"]
        .as_str()
        .context("a completed job without a video link")?;
    let expected = job["assets"]["video"]["bytes"].as_u64();
    let out = out.unwrap_or_else(|| PathBuf::from(format!("{id}.mp4")));
    let written = client.download(url, &out).await?;
    if expected.is_some_and(|n| n != written) {
        bail!(
            "downloaded {written} bytes but the job says {}",
            expected.unwrap_or(0)
        );
    }
    let path = std::fs::canonicalize(&out).unwrap_or(out);
    println!("{}", path.display());
    // The provider's own figure when it gives one (Runway), else our estimate.
    let cost = match job["cost_usd"].as_f64() {
        Some(usd) => format!(
            "cost ${usd:.2} ({})",
            job["provider"].as_str().unwrap_or("provider")
        ),
        None => format!(
            "estimated cost ${:.2}",
            job["estimated_cost_usd"].as_f64().unwrap_or(0.0)
        ),
    };
    eprintln!(
        "job {id} completed: {written} bytes, {} s, {cost}",
        job["duration_seconds"]
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variant_files_sit_beside_the_primary_named_by_size() {
        assert_eq!(
            variant_path(std::path::Path::new("out/clip.mp4"), "1280x720"),
            PathBuf::from("out/clip-1280x720.mp4")
        );
        assert_eq!(
            variant_path(std::path::Path::new("clip"), "720x1280"),
            PathBuf::from("clip-720x1280")
        );
    }
}
