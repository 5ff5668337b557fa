//! Signed webhook events when a job ends.

use crate::common::*;

on_both_stores!(callbacks_are_told_with_a_signed_event,);
on_both_stores_and_providers!(cancel_and_delete_answer_while_the_receiver_hangs,);

async fn callbacks_are_told_with_a_signed_event(store: Store) {
    const SECRET: &str = "whsec_dGhlIGUyZSB0ZXN0cycgd2ViaG9vayBzZWNyZXQ=";
    let dir = tempfile::tempdir().unwrap();
    let mut config = fast_config(dir.path(), store);
    config.webhook_secret = Some(vidgen_shared::config::Secret::new(SECRET));
    let h = Harness::with_config(dir, config).await;
    let (url, seen) = webhook_receiver().await;
    let ok = create(
        &h,
        ALICE,
        &json!({"script": "Told when done.", "callback_url": url}),
    )
    .await;
    let refused = create(
        &h,
        ALICE,
        &json!({"prompt": "no [sim:moderation_create]", "callback_url": url}),
    )
    .await;
    for job in [&ok, &refused] {
        h.wait_for_end(job["id"].as_str().unwrap(), ALICE).await;
    }
    let mut deliveries = Vec::new();
    for _ in 0..100 {
        deliveries = seen.lock().unwrap().clone();
        if deliveries.len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let signer =
        vidgen_shared::callback::WebhookSigner::new(&vidgen_shared::config::Secret::new(SECRET))
            .unwrap();
    let mut kinds = Vec::new();
    for d in &deliveries {
        let header = |name: &str| d.headers[name].to_str().unwrap().to_string();
        let timestamp: i64 = header("webhook-timestamp").parse().unwrap();
        assert!(
            signer.verify(
                &header("webhook-id"),
                timestamp,
                &d.body,
                &header("webhook-signature"),
                chrono::Utc::now().timestamp(),
                std::time::Duration::from_secs(300),
            ),
            "the signature verifies with the configured secret"
        );
        let event: Value = serde_json::from_slice(&d.body).unwrap();
        assert_eq!(event["object"], "event");
        assert!(event["data"].get("url").is_none(), "no links in events");
        kinds.push((
            event["data"]["id"].as_str().unwrap().to_string(),
            event["type"].as_str().unwrap().to_string(),
        ));
    }
    kinds.sort();
    let mut expected = vec![
        (
            ok["id"].as_str().unwrap().to_string(),
            "video.completed".to_string(),
        ),
        (
            refused["id"].as_str().unwrap().to_string(),
            "video.failed".to_string(),
        ),
    ];
    expected.sort();
    assert_eq!(kinds, expected, "one event per job, saying how it ended");
}

/// A callback receiver that takes connections and never answers.
async fn hanging_receiver() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    url
}

async fn cancel_and_delete_answer_while_the_receiver_hangs(store: Store) {
    let h = Harness::start(store).await;
    let hanging = hanging_receiver().await;
    for (method, path) in [(Method::POST, "/cancel"), (Method::DELETE, "")] {
        let job = create(
            &h,
            ALICE,
            &json!({"prompt": "slow [sim:never_finish]", "callback_url": hanging}),
        )
        .await;
        let id = job["id"].as_str().unwrap();
        let started = std::time::Instant::now();
        let (status, _, _) = h
            .call(
                method.clone(),
                &format!("/v1/videos/{id}{path}"),
                Some(ALICE),
                None,
            )
            .await;
        let took = started.elapsed();
        assert!(status.is_success(), "{method}: {status}");
        assert!(
            took < std::time::Duration::from_secs(2),
            "{method} waited {took:?} for the webhook"
        );
    }
    // Out of band, deliveries still arrive.
    let (url, seen) = webhook_receiver().await;
    let job = create(
        &h,
        ALICE,
        &json!({"prompt": "slow [sim:never_finish]", "callback_url": url}),
    )
    .await;
    let id = job["id"].as_str().unwrap();
    let (status, _, _) = h
        .call(
            Method::POST,
            &format!("/v1/videos/{id}/cancel"),
            Some(ALICE),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for _ in 0..200 {
        if !seen.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let deliveries = seen.lock().unwrap().clone();
    assert_eq!(deliveries.len(), 1, "the cancel was told");
    let event: Value = serde_json::from_slice(&deliveries[0].body).unwrap();
    assert_eq!(event["type"], "video.canceled");
    assert_eq!(event["data"]["id"], id);
}
