//! The receiving endpoint: verify, acknowledge, hand the event to the worker.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header::RETRY_AFTER};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use kirim_verify::Receiver;
use kirim_verify::flow::bodies;
use kirim_verify_axum::{KirimLayer, KirimWebhook};
use tokio::sync::mpsc::{self, error::TrySendError};

/// The route Kirim delivers to.
pub(crate) const ROUTE: &str = "/webhooks/kirim";

/// How long Kirim should wait before retrying when the queue is full.
const RETRY_AFTER_SECS: &str = "5";

/// `POST /webhooks/kirim` behind `KirimLayer`: each verified, first-seen delivery is queued
/// for the worker. Duplicates are answered by the layer and never reach the queue.
pub(crate) fn router(receiver: Arc<Receiver>, queue: mpsc::Sender<KirimWebhook>) -> Router {
    Router::new()
        .route(ROUTE, post(receive).route_layer(KirimLayer::new(receiver)))
        .with_state(queue)
}

/// Acknowledge first, process second: queued is 200 `ok` (the layer then marks the event
/// done); a full queue is 503, which releases the event so Kirim's retry is processed later.
async fn receive(
    State(queue): State<mpsc::Sender<KirimWebhook>>,
    webhook: KirimWebhook,
) -> Response {
    match queue.try_send(webhook) {
        Ok(()) => (StatusCode::OK, bodies::OK).into_response(),
        Err(TrySendError::Full(webhook) | TrySendError::Closed(webhook)) => {
            tracing::warn!(
                event_id = webhook.delivery().event_id(),
                "worker queue full or closed; answering 503 so Kirim retries"
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
