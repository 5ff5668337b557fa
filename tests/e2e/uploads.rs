//! Reference-image uploads: a pinned presigned PUT, then the first frame of a job.

use crate::common::*;

on_both_stores_and_providers!(a_reference_image_upload_feeds_the_first_frame);

async fn a_reference_image_upload_feeds_the_first_frame(store: Store) {
    let h = Harness::start(store).await;
    let png = sora_sim::png_header(720, 1280);
    let (status, _, up) = h
        .call(
            Method::POST,
            "/v1/uploads",
            Some(ALICE),
            Some(&json!({"content_type": "image/png", "bytes": png.len()})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{up}");
    let upload_id = up["upload_id"].as_str().unwrap();
    // Not uploaded yet: refused, naming the field.
    let body = json!({"script": "From this frame.", "input_reference": {"upload_id": upload_id}});
    let (status, _, err) = h
        .call(Method::POST, "/v1/videos", Some(ALICE), Some(&body))
        .await;
    assert_eq!(
        (status, err["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("input_reference"))
    );
    let put = reqwest::Client::new().put(up["url"].as_str().unwrap());
    let wrong = put
        .try_clone()
        .unwrap()
        .header("content-type", "image/jpeg")
        .body(png.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        wrong.status(),
        StatusCode::FORBIDDEN,
        "the link pins the content type"
    );
    let ok = put
        .header("content-type", "image/png")
        .body(png)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    // Another owner cannot use it.
    let (status, _, _) = h
        .call(Method::POST, "/v1/videos", Some(BOB), Some(&body))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let job = create(&h, ALICE, &body).await;
    let done = h.wait_for_end(job["id"].as_str().unwrap(), ALICE).await;
    assert_eq!(
        done["status"], "completed",
        "the simulator accepted the 720x1280 frame: {done}"
    );
}
