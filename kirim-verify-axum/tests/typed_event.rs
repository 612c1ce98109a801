//! `webhook.event()` in an axum handler, over real HTTP on 127.0.0.1: a typed event through
//! the extractor's `Deref` to the core's `Webhook`; a verified body that does not match its
//! type is handed to the handler (error and raw bytes), which decides the answer; an unknown
//! type is acknowledged.
#![cfg(feature = "json")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::post;
use kirim_test_support::http::{ROUTE, SignedRequest, fixtures, receiver, send};
use kirim_verify::Event;
use kirim_verify_axum::{KirimLayer, KirimWebhook};

/// What a handler branches on, reported back so the test can see it.
async fn handle(webhook: KirimWebhook) -> String {
    match webhook.event() {
        Ok(Event::MessageStatus(payload)) => {
            let status = payload.statuses().next().unwrap();
            format!("status {} {}", status.status.as_str(), status.id)
        }
        Ok(Event::ContactCreated(created)) => {
            format!("contact {}", created.data.contact.name.unwrap_or_default())
        }
        Ok(Event::Unknown { event_type, body }) => format!("unknown {event_type} {}", body.len()),
        Ok(other) => format!("other {}", other.event_type()),
        // Signed by Kirim but not the shape we expect: keep the bytes, acknowledge.
        Err(error) => format!("kept {} bytes: {error}", webhook.body().len()),
    }
}

async fn serve() -> SocketAddr {
    let receiver = Arc::new(receiver());
    let app = Router::new()
        .route(
            ROUTE,
            post(handle).route_layer(KirimLayer::new(Arc::clone(&receiver))),
        )
        .with_state(receiver);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_get_typed_events() {
    let addr = serve().await;

    let status = SignedRequest::meta(
        "message.status",
        fixtures::STATUS_WAMID,
        fixtures::MESSAGE_STATUS_DELIVERED,
    );
    let answer = send(addr, &status).await;
    let expected = format!("status delivered {}", fixtures::STATUS_WAMID);
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, expected.as_str())
    );

    let contact = SignedRequest::kirim(
        "contact.created",
        "evt_01HXYZTYPEDEVENTAXUM000001",
        fixtures::CONTACT_CREATED,
    );
    let answer = send(addr, &contact).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, "contact John Doe")
    );

    let unknown = SignedRequest::kirim(
        "customer.merged",
        "evt_01HXYZTYPEDEVENTAXUM000002",
        br#"{"id":"evt_01HXYZTYPEDEVENTAXUM000002","type":"customer.merged"}"#,
    );
    let answer = send(addr, &unknown).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, "unknown customer.merged 64")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_no_longer_matches_reaches_the_handler_with_its_bytes() {
    let addr = serve().await;
    let body = br#"{"id":"evt_01HXYZTYPEDEVENTAXUM000003","type":"contact.created","created_at":"2026-05-23T10:00:00Z","data":{"contact":{"id":42}}}"#;
    let changed = SignedRequest::kirim("contact.created", "evt_01HXYZTYPEDEVENTAXUM000003", body);
    let answer = send(addr, &changed).await;
    assert_eq!(
        answer.status, 200,
        "the handler chose the answer, not a 400"
    );
    let expected = format!(
        "kept {} bytes: contact.created body does not match its type at data.contact.id (line 1,",
        body.len()
    );
    assert!(answer.body.starts_with(&expected), "{}", answer.body);
}
