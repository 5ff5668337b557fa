//! The local engine fails where AWS would (shared/reference/aws-semantics.md §1–2): a
//! step past its function's `Timeout` ends with Lambda's error and takes the ASL path
//! that error takes; a stop ends the execution but not the invocation it waits for;
//! an execution stopped by hand reaches the ABORTED backstop.

use crate::common::*;
use std::time::{Duration, Instant};
use vidgen::deployment::Deployment;
use vidgen_shared::engine::WorkflowEngine;
use vidgen_shared::workflow::contract::STEP_RESERVE;
use vidgen_shared::workflow::StepFunction;

on_both_stores!(
    a_step_past_its_function_timeout_fails_the_job_through_the_catch,
    a_stop_lets_the_running_step_finish_and_the_job_stays_canceled,
    a_stop_by_hand_runs_the_aborted_backstop,
);

/// A video that takes about 5 s to download (500 kB at 100 kB/s): long enough for a
/// stop to land mid-download on a busy machine.
const SLOW_DOWNLOAD: &str = "Slow. [sim:video_bytes=500000] [sim:slow_download=100000]";

/// About 20 s to download: past a download Timeout that still leaves the step's provider
/// calls their reserve (`STEP_RESERVE`), so the call is made and outlives the Timeout.
const SLOWER_DOWNLOAD: &str = "Slower. [sim:video_bytes=2000000] [sim:slow_download=100000]";

async fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn a_step_past_its_function_timeout_fails_the_job_through_the_catch(store: Store) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = fast_config(dir.path(), store);
    // download-to-s3's Timeout (not scaled by the time scale: step work is real I/O),
    // above the reserve a step keeps before its deadline, so the download is started.
    let timeout = STEP_RESERVE + Duration::from_secs(3);
    config.deployment = Deployment::embedded()
        .unwrap()
        .with_timeout(StepFunction::Download, timeout);
    let h = Harness::with_config(dir, config).await;
    let job = create(&h, ALICE, &json!({ "prompt": SLOWER_DOWNLOAD })).await;
    let id = job["id"].as_str().unwrap();
    let done = h.wait_for_end(id, ALICE).await;
    // Sandbox.Timedout matches no Retry (not States.Timeout, not Retryable): the Catch
    // takes it to RecordFailure, which records it as the unexpected failure it is (a
    // States.Timeout would read "did not finish in time").
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["error"]["code"], "internal", "{done}");
    assert_eq!(
        done["error"]["message"], "the workflow failed unexpectedly; try again",
        "{done}"
    );
    assert!(done["assets"].is_null(), "{done}");
    wait_until("the execution ends", Duration::from_secs(10), || {
        h.stack.engine.report(id).is_some()
    })
    .await;
    let report = h.stack.engine.report(id).unwrap();
    assert!(
        matches!(&report.outcome, asl::ExecutionOutcome::Failed { error, .. } if error == "JobFailed"),
        "through RecordFailure to JobFailed: {report:?}"
    );
    // The invocation was ended at its Timeout, not left to stream on.
    assert_eq!(h.stack.engine.invocations_running(), 0);
    assert_eq!(h.sim_stats().creates, 1);
}

async fn a_stop_lets_the_running_step_finish_and_the_job_stays_canceled(store: Store) {
    let h = Harness::start(store).await;
    let job = create(&h, ALICE, &json!({ "prompt": SLOW_DOWNLOAD })).await;
    let id = job["id"].as_str().unwrap();
    // Wait until download-to-s3 is streaming the video.
    wait_until("the download starts", Duration::from_secs(20), || {
        h.sim_stats().downloads >= 1
    })
    .await;
    assert_eq!(h.stack.engine.invocations_running(), 1);
    let (status, _, canceled) = h
        .call(
            Method::POST,
            &format!("/v1/videos/{id}/cancel"),
            Some(ALICE),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{canceled}");
    // The execution ends at once (ABORTED)…
    wait_until("the execution stops", Duration::from_secs(2), || {
        !h.stack.engine.is_running(id)
    })
    .await;
    assert_eq!(
        h.stack.engine.report(id).unwrap().outcome,
        asl::ExecutionOutcome::Aborted
    );
    // …while the Lambda it was waiting for runs on to its end, as a Lambda does.
    assert_eq!(
        h.stack.engine.invocations_running(),
        1,
        "the stop must not end the running download"
    );
    wait_until("the download finishes", Duration::from_secs(20), || {
        h.stack.engine.invocations_running() == 0
    })
    .await;
    // It checked the job after the asset it was writing, found it canceled, removed what
    // it wrote and went no further: its late writes are harmless.
    assert_eq!(
        h.sim_stats().downloads,
        1,
        "no asset after the cancel was seen"
    );
    assert!(
        h.object_keys("videos/").await.is_empty(),
        "nothing left behind"
    );
    let (_, _, after) = h
        .call(Method::GET, &format!("/v1/videos/{id}"), Some(ALICE), None)
        .await;
    assert_eq!(after["status"], "canceled", "{after}");
    assert!(after["assets"].is_null(), "{after}");
}

async fn a_stop_by_hand_runs_the_aborted_backstop(store: Store) {
    let h = Harness::start(store).await;
    let job = create(
        &h,
        ALICE,
        &json!({ "prompt": "forever [sim:never_finish]" }),
    )
    .await;
    let id = job["id"].as_str().unwrap();
    wait_until("the render starts", Duration::from_secs(10), || {
        h.sim_stats().creates == 1
    })
    .await;
    // A stop that is not a cancel (an operator, StopExecution by hand).
    h.stack.engine.stop(id, "stopped by hand").await.unwrap();
    let done = h.wait_for_end(id, ALICE).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["error"]["code"], "workflow_stopped", "{done}");
}
