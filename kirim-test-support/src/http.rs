//! The HTTP conformance suite both framework adapters pass: real requests over 127.0.0.1 to a
//! real server, checking every row of the spec's response table.
//!
//! An adapter's test provides one function: given a [`Receiver`] and a [`Probe`], start a server
//! with `POST /webhooks/kirim` wired through the adapter, whose handler calls
//! [`Probe::handle`] with the verified delivery and answers as the returned [`Outcome`] says.
//! Then [`http_conformance!`](crate::http_conformance) generates one `#[tokio::test]` per case.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kirim_verify::flow::names;
use kirim_verify::{Dedup, MemoryStore, Receiver, Secret, Signer, Verifier};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The route every adapter under test serves.
pub const ROUTE: &str = "/webhooks/kirim";

/// Test-only request header telling the handler how to behave: `fail`, `panic` or
/// `sleep-<ms>`. Not part of the Kirim protocol (and not signed, which does not matter here).
pub const BEHAVIOUR_HEADER: &str = "x-test-behaviour";

/// The body limit the suite configures.
pub const LIMIT: usize = 64 * 1024;

/// The current secret (index 0, label `current`).
pub const SECRET: &str = "whsec_test";
/// The secret being rotated in (index 1, label `next`).
pub const NEXT_SECRET: &str = "whsec_rotating";

/// The example bodies, as delivered (copied from the project's shared fixtures).
pub mod fixtures {
    /// `contact.created`, a Kirim-native event.
    pub const CONTACT_CREATED: &[u8] = include_bytes!("../fixtures/events/contact.created.json");
    /// `contact.updated`, a Kirim-native event.
    pub const CONTACT_UPDATED: &[u8] = include_bytes!("../fixtures/events/contact.updated.json");
    /// `conversation.assigned`, a Kirim-native event.
    pub const CONVERSATION_ASSIGNED: &[u8] =
        include_bytes!("../fixtures/events/conversation.assigned.json");
    /// `conversation.closed`, a Kirim-native event.
    pub const CONVERSATION_CLOSED: &[u8] =
        include_bytes!("../fixtures/events/conversation.closed.json");
    /// `message.received`, a Meta event.
    pub const MESSAGE_RECEIVED: &[u8] = include_bytes!("../fixtures/events/message.received.json");
    /// `message.status` (sent): same wamid as [`MESSAGE_STATUS_DELIVERED`].
    pub const MESSAGE_STATUS_SENT: &[u8] =
        include_bytes!("../fixtures/events/message.status.sent.json");
    /// `message.status` (delivered): same wamid as [`MESSAGE_STATUS_SENT`].
    pub const MESSAGE_STATUS_DELIVERED: &[u8] =
        include_bytes!("../fixtures/events/message.status.delivered.json");
    /// The wamid both `message.status` fixtures carry.
    pub const STATUS_WAMID: &str = "wamid.HBgNNjI4MTExMTExMTExFQIAERgSQUJDREVGMTIzNDU2Nzg5MAA=";
}

/// What the handler under test must answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 200 `ok`.
    Ok,
    /// 500: the handler failed.
    Fail,
    /// Panic inside the handler.
    Panic,
}

/// Records what the handler under test saw. Cloned into the server's handler.
#[derive(Debug, Clone, Default)]
pub struct Probe {
    calls: Arc<Mutex<Vec<Call>>>,
    running: Arc<AtomicUsize>,
}

/// One call of the handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// `X-Kirim-Event-Id` as the adapter reported it.
    pub event_id: String,
    /// `X-Kirim-Event` as the adapter reported it.
    pub event: String,
    /// The raw body the handler received.
    pub body: Vec<u8>,
    /// The index of the secret that verified it.
    pub secret_index: usize,
    /// The label of that secret.
    pub secret_label: Option<String>,
}

