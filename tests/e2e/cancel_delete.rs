//! Ending a job early (cancel stops the workflow) and removing it (delete takes the files too).

use crate::common::*;

on_both_stores!(
    cancel_stops_the_workflow,
    delete_removes_the_record_and_the_files,
);

async fn cancel_stops_the_workflow(store: Store) {
    let h = Harness::start(store).await;
    let job = create(&h, ALICE, &json!({"prompt": "slow [sim:never_finish]"})).await;
    let id = job["id"].as_str().unwrap();
    let (status, _, canceled) = h
        .call(
            Method::POST,
            &format!("/v1/videos/{id}/cancel"),
            Some(ALICE),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{canceled}");
    assert_eq!(canceled["status"], "canceled");
    for _ in 0..100 {
        if !h.stack.engine.is_running(id) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(!h.stack.engine.is_running(id), "the execution stopped");
    let (status, _, err) = h
        .call(
            Method::POST,
            &format!("/v1/videos/{id}/cancel"),
            Some(ALICE),
            None,
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("conflict"))
    );
    let (_, _, still) = h
        .call(Method::GET, &format!("/v1/videos/{id}"), Some(ALICE), None)
        .await;
    assert_eq!(still["status"], "canceled", "it never goes backwards");
}

async fn delete_removes_the_record_and_the_files(store: Store) {
    let h = Harness::start(store).await;
    let job = create(&h, ALICE, &create_body("Gone soon.")).await;
    let id = job["id"].as_str().unwrap();
    let done = h.wait_for_end(id, ALICE).await;
    let url = done["assets"]["video"]["url"].as_str().unwrap().to_string();
    let (status, _, _) = h
        .call(
            Method::DELETE,
            &format!("/v1/videos/{id}"),
            Some(ALICE),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        h.call(Method::GET, &format!("/v1/videos/{id}"), Some(ALICE), None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.fetch(&url).await.0,
        StatusCode::NOT_FOUND,
        "the file is gone too"
    );
}
