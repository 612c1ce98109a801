//! What is particular to actix, over real HTTP: `web::Json`/`web::Bytes` after the middleware,
//! middleware order, the extractor without the middleware, the rejection's logs.
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests: a failed step is a failed test

mod support;

use std::io;
use std::sync::{Arc, Mutex, OnceLock};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::{DefaultHeaders, Next, from_fn};
use actix_web::{Error, HttpResponse, web};
use kirim_test_support::http::{
    Delivery, LIMIT, Probe, ROUTE, SECRET, fixtures, receiver, send, send_chunked,
};
use kirim_verify::flow::{bodies, names};
use kirim_verify::{Secret, Signer};
use kirim_verify_actix::{KirimMiddleware, KirimRejection, KirimWebhook};
use serde::Deserialize;

fn unique_id() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("evt_{:013}{:013}", std::process::id(), n)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn forged(delivery: Delivery) -> Delivery {
    let other = Signer::new([Secret::new("whsec_someone_else").unwrap()]).unwrap();
    let signature = other.sign(now(), &delivery.body);
    delivery.with_header(names::SIGNATURE, &signature)
}

/// Every log line of this test binary, captured (the servers' worker threads log too, so the
/// subscriber is global).
fn logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    Arc::clone(LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = {
            let buffer = Arc::clone(&buffer);
            move || Capture(Arc::clone(&buffer))
        };
        tracing_subscriber::fmt()
            .with_writer(writer)
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .init();
        buffer
    }))
}

fn logged() -> String {
    String::from_utf8_lossy(&logs().lock().unwrap()).into_owned()
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[derive(Deserialize)]
struct Envelope {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    livemode: Option<bool>,
}

async fn typed(envelope: web::Json<Envelope>, webhook: KirimWebhook) -> HttpResponse {
    let livemode = envelope.livemode;
    let id = webhook.delivery().event_id();
    HttpResponse::Ok().body(format!(
        "{} {} {livemode:?} {id}",
        envelope.kind, envelope.id
    ))
}

async fn raw(bytes: web::Bytes, webhook: KirimWebhook) -> HttpResponse {
    HttpResponse::Ok().body(format!("{} {}", bytes.len(), bytes == *webhook.body()))
}

async fn parsed(webhook: KirimWebhook) -> Result<HttpResponse, KirimRejection> {
    let envelope: Envelope = webhook.json()?;
    Ok(HttpResponse::Ok().body(envelope.kind))
}

async fn behind_the_middleware<F, Args>(handler: F) -> kirim_test_support::http::TestServer
where
    F: actix_web::Handler<Args> + Clone + Send + 'static,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    let middleware = KirimMiddleware::new(receiver());
    support::serve(move |cfg| {
        cfg.service(
            web::resource(ROUTE)
                .wrap(middleware.clone())
                .route(web::post().to(handler.clone())),
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_json_and_bytes_still_work_after_the_middleware() {
    let json = behind_the_middleware(typed).await;
    let id = unique_id();
    let expected = format!("contact.created evt_01HXYZABCDEFGHJKMNPQRSTVW1 Some(true) {id}");
    let delivery = Delivery::kirim("contact.created", &id, fixtures::CONTACT_CREATED);
    let answer = send(json.addr, &delivery).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, expected.as_str())
    );
    // The middleware answered the retry; the handler's extractors never ran.
    let retry = delivery.retry();
    let answer = send(json.addr, &retry).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, bodies::DUPLICATE)
    );
    let id = unique_id();
    let expected = format!("contact.created evt_01HXYZABCDEFGHJKMNPQRSTVW1 Some(true) {id}");
    // Signed at another second: the same bytes under the same `t` would be a replay.
    let chunked =
        Delivery::kirim("contact.created", &id, fixtures::CONTACT_CREATED).resigned(now() - 2);
    let answer = send_chunked(json.addr, &chunked, 7).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, expected.as_str())
    );

    let bytes = behind_the_middleware(raw).await;
    let expected = format!("{} true", fixtures::MESSAGE_RECEIVED.len());
    let delivery = Delivery::meta("message.received", "wamid.1", fixtures::MESSAGE_RECEIVED);
    let answer = send_chunked(bytes.addr, &delivery, 100).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, expected.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_json_is_400_and_releases_the_claim() {
    let middleware = KirimMiddleware::new(receiver());
    let server = support::serve(move |cfg| {
        cfg.service(
            web::resource(ROUTE)
                .wrap(middleware.clone())
                .route(web::post().to(parsed)),
        );
    })
    .await;
    let good = Delivery::kirim("contact.created", &unique_id(), fixtures::CONTACT_CREATED);
    let answer = send(server.addr, &good).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, "contact.created")
    );

    let bad = Delivery::kirim("contact.created", &unique_id(), b"{\"id\": 1, \"type\": [");
    let answer = send(server.addr, &bad).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (400, "invalid JSON body")
    );
    // A 400 from the handler is not a success: the same bytes again are handled again, not
    // answered `duplicate`.
    let answer = send(server.addr, &bad).await;
    assert_eq!(answer.status, 400, "{answer:?}");
}

