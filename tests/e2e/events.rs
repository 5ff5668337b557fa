//! Live job events: `GET /v1/events` over a real WebSocket, through the CLI's own
//! client (`vidgen::client::Events`) and a raw tungstenite client.

use crate::common::*;
use std::time::Duration;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};
use vidgen::client::{Client, Events};

on_both_stores!(
    an_owner_sees_each_status_of_her_job_and_nothing_of_anothers,
    a_bad_token_is_refused_at_connect,
    subscribe_narrows_to_the_named_jobs,
    the_cli_follows_a_job_live_and_by_polling_when_events_are_unreachable,
    a_client_that_never_reads_holds_up_no_job,
);

async fn connect(h: &Harness, token: &str) -> Events {
    Client::new(&h.stack.base_url, Some(token.into()))
        .unwrap()
        .events()
        .await
        .expect("events connect")
}

/// The next `job.updated` job, failing the test after 10 s of silence.
async fn next(events: &mut Events) -> Option<Value> {
    tokio::time::timeout(Duration::from_secs(10), events.next_job())
        .await
        .expect("an event within 10 s")
        .expect("a readable frame")
}

/// Frames until job `id` ends (every frame checked to be about `id` or `others`).
async fn until_ended(events: &mut Events, id: &str) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let job = next(events).await.expect("the connection stays open");
        let ended = job["id"] == id
            && matches!(
                job["status"].as_str(),
                Some("completed" | "failed" | "canceled" | "timed_out")
            );
        seen.push(job);
        if ended {
            return seen;
        }
    }
}

/// The distinct statuses of `id` in the order the frames carried them.
fn statuses(frames: &[Value], id: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for job in frames.iter().filter(|j| j["id"] == id) {
        let status = job["status"].as_str().unwrap_or("?").to_string();
        if out.last() != Some(&status) {
            out.push(status);
        }
    }
    out
}

async fn an_owner_sees_each_status_of_her_job_and_nothing_of_anothers(store: Store) {
    let h = Harness::start(store).await;
    let mut alice = connect(&h, ALICE).await;
    let mut bob = connect(&h, BOB).await;
    let bobs = create(&h, BOB, &create_body("Bob's.")).await;
    let job = create(&h, ALICE, &create_body("Alice's.")).await;
    let id = job["id"].as_str().unwrap();
    let bob_id = bobs["id"].as_str().unwrap();

    let frames = until_ended(&mut alice, id).await;
    assert!(
        frames.iter().all(|j| j["id"] == id),
        "alice was told only of her own job: {frames:?}"
    );
    assert_eq!(
        statuses(&frames, id),
        ["queued", "in_progress", "downloading", "completed"],
        "every status, in order"
    );
    // The frame is the job object, links and all: the video it names is the job's.
    let done = frames.last().unwrap();
    let (_, _, read) = h
        .call(Method::GET, &format!("/v1/videos/{id}"), Some(ALICE), None)
        .await;
    assert_eq!(
        done["assets"]["video"]["bytes"],
        read["assets"]["video"]["bytes"]
    );
    let (status, bytes) = h
        .fetch(done["assets"]["video"]["url"].as_str().unwrap())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        Some(bytes.len() as u64),
        done["assets"]["video"]["bytes"].as_u64()
    );

    let bob_frames = until_ended(&mut bob, bob_id).await;
    assert!(
        bob_frames.iter().all(|j| j["id"] == bob_id),
        "bob was told only of his own job"
    );
    alice.close().await;
    bob.close().await;
    h.stack.shutdown().await;
}

