//! With `DATABASE_URL`: persist, then acknowledge. Each verified delivery is written to the SQL
//! inbox (SQLite or PostgreSQL) before the 200; the inbox's worker, in this process, processes
//! the rows afterwards. A crash loses nothing that was acknowledged.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header::RETRY_AFTER};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use kirim_inbox::{Accepted, Event, Inbox, WorkerHandle};
use kirim_verify::Receiver;
use kirim_verify::flow::bodies;
use kirim_verify_axum::{KirimLayer, KirimWebhook};

use crate::app::ROUTE;

/// How long Kirim should wait before retrying when the database is unavailable.
const RETRY_AFTER_SECS: &str = "5";

/// How long the worker's handlers may finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The worker: each row is logged as processed, after `work` (a simulated slow downstream).
pub(crate) fn start_worker(inbox: &Inbox, work: Duration, lease: Option<Duration>) -> WorkerHandle {
    let mut worker = inbox.worker();
    if let Some(lease) = lease {
        worker = worker.with_lease(lease);
    }
    worker.start(move |event: Event| async move {
        if !work.is_zero() {
            tokio::time::sleep(work).await;
        }
        tracing::info!(
            event = event.event(),
            id = event.event_id(),
            tries = event.tries(),
            bytes = event.body().len(),
            "processed webhook"
        );
        Ok::<_, std::convert::Infallible>(())
    })
}

/// Stops the worker: running handlers finish within the grace period, the rest go back.
pub(crate) async fn stop_worker(worker: WorkerHandle) {
    let report = worker.shutdown(SHUTDOWN_GRACE).await;
    tracing::info!(?report, "inbox worker stopped");
}

/// `POST /webhooks/kirim` behind `KirimLayer` (a receiver without dedup: the inbox's unique
/// keys are the dedup), persisting each delivery before answering.
pub(crate) fn router(receiver: Arc<Receiver>, inbox: Inbox) -> Router {
    Router::new()
        .route(ROUTE, post(persist).route_layer(KirimLayer::new(receiver)))
        .with_state(inbox)
}

/// Stored (committed) is 200 `ok`; already in the inbox is 200 `duplicate`; a database that
/// is down or slower than the store timeout is 503, so Kirim retries: nothing is acknowledged
/// that is not stored.
async fn persist(State(inbox): State<Inbox>, webhook: KirimWebhook) -> Response {
    match inbox.accept(&webhook).await {
        Ok(Accepted::Stored) => (StatusCode::OK, bodies::OK).into_response(),
        Ok(_) => (StatusCode::OK, bodies::DUPLICATE).into_response(),
        Err(error) => {
            tracing::warn!(
                event_id = webhook.delivery().event_id(),
                error = %error,
                source = ?std::error::Error::source(&error).map(ToString::to_string),
                "inbox write failed; answering 503 so Kirim retries"
            );
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(RETRY_AFTER, RETRY_AFTER_SECS)],
                bodies::UNAVAILABLE,
            )
                .into_response()
        }
    }
}
