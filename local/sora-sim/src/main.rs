//! `sora-sim`: run a simulator as a standalone server: the OpenAI Videos API (Sora 2,
//! the default), Runway's task API (`--provider runway`) or fal's queue API with signed
//! webhooks (`--provider fal`).

use clap::{Parser, ValueEnum};
use sora_sim::fal::{FalConfig, FalSimulator};
use sora_sim::runway::{RunwayConfig, RunwaySimulator};
use sora_sim::{Faults, SimConfig, Simulator, WebhookEndpoint};
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Provider {
    /// The OpenAI Videos API (Sora 2); base URL `http://ADDR/v1`.
    Sora,
    /// Runway's task API; base URL `http://ADDR` (routes are `/v1/...`).
    Runway,
    /// fal's queue API; queue URL `http://ADDR`, JWKS at `/.well-known/jwks.json`.
    Fal,
}

/// A local simulator of the OpenAI Videos API (Sora 2), Runway's task API or fal's queue
/// API. Per-job
/// faults are prompt markers such as `[sim:moderation_end]`; see the crate docs.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    #[arg(long, value_enum, default_value_t = Provider::Sora)]
    provider: Provider,
    #[arg(long, default_value = "127.0.0.1:4010")]
    addr: SocketAddr,
    /// Render time of each job, in milliseconds.
    #[arg(long, default_value_t = 3000)]
    render_ms: u64,
    /// Require this key (Sora, Runway: `Bearer <key>`; fal: `Key <key>`).
    #[arg(long, env = "SORA_SIM_API_KEY")]
    api_key: Option<String>,
    /// Serve generated video content of this many bytes instead of the sample MP4.
    #[arg(long)]
    video_bytes: Option<u64>,
    #[arg(long)]
    poll_after_ms: Option<u64>,
    /// The first N requests answer 429.
    #[arg(long, default_value_t = 0)]
    rate_limit_first: u32,
    #[arg(long, default_value_t = 1)]
    retry_after_secs: u64,
    /// The first N requests answer 500/503.
    #[arg(long, default_value_t = 0)]
    server_error_first: u32,
    #[arg(long)]
    slow_download_bytes_per_sec: Option<u64>,
    #[arg(long)]
    reset_download_after: Option<u64>,
    #[arg(long)]
    moderation_at_create: bool,
    #[arg(long)]
    moderation_at_end: bool,
    #[arg(long)]
    never_finish: bool,
    /// Runway: time each task stays PENDING, in milliseconds.
    #[arg(long, default_value_t = 300)]
    pending_ms: u64,
    /// Runway: time each task stays THROTTLED after PENDING, in milliseconds.
    #[arg(long, default_value_t = 0)]
    throttled_ms: u64,
    /// Runway: how long each output link stays valid, in seconds.
    #[arg(long, default_value_t = 86_400)]
    output_url_ttl_secs: u64,
    /// Runway: refuse plain-http asset URLs, even to this machine.
    #[arg(long)]
    no_http_assets: bool,
    /// fal: time each request stays IN_QUEUE, in milliseconds.
    #[arg(long, default_value_t = 300)]
    queue_ms: u64,
    /// fal: the X-Fal-Webhook-User-Id sent and signed.
    #[arg(long, default_value = "sim-user")]
    user_id: String,
    /// Sora: POST video.completed / video.failed webhooks here (the dashboard endpoint).
    #[arg(long, requires = "webhook_secret")]
    webhook_url: Option<String>,
    /// Sora: the endpoint's signing secret, `whsec_<base64>`.
    #[arg(long, env = "SORA_SIM_WEBHOOK_SECRET", hide_env_values = true)]
    webhook_secret: Option<String>,
    /// fal, Sora: never send webhooks.
    #[arg(long)]
    withhold_webhooks: bool,
    /// fal, Sora: wait this long after a job ends before its webhook, in milliseconds.
    #[arg(long, default_value_t = 0)]
    webhook_delay_ms: u64,
    /// fal, Sora: sign webhooks with a key the receiver does not hold.
    #[arg(long)]
    forge_signature: bool,
    /// fal, Sora: stamp webhooks 10 minutes in the past.
    #[arg(long)]
    stale_timestamp: bool,
    /// fal, Sora: send each webhook delivery twice.
    #[arg(long)]
    duplicate_webhooks: bool,
    /// fal, Sora: webhook deliveries tried before giving up.
    #[arg(long, default_value_t = 10)]
    webhook_attempts: u32,
    /// fal, Sora: wait after the first refused delivery (doubling after), in milliseconds.
    #[arg(long, default_value_t = 15_000)]
    webhook_retry_ms: u64,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_target(false)
        .compact()
        .init();
    let a = Args::parse();
    let faults = Faults {
        rate_limit_first: a.rate_limit_first,
        retry_after_secs: a.retry_after_secs,
        server_error_first: a.server_error_first,
        slow_download_bytes_per_sec: a.slow_download_bytes_per_sec,
        reset_download_after: a.reset_download_after,
        moderation_at_create: a.moderation_at_create,
        moderation_at_end: a.moderation_at_end,
        never_finish: a.never_finish,
    };
    match a.provider {
        Provider::Sora => {
            let config = SimConfig {
                render_time: Duration::from_millis(a.render_ms),
                api_key: a.api_key,
                video_bytes: a.video_bytes,
                poll_after_ms: a.poll_after_ms,
                faults,
                webhook: a.webhook_url.map(|url| WebhookEndpoint {
                    url,
                    secret: a.webhook_secret.unwrap_or_default(),
                }),
                withhold_webhooks: a.withhold_webhooks,
                webhook_delay: Duration::from_millis(a.webhook_delay_ms),
                forge_signature: a.forge_signature,
                stale_timestamp: a.stale_timestamp,
                duplicate_webhooks: a.duplicate_webhooks,
                webhook_attempts: a.webhook_attempts,
                webhook_retry_base: Duration::from_millis(a.webhook_retry_ms),
                ..SimConfig::default()
            };
            let sim = Simulator::start(a.addr, config).await?;
            println!("sora-sim serving the Videos API at {}", sim.base_url());
            tokio::signal::ctrl_c().await?;
            sim.shutdown().await;
        }
        Provider::Runway => {
            let config = RunwayConfig {
                render_time: Duration::from_millis(a.render_ms),
                pending_time: Duration::from_millis(a.pending_ms),
                throttled_time: Duration::from_millis(a.throttled_ms),
                api_key: a.api_key,
                video_bytes: a.video_bytes,
                output_url_ttl: Duration::from_secs(a.output_url_ttl_secs),
                allow_http_assets: !a.no_http_assets,
                faults,
                ..RunwayConfig::default()
            };
            let sim = RunwaySimulator::start(a.addr, config).await?;
            println!("sora-sim serving Runway's task API at {}", sim.base_url());
            tokio::signal::ctrl_c().await?;
            sim.shutdown().await;
        }
        Provider::Fal => {
            let config = FalConfig {
                queue_time: Duration::from_millis(a.queue_ms),
                render_time: Duration::from_millis(a.render_ms),
                api_key: a.api_key,
                video_bytes: a.video_bytes,
                faults,
                user_id: a.user_id,
                withhold_webhooks: a.withhold_webhooks,
                webhook_delay: Duration::from_millis(a.webhook_delay_ms),
                forge_signature: a.forge_signature,
                stale_timestamp: a.stale_timestamp,
                duplicate_webhooks: a.duplicate_webhooks,
                webhook_attempts: a.webhook_attempts,
                webhook_retry_base: Duration::from_millis(a.webhook_retry_ms),
                ..FalConfig::default()
            };
            let sim = FalSimulator::start(a.addr, config).await?;
            println!(
                "sora-sim serving fal's queue API at {} (JWKS {})",
                sim.queue_url(),
                sim.jwks_url()
            );
            tokio::signal::ctrl_c().await?;
            sim.shutdown().await;
        }
    }
    Ok(())
}
