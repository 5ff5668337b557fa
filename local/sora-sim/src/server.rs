//! Serving a router on a socket, and stopping it: shared by both simulators.

use axum::Router;
use std::net::SocketAddr;

/// A router being served on the current tokio runtime.
pub(crate) struct Serving {
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Serving {
    /// Bind `addr` (port 0 picks a free one) and serve `app`.
    pub async fn start(addr: SocketAddr, app: Router) -> std::io::Result<Serving> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "simulator stopped");
            }
        });
        Ok(Serving {
            addr,
            shutdown: Some(tx),
            task,
        })
    }

    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // In-flight slow downloads would hold graceful shutdown open; don't wait on them.
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.task.abort();
    }
}
