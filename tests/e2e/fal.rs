//! fal end to end: a `fal/*` model through the real fal adapter against the fal
//! simulator over HTTP, on both stores. Here the job is polled (the callback mode, where
//! fal's webhook ends the wait, has its own scenarios).

use crate::common::*;

on_both_stores!(a_fal_job_completes_by_polling_with_the_providers_bytes);

async fn a_fal_job_completes_by_polling_with_the_providers_bytes(store: Store) {
    let h = Harness::start(store).await;
    let job = create(
        &h,
        ALICE,
        &json!({"script": "A fox runs through snow.", "model": "fal/fal-ai/veo3.1", "seconds": 4}),
    )
    .await;
    assert_eq!(
        (job["provider"].as_str(), job["size"].as_str()),
        (Some("fal"), Some("1280x720"))
    );
    assert_eq!(job["estimated_cost_usd"], 1.6, "4 s at $0.40/s");
    let done = h.wait_for_end(job["id"].as_str().unwrap(), ALICE).await;
    assert_eq!(done["status"], "completed", "{done}");
    let video_id = done["provider_video_id"].as_str().unwrap();
    assert!(
        video_id.starts_with("fal-ai/veo3.1/requests/"),
        "{video_id}"
    );
    let request_id = video_id.rsplit('/').next().unwrap();
    let sim = h.fal_sim();
    let expected = sora_sim::fal::expected_output(sim.config(), request_id).unwrap();
    let (status, bytes) = h
        .fetch(done["assets"]["video"]["url"].as_str().unwrap())
        .await;
    assert_eq!((status, bytes.len()), (StatusCode::OK, expected.len()));
    assert!(bytes == expected, "the stored video is fal's output");
    let info = sim.request(request_id).unwrap();
    assert_eq!(info.input["duration"], "4s");
    assert!(info.status_requests >= 1, "the job was polled");
    assert_eq!(info.downloads, 1);
}
