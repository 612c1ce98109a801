//! The axum-specific behaviour, over real HTTP on 127.0.0.1: the extractor under the layer and
//! without it, body limits next to axum's `DefaultBodyLimit`, typed JSON, the body put back by
//! the layer, and what reaches the operator's log.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::DefaultBodyLimit;
use axum::routing::post;
use axum::{Extension, Router};
use bytes::Bytes;
use kirim_test_support::http::{Delivery, ROUTE, fixtures, receiver, send, send_chunked, verifier};
use kirim_verify::flow::bodies;
use kirim_verify::{Receiver, Secret, Signer};
use kirim_verify_axum::{KirimLayer, KirimRejection, KirimWebhook};

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn signer() -> Signer {
    Signer::new([Secret::new(kirim_test_support::http::SECRET).unwrap()]).unwrap()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A unique event id per call, so that tests never share one.
fn event_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "evt_{:013}{:013}",
        now(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Reports what the extractor handed over.
async fn describe(webhook: KirimWebhook) -> String {
    let delivery = webhook.delivery();
    format!(
        "{} {} {} {:?} {:?} {}",
        delivery.event(),
        delivery.event_id(),
        delivery.source(),
        delivery.attempt(),
        webhook.verified().secret_label(),
        webhook.body().len(),
    )
}

/// The operator's log of everything that runs on this thread while the guard lives (the tests
/// that use it run the server on the test's own current-thread runtime).
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Log {
    fn capture(&self) -> tracing::subscriber::DefaultGuard {
        let log = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || log.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn layer_hands_the_extractor_the_delivery_in_any_position() {
    // No router state at all: the extractor reads what the layer stored, next to other
    // extractors, first or last.
    let handler = |webhook: KirimWebhook, body: Bytes| async move {
        assert_eq!(&body, webhook.body());
        describe(webhook).await
    };
    let app = Router::new().route(
        ROUTE,
        post(handler).route_layer(KirimLayer::new(Receiver::new(verifier()))),
    );
    let addr = serve(app).await;

    let id = event_id();
    let delivery = Delivery::kirim("contact.created", &id, fixtures::CONTACT_CREATED)
        .with_header("x-kirim-attempt", "3");
    let answer = send(addr, &delivery).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(
        answer.body,
        format!(
            "contact.created {id} kirim Some(3) Some(\"current\") {}",
            fixtures::CONTACT_CREATED.len()
        )
    );
    // No dedup configured: the same delivery again is handled again.
    assert_eq!(send(addr, &delivery).await.status, 200);

    let forged = Delivery::signed(
        "contact.created",
        &id,
        "kirim",
        fixtures::CONTACT_CREATED,
        &signer().forged(now(), fixtures::CONTACT_CREATED),
    );
    let answer = send(addr, &forged).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (401, bodies::INVALID_SIGNATURE)
    );
    let unsigned = delivery.without_header("x-kirim-signature");
    let answer = send(addr, &unsigned).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (400, bodies::BAD_REQUEST)
    );
}

#[tokio::test]
async fn extractor_without_the_layer_refuses_loudly() {
    let log = Log::default();
    let _guard = log.capture();
    let ran = Arc::new(Mutex::new(0));
    let counted = Arc::clone(&ran);
    let handler = move |_: KirimWebhook| async move {
        *counted.lock().unwrap() += 1;
        "ok"
    };
    let app = Router::new().route(ROUTE, post(handler));
    let addr = serve(app).await;

    let delivery = Delivery::kirim("contact.created", &event_id(), fixtures::CONTACT_CREATED);
    let answer = send(addr, &delivery).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (500, "internal server error")
    );
    assert_eq!(*ran.lock().unwrap(), 0, "the handler must not run");
    let log = log.text();
    assert!(log.contains("ERROR"), "{log}");
    assert!(log.contains("without KirimLayer"), "{log}");
    assert!(
        log.contains("add `.route_layer(KirimLayer::new(receiver))` to the webhook route"),
        "{log}"
    );
}

#[tokio::test]
async fn default_body_limit_smaller_than_ours_wins() {
    // Ours is 64 KiB (the suite's receiver); axum's is set to 1000 bytes on the router.
    let layered = Router::new()
        .route(
            ROUTE,
            post(describe).route_layer(KirimLayer::new(receiver())),
        )
        .layer(DefaultBodyLimit::max(1000));
    {
        let (what, app) = ("layer", layered);
        let addr = serve(app).await;
        let over = vec![b'x'; 1001];
        let fits = vec![b'y'; 1000];
        let declared = send(
            addr,
            &Delivery::kirim("contact.created", &event_id(), &over),
        )
        .await;
        assert_eq!(declared.status, 413, "{what}, content-length: {declared:?}");
        let chunked = send_chunked(
            addr,
            &Delivery::kirim("contact.created", &event_id(), &over),
            300,
        )
        .await;
        assert_eq!(chunked.status, 413, "{what}, chunked: {chunked:?}");
        let answer = send_chunked(
            addr,
            &Delivery::kirim("contact.created", &event_id(), &fits),
            300,
        )
        .await;
        assert_eq!(answer.status, 200, "{what}, at axum's limit: {answer:?}");
        assert_eq!(declared.body, bodies::TOO_LARGE);
        assert_eq!(chunked.body, bodies::TOO_LARGE);
    }
}

#[tokio::test]
async fn disabling_axums_limit_leaves_ours() {
    // axum's default (2 MB) would refuse 2.5 MB; with it disabled, our 3 MB limit decides.
    let limit = 3 * 1024 * 1024;
    let ours = Arc::new(Receiver::new(verifier()).with_max_body_bytes(limit));
    let app = Router::new()
        .route(
            ROUTE,
            post(describe).route_layer(KirimLayer::new(Arc::clone(&ours))),
        )
        .layer(DefaultBodyLimit::disable());
    let addr = serve(app).await;
    let big = vec![b'z'; 2_500_000];
    let answer = send(addr, &Delivery::kirim("contact.created", &event_id(), &big)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.body.ends_with(" 2500000"), "{}", answer.body);
    let over = vec![b'z'; limit + 1];
    let answer = send(
        addr,
        &Delivery::kirim("contact.created", &event_id(), &over),
    )
    .await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (413, bodies::TOO_LARGE)
    );
}