impl Probe {
    /// Called by the handler under test with what the adapter gave it, and the raw value of
    /// [`BEHAVIOUR_HEADER`]; sleeps if asked, records the call, and says what to answer.
    pub async fn handle(&self, call: Call, behaviour: Option<&[u8]>) -> Outcome {
        self.running.fetch_add(1, Ordering::SeqCst);
        let behaviour = behaviour
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("");
        if let Some(ms) = behaviour.strip_prefix("sleep-") {
            let ms = ms.parse().unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(call);
        self.running.fetch_sub(1, Ordering::SeqCst);
        match behaviour {
            "fail" => Outcome::Fail,
            "panic" => Outcome::Panic,
            _ => Outcome::Ok,
        }
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// How many times the handler ran for an event id.
    pub fn count(&self, event_id: &str) -> usize {
        self.calls()
            .iter()
            .filter(|c| c.event_id == event_id)
            .count()
    }
}

/// A running server under test; dropping it may stop the server.
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Anything that must live as long as the server (a join handle, a shutdown sender).
    pub guard: Box<dyn std::any::Any + Send>,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// The verifier every case uses: the current and the next secret, labelled.
pub fn verifier() -> Verifier {
    let secrets = [
        Secret::new(SECRET).map(|s| s.with_label("current")),
        Secret::new(NEXT_SECRET).map(|s| s.with_label("next")),
    ];
    let secrets: Vec<Secret> = secrets
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap_or_default();
    Verifier::new(secrets).unwrap_or_else(|e| panic!("suite verifier: {e}"))
}

/// The receiver most cases use: [`verifier`], a [`MemoryStore`], short lease, [`LIMIT`].
pub fn receiver() -> Receiver {
    Receiver::new(verifier())
        .with_dedup(Dedup::new(MemoryStore::new()).with_lease(Duration::from_secs(5)))
        .with_max_body_bytes(LIMIT)
}

fn signer(secrets: &[&str]) -> Signer {
    let secrets = secrets
        .iter()
        .map(|s| Secret::new(*s).unwrap_or_else(|e| panic!("{e}")));
    Signer::new(secrets).unwrap_or_else(|e| panic!("{e}"))
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A delivery to send: body and headers.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Request headers, in order.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Vec<u8>,
}

impl Delivery {
    /// A Kirim-native delivery signed now with [`SECRET`].
    pub fn kirim(event: &str, event_id: &str, body: &[u8]) -> Self {
        Self::signed(
            event,
            event_id,
            "kirim",
            body,
            &signer(&[SECRET]).sign(now(), body),
        )
    }

    /// A Meta delivery signed now with [`SECRET`].
    pub fn meta(event: &str, event_id: &str, body: &[u8]) -> Self {
        Self::signed(
            event,
            event_id,
            "meta",
            body,
            &signer(&[SECRET]).sign(now(), body),
        )
    }

    /// A delivery with an explicit signature header value.
    pub fn signed(event: &str, event_id: &str, source: &str, body: &[u8], signature: &str) -> Self {
        Self {
            headers: vec![
                ("content-type".into(), "application/json".into()),
                (names::SIGNATURE.into(), signature.into()),
                (names::EVENT.into(), event.into()),
                (names::EVENT_ID.into(), event_id.into()),
                (names::SOURCE.into(), source.into()),
                (names::DELIVERY_ID.into(), format!("wbd_{}", unique())),
                (names::ATTEMPT.into(), "1".into()),
                ("user-agent".into(), "Kirim-Webhook/1.0".into()),
            ],
            body: body.to_vec(),
        }
    }

    /// Replaces (or adds) a header.
    #[must_use]
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Removes a header.
    #[must_use]
    pub fn without_header(mut self, name: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self
    }

    /// Re-signs now, as Kirim does for every retry (a fresh `t`, so a fresh signature).
    #[must_use]
    pub fn resigned(self, t: u64) -> Self {
        let signature = signer(&[SECRET]).sign(t, &self.body);
        self.with_header(names::SIGNATURE, &signature)
    }

    /// Kirim's retry of this delivery: the same event and bytes, re-signed with [`SECRET`] one
    /// second before this one's `t`, so that its signature differs whatever the clock did in
    /// between (a retry is then caught by the event's key, not by the replay guard).
    pub fn retry(self) -> Self {
        let t = self.signed_at();
        self.resigned(t - 1)
    }

    /// The `t` of this delivery's signature header.
    pub fn signed_at(&self) -> u64 {
        self.headers
            .iter()
            .find(|(name, _)| name == names::SIGNATURE)
            .and_then(|(_, value)| value.split(',').find_map(|e| e.trim().strip_prefix("t=")))
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("no t in {:?}", self.headers))
    }
}

fn unique() -> u64 {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    (now() << 20) ^ NEXT.fetch_add(1, Ordering::Relaxed) as u64
}

/// A fresh id with a prefix (`evt` → `evt_<26 digits>`), unique within the process.
pub fn unique_id(prefix: &str) -> String {
    format!("{prefix}_{:026}", unique())
}

/// An answer from the server.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Response headers (lowercase names).
    pub headers: HashMap<String, String>,
    /// Body, as text (lossy).
    pub body: String,
}

