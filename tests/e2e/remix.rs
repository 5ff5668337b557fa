//! Remixing a completed job into a new one.

use crate::common::*;

on_both_stores_and_providers!(remix_makes_a_new_job_from_a_completed_one);

async fn remix_makes_a_new_job_from_a_completed_one(store: Store) {
    let h = Harness::start(store).await;
    let first = create(&h, ALICE, &create_body("Day.")).await;
    let id = first["id"].as_str().unwrap();
    let remix_path = format!("/v1/videos/{id}/remix");
    let night = json!({"prompt": "make it night"});
    let (status, _, early) = h
        .call(Method::POST, &remix_path, Some(ALICE), Some(&night))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{early}");
    h.wait_for_end(id, ALICE).await;
    let (status, _, remix) = h
        .call(Method::POST, &remix_path, Some(ALICE), Some(&night))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{remix}");
    assert_eq!(remix["remixed_from"], id);
    let done = h.wait_for_end(remix["id"].as_str().unwrap(), ALICE).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(h.renders_asked(), 2, "the source and its remix");
}
