//! How a job fails or survives the provider: moderation at create and at the end, retried
//! faults, and a render that never ends.

use crate::common::*;

on_both_stores!(moderation_at_create_fails_the_job_with_the_providers_reason,);
on_both_stores_and_providers!(
    moderation_at_the_end_fails_the_job,
    provider_faults_are_retried_to_success,
    a_render_that_never_finishes_times_out,
);

async fn moderation_at_create_fails_the_job_with_the_providers_reason(store: Store) {
    let h = Harness::start(store).await;
    let done = run_to_end(&h, "bad [sim:moderation_create]").await;
    assert_eq!(done["status"], "failed");
    assert_eq!(done["error"]["code"], "moderation_blocked");
    assert!(done["error"]["message"]
        .as_str()
        .unwrap()
        .contains("moderation"));
    assert_eq!(h.sim_stats().creates, 1, "a refusal is not retried");
}

async fn moderation_at_the_end_fails_the_job(store: Store) {
    let h = Harness::start(store).await;
    let done = run_to_end(&h, "bad later [sim:moderation_end]").await;
    assert_eq!(
        (done["status"].as_str(), done["error"]["code"].as_str()),
        (Some("failed"), Some("moderation_blocked"))
    );
    assert!(done["assets"].is_null());
}

async fn provider_faults_are_retried_to_success(store: Store) {
    let h = Harness::start(store).await;
    let done = run_to_end(&h, "flaky [sim:server_error=2] [sim:rate_limit=1]").await;
    assert_eq!(done["status"], "completed", "{done}");
    assert!(h.faults_served() >= 3);
    assert_eq!(h.renders_asked(), 1, "exactly one video was made");
}

async fn a_render_that_never_finishes_times_out(store: Store) {
    let h = Harness::start(store).await;
    let done = run_to_end(&h, "forever [sim:never_finish]").await;
    assert_eq!(done["status"], "timed_out", "{done}");
    assert_eq!(done["error"]["code"], "timed_out");
}
