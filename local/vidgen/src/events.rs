//! `GET /v1/events`: live job events over a WebSocket, the local side of the contract in
//! `vidgen_shared::events` (in AWS the WebSocket API and its notifier send the same
//! frames).
//!
//! Each connection reads the in-process [`JobFeed`] and forwards the jobs its
//! [`Subscription`] wants. Nothing here can hold up a job: publishing to the feed never
//! waits; a connection that falls [`FEED_CAPACITY`] events behind is closed (1013, "try
//! again later": reconnect and read the jobs afresh), and one whose client does not take
//! a frame within [`SEND_TIMEOUT`] is dropped.
//!
//! [`FEED_CAPACITY`]: vidgen_shared::events::feed::FEED_CAPACITY

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;
use vidgen_shared::api::{self, ApiDeps};
use vidgen_shared::domain::ids::Owner;
use vidgen_shared::events::feed::JobFeed;
use vidgen_shared::events::{self, Subscription};

/// How long a client may take to accept one frame before it is dropped.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// A ping this often keeps proxies from closing an idle socket and finds dead peers.
const PING_EVERY: Duration = Duration::from_secs(30);
/// "Try Again Later" (RFC 6455 registry): the connection fell behind the feed.
const CLOSE_LAGGED: u16 = 1013;
/// "Going Away": the server is stopping.
const CLOSE_GOING_AWAY: u16 = 1001;

/// What one connection needs.
#[derive(Clone)]
pub struct EventsDeps {
    pub api: Arc<ApiDeps>,
    pub feed: Arc<JobFeed>,
    /// Cancelled when the server stops: every connection closes with 1001.
    pub closing: CancellationToken,
}

/// Serve one upgraded connection of `owner` until either side ends it.
pub async fn serve(socket: WebSocket, deps: EventsDeps, owner: Owner) {
    // Subscribed before anything else: no change after the upgrade is missed.
    let mut feed = deps.feed.subscribe();
    let mut subscription = Subscription::new(owner);
    let (mut tx, mut rx) = socket.split();
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await; // the first tick is immediate
    let end = loop {
        let frame = tokio::select! {
            incoming = rx.next() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(Message::Text(text))) => {
                    match events::parse_client_message(text.as_str()) {
                        Ok(message) => {
                            subscription.apply(message);
                            let ids = subscription.jobs().cloned().unwrap_or_default();
                            events::subscribed(&ids)
                        }
                        Err(problem) => events::client_error(&problem),
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    events::client_error("messages are JSON text frames, not binary")
                }
                // Pings are answered by the library; pongs need nothing.
                Some(Ok(_)) => continue,
            },
            event = feed.recv() => match event {
                Ok(job) if subscription.wants(&job) => {
                    match api::job_json(&deps.api, &job).await {
                        Ok(object) => events::job_updated(object),
                        Err(e) => {
                            tracing::warn!(job_id = %job.id, error = %e.message, "an event could not be built");
                            continue;
                        }
                    }
                }
                Ok(_) => continue,
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "an events connection fell behind; closing it");
                    break Some((CLOSE_LAGGED, "fell behind the event feed: reconnect and read the jobs again"));
                }
                Err(RecvError::Closed) => break Some((CLOSE_GOING_AWAY, "the server is stopping")),
            },
            _ = ping.tick() => {
                if send(&mut tx, Message::Ping(Default::default())).await.is_err() {
                    return;
                }
                continue;
            }
            _ = deps.closing.cancelled() => break Some((CLOSE_GOING_AWAY, "the server is stopping")),
        };
        if send(&mut tx, Message::Text(frame.into())).await.is_err() {
            // The client is gone or too slow: drop it, the jobs go on.
            return;
        }
    };
    if let Some((code, reason)) = end {
        let close = Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }));
        let _ = send(&mut tx, close).await;
    }
}

async fn send(
    tx: &mut futures::stream::SplitSink<WebSocket, Message>,
    message: Message,
) -> Result<(), ()> {
    match tokio::time::timeout(SEND_TIMEOUT, tx.send(message)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(()),
        Err(_) => {
            tracing::info!("an events client took too long to read; dropping it");
            Err(())
        }
    }
}
