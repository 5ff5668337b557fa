//! Ending a job early (cancel stops the workflow) and removing it (delete takes the files too).

use crate::common::*;

on_both_stores!(
    a_delete_during_the_download_leaves_no_file_behind,
    cancel_and_delete_remove_the_render_at_the_provider,
);
on_both_stores_and_providers!(
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

/// Poll the job until `done` holds for it.
async fn wait_for(h: &Harness, id: &str, what: &str, done: impl Fn(&Value) -> bool) {
    for _ in 0..400 {
        let (_, _, job) = h
            .call(Method::GET, &format!("/v1/videos/{id}"), Some(ALICE), None)
            .await;
        if done(&job) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("job {id} never got {what}");
}

/// Wait until the provider's video id is on the record (submit has run).
async fn wait_for_render(h: &Harness, id: &str) {
    let job_id = vidgen_shared::domain::ids::JobId::parse(id).unwrap();
    for _ in 0..400 {
        if let Some(job) = h.stack.jobs.get(&job_id).await.unwrap() {
            if job.provider_video_id.is_some() {
                return;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("job {id} was never submitted");
}

async fn a_delete_during_the_download_leaves_no_file_behind(store: Store) {
    let h = Harness::start(store).await;
    // About two seconds of download: the DELETE lands in the middle of it.
    let job = create(
        &h,
        ALICE,
        &json!({"prompt": "slow to fetch [sim:video_bytes=600000] [sim:slow_download=300000]"}),
    )
    .await;
    let id = job["id"].as_str().unwrap();
    wait_for(&h, id, "downloading", |j| j["status"] == "downloading").await;
    let (status, _, _) = h
        .call(
            Method::DELETE,
            &format!("/v1/videos/{id}"),
            Some(ALICE),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // The download step is not stopped (a Lambda cannot be): let it finish its writes.
    h.wait_until_idle().await;
    assert!(
        h.sim_stats().downloads >= 1,
        "the download was under way when the job was deleted"
    );
    assert_eq!(
        h.object_keys("videos/").await,
        Vec::<String>::new(),
        "nothing of the deleted job is left in the store"
    );
    assert_eq!(
        h.call(Method::GET, &format!("/v1/videos/{id}"), Some(ALICE), None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert!(
        h.sim_video_ids().await.is_empty(),
        "the render is deleted at the provider"
    );
}

async fn cancel_and_delete_remove_the_render_at_the_provider(store: Store) {
    let h = Harness::start(store).await;
    for (method, path) in [(Method::POST, "/cancel"), (Method::DELETE, "")] {
        let job = create(&h, ALICE, &json!({"prompt": "forever [sim:never_finish]"})).await;
        let id = job["id"].as_str().unwrap();
        wait_for_render(&h, id).await;
        let before = h.sim_stats().deletes;
        let (status, _, _) = h
            .call(
                method.clone(),
                &format!("/v1/videos/{id}{path}"),
                Some(ALICE),
                None,
            )
            .await;
        assert!(status.is_success(), "{method}: {status}");
        h.wait_until_idle().await;
        // The simulator, like OpenAI, refuses to delete a render still in progress; what
        // counts is that the provider was asked, over HTTP (best effort).
        assert_eq!(
            h.sim_stats().deletes,
            before + 1,
            "{method}: the provider was asked to delete the render"
        );
    }
}
