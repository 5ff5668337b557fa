//! `sora-sim`: run the simulator as a standalone server.

use clap::Parser;
use sora_sim::{Faults, SimConfig, Simulator};
use std::net::SocketAddr;
use std::time::Duration;

/// A local simulator of the OpenAI Videos API (Sora 2). Per-job faults are prompt
/// markers such as `[sim:moderation_end]`; see the crate docs.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:4010")]
    addr: SocketAddr,
    /// Render time of each job, in milliseconds.
    #[arg(long, default_value_t = 3000)]
    render_ms: u64,
    /// Require this bearer token.
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
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_target(false)
        .compact()
        .init();
    let a = Args::parse();
    let config = SimConfig {
        render_time: Duration::from_millis(a.render_ms),
        api_key: a.api_key,
        video_bytes: a.video_bytes,
        poll_after_ms: a.poll_after_ms,
        faults: Faults {
            rate_limit_first: a.rate_limit_first,
            retry_after_secs: a.retry_after_secs,
            server_error_first: a.server_error_first,
            slow_download_bytes_per_sec: a.slow_download_bytes_per_sec,
            reset_download_after: a.reset_download_after,
            moderation_at_create: a.moderation_at_create,
            moderation_at_end: a.moderation_at_end,
            never_finish: a.never_finish,
        },
        ..SimConfig::default()
    };
    let sim = Simulator::start(a.addr, config).await?;
    println!("sora-sim serving the Videos API at {}", sim.base_url());
    tokio::signal::ctrl_c().await?;
    sim.shutdown().await;
    Ok(())
}
