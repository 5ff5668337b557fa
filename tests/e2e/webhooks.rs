//! Signed webhook events when a job ends.

use crate::common::*;

on_both_stores!(callbacks_are_told_with_a_signed_event);

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
