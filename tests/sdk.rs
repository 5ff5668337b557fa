//! Official provider SDKs, installed from their registries and pinned
//! (`scripts/requirements-test.txt`), driven against our simulators over real sockets:
//! whatever the SDK expects and the simulator does not do is a simulator bug.
//!
//! Each SDK runs as a Python script under `tests/sdk/`. Without Python or the SDK this
//! says the test is skipped — or fails naming what is missing when
//! `VIDGEN_REQUIRE_SDK_TESTS=1` (scripts/test.sh, CI), so CI never passes by skipping.

use sora_sim::fal::{FalConfig, FalSimulator};
use sora_sim::runway::{RunwayConfig, RunwaySimulator};
use sora_sim::{SimConfig, Simulator};
use std::process::Command;
use std::time::Duration;
use vidgen_tests::run_outside;

/// Whether `python3` can import `module`; a skip (or, when required, a failure) if not.
fn python_with(module: &str) -> bool {
    let found = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        let required = std::env::var("VIDGEN_REQUIRE_SDK_TESTS").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "VIDGEN_REQUIRE_SDK_TESTS=1 but python3 cannot import {module}: run \
             scripts/setup-test-tools.sh"
        );
        eprintln!(
            "skipping: python3 cannot import {module} (scripts/setup-test-tools.sh installs it)"
        );
    }
    found
}

/// Run `tests/sdk/<script>` with `args`; its output is shown, its exit status asserted.
async fn run_script(script: &str, args: &[&str]) {
    let path = format!("{}/sdk/{script}", env!("CARGO_MANIFEST_DIR"));
    let mut python = Command::new("python3");
    python
        .args(["-W", "ignore::DeprecationWarning", &path])
        .args(args);
    let run = run_outside(python, script, Duration::from_secs(120)).await;
    assert!(
        run.status.success(),
        "{script} failed:\n{}\n{}",
        run.stdout,
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_sdk_drives_the_sora_simulator() {
    if !python_with("openai") {
        return;
    }
    let sim = Simulator::start(
        "127.0.0.1:0".parse().expect("literal address"),
        SimConfig {
            render_time: Duration::from_millis(300),
            api_key: Some("sk-sim".into()),
            ..SimConfig::default()
        },
    )
    .await
    .expect("the simulator starts");
    run_script("openai_videos.py", &[&sim.base_url()]).await;
    let stats = sim.stats();
    // The rate-limit marker's 429 really reached the SDK (which retried it).
    assert!(stats.faults_served >= 1, "{stats:?}");
    assert!(
        stats.remixes >= 1 && stats.deletes >= 1 && stats.downloads >= 3,
        "{stats:?}"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runwayml_sdk_drives_the_runway_simulator() {
    if !python_with("runwayml") {
        return;
    }
    let sim = RunwaySimulator::start(
        "127.0.0.1:0".parse().expect("literal address"),
        RunwayConfig {
            pending_time: Duration::from_millis(100),
            render_time: Duration::from_millis(300),
            api_key: Some("key_sim".into()),
            // The SDK's image is a data URI; no HTTP asset is fetched.
            ..RunwayConfig::default()
        },
    )
    .await
    .expect("the simulator starts");
    run_script("runway_tasks.py", &[&sim.base_url()]).await;
    let stats = sim.stats();
    assert!(stats.faults_served >= 1, "{stats:?}");
    assert!(
        stats.image_to_video >= 1 && stats.text_to_video >= 4,
        "{stats:?}"
    );
    assert!(stats.cancels + stats.deletes >= 1, "{stats:?}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fal_client_sdk_drives_the_fal_simulator() {
    if !python_with("fal_client") {
        return;
    }
    let sim = FalSimulator::start(
        "127.0.0.1:0".parse().expect("literal address"),
        FalConfig {
            queue_time: Duration::from_millis(100),
            render_time: Duration::from_millis(300),
            api_key: Some("sim-key".into()),
            ..FalConfig::default()
        },
    )
    .await
    .expect("the simulator starts");
    run_script("fal_queue.py", &[&sim.queue_url()]).await;
    let stats = sim.stats();
    // Three renders, the cancelled one, and the 422 (a submit past auth).
    assert!(stats.submits >= 5 && stats.cancels >= 1, "{stats:?}");
    sim.shutdown().await;
}
