//! Benchmark: stream a large video from the simulator through the real OpenAI client
//! (and optionally into the local object store, as download-to-s3 does), checking
//! every byte, and report throughput and peak memory. Run by benches/download_memory.sh.
//!
//! Usage: stream_download [BYTES] [--store DIR]

use futures::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vidgen_shared::config::Secret;
use vidgen_shared::provider::openai::{OpenAiConfig, OpenAiProvider};
use vidgen_shared::provider::{CreateVideo, ProviderStatus, Variant, VideoProvider};
use vidgen_shared::store::local_files::LocalObjectStore;
use vidgen_shared::store::{ObjectStore, StoreError};

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let bytes: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1 << 30);
    let store_dir = args
        .iter()
        .position(|a| a == "--store")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let sim = sora_sim::Simulator::start(
        "127.0.0.1:0".parse()?,
        sora_sim::SimConfig {
            render_time: Duration::from_millis(50),
            video_bytes: Some(bytes),
            download_chunk: 256 * 1024,
            ..Default::default()
        },
    )
    .await?;
    let provider = OpenAiProvider::new(OpenAiConfig::new(sim.base_url(), Secret::new("bench")))?;
    let video = provider
        .create(&CreateVideo {
            prompt: "benchmark".into(),
            model: "sora-2".into(),
            seconds: 4,
            size: "720x1280".into(),
            input_reference: None,
        })
        .await?;
    while provider.retrieve(&video.id).await?.status != ProviderStatus::Completed {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rss_before = peak_rss_kib();
    let started = Instant::now();
    let content = provider.download(&video.id, Variant::Video).await?;
    let hasher = Arc::new(Mutex::new(Sha256::new()));
    let tap = hasher.clone();
    let body = content
        .body
        .inspect_ok(move |chunk| tap.lock().expect("single user").update(chunk));
    let received = match &store_dir {
        Some(dir) => {
            let store =
                LocalObjectStore::new(dir.into(), "http://127.0.0.1:9".into(), b"bench".to_vec());
            let stream = body.map_err(|e| StoreError::Source(e.to_string())).boxed();
            store
                .put_stream("videos/bench/video.mp4", "video/mp4", stream)
                .await?
        }
        None => {
            body.try_fold(0u64, |n, chunk| async move { Ok(n + chunk.len() as u64) })
                .await?
        }
    };
    let elapsed = started.elapsed();
    let digest: [u8; 32] = hasher
        .lock()
        .expect("single user")
        .clone()
        .finalize()
        .into();
    let ok = received == bytes && digest == sora_sim::expected_digest(&video.id, bytes);
    println!(
        "bytes={received} verified={ok} seconds={:.2} MiB/s={:.0} peak_rss_MiB={:.1} rss_before_download_MiB={:.1} sink={}",
        elapsed.as_secs_f64(),
        received as f64 / (1 << 20) as f64 / elapsed.as_secs_f64(),
        peak_rss_kib() as f64 / 1024.0,
        rss_before as f64 / 1024.0,
        if store_dir.is_some() { "local object store" } else { "discard" },
    );
    sim.shutdown().await;
    if !ok {
        return Err("the downloaded bytes do not match what the simulator served".into());
    }
    Ok(())
}
