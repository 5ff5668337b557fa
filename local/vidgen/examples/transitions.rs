//! State transitions per job and the time from the provider finishing to the job being
//! `completed`, for the same fal job polled (the baseline) and ended by fal's signed
//! webhook (callback mode), measured in the same run on the local stack with `vidgen
//! serve`'s own pace (real time, 1-5 s between checks). Run by `benches/transitions.sh`.
//!
//! Both modes talk to a fal simulator over HTTP. Callback mode is the stack's own
//! simulator, which it points at its webhook route; the baseline is a simulator given
//! as a live fal queue (`FAL_KEY`), which with no `VIDGEN_PUBLIC_URL` cannot be reached
//! back, so its jobs poll, as a deployment without a public URL does.
//!
//! Provider requests per job count every request the job made to the fal simulator
//! (submit, status polls, result fetches, output downloads), from the simulator's own
//! per-request counters.
//!
//! Exits 1 when callback mode takes more than 6 transitions per job (the target).

use anyhow::{bail, Context};
use serde_json::{json, Value};
use sora_sim::fal::{FalConfig, FalSimulator};
use std::path::Path;
use std::time::{Duration, SystemTime};
use vidgen::stack::{FalChoice, RunningStack, StackConfig};
use vidgen_shared::config::Secret;

/// The callback-mode target from the issue.
const MAX_CALLBACK_TRANSITIONS: f64 = 6.0;

/// One mode's figures, per job.
struct Figures {
    transitions: f64,
    status_polls: f64,
    /// Every request the job made to the provider: the submit, status polls, result
    /// fetches and output downloads.
    provider_requests: f64,
    /// Provider done → job completed, seconds.
    latency_mean: f64,
    latency_max: f64,
}

fn sim_config(render: Duration) -> FalConfig {
    FalConfig {
        queue_time: Duration::from_millis(300),
        render_time: render,
        ..FalConfig::default()
    }
}

async fn measure(
    name: &str,
    jobs: usize,
    render: Duration,
    polled: bool,
    dir: &Path,
) -> anyhow::Result<Figures> {
    let mut config = StackConfig::local("127.0.0.1:0".parse()?, dir.join(name));
    // The baseline's "live" queue: a simulator the stack does not own.
    let outside = if polled {
        let sim = FalSimulator::start(
            "127.0.0.1:0".parse()?,
            FalConfig {
                api_key: Some("bench-key".into()),
                ..sim_config(render)
            },
        )
        .await?;
        config.fal = FalChoice::Live {
            queue_url: sim.queue_url(),
            api_key: Secret::new("bench-key"),
            jwks_url: sim.jwks_url(),
        };
        Some(sim)
    } else {
        config.fal = FalChoice::Simulator(sim_config(render));
        None
    };
    let stack = RunningStack::start(config).await?;
    let sim = outside
        .as_ref()
        .or(stack.fal_simulator.as_ref())
        .context("a fal simulator")?;
    let http = reqwest::Client::new();
    let mut ids = Vec::new();
    for i in 0..jobs {
        let created: Value = http
            .post(format!("{}/v1/videos", stack.base_url))
            .json(&json!({"prompt": format!("bench {i}: a fox in snow"), "model": "fal/fal-ai/veo3.1", "seconds": 4}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        ids.push(created["id"].as_str().context("a job id")?.to_string());
    }
    let (mut transitions, mut polls, mut requests, mut latencies) = (0u64, 0u64, 0u64, Vec::new());
    for id in &ids {
        let job = wait_completed(&http, &stack.base_url, id).await?;
        let report = loop {
            if let Some(r) = stack.engine.report(id) {
                break r;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        transitions += report.transitions;
        let video = job["provider_video_id"].as_str().context("a render")?;
        let request = video.rsplit('/').next().unwrap_or(video);
        let info = sim
            .request(request)
            .context("the simulator knows the request")?;
        polls += info.status_requests;
        // One submit per job: the simulator knows the request, so it was submitted once.
        requests += 1 + info.status_requests + info.result_fetches + info.downloads;
        let ended: SystemTime = info.ended_at.context("the request ended")?;
        let completed = chrono::DateTime::parse_from_rfc3339(
            job["completed_at"].as_str().context("completed_at")?,
        )?;
        let completed = SystemTime::UNIX_EPOCH
            + Duration::from_nanos(completed.timestamp_nanos_opt().unwrap_or(0).max(0) as u64);
        latencies.push(
            completed
                .duration_since(ended)
                .unwrap_or(Duration::ZERO)
                .as_secs_f64(),
        );
    }
    stack.shutdown().await;
    if let Some(sim) = outside {
        sim.shutdown().await;
    }
    let n = jobs as f64;
    Ok(Figures {
        transitions: transitions as f64 / n,
        status_polls: polls as f64 / n,
        provider_requests: requests as f64 / n,
        latency_mean: latencies.iter().sum::<f64>() / n,
        latency_max: latencies.iter().cloned().fold(0.0, f64::max),
    })
}

async fn wait_completed(http: &reqwest::Client, base: &str, id: &str) -> anyhow::Result<Value> {
    for _ in 0..12_000 {
        let job: Value = http
            .get(format!("{base}/v1/videos/{id}"))
            .send()
            .await?
            .json()
            .await?;
        match job["status"].as_str() {
            Some("completed") => return Ok(job),
            Some("failed" | "canceled" | "timed_out") => bail!("job {id} ended: {job}"),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    bail!("job {id} did not complete in 10 minutes")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let jobs: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()
        .context("the argument is a number of jobs")?
        .unwrap_or(3)
        .max(1);
    let render_secs: u64 = std::env::args()
        .nth(2)
        .map(|n| n.parse())
        .transpose()
        .context("the second argument is the render time in seconds")?
        .unwrap_or(3);
    let render = Duration::from_secs(render_secs);
    let dir = tempfile::tempdir()?;
    let polling = measure("polling", jobs, render, true, dir.path()).await?;
    let callback = measure("callback", jobs, render, false, dir.path()).await?;
    println!(
        "{jobs} fal/fal-ai/veo3.1 jobs per mode; fal queues 0.3 s and renders {render_secs} s; checks every 1-5 s"
    );
    println!(
        "{:<22} {:>16} {:>17} {:>22} {:>30}",
        "mode",
        "transitions/job",
        "status polls/job",
        "provider requests/job",
        "provider done → completed (s)"
    );
    for (name, f) in [("polling (baseline)", &polling), ("callback", &callback)] {
        println!(
            "{:<22} {:>16.1} {:>17.1} {:>22.1} {:>19.2} mean {:>5.2} max",
            name, f.transitions, f.status_polls, f.provider_requests, f.latency_mean, f.latency_max
        );
    }
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    println!(
        "{:<22} {:>15.2}× {:>16.2}× {:>21.2}× {:>18.2}× mean",
        "callback / polling",
        ratio(callback.transitions, polling.transitions),
        ratio(callback.status_polls, polling.status_polls),
        ratio(callback.provider_requests, polling.provider_requests),
        ratio(callback.latency_mean, polling.latency_mean),
    );
    if callback.transitions > MAX_CALLBACK_TRANSITIONS {
        bail!(
            "callback mode took {:.1} transitions per job; the target is at most {MAX_CALLBACK_TRANSITIONS}",
            callback.transitions
        );
    }
    Ok(())
}
