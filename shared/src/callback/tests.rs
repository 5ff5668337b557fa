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

/// A receiver that takes connections and never answers.
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

#[tokio::test]
async fn a_delivery_ends_by_its_deadline_when_the_receiver_hangs() {
    let url = hanging_receiver().await;
    // Three attempts of 1 s each would take over 3 s; the deadline is 1.5 s.
    let sender = CallbackSender::new(signer(), true)
        .with_retries(3, Duration::from_millis(10))
        .with_bounds(
            Duration::from_secs(1),
            Duration::from_millis(1500),
            Duration::from_secs(1),
        );
    let event = event_for(&ended_job(), Utc::now()).unwrap();
    let started = std::time::Instant::now();
    let err = sender.deliver(&url, &event).await.unwrap_err();
    let took = started.elapsed();
    assert!(err.is_retryable(), "{err}");
    assert!(took < Duration::from_millis(2500), "took {took:?}");
}

/// A resolver that never answers.
struct NeverAnswers;

impl HostLookup for NeverAnswers {
    fn lookup(&self, _host: &str) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        Box::pin(std::future::pending())
    }
}

/// A resolver that answers these addresses for every name.
struct Answers(Vec<IpAddr>);

impl HostLookup for Answers {
    fn lookup(&self, _host: &str) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        let addrs = self.0.clone();
        Box::pin(async move { Ok(addrs) })
    }
}

#[tokio::test]
async fn a_lookup_that_never_answers_ends_within_its_bound() {
    let sender = CallbackSender::new(signer(), false)
        .with_lookup(Arc::new(NeverAnswers))
        .with_bounds(
            Duration::from_secs(5),
            Duration::from_secs(30),
            Duration::from_millis(300),
        );
    let event = event_for(&ended_job(), Utc::now()).unwrap();
    let started = std::time::Instant::now();
    let err = sender
        .deliver("https://hooks.example.com/hook", &event)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("looking up"), "{err}");
    assert!(err.is_retryable());
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn resolved_private_addresses_are_refused_and_not_retried() {
    for ip in [
        "10.0.0.1",
        "64:ff9b::a00:1",
        "::ffff:127.0.0.1",
        "93.184.216.34",
    ] {
        let ip: IpAddr = ip.parse().unwrap();
        // One public address among private ones is still refused.
        let public: IpAddr = "93.184.216.34".parse().unwrap();
        let sender = CallbackSender::new(signer(), false)
            .with_lookup(Arc::new(Answers(vec![public, ip])))
            .with_bounds(
                Duration::from_millis(200),
                Duration::from_millis(500),
                Duration::from_millis(200),
            );
        let event = event_for(&ended_job(), Utc::now()).unwrap();
        let err = sender
            .deliver("https://hooks.example.com/hook", &event)
            .await
            .unwrap_err();
        if ip == public {
            // Public: the lookup passes and the (unreachable here) send fails, retryably.
            assert!(err.is_retryable(), "{err}");
        } else {
            assert!(matches!(err, CallbackError::Refused(_)), "{ip}: {err}");
            assert!(!err.is_retryable());
        }
    }
}

#[tokio::test]
async fn a_batch_answers_the_deliveries_to_try_again() {
    let (ok_url, seen) = receiver(vec![200]).await;
    let (down_url, _) = receiver(vec![503]).await;
    let (gone_url, _) = receiver(vec![410]).await;
    let sender = CallbackSender::new(signer(), true).with_retries(1, Duration::from_millis(10));
    let job = ended_job();
    let event = event_for(&job, Utc::now()).unwrap();
    let message = |url: &str| {
        serde_json::to_string(&Delivery {
            job_id: job.id.clone(),
            url: url.to_string(),
            event: event.clone(),
        })
        .unwrap()
    };
    let batch = vec![
        ("m-ok".to_string(), message(&ok_url)),
        ("m-down".to_string(), message(&down_url)),
        ("m-gone".to_string(), message(&gone_url)),
        ("m-junk".to_string(), "not json".to_string()),
    ];
    let failed = deliver_batch(&sender, &batch).await;
    assert_eq!(
        failed,
        vec!["m-down".to_string()],
        "only the 503 comes back"
    );
    assert_eq!(seen.lock().unwrap().len(), 1);
}
