//! Making a job and reading it back: the happy path to a byte-exact download, and listing.

use crate::common::*;

on_both_stores!(a_job_runs_to_a_downloadable_video,);
on_both_stores_and_providers!(listing_pages_newest_first_and_filters,);

async fn a_job_runs_to_a_downloadable_video(store: Store) {
    let h = Harness::start(store).await;
    let job = create(&h, ALICE, &create_body("A fox runs through snow.")).await;
    assert_eq!(job["status"], "queued");
    assert_eq!(
        job["prompt"],
        "Style: cinematic.\n\nA fox runs through snow.\n\nInclude: snow.\n\nAvoid: text."
    );
    assert_eq!(job["estimated_cost_usd"], 0.4);
    let keys: Vec<&str> = job
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for k in [
        "id",
        "status",
        "progress",
        "model",
        "seconds",
        "size",
        "prompt",
        "script",
        "style",
        "keywords",
        "negative_keywords",
        "remixed_from",
        "provider_video_id",
        "metadata",
        "created_at",
        "updated_at",
        "completed_at",
        "error",
        "duration_seconds",
        "estimated_cost_usd",
        "assets",
    ] {
        assert!(keys.contains(&k), "the job object has {k}");
    }
    let id = job["id"].as_str().unwrap();
    let done = h.wait_for_end(id, ALICE).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["progress"], 100);
    // The real playing time, read from the MP4's mvhd while it streamed: the simulator
    // makes its video as long as asked, as the provider does.
    assert_eq!(done["duration_seconds"], 4.0);
    let video_id = done["provider_video_id"].as_str().unwrap();
    let seconds = done["seconds"].to_string();
    for variant in ["video", "thumbnail", "spritesheet"] {
        let asset = &done["assets"][variant];
        let (status, bytes) = h.fetch(asset["url"].as_str().unwrap()).await;
        assert_eq!(status, StatusCode::OK);
        let expected =
            sora_sim::expected_content(h.sim_config(), video_id, &seconds, variant).unwrap();
        assert_eq!(
            bytes, expected,
            "{variant} bytes match what the simulator served"
        );
        assert_eq!(asset["bytes"], expected.len());
    }
    // The content route redirects to a fresh link.
    let (status, headers, _) = h
        .call(
            Method::GET,
            &format!("/v1/videos/{id}/content?variant=thumbnail"),
            Some(ALICE),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FOUND);
    let (status, bytes) = h.fetch(headers["location"].to_str().unwrap()).await;
    assert_eq!((status, &bytes[8..12]), (StatusCode::OK, &b"WEBP"[..]));
    // A tampered link is refused.
    let url = done["assets"]["video"]["url"]
        .as_str()
        .unwrap()
        .replace("video.mp4", "thumbnail.webp");
    assert_eq!(h.fetch(&url).await.0, StatusCode::FORBIDDEN);
    let report = h.stack.engine.report(id).expect("the execution ended");
    assert!(
        report.transitions >= 5,
        "Submit, Wait, Check, Choice, Download, Done: {report:?}"
    );
}

async fn listing_pages_newest_first_and_filters(store: Store) {
    let h = Harness::start(store).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            create(
                &h,
                ALICE,
                &json!({"prompt": format!("clip {i} [sim:never_finish]")}),
            )
            .await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    h.call(
        Method::POST,
        &format!("/v1/videos/{}/cancel", ids[0]),
        Some(ALICE),
        None,
    )
    .await;
    let (_, _, page) = h
        .call(Method::GET, "/v1/videos?limit=2", Some(ALICE), None)
        .await;
    let got: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, [ids[2].as_str(), ids[1].as_str()]);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, _, next) = h
        .call(
            Method::GET,
            &format!("/v1/videos?limit=2&cursor={cursor}"),
            Some(ALICE),
            None,
        )
        .await;
    assert_eq!(next["data"][0]["id"], ids[0].as_str());
    assert!(next["next_cursor"].is_null());
    let (_, _, canceled) = h
        .call(Method::GET, "/v1/videos?status=canceled", Some(ALICE), None)
        .await;
    assert_eq!(canceled["data"].as_array().unwrap().len(), 1);
    let (status, _, err) = h
        .call(Method::GET, "/v1/videos?limit=500", Some(ALICE), None)
        .await;
    assert_eq!(
        (status, err["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("limit"))
    );
}