#[cfg(feature = "json")]
#[derive(serde::Deserialize)]
struct Envelope<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
}

#[cfg(feature = "json")]
async fn typed(webhook: KirimWebhook) -> Result<String, KirimRejection> {
    let envelope: Envelope<'_> = webhook.json()?;
    Ok(format!("{} {}", envelope.kind, envelope.id))
}

#[cfg(feature = "json")]
#[tokio::test]
async fn typed_json_is_400_when_malformed() {
    let log = Log::default();
    let _guard = log.capture();
    let shared = Arc::new(receiver());
    let app = Router::new().route(
        ROUTE,
        post(typed).route_layer(KirimLayer::new(Arc::clone(&shared))),
    );
    let addr = serve(app).await;

    let good = Delivery::kirim("contact.created", &event_id(), fixtures::CONTACT_CREATED);
    let answer = send(addr, &good).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, "contact.created evt_01HXYZABCDEFGHJKMNPQRSTVW1")
    );

    let secret_word = "SENSITIVE-PAYLOAD-WORD";
    let malformed = format!("{{\"id\": \"evt_1\", \"type\": {secret_word}}}");
    let bad = Delivery::kirim("contact.created", &event_id(), malformed.as_bytes());
    let answer = send(addr, &bad).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (400, "invalid JSON body")
    );
    // A 400 is not a success: the claim was released, so a fixed retry would be processed.
    let again = bad.retry();
    assert_eq!(send(addr, &again).await.status, 400);
    let log = log.text();
    assert!(log.contains("not the expected JSON"), "{log}");
    assert!(
        !log.contains(secret_word),
        "the body leaked into the log: {log}"
    );
}

#[tokio::test]
async fn refusals_are_generic_to_the_caller_and_precise_in_the_log() {
    let log = Log::default();
    let _guard = log.capture();
    let app = Router::new().route(
        ROUTE,
        post(describe).route_layer(KirimLayer::new(Receiver::new(verifier()))),
    );
    let addr = serve(app).await;

    let good = Delivery::kirim("contact.created", &event_id(), fixtures::CONTACT_CREATED);
    let body = fixtures::CONTACT_CREATED;
    let forged = good
        .clone()
        .with_header("x-kirim-signature", &signer().forged(now(), body));
    let answer = send(addr, &forged).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (401, bodies::INVALID_SIGNATURE)
    );
    let expired = good
        .clone()
        .with_header("x-kirim-signature", &signer().expired(now(), body));
    let answer = send(addr, &expired).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (401, bodies::INVALID_SIGNATURE)
    );
    let unsigned = good.without_header("x-kirim-signature");
    let answer = send(addr, &unsigned).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (400, bodies::BAD_REQUEST)
    );

    // The refusals were logged at debug with their reason, never with a secret or the body.
    let log = log.text();
    assert!(log.contains("DEBUG"), "{log}");
    assert!(
        log.contains("no signature matched any configured secret"),
        "{log}"
    );
    assert!(log.contains("signature timestamp is 36"), "{log}");
    assert!(
        log.contains("request has no x-kirim-signature header"),
        "{log}"
    );
    assert!(!log.contains(kirim_test_support::http::SECRET), "{log}");
    assert!(!log.contains("John Doe"), "{log}");
}

#[tokio::test]
async fn layer_puts_the_body_back() {
    let shared = Arc::new(receiver());
    let handler = |Extension(webhook): Extension<KirimWebhook>, body: Bytes| async move {
        assert_eq!(&body, webhook.body());
        format!("{} {}", webhook.delivery().event(), body.len())
    };
    let app = Router::new().route(
        ROUTE,
        post(handler).route_layer(KirimLayer::new(Arc::clone(&shared))),
    );
    let addr = serve(app).await;
    let delivery = Delivery::meta(
        "message.received",
        "wamid.HBgNlayer",
        fixtures::MESSAGE_RECEIVED,
    );
    let answer = send_chunked(addr, &delivery, 100).await;
    assert_eq!(
        (answer.status, answer.body),
        (
            200,
            format!("message.received {}", fixtures::MESSAGE_RECEIVED.len())
        )
    );
    // Other methods are not webhooks: 405, not a signature error.
    assert_eq!(raw_status(addr, "GET").await, 405);
    // Under the layer, dedup is on: the same event again is a duplicate, handler not run.
    let retry = delivery.retry();
    let answer = send(addr, &retry).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, bodies::DUPLICATE)
    );
}

/// The status of a bodiless request with `method` to the webhook route.
async fn raw_status(addr: SocketAddr, method: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("{method} {ROUTE} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer.split(' ').nth(1).unwrap().parse().unwrap()
}
