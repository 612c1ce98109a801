//! `webhook.event()` in an actix handler, over real HTTP on 127.0.0.1: a typed event through
//! the extractor's `Deref` to the core's `Webhook`; a verified body that does not match its
//! type is handed to the handler (error and raw bytes), which decides the answer.
#![cfg(feature = "json")]
#![allow(clippy::expect_used, clippy::unwrap_used)]

#[allow(dead_code)] // this file uses `serve` only
mod support;

use actix_web::{HttpResponse, web};
use kirim_test_support::http::{ROUTE, SignedRequest, fixtures, receiver, send};
use kirim_verify::Event;
use kirim_verify_actix::{KirimMiddleware, KirimWebhook};

async fn handle(webhook: KirimWebhook) -> HttpResponse {
    let answer = match webhook.event() {
        Ok(Event::MessageReceived(payload)) => {
            let message = payload.messages().next().unwrap();
            format!(
                "from {} {}",
                message.from,
                message.text.as_ref().unwrap().body
            )
        }
        Ok(Event::ContactUpdated(updated)) => {
            format!("changed {}", updated.data.changed_fields.join(","))
        }
        Ok(other) => format!("other {}", other.event_type()),
        // Signed by Kirim but not the shape we expect: keep the bytes, ask for a retry later.
        Err(error) => {
            return HttpResponse::InternalServerError().body(format!(
                "kept {} bytes: {}",
                webhook.body().len(),
                error.path()
            ));
        }
    };
    HttpResponse::Ok().body(answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_get_typed_events() {
    let middleware = KirimMiddleware::new(receiver());
    let server = support::serve(move |cfg| {
        cfg.service(
            web::resource(ROUTE)
                .wrap(middleware.clone())
                .route(web::post().to(handle)),
        );
    })
    .await;

    let received = SignedRequest::meta(
        "message.received",
        "wamid.typed.1",
        fixtures::MESSAGE_RECEIVED,
    );
    let answer = send(server.addr, &received).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, "from 628111111111 Halo, mau tanya soal pesanan")
    );

    let updated = SignedRequest::kirim(
        "contact.updated",
        "evt_01HXYZTYPEDEVENTACTIX00001",
        fixtures::CONTACT_UPDATED,
    );
    let answer = send(server.addr, &updated).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, "changed name,email,metadata")
    );

    // A Meta body that lost its `object`: the handler answered 500 (Kirim retries), and the
    // middleware released the claim, so the retry is processed, not answered `duplicate`.
    let body = br#"{"entry":[]}"#;
    let broken = SignedRequest::meta("message.received", "wamid.typed.2", body);
    let answer = send(server.addr, &broken).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (500, "kept 12 bytes: object")
    );
    let answer = send(server.addr, &broken.resigned(now() - 1)).await;
    assert_eq!(answer.status, 500, "{}", answer.body);
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