/// Sends a delivery with `Content-Length`, over a fresh connection.
pub async fn send(addr: SocketAddr, delivery: &Delivery) -> Answer {
    let mut request = with_content_length(addr, delivery);
    request.extend_from_slice(&delivery.body);
    exchange(addr, &request).await
}

/// Sends a delivery with `Content-Length`, stopping for `pause` halfway through the body, as a
/// slow (or malicious) client would.
pub async fn send_slowly(addr: SocketAddr, delivery: &Delivery, pause: Duration) -> Answer {
    let (head, tail) = delivery.body.split_at(delivery.body.len() / 2);
    let mut first = with_content_length(addr, delivery);
    first.extend_from_slice(head);
    let mut stream = connect(addr).await;
    let _ = stream.write_all(&first).await;
    tokio::time::sleep(pause).await;
    let _ = stream.write_all(tail).await;
    read_answer(stream).await
}

/// The request line and headers of `delivery`, with its `Content-Length`.
fn with_content_length(addr: SocketAddr, delivery: &Delivery) -> Vec<u8> {
    let mut head = format!("POST {ROUTE} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
    for (name, value) in &delivery.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("content-length: {}\r\n\r\n", delivery.body.len()));
    head.into_bytes()
}

/// Sends a delivery with `Transfer-Encoding: chunked` and no `Content-Length`, in chunks of
/// `chunk` bytes.
pub async fn send_chunked(addr: SocketAddr, delivery: &Delivery, chunk: usize) -> Answer {
    let mut head = format!(
        "POST {ROUTE} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ntransfer-encoding: chunked\r\n"
    );
    for (name, value) in &delivery.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut request = head.into_bytes();
    for piece in delivery.body.chunks(chunk.max(1)) {
        request.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        request.extend_from_slice(piece);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    exchange(addr, &request).await
}

/// Writes a raw request and reads the whole response (the request asks the server to close).
/// A server may answer early (413) and close before reading everything: a write error after
/// the answer started is not a failure.
async fn exchange(addr: SocketAddr, request: &[u8]) -> Answer {
    let mut stream = connect(addr).await;
    let _ = stream.write_all(request).await;
    read_answer(stream).await
}

async fn connect(addr: SocketAddr) -> tokio::net::TcpStream {
    tokio::net::TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"))
}

/// Reads the whole response; the request asked the server to close.
async fn read_answer(mut stream: tokio::net::TcpStream) -> Answer {
    let mut raw = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw)).await;
    match read {
        Ok(Ok(_)) => {}
        // A reset after the response arrived (the server closed with unread input) is fine.
        Ok(Err(_)) if !raw.is_empty() => {}
        Ok(Err(e)) => panic!("reading the answer: {e}"),
        Err(_) => panic!("no answer within 10 s"),
    }
    parse_answer(&raw)
}

fn parse_answer(raw: &[u8]) -> Answer {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP head in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line in {head:?}"));
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .get("transfer-encoding")
        .is_some_and(|te| te.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&raw[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok())
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = eol + 2;
        let end = (start + size).min(raw.len());
        body.extend_from_slice(&raw[start..end]);
        raw = raw.get(end + 2..).unwrap_or(&[]);
    }
    body
}

fn assert_answer(answer: &Answer, status: u16, body: &str, what: &str) {
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (status, body),
        "{what}: got {answer:?}"
    );
}

/// The cases, each a function of the adapter's `spawn`. See [`http_conformance!`](crate::http_conformance).
pub mod cases {
    use super::*;
    use kirim_verify::flow::bodies;

