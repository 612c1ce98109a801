//! The cases, each a function of the adapter's [`Serve`]: see
//! [`http_conformance!`](crate::http_conformance).

use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::Duration;

use kirim_verify::flow::{bodies, names};
use kirim_verify::store::DedupStore;
use kirim_verify::{Dedup, MemoryStore, Receiver, Secret, Verifier};

use super::suite::{now, signer, verifier};
use super::*;

/// First delivery: 200 `ok`, handler ran with the raw body, event and secret reported.
pub async fn first_delivery_is_processed(spawn: impl Serve) {
    let probe = Probe::default();
    let server = spawn.serve(receiver(), probe.clone()).await;
    let id = unique_id("evt");
    let answer = send(
        server.addr,
        &SignedRequest::kirim("contact.created", &id, fixtures::CONTACT_CREATED),
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
pub async fn retry_is_a_duplicate(spawn: impl Serve) {
    let probe = Probe::default();
    let server = spawn.serve(receiver(), probe.clone()).await;
    let id = unique_id("evt");
    let first = SignedRequest::kirim("contact.created", &id, fixtures::CONTACT_CREATED);
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
pub async fn replayed_signature_is_a_duplicate(spawn: impl Serve) {
    let probe = Probe::default();
    let server = spawn.serve(receiver(), probe.clone()).await;
    let id = unique_id("evt");
    let first = SignedRequest::kirim("contact.created", &id, fixtures::CONTACT_CREATED);
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

/// A captured delivery replayed with its body trickled in: reading stops when its signed
/// timestamp leaves the tolerance (it could never verify after that), answered 408, and
/// the handler does not run.
pub async fn slow_replay_past_the_tolerance_is_refused(spawn: impl Serve) {
    let probe = Probe::default();
    let tight = Receiver::new(verifier().with_tolerance(Duration::from_secs(1)))
        .with_dedup(Dedup::new(MemoryStore::new()).with_lease(Duration::from_secs(5)))
        .with_max_body_bytes(LIMIT);
    let server = spawn.serve(tight, probe.clone()).await;
    let id = unique_id("evt");
    // Signed a second ahead, so that it is fresh (age 0, or 1 s ahead) when its headers
    // arrive, whatever the clock's second does meanwhile.
    let first =
        SignedRequest::kirim("contact.created", &id, fixtures::CONTACT_CREATED).resigned(now() + 1);
    assert_answer(&send(server.addr, &first).await, 200, bodies::OK, "first");
    let forged = unique_id("evt");
    let replay = first.with_header(names::EVENT_ID, &forged);
    let (answer, held) = send_stalled(server.addr, &replay).await;
    assert_answer(&answer, 408, bodies::TIMEOUT, "stalled replay");
    // t + 1 s is at most 2 s away: reading stopped then, not at the 10 s body timeout.
    assert!(held < Duration::from_secs(4), "held for {held:?}");
    assert_eq!((probe.count(&id), probe.count(&forged)), (1, 0));
}

/// A body that stops arriving is cut off at the receiver's body timeout with a 408 (Kirim
/// retries it): a client cannot hold a connection open by trickling bytes.
pub async fn stalled_body_is_408_at_the_body_timeout(spawn: impl Serve) {
    let probe = Probe::default();
    let server = spawn
        .serve(
            receiver().with_body_timeout(Duration::from_secs(1)),
            probe.clone(),
        )
        .await;
    let id = unique_id("evt");
    let delivery = SignedRequest::kirim("contact.created", &id, fixtures::CONTACT_CREATED);
    let (answer, held) = send_stalled(server.addr, &delivery).await;
    assert_answer(&answer, 408, bodies::TIMEOUT, "stalled body");
    assert!(
        (Duration::from_millis(900)..Duration::from_secs(3)).contains(&held),
        "held for {held:?}"
    );
    assert_eq!(probe.count(&id), 0);
    // Nothing was claimed: the delivery sent whole is processed.
    assert_answer(
        &send(server.addr, &delivery).await,
        200,
        bodies::OK,
        "whole",
    );
}

/// During a rotation Kirim sends one `v1` per active secret; a receiver that knows only
/// the new secret accepts, and reports that it matched.
pub async fn rotation_is_accepted(spawn: impl Serve) {
    let probe = Probe::default();
    let only_next = Verifier::new([Secret::new(NEXT_SECRET)
        .unwrap_or_else(|e| panic!("{e}"))
        .with_label("next")])
    .unwrap_or_else(|e| panic!("{e}"));
    let server = spawn
        .serve(
            Receiver::new(only_next).with_dedup(Dedup::new(MemoryStore::new())),
            probe.clone(),
        )
        .await;
    let id = unique_id("evt");
    let body = fixtures::CONTACT_UPDATED;
    let header = signer(&[SECRET, NEXT_SECRET]).sign(now(), body);
    let delivery = SignedRequest::signed("contact.updated", &id, "kirim", body, &header);
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
pub async fn message_status_changes_are_distinct(spawn: impl Serve) {
    let probe = Probe::default();
    let server = spawn.serve(receiver(), probe.clone()).await;
    let sent = SignedRequest::meta(
        "message.status",
        fixtures::STATUS_WAMID,
        fixtures::MESSAGE_STATUS_SENT,
    );
    let delivered = SignedRequest::meta(
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
pub async fn unknown_event_and_odd_bodies_are_acknowledged(spawn: impl Serve) {
    let probe = Probe::default();
    let server = spawn.serve(receiver(), probe.clone()).await;
    let unknown = SignedRequest::kirim("invoice.paid", &unique_id("evt"), b"{\"future\":true}");
    assert_answer(
        &send(server.addr, &unknown).await,
        200,
        bodies::OK,
        "unknown event",
    );
    let meta = SignedRequest::meta(
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
    let odd = SignedRequest::kirim("contact.created", &unique_id("evt"), binary);
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
pub async fn bad_headers_are_400(spawn: impl Serve) {
    let probe = Probe::default();
    let server = spawn.serve(receiver(), probe.clone()).await;
    let good = SignedRequest::kirim(
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
pub async fn bad_signatures_are_401(spawn: impl Serve) {
    let probe = Probe::default();
    let server = spawn.serve(receiver(), probe.clone()).await;
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
            SignedRequest::signed("contact.created", &unique_id("evt"), "kirim", body, &header);
        let answer = send(server.addr, &delivery).await;
        assert_answer(&answer, 401, bodies::INVALID_SIGNATURE, what);
    }
    assert!(probe.calls().is_empty());
}

/// A body over the limit: 413 whether declared by `Content-Length` or sent chunked; a body
/// exactly at the limit is processed, chunked or not.
pub async fn oversized_bodies_are_413(spawn: impl Serve) {
    let probe = Probe::default();
    let server = spawn.serve(receiver(), probe.clone()).await;
    let big = vec![b'a'; LIMIT + 1];
    // Two different bodies: the same body signed in the same second would carry the same
    // signature, and the replay guard would rightly call the second a duplicate.
    let at_limit = vec![b'b'; LIMIT];
    let at_limit_too = vec![b'c'; LIMIT];
    let over = SignedRequest::kirim("contact.created", &unique_id("evt"), &big);
    assert_answer(
        &send(server.addr, &over).await,
        413,
        bodies::TOO_LARGE,
        "content-length",
    );
    let over = SignedRequest::kirim("contact.created", &unique_id("evt"), &big);
    assert_answer(
        &send_chunked(server.addr, &over, 4096).await,
        413,
        bodies::TOO_LARGE,
        "chunked",
    );
    let fits = SignedRequest::kirim("contact.created", &unique_id("evt"), &at_limit);
    assert_answer(
        &send(server.addr, &fits).await,
        200,
        bodies::OK,
        "at the limit",
    );
    let fits = SignedRequest::kirim("contact.created", &unique_id("evt"), &at_limit_too);
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
pub async fn concurrent_identical_deliveries_run_once(spawn: impl Serve) {
    let probe = Probe::default();
    let server = spawn.serve(receiver(), probe.clone()).await;
    let id = unique_id("evt");
    let delivery = SignedRequest::kirim("contact.created", &id, fixtures::CONTACT_CREATED)
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
pub async fn failed_handler_is_retried(spawn: impl Serve) {
    let probe = Probe::default();
    let server = spawn.serve(receiver(), probe.clone()).await;
    let id = unique_id("evt");
    let first = SignedRequest::kirim(
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
pub async fn panicking_handler_is_retried(spawn: impl Serve) {
    let probe = Probe::default();
    let server = spawn.serve(receiver(), probe.clone()).await;
    let id = unique_id("evt");
    let first = SignedRequest::kirim("conversation.closed", &id, fixtures::CONVERSATION_CLOSED)
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
pub async fn in_progress_is_503_with_retry_after(spawn: impl Serve) {
    let probe = Probe::default();
    let server = spawn.serve(receiver(), probe.clone()).await;
    let id = unique_id("evt");
    let slow = SignedRequest::kirim("contact.created", &id, fixtures::CONTACT_CREATED)
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

/// A request dropped while its handler runs (the client hung up) marks nothing done and
/// gives its claims back at once: Kirim's retry is processed, not refused with 503 until
/// the 30 s lease runs out. For servers that drop a request when its client goes away
/// (hyper, so axum); actix-web runs the handler to its end instead (actix-web #1313), and
/// its claims settle from the handler's answer.
pub async fn dropped_request_releases_its_claims(spawn: impl Serve) {
    let probe = Probe::default();
    // The default lease (30 s): a retry processed within seconds was released, not expired.
    let receiver = Receiver::new(verifier())
        .with_dedup(MemoryStore::new())
        .with_max_body_bytes(LIMIT);
    let server = spawn.serve(receiver, probe.clone()).await;
    let id = unique_id("evt");
    let slow = SignedRequest::kirim("contact.created", &id, fixtures::CONTACT_CREATED)
        .with_header(BEHAVIOUR_HEADER, "sleep-20000");
    let running = async {
        for _ in 0..500 {
            if probe.running.load(Ordering::SeqCst) > 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the slow handler never started");
    };
    send_then_hang_up(server.addr, &slow, running).await;

    // The server notices the closed connection and drops the request; the release then
    // runs on its runtime. Well within the lease, the retry is processed.
    let retry = slow.resigned(now()).without_header(BEHAVIOUR_HEADER);
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    let answer = loop {
        let answer = send(server.addr, &retry).await;
        if answer.status != 503 || std::time::Instant::now() > deadline {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_answer(&answer, 200, bodies::OK, "retry after the client hung up");
    assert_eq!(
        probe.count(&id),
        1,
        "the dropped handler never finished; the retry ran once"
    );
}

/// Without dedup configured, every verified delivery is processed.
pub async fn without_dedup_every_delivery_runs(spawn: impl Serve) {
    let probe = Probe::default();
    let server = spawn.serve(Receiver::new(verifier()), probe.clone()).await;
    let id = unique_id("evt");
    let first = SignedRequest::kirim("contact.created", &id, fixtures::CONTACT_CREATED);
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
pub async fn store_down_fails_closed<D, DFut, S>(spawn: impl Serve, down_store: D)
where
    D: Fn() -> DFut,
    DFut: Future<Output = (S, Box<dyn std::any::Any + Send>)>,
    S: DedupStore,
{
    let (store, _down) = down_store().await;
    let probe = Probe::default();
    let receiver = Receiver::new(verifier()).with_dedup(Dedup::new(store));
    let server = spawn.serve(receiver, probe.clone()).await;
    let delivery = SignedRequest::kirim(
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
pub async fn store_down_fails_open<D, DFut, S>(spawn: impl Serve, down_store: D)
where
    D: Fn() -> DFut,
    DFut: Future<Output = (S, Box<dyn std::any::Any + Send>)>,
    S: DedupStore,
{
    let (store, _down) = down_store().await;
    let probe = Probe::default();
    let dedup = Dedup::new(store).with_store_failure(kirim_verify::StoreFailure::FailOpen);
    let server = spawn
        .serve(Receiver::new(verifier()).with_dedup(dedup), probe.clone())
        .await;
    let id = unique_id("evt");
    let delivery = SignedRequest::kirim("contact.created", &id, fixtures::CONTACT_CREATED);
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

fn assert_answer(answer: &Answer, status: u16, body: &str, what: &str) {
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (status, body),
        "{what}: got {answer:?}"
    );
}
