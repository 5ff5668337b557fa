//! Owners are isolated: another owner's job is a 404, a stranger is a 401.

use crate::common::*;

on_both_stores_and_providers!(other_owners_get_404_and_strangers_401);

async fn other_owners_get_404_and_strangers_401(store: Store) {
    let h = Harness::start(store).await;
    let job = create(&h, ALICE, &create_body("Mine.")).await;
    let id = job["id"].as_str().unwrap();
    for (method, path) in [
        (Method::GET, format!("/v1/videos/{id}")),
        (Method::POST, format!("/v1/videos/{id}/cancel")),
        (Method::DELETE, format!("/v1/videos/{id}")),
        (Method::GET, format!("/v1/videos/{id}/content")),
    ] {
        let (status, _, body) = h.call(method.clone(), &path, Some(BOB), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(body["error"]["code"], "not_found");
        let (unknown, _, _) = h
            .call(
                method,
                &path.replace(id, "vid_01JZZZZZZZZZZZZZZZZZZZZZZZ"),
                Some(ALICE),
                None,
            )
            .await;
        assert_eq!(
            unknown,
            StatusCode::NOT_FOUND,
            "unknown ids answer the same"
        );
    }
    let (status, _, _) = h
        .call(
            Method::POST,
            &format!("/v1/videos/{id}/remix"),
            Some(BOB),
            Some(&json!({"prompt": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, _, bobs) = h.call(Method::GET, "/v1/videos", Some(BOB), None).await;
    assert!(bobs["data"].as_array().unwrap().is_empty());
    let (status, _, err) = h.call(Method::GET, "/v1/videos", Some("wrong"), None).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    let (status, _, health) = h.call(Method::GET, "/v1/health", None, None).await;
    assert_eq!(
        (status, health["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
}
