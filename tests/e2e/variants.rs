//! Variants: the same prompt rendered at several sizes, each its own job and workflow,
//! linked both ways; and the model catalog they are checked against.

use crate::common::*;

on_both_stores!(
    two_variants_make_three_completed_jobs_linked_both_ways,
    a_variant_is_added_later_and_capped_at_three,
    one_bad_variant_rejects_the_whole_request,
    the_catalog_lists_every_model_with_what_it_takes,
);

async fn two_variants_make_three_completed_jobs_linked_both_ways(store: Store) {
    let h = Harness::start(store).await;
    let body = json!({"script": "A fox runs.", "negative_keywords": ["text"], "size": "720x1280",
        "variants": [{"size": "1280x720"}, {"size": "1280x720", "model": "runway/gen4.5", "seconds": 4}]});
    let primary = create(&h, ALICE, &body).await;
    let id = primary["id"].as_str().unwrap();
    let variants: Vec<String> = primary["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(variants.len(), 2, "{primary}");
    assert!(primary["variant_of"].is_null());
    let done = h.wait_for_end(id, ALICE).await;
    assert_eq!(
        (done["status"].as_str(), done["size"].as_str()),
        (Some("completed"), Some("720x1280"))
    );
    let expected = [("sora-2", "1280x720", 4), ("runway/gen4.5", "1280x720", 4)];
    for (variant, (model, size, seconds)) in variants.iter().zip(expected) {
        let v = h.wait_for_end(variant, ALICE).await;
        assert_eq!(v["status"], "completed", "{v}");
        assert_eq!(v["variant_of"], id);
        assert_eq!(
            (
                v["model"].as_str(),
                v["size"].as_str(),
                v["seconds"].as_u64()
            ),
            (Some(model), Some(size), Some(seconds))
        );
        assert_eq!(v["prompt"], done["prompt"], "the same composed prompt");
        assert_eq!(v["negative_keywords"], json!(["text"]));
        assert_ne!(
            v["provider_video_id"], done["provider_video_id"],
            "its own render"
        );
    }
    // Idempotency covers the whole request: a replay makes nothing new.
    let key = "variants-once";
    let (first, _, a) = h
        .raw(
            Method::POST,
            "/v1/videos",
            Some(ALICE),
            Some(("application/json", body.to_string())),
            &[("idempotency-key", key)],
        )
        .await;
    let (again, _, b) = h
        .raw(
            Method::POST,
            "/v1/videos",
            Some(ALICE),
            Some(("application/json", body.to_string())),
            &[("idempotency-key", key)],
        )
        .await;
    assert_eq!((first, again), (StatusCode::ACCEPTED, StatusCode::OK));
    assert_eq!(a["variants"], b["variants"]);
}

async fn a_variant_is_added_later_and_capped_at_three(store: Store) {
    let h = Harness::start(store).await;
    let primary = create(&h, ALICE, &json!({"script": "A fox."})).await;
    let id = primary["id"].as_str().unwrap();
    let path = format!("/v1/videos/{id}/variants");
    let (status, _, v) = h
        .call(
            Method::POST,
            &path,
            Some(ALICE),
            Some(&json!({"size": "1280x720"})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    assert_eq!(
        (v["variant_of"].as_str(), v["size"].as_str()),
        (Some(id), Some("1280x720"))
    );
    let done = h.wait_for_end(v["id"].as_str().unwrap(), ALICE).await;
    assert_eq!(done["status"], "completed", "{done}");
    let (_, _, now) = h
        .call(Method::GET, &format!("/v1/videos/{id}"), Some(ALICE), None)
        .await;
    assert_eq!(now["variants"], json!([v["id"]]));
    // A variant has no variants of its own; another owner sees nothing.
    let vid = v["id"].as_str().unwrap();
    let (status, _, _) = h
        .call(
            Method::POST,
            &format!("/v1/videos/{vid}/variants"),
            Some(ALICE),
            Some(&json!({"size": "720x1280"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _, _) = h
        .call(
            Method::POST,
            &path,
            Some(BOB),
            Some(&json!({"size": "720x1280"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Checked against its model like any job.
    let (status, _, err) = h
        .call(
            Method::POST,
            &path,
            Some(ALICE),
            Some(&json!({"size": "1792x1024"})),
        )
        .await;
    assert_eq!(
        (status, err["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("size")),
        "{err}"
    );
    for _ in 0..2 {
        let (status, _, _) = h
            .call(
                Method::POST,
                &path,
                Some(ALICE),
                Some(&json!({"size": "720x1280"})),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    let (status, _, err) = h
        .call(
            Method::POST,
            &path,
            Some(ALICE),
            Some(&json!({"size": "720x1280"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "a fourth: {err}");
}

async fn one_bad_variant_rejects_the_whole_request(store: Store) {
    let h = Harness::start(store).await;
    let body =
        json!({"script": "A fox.", "variants": [{"size": "1280x720"}, {"size": "1792x1024"}]});
    let (status, _, err) = h
        .call(Method::POST, "/v1/videos", Some(ALICE), Some(&body))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"]["field"], "variants[1].size");
    let message = err["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("720x1280 or 1280x720"),
        "lists what the model allows: {message}"
    );
    let bad_model =
        json!({"script": "A fox.", "variants": [{"size": "1280x720", "model": "runway/gen9"}]});
    let (status, _, err) = h
        .call(Method::POST, "/v1/videos", Some(ALICE), Some(&bad_model))
        .await;
    assert_eq!(
        (status, err["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("variants[0].model"))
    );
    // Nothing was written or started.
    let (_, _, list) = h.call(Method::GET, "/v1/videos", Some(ALICE), None).await;
    assert_eq!(list["data"], json!([]));
    assert!(h.stack.engine.is_idle());
}

async fn the_catalog_lists_every_model_with_what_it_takes(store: Store) {
    let h = Harness::start(store).await;
    let (status, _, models) = h.call(Method::GET, "/v1/models", Some(ALICE), None).await;
    assert_eq!(status, StatusCode::OK);
    let data = models["data"].as_array().unwrap();
    let gen45 = data
        .iter()
        .find(|m| m["id"] == "runway/gen4.5")
        .expect("runway/gen4.5 is listed");
    assert_eq!(gen45["provider"], "runway");
    assert_eq!(
        gen45["available"], true,
        "the simulator stands in for the key"
    );
    assert_eq!(gen45["seconds"], json!([2, 3, 4, 5, 6, 7, 8, 9, 10]));
    assert_eq!(gen45["usd_per_second"], 0.12);
    let sora = data
        .iter()
        .find(|m| m["id"] == "sora-2")
        .expect("sora-2 is listed");
    assert_eq!(
        (
            sora["default_seconds"].as_u64(),
            sora["default_size"].as_str()
        ),
        (Some(4), Some("720x1280"))
    );
    // Per-model validation names the field and lists what the model allows.
    let (status, _, err) = h
        .call(
            Method::POST,
            "/v1/videos",
            Some(ALICE),
            Some(&json!({"script": "x", "model": "runway/gen4.5", "seconds": 12})),
        )
        .await;
    assert_eq!(
        (status, err["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("seconds"))
    );
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2, 3, 4, 5, 6, 7, 8, 9 or 10"),
        "{err}"
    );
}
