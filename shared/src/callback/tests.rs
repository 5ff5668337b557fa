use super::*;
use crate::domain::job::tests::sample_job;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn signer() -> WebhookSigner {
    // "whsec_" + base64("test-key")
    WebhookSigner::new(&Secret::new("whsec_dGVzdC1rZXk=")).unwrap()
}

#[test]
fn signatures_match_the_standard_webhooks_scheme() {
    // Expected value computed independently:
    // printf 'msg_1.1700000000.{"a":1}' | openssl dgst -sha256 -hmac test-key -binary | base64
    let sig = signer().sign("msg_1", 1_700_000_000, br#"{"a":1}"#);
    assert_eq!(sig, "v1,mTD255tho4FqAJ9YUAL0Ik6usF9o9fPp1Is2eip7wHQ=");
}

#[test]
fn verification_checks_signature_and_time() {
    let s = signer();
    let body = br#"{"x":true}"#;
    let header = format!("v1,bm9wZQ== {}", s.sign("id", 100, body));
    let tol = Duration::from_secs(300);
    assert!(s.verify("id", 100, body, &header, 100, tol));
    assert!(!s.verify("id", 100, b"{}", &header, 100, tol), "other body");
    assert!(!s.verify("id2", 100, body, &header, 100, tol), "other id");
    assert!(!s.verify("id", 100, body, &header, 401, tol), "too old");
    assert!(
        !s.verify("id", 100, body, &header, -201, tol),
        "from the future"
    );
    let other = WebhookSigner::new(&Secret::new("raw-secret")).unwrap();
    assert!(
        !other.verify("id", 100, body, &header, 100, tol),
        "other key"
    );
    assert!(WebhookSigner::new(&Secret::new("whsec_***")).is_err());
}

#[test]
fn events_exist_only_for_ended_jobs_and_have_stable_ids() {
    let now = Utc::now();
    let mut job = sample_job(now);
    assert!(event_for(&job, now).is_none());
    job.mark_ended(
        Status::Failed,
        JobError::new(crate::domain::ErrorCode::ModerationBlocked, "no"),
        now,
    )
    .unwrap();
    let a = event_for(&job, now).unwrap();
    let b = event_for(&job, now + chrono::Duration::seconds(5)).unwrap();
    assert_eq!(a.id, b.id, "a repeated delivery keeps its webhook-id");
    assert_eq!(a.kind, "video.failed");
    assert_eq!(
        a.data.error.as_ref().unwrap().code.as_str(),
        "moderation_blocked"
    );
}

/// A one-shot HTTP receiver on 127.0.0.1 that answers `statuses` in turn and keeps
/// every request it read.
async fn receiver(statuses: Vec<u16>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        for status in statuses {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut buf = vec![0u8; 16 * 1024];
            let mut n = 0;
            // Read until the body (announced by content-length) is complete.
            loop {
                let Ok(k) = sock.read(&mut buf[n..]).await else {
                    return;
                };
                n += k;
                let text = String::from_utf8_lossy(&buf[..n]).to_string();
                if let Some(head_end) = text.find("\r\n\r\n") {
                    let len = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if n >= head_end + 4 + len || k == 0 {
                        log.lock().unwrap().push(text);
                        break;
                    }
                }
                if k == 0 {
                    break;
                }
            }
            let reply =
                format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = sock.write_all(reply.as_bytes()).await;
        }
    });
    (url, seen)
}

fn ended_job() -> Job {
    let now = Utc::now();
    let mut job = sample_job(now);
    job.mark_canceled(now).unwrap();
    job
}

#[tokio::test]
async fn delivers_a_signed_event_and_retries_server_errors() {
    let (url, seen) = receiver(vec![503, 200]).await;
    let sender = CallbackSender::new(signer(), true).with_retries(3, Duration::from_millis(10));
    let event = event_for(&ended_job(), Utc::now()).unwrap();
    sender.deliver(&url, &event).await.unwrap();
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 2, "one retry after the 503");
    let last = &requests[1];
    let header = |name: &str| {
        last.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")).map(str::to_string))
            .unwrap()
    };
    let body = last.split("\r\n\r\n").nth(1).unwrap();
    let ts: i64 = header("webhook-timestamp").parse().unwrap();
    assert_eq!(header("webhook-id"), event.id);
    assert!(signer().verify(
        &event.id,
        ts,
        body.as_bytes(),
        &header("webhook-signature"),
        ts,
        Duration::from_secs(1)
    ));
    let parsed: Event = serde_json::from_str(body).unwrap();
    assert_eq!(parsed.kind, "video.canceled");
}

#[tokio::test]
async fn private_receivers_are_refused_in_aws_mode() {
    let (url, seen) = receiver(vec![200]).await;
    let sender = CallbackSender::new(signer(), false);
    let event = event_for(&ended_job(), Utc::now()).unwrap();
    let err = sender.deliver(&url, &event).await.unwrap_err();
    assert!(matches!(err, CallbackError::Refused(_)), "{err}");
    assert!(seen.lock().unwrap().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let (url, seen) = receiver(vec![400, 200]).await;
    let sender = CallbackSender::new(signer(), true).with_retries(3, Duration::from_millis(10));
    let event = event_for(&ended_job(), Utc::now()).unwrap();
    assert!(sender.deliver(&url, &event).await.is_err());
    assert_eq!(seen.lock().unwrap().len(), 1);
}
