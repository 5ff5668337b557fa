//! The web console in a real browser: a whole stack on 127.0.0.1 (tokens on, so the
//! page meets a 401 first), then `node tests/browser/console.mjs`, which drives Debian's
//! Chromium through playwright-core: the token entry, field errors, a job from the form
//! to 100% and a playing video of the right duration, cancel and delete. It writes
//! `target/console.png`.
//!
//! Without Chromium or `npm ci`'s playwright-core the test says it is skipped — or
//! fails naming what is missing under `VIDGEN_REQUIRE_BROWSER_TESTS=1` (scripts/test.sh).

use std::path::{Path, PathBuf};
use std::time::Duration;
use vidgen_tests::{fast_config, run_outside, Harness, Store, ALICE};

const CHROMIUM: &str = "/usr/bin/chromium";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// What the browser test needs and is missing, if anything.
fn missing() -> Vec<String> {
    let mut out = Vec::new();
    if !Path::new(CHROMIUM).exists() {
        out.push(format!("{CHROMIUM} (apt-get install chromium)"));
    }
    if !root().join("node_modules/playwright-core").is_dir() {
        out.push("node_modules/playwright-core (npm ci)".into());
    }
    if std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_err()
    {
        out.push("node".into());
    }
    out
}

#[tokio::test]
async fn the_console_works_in_a_real_browser() {
    let missing = missing();
    if !missing.is_empty() {
        let required = std::env::var("VIDGEN_REQUIRE_BROWSER_TESTS").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "VIDGEN_REQUIRE_BROWSER_TESTS=1 but missing: {}",
            missing.join(", ")
        );
        eprintln!("skipped: missing {}", missing.join(", "));
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = fast_config(dir.path(), Store::Embedded);
    // The never-finishing job must still be running when the browser cancels it.
    config.workflow.budget_standard = Duration::from_secs(300);
    let h = Harness::with_config(dir, config).await;
    let base = h.stack.base_url.clone();
    let screenshot = root().join("target/console.png");
    std::fs::create_dir_all(root().join("target")).expect("target/ can be made");

    let script = root().join("tests/browser/console.mjs");
    let mut node = std::process::Command::new("node");
    node.arg(script)
        .arg(&base)
        .arg(&screenshot)
        .arg(ALICE)
        .current_dir(root());
    let run = run_outside(node, "the browser script", Duration::from_secs(600)).await;
    let (stdout, stderr) = (&run.stdout, &run.stderr);
    assert!(
        run.status.success(),
        "the browser checks failed ({}):\n{stdout}\n{stderr}",
        run.status
    );
    assert!(
        stdout.contains("ok: the video's duration"),
        "the script ran to its end:\n{stdout}"
    );
}
