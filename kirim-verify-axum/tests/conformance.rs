//! The HTTP conformance suite, against an axum server on 127.0.0.1 with the webhook route
//! behind `KirimLayer`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use kirim_test_support::http::{BEHAVIOUR_HEADER, Call, Outcome, Probe, ROUTE, TestServer};
use kirim_verify::Receiver;
use kirim_verify_axum::{KirimLayer, KirimWebhook};

async fn handle(State(probe): State<Probe>, headers: HeaderMap, webhook: KirimWebhook) -> Response {
    let call = Call::of(&webhook);
    let behaviour = headers.get(BEHAVIOUR_HEADER).map(|v| v.as_bytes());
    match probe.handle(call, behaviour).await {
        Outcome::Ok => (StatusCode::OK, "ok").into_response(),
        Outcome::Fail => (StatusCode::INTERNAL_SERVER_ERROR, "failed").into_response(),
        Outcome::Panic => panic!("the handler under test panics, as asked"),
    }
}

async fn spawn(receiver: Receiver, probe: Probe) -> TestServer {
    let app = Router::new()
        .route(ROUTE, post(handle).route_layer(KirimLayer::new(receiver)))
        .with_state(probe);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    TestServer {
        addr,
        guard: Box::new(AbortOnDrop(server)),
    }
}

/// Stops the server when the test is done with it.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

kirim_test_support::http_conformance!(spawn);

// hyper drops a request whose client went away: its claims must come back at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_request_releases_its_claims() {
    kirim_test_support::http::cases::dropped_request_releases_its_claims(spawn).await;
}

kirim_test_support::http_store_down_conformance!(redis: spawn);
