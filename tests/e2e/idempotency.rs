//! An `Idempotency-Key` retry returns the first job and starts nothing.

use crate::common::*;

on_both_stores!(an_idempotent_retry_returns_the_first_job_and_starts_nothing);

async fn an_idempotent_retry_returns_the_first_job_and_starts_nothing(store: Store) {
    let h = Harness::start(store).await;
    let body = create_body("Once.");
    let key = [("idempotency-key", "retry-42")];
    let send = |b: &Value| {
        h.raw(
            Method::POST,
            "/v1/videos",
            Some(ALICE),
            Some(("application/json", b.to_string())),
            &key,
        )
    };
    let (s1, _, first) = send(&body).await;
    let (s2, _, second) = send(&body).await;
    assert_eq!((s1, s2), (StatusCode::ACCEPTED, StatusCode::OK));
    assert_eq!(first["id"], second["id"]);
    let (s3, _, conflict) = send(&create_body("Something else.")).await;
    assert_eq!(s3, StatusCode::CONFLICT, "{conflict}");
    h.wait_for_end(first["id"].as_str().unwrap(), ALICE).await;
    assert_eq!(h.sim_stats().creates, 1, "one provider job");
    let (_, _, page) = h.call(Method::GET, "/v1/videos", Some(ALICE), None).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
}
