//! Schema fuzzing of the public API: Schemathesis (pinned in
//! `scripts/requirements-test.txt`) generates requests for every route from the API's own
//! `openapi.json` and runs every check on the answers — no 5xx, bodies, status codes and
//! content types as documented, schema-valid requests accepted and invalid ones refused —
//! as two owners, checking that neither ever gets the other's data
//! (`tests/schema/run.py`, `tests/schema/hooks.py`, `tests/schema/schemathesis.toml`).
//!
//! This is the short run; `benches/schemathesis.sh` is the long one. Without
//! Schemathesis the test says it is skipped — or fails naming what is missing when
//! `VIDGEN_REQUIRE_SCHEMA_TESTS=1` (scripts/test.sh, CI).

use std::path::Path;
use std::process::Command;
use std::time::Duration;
use vidgen_tests::{fast_config, run_outside, Harness, Store, ALICE, BOB};

/// Requests per operation and phase asked of Schemathesis, and the fewest test cases the
/// run must have made (so a run that quietly generates nothing fails).
const MAX_EXAMPLES: &str = "8";
const MIN_REQUESTS: &str = "300";

fn schemathesis_missing() -> bool {
    let found = Command::new("schemathesis")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        let required = std::env::var("VIDGEN_REQUIRE_SCHEMA_TESTS").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "VIDGEN_REQUIRE_SCHEMA_TESTS=1 but `schemathesis` is not on PATH: run \
             scripts/setup-test-tools.sh"
        );
        eprintln!(
            "skipping: `schemathesis` is not on PATH (scripts/setup-test-tools.sh installs it)"
        );
    }
    !found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_holds_to_its_schema_under_generated_requests_from_two_owners() {
    if schemathesis_missing() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = fast_config(dir.path(), Store::Embedded);
    // Schemathesis creates many jobs: the per-owner limits would answer most with 429.
    config.api.limits.max_active_jobs = 10_000;
    config.api.limits.daily_budget_cents = 100_000_000;
    let h = Harness::with_config(dir, config).await;
    let runner = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/run.py");
    let args = vec![
        runner.display().to_string(),
        h.stack.base_url.clone(),
        format!("alice:{ALICE}"),
        format!("bob:{BOB}"),
        "--max-examples".into(),
        MAX_EXAMPLES.into(),
        "--min-requests".into(),
        MIN_REQUESTS.into(),
    ];
    let mut python = Command::new("python3");
    python.args(&args);
    let run = run_outside(python, "the Schemathesis run", Duration::from_secs(600)).await;
    assert!(
        run.status.success(),
        "Schemathesis found failures:\n{}\n{}",
        run.stdout,
        run.stderr
    );
    assert!(
        run.stdout.contains("test cases generated"),
        "the runner reached its summary:\n{}",
        run.stdout
    );
}