/// Records that it ran, and refuses with an `Err` when asked to.
async fn inner(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let webhook = req.extract::<KirimWebhook>().await?;
    if req.headers().contains_key("x-test-inner-error") {
        return Err(actix_web::error::ErrorServiceUnavailable("inner refused"));
    }
    let event = HeaderValue::from_str(webhook.delivery().event())?;
    let mut response = next.call(req).await?;
    response
        .headers_mut()
        .insert(HeaderName::from_static("x-inner-event"), event);
    Ok(response)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn middleware_order_outside_sees_everything_inside_only_admitted() {
    let probe = Probe::default();
    let middleware = KirimMiddleware::new(receiver());
    let server = support::serve({
        let probe = probe.clone();
        move |cfg| {
            cfg.app_data(web::Data::new(probe.clone())).service(
                // The last `wrap` is the outermost.
                web::resource(ROUTE)
                    .wrap(from_fn(inner))
                    .wrap(middleware.clone())
                    .wrap(DefaultHeaders::new().add(("x-outer", "seen")))
                    .route(web::post().to(support::probe_handler)),
            );
        }
    })
    .await;
    let header =
        |answer: &kirim_test_support::http::Answer, name: &str| answer.headers.get(name).cloned();

    let id = unique_id();
    let first = Delivery::kirim("contact.created", &id, fixtures::CONTACT_CREATED);
    let answer = send(server.addr, &first).await;
    assert_eq!((answer.status, answer.body.as_str()), (200, bodies::OK));
    assert_eq!(header(&answer, "x-outer").as_deref(), Some("seen"));
    assert_eq!(
        header(&answer, "x-inner-event").as_deref(),
        Some("contact.created")
    );

    let retry = first.retry();
    let answer = send(server.addr, &retry).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, bodies::DUPLICATE)
    );
    assert_eq!(header(&answer, "x-outer").as_deref(), Some("seen"));
    assert_eq!(header(&answer, "x-inner-event"), None);

    let bad = forged(Delivery::kirim(
        "contact.created",
        &unique_id(),
        fixtures::CONTACT_CREATED,
    ));
    let answer = send(server.addr, &bad).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (401, bodies::INVALID_SIGNATURE)
    );
    assert_eq!(header(&answer, "x-outer").as_deref(), Some("seen"));
    assert_eq!(header(&answer, "x-inner-event"), None);

    // An `Err` from inside releases the claim: Kirim's retry is processed.
    let refused_id = unique_id();
    let refused = Delivery::kirim("contact.updated", &refused_id, fixtures::CONTACT_UPDATED)
        .with_header("x-test-inner-error", "1");
    assert_eq!(send(server.addr, &refused).await.status, 503);
    let retry = refused.retry().without_header("x-test-inner-error");
    let answer = send(server.addr, &retry).await;
    assert_eq!((answer.status, answer.body.as_str()), (200, bodies::OK));

    assert_eq!((probe.count(&id), probe.count(&refused_id)), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extractor_without_the_middleware_refuses_loudly() {
    let logs = logs();
    let probe = Probe::default();
    let handler_probe = probe.clone();
    let server = support::serve(move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(web::Data::new(handler_probe.clone()))
            .route(ROUTE, web::post().to(support::probe_handler));
    })
    .await;
    let delivery = Delivery::kirim("contact.created", &unique_id(), fixtures::CONTACT_CREATED);
    let answer = send(server.addr, &delivery).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (500, "internal server error")
    );
    assert!(probe.calls().is_empty(), "the handler must not run");

    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    let line = text
        .lines()
        .find(|l| l.contains("without KirimMiddleware"))
        .unwrap_or_else(|| panic!("no log of the refusal in {text:?}"));
    assert!(line.contains("ERROR"), "{line}");
    assert!(
        line.contains("wrap the webhook route in `.wrap(KirimMiddleware::new(receiver))`"),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_never_carry_secrets_or_bodies() {
    let _ = logs();
    // Only what was logged from here on (other tests in this binary log too).
    let before = logged().len();
    let middleware = KirimMiddleware::new(receiver());
    let server = support::serve(move |cfg| {
        cfg.service(
            web::resource(ROUTE)
                .wrap(middleware.clone())
                .route(web::post().to(parsed)),
        );
    })
    .await;
    let marker = "body-marker-that-must-not-be-logged";
    // serde_json would quote the value in its message: `invalid type: string "…"`.
    let body = format!("{{\"id\":\"x\",\"type\":\"y\",\"livemode\":\"{marker}\"}}");
    let bad_json = Delivery::kirim("contact.created", &unique_id(), body.as_bytes());
    assert_eq!(send(server.addr, &bad_json).await.status, 400);
    let forged_one = forged(Delivery::kirim(
        "contact.created",
        &unique_id(),
        body.as_bytes(),
    ));
    assert_eq!(send(server.addr, &forged_one).await.status, 401);
    let oversized = Delivery::kirim("contact.created", &unique_id(), &vec![b'q'; LIMIT + 1]);
    assert_eq!(
        send_chunked(server.addr, &oversized, 4096).await.status,
        413
    );

    // The refusals were logged, for the operator, without what must stay private. They are
    // logged where they are made, before the answer is sent.
    let text = logged().split_off(before);
    assert!(
        text.contains("no signature matched any configured secret"),
        "{text}"
    );
    assert!(
        text.contains("webhook body is not the expected JSON"),
        "{text}"
    );
    assert!(!text.contains(marker));
    assert!(!text.contains(SECRET));
    assert!(!text.contains("whsec_someone_else"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_post_route_other_methods_still_get_405() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let probe = Probe::default();
    let middleware = KirimMiddleware::new(receiver());
    let server = support::serve({
        let probe = probe.clone();
        move |cfg| {
            cfg.app_data(web::Data::new(probe.clone())).service(
                web::resource(ROUTE).route(
                    web::post()
                        .to(support::probe_handler)
                        .wrap(middleware.clone()),
                ),
            );
        }
    })
    .await;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let request = format!("GET {ROUTE} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");

    let delivery = Delivery::kirim("contact.created", &unique_id(), fixtures::CONTACT_CREATED);
    let answer = send(server.addr, &delivery).await;
    assert_eq!((answer.status, answer.body.as_str()), (200, bodies::OK));
    assert_eq!(probe.calls().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_is_answered_500_and_logged_with_its_message() {
    let _ = logs();
    let probe = Probe::default();
    let middleware = KirimMiddleware::new(receiver());
    let server = support::serve({
        let probe = probe.clone();
        move |cfg| {
            cfg.app_data(web::Data::new(probe.clone())).service(
                web::resource(ROUTE).route(
                    web::post()
                        .to(support::probe_handler)
                        .wrap(middleware.clone()),
                ),
            );
        }
    })
    .await;
    let delivery = Delivery::kirim("contact.created", &unique_id(), fixtures::CONTACT_CREATED)
        .with_header(kirim_test_support::http::BEHAVIOUR_HEADER, "panic");
    let answer = send(server.addr, &delivery).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (500, "internal server error")
    );
    let text = logged();
    let line = text
        .lines()
        .find(|l| l.contains("kirim webhook handler panicked"))
        .unwrap_or_else(|| panic!("no log of the panic in {text:?}"));
    assert!(line.contains("ERROR"), "{line}");
    assert!(
        line.contains("the handler panics, as the test asked"),
        "{line}"
    );
}
