//! Benchmark: stream a large video from the simulator through the real OpenAI client
//! (and optionally into the local object store, as download-to-s3 does), checking
//! every byte, and report throughput and peak memory. `benches/download.sh` runs it with
//! the S3 sink against an outside simulator.
//!
//! Usage: stream_download [BYTES] [--store DIR | --s3 ENDPOINT ACCESS_KEY SECRET_KEY]
//!                        [--video BASE_URL VIDEO_ID]
//!
//! `--video` downloads an existing, completed video of BYTES bytes from a simulator
//! running outside this process (`sora-sim`), so baselines can fetch the same bytes from
//! the same endpoint and this process's peak RSS is the download path's alone; without
//! it an in-process simulator serves a video made for the run.
//!
//! `--s3` streams into an S3 server (s3s-fs) with the S3 adapter's multipart upload,
//! then, once the clock has stopped, streams the object back to check its SHA-256, so
//! time and memory are measured for the download-to-s3 path itself: at most part size
//! × (concurrency + 1) in flight, and no hashing that download-to-s3 does not do.

use futures::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vidgen_shared::config::Secret;
use vidgen_shared::provider::openai::{OpenAiConfig, OpenAiProvider};
use vidgen_shared::provider::{CreateVideo, ProviderStatus, Variant, VideoProvider};
use vidgen_shared::store::local_files::LocalObjectStore;
use vidgen_shared::store::s3::{create_bucket, S3ObjectStore};
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

enum Sink {
    Discard,
    Local(String),
    S3 {
        endpoint: String,
        key: String,
        secret: String,
    },
}

impl Sink {
    fn name(&self) -> &'static str {
        match self {
            Sink::Discard => "discard",
            Sink::Local(_) => "local object store",
            Sink::S3 { .. } => "S3 multipart (s3s-fs)",
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let bytes: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1 << 30);
    let after = |flag: &str, n: usize| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1 + n))
            .cloned()
    };
    let sink = match (after("--store", 0), after("--s3", 0)) {
        (Some(dir), _) => Sink::Local(dir),
        (None, Some(endpoint)) => Sink::S3 {
            endpoint,
            key: after("--s3", 1).ok_or("--s3 needs ENDPOINT ACCESS_KEY SECRET_KEY")?,
            secret: after("--s3", 2).ok_or("--s3 needs ENDPOINT ACCESS_KEY SECRET_KEY")?,
        },
        (None, None) => Sink::Discard,
    };
    // Either an outside simulator's finished video, or one made here for the run.
    let (provider, video_id, sim) = match (after("--video", 0), after("--video", 1)) {
        (Some(base_url), Some(id)) => {
            let provider = OpenAiProvider::new(OpenAiConfig::new(base_url, Secret::new("bench")))?;
            (provider, id, None)
        }
        (Some(_), None) => return Err("--video needs BASE_URL VIDEO_ID".into()),
        _ => {
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
            let provider =
                OpenAiProvider::new(OpenAiConfig::new(sim.base_url(), Secret::new("bench")))?;
            let video = provider
                .create(&CreateVideo {
                    prompt: "benchmark".into(),
                    model: "sora-2".into(),
                    seconds: 4,
                    size: "720x1280".into(),
                    negative_prompt: None,
                    input_reference: None,
                    webhook_url: None,
                })
                .await?;
            while provider.retrieve(&video.id).await?.status != ProviderStatus::Completed {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (provider, video.id, Some(sim))
        }
    };
    let rss_before = peak_rss_kib();
    let started = Instant::now();
    let content = provider.download(&video_id, Variant::Video).await?;
    let hasher = Arc::new(Mutex::new(Sha256::new()));
    let tap = hasher.clone();
    // Into S3 the bytes are checked after the clock stops, read back from the object, so
    // the timed path does only what download-to-s3 does; elsewhere they are hashed on
    // the way through.
    let hash_in_flight = !matches!(sink, Sink::S3 { .. });
    let body = content.body.inspect_ok(move |chunk| {
        if hash_in_flight {
            tap.lock().expect("single user").update(chunk)
        }
    });
    let key = "videos/bench/video.mp4";
    let mut stored_in = None;
    let received = match &sink {
        Sink::Local(dir) => {
            let store =
                LocalObjectStore::new(dir.into(), "http://127.0.0.1:9".into(), b"bench".to_vec());
            let stream = body.map_err(|e| StoreError::Source(e.to_string())).boxed();
            store.put_stream(key, "video/mp4", stream).await?
        }
        Sink::S3 {
            endpoint,
            key: access,
            secret,
        } => {
            let sdk = vidgen_shared::aws::static_sdk_config(endpoint, access, secret);
            let client = vidgen_shared::aws::s3_client(&sdk, true);
            let bucket = format!("bench-{}", std::process::id());
            create_bucket(&client, &bucket).await?;
            let store = S3ObjectStore::new(client.clone(), &bucket);
            let stream = body.map_err(|e| StoreError::Source(e.to_string())).boxed();
            let written = store.put_stream(key, "video/mp4", stream).await?;
            stored_in = Some((client, bucket));
            written
        }
        Sink::Discard => {
            body.try_fold(0u64, |n, chunk| async move { Ok(n + chunk.len() as u64) })
                .await?
        }
    };
    let elapsed = started.elapsed();
    if let Some((client, bucket)) = stored_in {
        // Streamed back in chunks, so reading it adds nothing to the peak RSS above.
        let mut object = client.get_object().bucket(bucket).key(key).send().await?;
        let mut stored = 0u64;
        while let Some(chunk) = object.body.try_next().await? {
            stored += chunk.len() as u64;
            hasher.lock().expect("single user").update(&chunk);
        }
        if stored != received {
            return Err(format!("S3 holds {stored} bytes, {received} were sent").into());
        }
    }
    let digest: [u8; 32] = hasher
        .lock()
        .expect("single user")
        .clone()
        .finalize()
        .into();
    let ok = received == bytes && digest == sora_sim::expected_digest(&video_id, bytes);
    println!(
        "bytes={received} verified={ok} sha256={} seconds={:.2} MiB/s={:.0} peak_rss_MiB={:.1} rss_before_download_MiB={:.1} sink={}",
        hex::encode(digest),
        elapsed.as_secs_f64(),
        received as f64 / (1 << 20) as f64 / elapsed.as_secs_f64(),
        peak_rss_kib() as f64 / 1024.0,
        rss_before as f64 / 1024.0,
        sink.name(),
    );
    if let Some(sim) = sim {
        sim.shutdown().await;
    }
    if !ok {
        return Err("the downloaded bytes do not match what the simulator served".into());
    }
    Ok(())
}