    /// First delivery: 200 `ok`, handler ran with the raw body, event and secret reported.
    pub async fn first_delivery_is_processed<F, Fut>(spawn: F)
    where
        F: Fn(Receiver, Probe) -> Fut,
        Fut: Future<Output = TestServer>,
    {
        let probe = Probe::default();
        let server = spawn(receiver(), probe.clone()).await;
        let id = unique_id("evt");
        let answer = send(
            server.addr,
            &Delivery::kirim("contact.created", &id, fixtures::CONTACT_CREATED),
        )
        .await;
        assert_answer(&answer, 200, bodies::OK, "first delivery");
        let calls = probe.calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].event_id, id);
        assert_eq!(calls[0].event, "contact.created");
        assert_eq!(calls[0].body, fixtures::CONTACT_CREATED);
        assert_eq!(
            (calls[0].secret_index, calls[0].secret_label.as_deref()),
            (0, Some("current"))
        );
    }

    /// A retry (re-signed, same event id): 200 `duplicate`, the handler does not run again.
    pub async fn retry_is_a_duplicate<F, Fut>(spawn: F)
    where
        F: Fn(Receiver, Probe) -> Fut,
        Fut: Future<Output = TestServer>,
    {
        let probe = Probe::default();
        let server = spawn(receiver(), probe.clone()).await;
        let id = unique_id("evt");
        let first = Delivery::kirim("contact.created", &id, fixtures::CONTACT_CREATED);
        assert_answer(&send(server.addr, &first).await, 200, bodies::OK, "first");
        let retry = first.retry().with_header(names::ATTEMPT, "2");
        assert_answer(
            &send(server.addr, &retry).await,
            200,
            bodies::DUPLICATE,
            "retry",
        );
        assert_eq!(probe.count(&id), 1);
    }

    /// The same signed request re-sent under another event id: the replay guard answers
    /// `duplicate` and the handler does not run.
    pub async fn replayed_signature_is_a_duplicate<F, Fut>(spawn: F)
    where
        F: Fn(Receiver, Probe) -> Fut,
        Fut: Future<Output = TestServer>,
    {
        let probe = Probe::default();
        let server = spawn(receiver(), probe.clone()).await;
        let id = unique_id("evt");
        let first = Delivery::kirim("contact.created", &id, fixtures::CONTACT_CREATED);
        assert_answer(&send(server.addr, &first).await, 200, bodies::OK, "first");
        let other_id = unique_id("evt");
        let replay = first.with_header(names::EVENT_ID, &other_id);
        assert_answer(
            &send(server.addr, &replay).await,
            200,
            bodies::DUPLICATE,
            "replay",
        );
        assert_eq!(probe.calls().len(), 1);
    }

    /// A captured delivery replayed under another event id, its body sent so slowly that it
    /// ends after the tolerance (and after the replay guard forgot the signature): the
    /// timestamp is checked again when the body ends, so it is 401 and the handler does not
    /// run. The tolerance is 1 s here, the guard's memory 2 s.
    pub async fn slow_replay_past_the_tolerance_is_401<F, Fut>(spawn: F)
    where
        F: Fn(Receiver, Probe) -> Fut,
        Fut: Future<Output = TestServer>,
    {
        let probe = Probe::default();
        let tight = Receiver::new(verifier().with_tolerance(Duration::from_secs(1)))
            .with_dedup(Dedup::new(MemoryStore::new()).with_lease(Duration::from_secs(5)))
            .with_max_body_bytes(LIMIT);
        let server = spawn(tight, probe.clone()).await;
        let id = unique_id("evt");
        // Signed a second ahead, so that it is fresh (age 0, or 1 s ahead) when its headers
        // arrive, whatever the clock's second does meanwhile.
        let first =
            Delivery::kirim("contact.created", &id, fixtures::CONTACT_CREATED).resigned(now() + 1);
        assert_answer(&send(server.addr, &first).await, 200, bodies::OK, "first");
        let forged = unique_id("evt");
        let replay = first.with_header(names::EVENT_ID, &forged);
        let answer = send_slowly(server.addr, &replay, Duration::from_millis(3500)).await;
        assert_answer(&answer, 401, bodies::INVALID_SIGNATURE, "slow replay");
        assert_eq!((probe.count(&id), probe.count(&forged)), (1, 0));
    }

    /// During a rotation Kirim sends one `v1` per active secret; a receiver that knows only
    /// the new secret accepts, and reports that it matched.
    pub async fn rotation_is_accepted<F, Fut>(spawn: F)
    where
        F: Fn(Receiver, Probe) -> Fut,
        Fut: Future<Output = TestServer>,
    {
        let probe = Probe::default();
        let only_next = Verifier::new([Secret::new(NEXT_SECRET)
            .unwrap_or_else(|e| panic!("{e}"))
            .with_label("next")])
        .unwrap_or_else(|e| panic!("{e}"));
        let server = spawn(
            Receiver::new(only_next).with_dedup(Dedup::new(MemoryStore::new())),
            probe.clone(),
        )
        .await;
        let id = unique_id("evt");
        let body = fixtures::CONTACT_UPDATED;
        let header = signer(&[SECRET, NEXT_SECRET]).sign(now(), body);
        let delivery = Delivery::signed("contact.updated", &id, "kirim", body, &header);
        assert_answer(
            &send(server.addr, &delivery).await,
            200,
            bodies::OK,
            "rotation",
        );
        let calls = probe.calls();
        assert_eq!(
            (calls.len(), calls[0].secret_label.as_deref()),
            (1, Some("next"))
        );
    }

    /// `message.status` sent, then delivered, same wamid: both processed; a retry of one is a
    /// duplicate.
    pub async fn message_status_changes_are_distinct<F, Fut>(spawn: F)
    where
        F: Fn(Receiver, Probe) -> Fut,
        Fut: Future<Output = TestServer>,
    {
        let probe = Probe::default();
        let server = spawn(receiver(), probe.clone()).await;
        let sent = Delivery::meta(
            "message.status",
            fixtures::STATUS_WAMID,
            fixtures::MESSAGE_STATUS_SENT,
        );
        let delivered = Delivery::meta(
            "message.status",
            fixtures::STATUS_WAMID,
            fixtures::MESSAGE_STATUS_DELIVERED,
        );
        assert_answer(&send(server.addr, &sent).await, 200, bodies::OK, "sent");
        assert_answer(
            &send(server.addr, &delivered).await,
            200,
            bodies::OK,
            "delivered",
        );
        let retry = delivered.resigned(now() - 2);
        assert_answer(
            &send(server.addr, &retry).await,
            200,
            bodies::DUPLICATE,
            "delivered retry",
        );
        assert_eq!(probe.count(fixtures::STATUS_WAMID), 2);
    }

    /// An unknown event type, a Meta body, and a body that is not UTF-8: all acknowledged.
    pub async fn unknown_event_and_odd_bodies_are_acknowledged<F, Fut>(spawn: F)
    where
        F: Fn(Receiver, Probe) -> Fut,
        Fut: Future<Output = TestServer>,
    {
        let probe = Probe::default();
        let server = spawn(receiver(), probe.clone()).await;
        let unknown = Delivery::kirim("invoice.paid", &unique_id("evt"), b"{\"future\":true}");
        assert_answer(
            &send(server.addr, &unknown).await,
            200,
            bodies::OK,
            "unknown event",
        );
        let meta = Delivery::meta(
            "message.received",
            "wamid.HBgN1",
            fixtures::MESSAGE_RECEIVED,
        );
        assert_answer(
            &send(server.addr, &meta).await,
            200,
            bodies::OK,
            "meta body",
        );
        let binary: &[u8] = b"\xff\xfe\x00binary\x80";
        let odd = Delivery::kirim("contact.created", &unique_id("evt"), binary);
        assert_answer(
            &send(server.addr, &odd).await,
            200,
            bodies::OK,
            "non-UTF-8 body",
        );
        let calls = probe.calls();
        assert_eq!(calls.len(), 3);
        assert_eq!(calls[2].body, binary);
    }

    /// Missing or malformed signature header, missing event id: 400 with a generic body.
    pub async fn bad_headers_are_400<F, Fut>(spawn: F)
    where
        F: Fn(Receiver, Probe) -> Fut,
        Fut: Future<Output = TestServer>,
    {
        let probe = Probe::default();
        let server = spawn(receiver(), probe.clone()).await;
        let good = Delivery::kirim(
            "contact.created",
            &unique_id("evt"),
            fixtures::CONTACT_CREATED,
        );
        for (what, delivery) in [
            (
                "no signature",
                good.clone().without_header(names::SIGNATURE),
            ),
            (
                "empty signature",
                good.clone().with_header(names::SIGNATURE, ""),
            ),
            (
                "no t",
                good.clone().with_header(
                    names::SIGNATURE,
                    &signer(&[SECRET]).without_timestamp(now(), &good.body),
                ),
            ),
            (
                "bad v1",
                good.clone()
                    .with_header(names::SIGNATURE, &format!("t={},v1=abc", now())),
            ),
            ("no event id", good.clone().without_header(names::EVENT_ID)),
            ("no event type", good.clone().without_header(names::EVENT)),
        ] {
            let answer = send(server.addr, &delivery).await;
            assert_answer(&answer, 400, bodies::BAD_REQUEST, what);
        }
        assert!(probe.calls().is_empty());
    }

    /// Forged, expired and future signatures: 401 `invalid signature`, nothing more.
    pub async fn bad_signatures_are_401<F, Fut>(spawn: F)
    where
        F: Fn(Receiver, Probe) -> Fut,
        Fut: Future<Output = TestServer>,
    {
        let probe = Probe::default();
        let server = spawn(receiver(), probe.clone()).await;
        let body = fixtures::CONTACT_CREATED;
        let s = signer(&[SECRET]);
        let t = now();
        for (what, header) in [
            ("forged", s.forged(t, body)),
            ("expired", s.expired(t, body)),
            ("future", s.future(t, body)),
            ("other body", s.sign(t, b"{}")),
        ] {
            let delivery =
                Delivery::signed("contact.created", &unique_id("evt"), "kirim", body, &header);
            let answer = send(server.addr, &delivery).await;
            assert_answer(&answer, 401, bodies::INVALID_SIGNATURE, what);
        }
        assert!(probe.calls().is_empty());
    }

    /// A body over the limit: 413 whether declared by `Content-Length` or sent chunked; a body
    /// exactly at the limit is processed, chunked or not.
    pub async fn oversized_bodies_are_413<F, Fut>(spawn: F)
    where
        F: Fn(Receiver, Probe) -> Fut,
        Fut: Future<Output = TestServer>,
    {
        let probe = Probe::default();
        let server = spawn(receiver(), probe.clone()).await;
        let big = vec![b'a'; LIMIT + 1];
        // Two different bodies: the same body signed in the same second would carry the same
        // signature, and the replay guard would rightly call the second a duplicate.
        let at_limit = vec![b'b'; LIMIT];
        let at_limit_too = vec![b'c'; LIMIT];
        let over = Delivery::kirim("contact.created", &unique_id("evt"), &big);
        assert_answer(
            &send(server.addr, &over).await,
            413,
            bodies::TOO_LARGE,
            "content-length",
        );
        let over = Delivery::kirim("contact.created", &unique_id("evt"), &big);
        assert_answer(
            &send_chunked(server.addr, &over, 4096).await,
            413,
            bodies::TOO_LARGE,
            "chunked",
        );
        let fits = Delivery::kirim("contact.created", &unique_id("evt"), &at_limit);
        assert_answer(
            &send(server.addr, &fits).await,
            200,
            bodies::OK,
            "at the limit",
        );
        let fits = Delivery::kirim("contact.created", &unique_id("evt"), &at_limit_too);
        assert_answer(
            &send_chunked(server.addr, &fits, 1000).await,
            200,
            bodies::OK,
            "at the limit, chunked",
        );
        let bodies: Vec<Vec<u8>> = probe.calls().into_iter().map(|c| c.body).collect();
        assert_eq!(bodies, [at_limit, at_limit_too]);
    }

    /// 32 concurrent identical deliveries: the handler runs once; the others are told
    /// `duplicate` or to retry (503), never processed.
    pub async fn concurrent_identical_deliveries_run_once<F, Fut>(spawn: F)
    where
        F: Fn(Receiver, Probe) -> Fut,
        Fut: Future<Output = TestServer>,
    {
        let probe = Probe::default();
        let server = spawn(receiver(), probe.clone()).await;
        let id = unique_id("evt");
        let delivery = Delivery::kirim("contact.created", &id, fixtures::CONTACT_CREATED)
            .with_header(BEHAVIOUR_HEADER, "sleep-50");
        let answers = futures(32, |_| {
            let delivery = delivery.clone();
            let addr = server.addr;
            async move { send(addr, &delivery).await }
        })
        .await;
        let ok = answers
            .iter()
            .filter(|a| a.status == 200 && a.body == bodies::OK)
            .count();
        assert_eq!(ok, 1, "{answers:?}");
        for a in &answers {
            let fine = (a.status == 200 && (a.body == bodies::OK || a.body == bodies::DUPLICATE))
                || (a.status == 503 && a.headers.contains_key("retry-after"));
            assert!(fine, "{a:?}");
        }
        assert_eq!(probe.count(&id), 1);
    }

    /// The handler fails (500): the claim is released and Kirim's retry is processed.
    pub async fn failed_handler_is_retried<F, Fut>(spawn: F)
    where
        F: Fn(Receiver, Probe) -> Fut,
        Fut: Future<Output = TestServer>,
    {
        let probe = Probe::default();
        let server = spawn(receiver(), probe.clone()).await;
        let id = unique_id("evt");
        let first = Delivery::kirim(
            "conversation.assigned",
            &id,
            fixtures::CONVERSATION_ASSIGNED,
        )
        .with_header(BEHAVIOUR_HEADER, "fail");
        assert_eq!(send(server.addr, &first).await.status, 500);
        let retry = first.resigned(now()).without_header(BEHAVIOUR_HEADER);
        assert_answer(
            &send(server.addr, &retry).await,
            200,
            bodies::OK,
            "retry after failure",
        );
        assert_eq!(probe.count(&id), 2);
        // And now it is done.
        let again = retry.retry();
        assert_answer(
            &send(server.addr, &again).await,
            200,
            bodies::DUPLICATE,
            "after success",
        );
    }

    /// The handler panics: the answer is 500, the claim is released, the retry is processed.
    pub async fn panicking_handler_is_retried<F, Fut>(spawn: F)
    where
        F: Fn(Receiver, Probe) -> Fut,
        Fut: Future<Output = TestServer>,
    {
        let probe = Probe::default();
        let server = spawn(receiver(), probe.clone()).await;
        let id = unique_id("evt");
        let first = Delivery::kirim("conversation.closed", &id, fixtures::CONVERSATION_CLOSED)
            .with_header(BEHAVIOUR_HEADER, "panic");
        // The panic is caught by the flow and answered like any failure, so Kirim retries.
        assert_answer(
            &send(server.addr, &first).await,
            500,
            bodies::INTERNAL_ERROR,
            "panicking handler",
        );
        // Same bytes re-sent right away: the signature was released with the event.
        let resend = first.clone().without_header(BEHAVIOUR_HEADER);
        assert_answer(
            &send(server.addr, &resend).await,
            200,
            bodies::OK,
            "resend after panic",
        );
        assert_eq!(probe.count(&id), 2);
    }

    /// While one worker processes an event, its retry gets 503 with `Retry-After`.
    pub async fn in_progress_is_503_with_retry_after<F, Fut>(spawn: F)
    where
        F: Fn(Receiver, Probe) -> Fut,
        Fut: Future<Output = TestServer>,
    {
        let probe = Probe::default();
        let server = spawn(receiver(), probe.clone()).await;
        let id = unique_id("evt");
        let slow = Delivery::kirim("contact.created", &id, fixtures::CONTACT_CREATED)
            .with_header(BEHAVIOUR_HEADER, "sleep-1500");
        let addr = server.addr;
        let first = tokio::spawn({
            let slow = slow.clone();
            async move { send(addr, &slow).await }
        });
        // Wait until the slow handler is running.
        for _ in 0..200 {
            if probe.running.load(Ordering::SeqCst) > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            probe.running.load(Ordering::SeqCst),
            1,
            "the slow handler never started"
        );
        let retry = slow.resigned(now()).without_header(BEHAVIOUR_HEADER);
        let answer = send(addr, &retry).await;
        assert_answer(&answer, 503, bodies::UNAVAILABLE, "retry while in progress");
        let retry_after: u64 = answer
            .headers
            .get("retry-after")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no numeric Retry-After: {answer:?}"));
        assert!((1..=5).contains(&retry_after), "{retry_after}");
        let first = first.await.unwrap_or_else(|e| panic!("{e}"));
        assert_answer(&first, 200, bodies::OK, "slow first");
        assert_eq!(probe.count(&id), 1);
    }

    /// Without dedup configured, every verified delivery is processed.
    pub async fn without_dedup_every_delivery_runs<F, Fut>(spawn: F)
    where
        F: Fn(Receiver, Probe) -> Fut,
        Fut: Future<Output = TestServer>,
    {
        let probe = Probe::default();
        let server = spawn(Receiver::new(verifier()), probe.clone()).await;
        let id = unique_id("evt");
        let first = Delivery::kirim("contact.created", &id, fixtures::CONTACT_CREATED);
        assert_answer(&send(server.addr, &first).await, 200, bodies::OK, "first");
        assert_answer(
            &send(server.addr, &first).await,
            200,
            bodies::OK,
            "again, no dedup",
        );
        assert_eq!(probe.count(&id), 2);
    }

    /// The dedup store is down and the policy is to fail closed (the default): 503 with
    /// `Retry-After`, the handler does not run; Kirim retries later.
    pub async fn store_down_fails_closed<F, Fut, D, DFut, S>(spawn: F, down_store: D)
    where
        F: Fn(Receiver, Probe) -> Fut,
        Fut: Future<Output = TestServer>,
        D: Fn() -> DFut,
        DFut: Future<Output = (S, Box<dyn std::any::Any + Send>)>,
        S: kirim_verify::store::DedupStore,
    {
        let (store, _down) = down_store().await;
        let probe = Probe::default();
        let receiver = Receiver::new(verifier()).with_dedup(Dedup::new(store));
        let server = spawn(receiver, probe.clone()).await;
        let delivery = Delivery::kirim(
            "contact.created",
            &unique_id("evt"),
            fixtures::CONTACT_CREATED,
        );
        let started = std::time::Instant::now();
        let answer = send(server.addr, &delivery).await;
        assert_answer(&answer, 503, bodies::UNAVAILABLE, "store down, fail closed");
        assert!(answer.headers.contains_key("retry-after"), "{answer:?}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "took {:?}",
            started.elapsed()
        );
        assert!(probe.calls().is_empty());
    }

    /// The dedup store is down and the policy is to fail open: the delivery is processed.
    pub async fn store_down_fails_open<F, Fut, D, DFut, S>(spawn: F, down_store: D)
    where
        F: Fn(Receiver, Probe) -> Fut,
        Fut: Future<Output = TestServer>,
        D: Fn() -> DFut,
        DFut: Future<Output = (S, Box<dyn std::any::Any + Send>)>,
        S: kirim_verify::store::DedupStore,
    {
        let (store, _down) = down_store().await;
        let probe = Probe::default();
        let dedup = Dedup::new(store).with_store_failure(kirim_verify::StoreFailure::FailOpen);
        let server = spawn(Receiver::new(verifier()).with_dedup(dedup), probe.clone()).await;
        let id = unique_id("evt");
        let delivery = Delivery::kirim("contact.created", &id, fixtures::CONTACT_CREATED);
        assert_answer(
            &send(server.addr, &delivery).await,
            200,
            bodies::OK,
            "store down, fail open",
        );
        assert_eq!(probe.count(&id), 1);
    }

    async fn futures<T, Fut>(n: usize, make: impl Fn(usize) -> Fut) -> Vec<T>
    where
        Fut: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let handles: Vec<_> = (0..n).map(|i| tokio::spawn(make(i))).collect();
        let mut out = Vec::with_capacity(n);
        for h in handles {
            out.push(h.await.unwrap_or_else(|e| panic!("{e}")));
        }
        out
    }
}

