//! How long a job's change takes to reach a watching client: from the change recorded
//! (the job's `updated_at`) to the client holding it, over `GET /v1/events`, against the
//! baseline measured in the same run — a client polling `GET /v1/videos/{id}` every
//! 500 ms (what the CLI did before events, and what a client without a socket does).
//! Run by `benches/events_latency.sh`.
//!
//! Jobs run in waves on the local stack (embedded store, the Sora simulator). The event
//! client and the pollers run in this process beside the server, over real sockets.
//! Exits 1 when the events p99 is 100 ms or more (the target).

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sora_sim::SimConfig;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vidgen::client::Client;
use vidgen::stack::{ProviderChoice, RunningStack, StackConfig};
use vidgen_shared::domain::Limits;

const TARGET_P99_MS: f64 = 100.0;
const POLL_EVERY: Duration = Duration::from_millis(500);

fn millis_since(recorded: &Value, now: DateTime<Utc>) -> Option<f64> {
    let at: DateTime<Utc> = recorded.as_str()?.parse().ok()?;
    Some((now - at).num_microseconds()? as f64 / 1000.0)
}

fn ended(job: &Value) -> bool {
    matches!(
        job["status"].as_str(),
        Some("completed" | "failed" | "canceled" | "timed_out")
    )
}

/// Poll one job until it ends; the latency of every change it saw.
async fn poll(client: Client, id: String) -> anyhow::Result<Vec<f64>> {
    let mut seen = Vec::new();
    let mut last = Value::Null;
    loop {
        let job = client.get(&id).await?;
        let now = Utc::now();
        let state = json!([job["status"], job["progress"]]);
        if state != last {
            seen.extend(millis_since(&job["updated_at"], now));
            last = state;
        }
        if ended(&job) {
            return Ok(seen);
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let jobs: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(100);
    let wave: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(10);
    let dir = tempfile::tempdir()?;
    let mut config = StackConfig::local("127.0.0.1:0".parse()?, dir.path().to_path_buf());
    config.provider = ProviderChoice::Simulator(SimConfig {
        render_time: Duration::from_secs(2),
        ..SimConfig::default()
    });
    config.api.limits = Limits {
        max_active_jobs: 1_000,
        daily_budget_cents: 100_000_000,
    };
    let stack = RunningStack::start(config).await?;
    let client = Client::new(&stack.base_url, None)?;

    // One watcher for every job, as the console or `status --watch` would be.
    let mut events = client.events().await?;
    let latencies: Arc<Mutex<Vec<f64>>> = Arc::default();
    let ends: Arc<Mutex<HashMap<String, bool>>> = Arc::default();
    let watcher = {
        let (latencies, ends) = (latencies.clone(), ends.clone());
        tokio::spawn(async move {
            while let Ok(Some(job)) = events.next_job().await {
                let now = Utc::now();
                if let Some(ms) = millis_since(&job["updated_at"], now) {
                    latencies.lock().unwrap_or_else(|p| p.into_inner()).push(ms);
                }
                if ended(&job) {
                    if let Some(id) = job["id"].as_str() {
                        ends.lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(id.into(), true);
                    }
                }
            }
        })
    };

    let mut polled = Vec::new();
    let mut outcomes: HashMap<String, usize> = HashMap::new();
    let started = std::time::Instant::now();
    for start in (0..jobs).step_by(wave.max(1)) {
        let mut pollers = Vec::new();
        for i in start..(start + wave).min(jobs) {
            let job = client
                .create(
                    &json!({"script": format!("bench {i}: a lighthouse at dawn"), "seconds": 4}),
                )
                .await?;
            let id = job["id"].as_str().context("a job id")?.to_string();
            pollers.push(tokio::spawn(poll(client.clone(), id)));
        }
        for poller in pollers {
            polled.extend(poller.await??);
        }
    }
    // The last frames may still be on their way.
    for _ in 0..100 {
        if ends.lock().unwrap_or_else(|p| p.into_inner()).len() >= jobs {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let page = client.list(None).await?;
    for job in page["data"].as_array().into_iter().flatten() {
        *outcomes
            .entry(job["status"].as_str().unwrap_or("?").to_string())
            .or_default() += 1;
    }
    watcher.abort();
    let elapsed = started.elapsed();
    let ended_by_events = ends.lock().unwrap_or_else(|p| p.into_inner()).len();
    let mut live = latencies.lock().unwrap_or_else(|p| p.into_inner()).clone();
    live.sort_by(f64::total_cmp);
    polled.sort_by(f64::total_cmp);
    stack.shutdown().await;

    let (e50, e99) = (percentile(&live, 50.0), percentile(&live, 99.0));
    let (p50, p99) = (percentile(&polled, 50.0), percentile(&polled, 99.0));
    println!(
        "{jobs} jobs in waves of {wave}, {:.1} s; {ended_by_events} ended seen over events",
        elapsed.as_secs_f64()
    );
    println!("| client | changes seen | p50 ms | p99 ms | max ms |");
    println!("| --- | --- | --- | --- | --- |");
    println!(
        "| events (`/v1/events`) | {} | {e50:.1} | {e99:.1} | {:.1} |",
        live.len(),
        live.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "| baseline: polling every 500 ms | {} | {p50:.1} | {p99:.1} | {:.1} |",
        polled.len(),
        polled.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "ratio events/polling: p50 {:.3}x, p99 {:.3}x",
        e50 / p50,
        e99 / p99
    );
    if ended_by_events < jobs {
        bail!("only {ended_by_events} of {jobs} job ends arrived over events");
    }
    if e99 >= TARGET_P99_MS {
        bail!("events p99 {e99:.1} ms is not under the {TARGET_P99_MS} ms target");
    }
    Ok(())
}
