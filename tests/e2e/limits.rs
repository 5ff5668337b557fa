//! Per-owner limits: a create over them answers 429 `rate_limited` with `Retry-After`,
//! writes nothing and starts nothing; an ended job makes room.

use crate::common::*;
use vidgen_shared::domain::Limits;

on_both_stores!(over_a_limit_answers_429_and_starts_nothing,);

async fn over_a_limit_answers_429_and_starts_nothing(store: Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = fast_config(dir.path(), store);
    config.api.limits = Limits {
        max_active_jobs: 1,
        daily_budget_cents: 100,
    };
    let h = Harness::with_config(dir, config).await;
    let first = create(&h, ALICE, &json!({"prompt": "one [sim:never_finish]"})).await;
    let (status, headers, err) = refused(&h, json!({"prompt": "two"})).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{err}");
    assert_eq!(err["error"]["code"], "rate_limited");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unfinished"),
        "{err}"
    );
    let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(wait >= 1);
    // Another owner has its own limits.
    create(&h, BOB, &json!({"prompt": "bob's"})).await;
    // Canceling the first makes room; then the $1.00 budget is the limit: $0.40 spent,
    // $0.40 more fits, a third $0.40 does not, though nothing is running.
    let id = first["id"].as_str().unwrap();
    let (canceled, _, _) = h
        .call(
            Method::POST,
            &format!("/v1/videos/{id}/cancel"),
            Some(ALICE),
            None,
        )
        .await;
    assert_eq!(canceled, StatusCode::OK);
    let second = create(&h, ALICE, &json!({"prompt": "two"})).await;
    h.wait_for_end(second["id"].as_str().unwrap(), ALICE).await;
    let (status, headers, err) = refused(&h, json!({"prompt": "three"})).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{err}");
    assert!(
        err["error"]["message"].as_str().unwrap().contains("budget"),
        "{err}"
    );
    let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(
        wait > 23 * 3600,
        "the spend leaves the window after a day: {wait}"
    );
    let (_, _, page) = h.call(Method::GET, "/v1/videos", Some(ALICE), None).await;
    assert_eq!(
        page["data"].as_array().unwrap().len(),
        2,
        "nothing written: {page}"
    );
    // At most alice's two and bob's one reached the provider (the canceled one may not
    // have); the two refused requests started nothing.
    assert!(h.sim_stats().creates <= 3, "{}", h.sim_stats().creates);
}

async fn refused(h: &Harness, body: Value) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    h.call(Method::POST, "/v1/videos", Some(ALICE), Some(&body))
        .await
}
