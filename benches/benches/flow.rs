//! The `flow` group: the core's receiving flow alone, one delivery per iteration on one thread,
//! without HTTP: `Receiver::begin`, `push`, `finish`, then `process` with a handler that
//! succeeds at once. Three receivers split what the verified route adds over a bare handler:
//!
//! - `flow/verify-only`: no dedup store;
//! - `flow/event-key`: the [`MemoryStore`] with the replay guard off (one key per delivery);
//! - `flow/replay-guard`: the [`MemoryStore`] with the replay guard on (two keys), as the
//!   `http` group's verified route.
//!
//! Every delivery is a different event (the `contact.created` fixture with a unique `id`,
//! signed before the clock starts). The warm-up fills the store to its 100 000-key bound, so
//! the samples see its steady state (every claim also evicts the oldest key), as a busy
//! receiver's store does after its first minutes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use kirim_test_support::http::{SECRET, fixtures};
use kirim_verify::flow::{Outcome, names};
use kirim_verify::{Dedup, MemoryStore, Receiver, Secret, Signer, Verifier};

/// The id inside the fixture, replaced by a unique one of the same length.
const FIXTURE_ID: &[u8] = b"evt_01HXYZABCDEFGHJKMNPQRSTVW1";

/// One signed delivery: its event id, signature header and body.
struct Signed {
    id: String,
    signature: String,
    body: Bytes,
}

fn flow(c: &mut Criterion) {
    let signer = Signer::new([Secret::new(SECRET).unwrap()]).unwrap();
    let now = kirim_verify::unix_now();
    let at = fixtures::CONTACT_CREATED
        .windows(FIXTURE_ID.len())
        .position(|w| w == FIXTURE_ID)
        .expect("the fixture's id");
    let mut next = 0u64;
    let mut delivery = move || {
        next += 1;
        let id = format!("evt_{next:026}");
        let mut body = fixtures::CONTACT_CREATED.to_vec();
        body[at..at + FIXTURE_ID.len()].copy_from_slice(id.as_bytes());
        Signed {
            signature: signer.sign(now, &body),
            body: Bytes::from(body),
            id,
        }
    };

    let mut group = c.benchmark_group("flow");
    group
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(1));
    let verifier = || Verifier::new([Secret::new(SECRET).unwrap()]).unwrap();
    let receivers = [
        ("verify-only", Receiver::new(verifier())),
        (
            "event-key",
            Receiver::new(verifier())
                .with_dedup(Dedup::new(MemoryStore::new()).dangerous_disable_replay_guard()),
        ),
        (
            "replay-guard",
            Receiver::new(verifier()).with_dedup(MemoryStore::new()),
        ),
    ];
    for (name, receiver) in &receivers {
        group.bench_function(*name, |b| {
            b.iter_batched(
                &mut delivery,
                |signed| receive(receiver, now, &signed),
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

/// One delivery through the flow, as an adapter runs it; it must be handled.
fn receive(receiver: &Receiver, now: u64, signed: &Signed) {
    let headers = [
        (names::SIGNATURE, signed.signature.as_bytes()),
        (names::EVENT, b"contact.created".as_slice()),
        (names::EVENT_ID, signed.id.as_bytes()),
        (names::SOURCE, b"kirim".as_slice()),
    ];
    let get = |name: &'static str| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
    let mut intake = receiver.begin(get, None, now).unwrap();
    intake.push(signed.body.clone()).unwrap();
    let webhook = intake.finish(now).unwrap();
    let outcome = ready(receiver.process(&webhook, || async { 200 }, |status| *status == 200));
    assert!(
        matches!(outcome, Outcome::Handled(200)),
        "a fresh delivery is handled"
    );
    black_box(webhook);
}

/// Runs a future that completes on its first poll, as the flow on the in-memory store does.
fn ready<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the in-memory flow never waits"),
    }
}

criterion_group!(benches, flow);
criterion_main!(benches);