/// Generates the two store-failure cases: `$down_store` is an `async fn() -> (store, guard)`
/// returning a real store whose backend is down (and whatever keeps it so).
#[macro_export]
macro_rules! http_store_down_conformance {
    ($spawn:expr, $down_store:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn store_down_fails_closed() {
            $crate::http::cases::store_down_fails_closed($spawn, $down_store).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn store_down_fails_open() {
            $crate::http::cases::store_down_fails_open($spawn, $down_store).await;
        }
    };
}

/// Generates one `#[tokio::test]` per conformance case, each calling `$spawn`, an
/// `async fn(Receiver, Probe) -> TestServer` (or a closure returning such a future).
#[macro_export]
macro_rules! http_conformance {
    ($spawn:expr) => {
        $crate::http_conformance!(@cases $spawn;
            first_delivery_is_processed,
            retry_is_a_duplicate,
            replayed_signature_is_a_duplicate,
            slow_replay_past_the_tolerance_is_401,
            rotation_is_accepted,
            message_status_changes_are_distinct,
            unknown_event_and_odd_bodies_are_acknowledged,
            bad_headers_are_400,
            bad_signatures_are_401,
            oversized_bodies_are_413,
            concurrent_identical_deliveries_run_once,
            failed_handler_is_retried,
            panicking_handler_is_retried,
            in_progress_is_503_with_retry_after,
            without_dedup_every_delivery_runs,
        );
    };
    (@cases $spawn:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                $crate::http::cases::$case($spawn).await;
            }
        )*
    };
}
