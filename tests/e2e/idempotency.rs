//! An `Idempotency-Key` retry returns the first job and starts nothing.

use crate::common::*;

on_both_stores_and_providers!(
    an_idempotent_retry_returns_the_first_job_and_starts_nothing,
    a_replay_after_delete_answers_409_and_starts_nothing,
);

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
    assert_eq!(h.renders_asked(), 1, "one provider job");
    let (_, _, page) = h.call(Method::GET, "/v1/videos", Some(ALICE), None).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
}

/// The key outlives its job: after DELETE, a replay is a 409, not a second paid job.
async fn a_replay_after_delete_answers_409_and_starts_nothing(store: Store) {
    let h = Harness::start(store).await;
    let body = create_body("Only once, even after a delete.");
    let send = || {
        h.raw(
            Method::POST,
            "/v1/videos",
            Some(ALICE),
            Some(("application/json", body.to_string())),
            &[("idempotency-key", "after-delete")],
        )
    };
    let (s1, _, first) = send().await;
    assert_eq!(s1, StatusCode::ACCEPTED, "{first}");
    let id = first["id"].as_str().unwrap();
    h.wait_for_end(id, ALICE).await;
    let (deleted, _, _) = h
        .call(
            Method::DELETE,
            &format!("/v1/videos/{id}"),
            Some(ALICE),
            None,
        )
        .await;
    assert_eq!(deleted, StatusCode::NO_CONTENT);
    let (s2, _, replay) = send().await;
    assert_eq!(s2, StatusCode::CONFLICT, "{replay}");
    assert_eq!(replay["error"]["code"], "conflict");
    assert_eq!(h.renders_asked(), 1, "no second provider job");
    let (_, _, page) = h.call(Method::GET, "/v1/videos", Some(ALICE), None).await;
    assert!(page["data"].as_array().unwrap().is_empty(), "{page}");
}
