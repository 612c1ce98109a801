//! Serving with bounds, so that requests nobody signed cost almost nothing: a cap on open
//! connections, a deadline for a request's head (which also ends an idle keep-alive
//! connection), and, in the flow itself, a deadline for the body (the receiver's body timeout,
//! 10 s, or sooner when the signed timestamp leaves the tolerance). `axum::serve` sets none of
//! these, so this example runs hyper's connection builder itself.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Open connections at most; more wait in the listen backlog. Well under a process's usual
/// file-descriptor limit, so a flood of idle connections cannot starve Kirim's deliveries of
/// descriptors.
pub(crate) const MAX_CONNECTIONS: usize = 4096;

/// How long a client may take to send a request's head, and how long a kept-alive connection
/// may sit idle before the next one.
pub(crate) const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// How long requests in flight may take to finish once shutdown starts.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `shutdown` resolves, then lets the requests in flight
/// finish (within the grace period).
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&connections).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break, // never closed
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of descriptors, or the peer reset before the accept: wait, go on.
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A connection error (a reset, a timed-out head) concerns that client only.
            let _ = connection.await;
            drop(permit);
        });
    }
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after the grace period; stopping anyway");
    }
    Ok(())
}