async fn a_bad_token_is_refused_at_connect(store: Store) {
    let h = Harness::start(store).await;
    let url = format!("{}/v1/events", h.stack.base_url.replacen("http", "ws", 1));
    let refused = |request: tungstenite::handshake::client::Request| async move {
        match tokio_tungstenite::connect_async(request).await {
            Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
            Err(e) => panic!("refused the wrong way: {e}"),
            Ok(_) => panic!("the connection was accepted"),
        }
    };
    // No token, an unknown one in the query, an unknown bearer.
    assert_eq!(
        refused(url.as_str().into_client_request().unwrap()).await,
        401
    );
    let query = format!("{url}?access_token=nope");
    assert_eq!(
        refused(query.as_str().into_client_request().unwrap()).await,
        401
    );
    let mut header = url.as_str().into_client_request().unwrap();
    header
        .headers_mut()
        .insert("authorization", "Bearer nope".parse().unwrap());
    assert_eq!(refused(header).await, 401);
    // A good token in the query is what a browser sends: accepted.
    let good = format!("{url}?access_token={ALICE}");
    let (socket, _) = tokio_tungstenite::connect_async(good.as_str())
        .await
        .expect("a good token connects");
    drop(socket);
    // A plain GET (no handshake) is told what the endpoint is.
    let (status, _, body) = h.call(Method::GET, "/v1/events", Some(ALICE), None).await;
    assert_eq!(status.as_u16(), 426, "{body}");
    assert_eq!(body["error"]["field"], "Upgrade");
    let (status, _, _) = h.call(Method::POST, "/v1/events", Some(ALICE), None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    h.stack.shutdown().await;
}

async fn subscribe_narrows_to_the_named_jobs(store: Store) {
    let h = Harness::start(store).await;
    // A render that outlives the test's other job, so both run at once.
    let watched = create(&h, ALICE, &create_body("Watched.")).await;
    let id = watched["id"].as_str().unwrap();
    let mut events = connect(&h, ALICE).await;

    // A bad subscribe is answered with an error naming the field; the connection stays.
    let err = events.subscribe(&["not-a-job"]).await.unwrap_err();
    assert!(format!("{err:#}").contains("job_ids[0]"), "{err:#}");
    events.subscribe(&[id]).await.expect("subscribed");
    let other = create(&h, ALICE, &create_body("Not watched.")).await;
    let other_id = other["id"].as_str().unwrap();

    let frames = until_ended(&mut events, id).await;
    assert!(frames.iter().all(|j| j["id"] == id), "{frames:?}");
    // The other job ran meanwhile, and nothing about it came.
    let ended = h.wait_for_end(other_id, ALICE).await;
    assert_eq!(ended["status"], "completed");
    let quiet = tokio::time::timeout(Duration::from_millis(300), events.next_job()).await;
    assert!(quiet.is_err(), "no frame after narrowing: {quiet:?}");
    events.close().await;
    h.stack.shutdown().await;
}

async fn the_cli_follows_a_job_live_and_by_polling_when_events_are_unreachable(store: Store) {
    let h = Harness::start(store).await;
    let live = Client::new(&h.stack.base_url, Some(ALICE.into())).unwrap();
    let job = create(&h, ALICE, &create_body("Followed live.")).await;
    let mut lines = Vec::new();
    let done = vidgen::cli::follow(&live, job["id"].as_str().unwrap(), |_, l| {
        lines.push(l.to_string())
    })
    .await
    .unwrap();
    assert_eq!(done["status"], "completed");
    assert_eq!(lines.last().map(String::as_str), Some("completed 100%"));

    // An events URL nobody answers: the same follow completes by polling.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = format!("ws://{}/v1/events", closed.local_addr().unwrap());
    drop(closed);
    let polling = Client::new(&h.stack.base_url, Some(ALICE.into()))
        .unwrap()
        .with_events_url(Some(dead));
    let job = create(&h, ALICE, &create_body("Followed by polling.")).await;
    let done = vidgen::cli::follow(&polling, job["id"].as_str().unwrap(), |_, _| {})
        .await
        .unwrap();
    assert_eq!(done["status"], "completed");
    h.stack.shutdown().await;
}

async fn a_client_that_never_reads_holds_up_no_job(store: Store) {
    let h = Harness::start(store).await;
    // Connected, then never read from again (its frames pile up unread).
    let url = format!(
        "{}/v1/events?access_token={ALICE}",
        h.stack.base_url.replacen("http", "ws", 1)
    );
    let (stuck, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..4 {
        let job = create(&h, ALICE, &create_body(&format!("Job {i}."))).await;
        ids.push(job["id"].as_str().unwrap().to_string());
    }
    for id in &ids {
        let ended = tokio::time::timeout(Duration::from_secs(20), h.wait_for_end(id, ALICE))
            .await
            .expect("the jobs end while a client sleeps on its socket");
        assert_eq!(ended["status"], "completed");
    }
    drop(stuck);
    h.stack.shutdown().await;
}
