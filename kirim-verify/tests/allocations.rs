//! How many heap allocations the receiving flow makes per delivery, counted by
//! `allocation-counter`'s global allocator (per thread): header lookup, verification, the replay guard and the event claimed, completed in
//! the in-memory store. Not a timing: a count, so it cannot be noisy. The bound is the count
//! measured when it was written; a change that adds allocations to every request fails here
//! and has to say why by raising it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use kirim_verify::flow::{Outcome, names};
use kirim_verify::{MemoryStore, Receiver, Secret, Signer};

const SECRET: &str = "whsec_allocation_count";
const NOW: u64 = 1_716_480_000;

/// At most this many allocations per delivery through the whole flow. Measured when this was
/// written: 8, namely the keyed HMAC state per secret (1 `Vec`), the delivery headers' strings
/// (event, event id, delivery id: 3), the event's identity from the key strategy (1), the two
/// dedup keys (2) and the node of the store's lease index (1). The in-memory store is called
/// without a boxed future and keeps no copy of a key. With the
/// `metrics` feature, two more: the `secret` label's value and its label list.
const BOUND: u64 = if cfg!(feature = "metrics") { 10 } else { 8 };

/// Polls a future that never waits (the in-memory store's never do) to its end.
fn run<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the in-memory flow never waits"),
    }
}

#[test]
fn a_delivery_costs_a_bounded_number_of_allocations() {
    let receiver = Receiver::from_secrets(SECRET)
        .unwrap()
        .with_dedup(MemoryStore::new());
    let signer = Signer::new([Secret::new(SECRET).unwrap()]).unwrap();
    let deliveries: Vec<_> = (0..200)
        .map(|n| {
            let id = format!("evt_{n:026}");
            let body = Bytes::from(format!(r#"{{"id":"{id}","type":"contact.created"}}"#));
            (id, signer.sign(NOW, &body), body)
        })
        .collect();
    let mut counts = Vec::new();
    for (id, signature, body) in deliveries {
        let headers = [
            (names::SIGNATURE, signature.as_bytes()),
            (names::EVENT, b"contact.created".as_slice()),
            (names::EVENT_ID, id.as_bytes()),
            (names::SOURCE, b"kirim".as_slice()),
            (names::DELIVERY_ID, b"wbd_1".as_slice()),
            (names::ATTEMPT, b"1".as_slice()),
        ];
        let get = |name: &'static str| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        let info = allocation_counter::measure(|| {
            let mut intake = receiver.begin(get, None, NOW).unwrap();
            intake.push(body).unwrap();
            let webhook = intake.finish(NOW).unwrap();
            let outcome = run(receiver.process(&webhook, || async { 200 }, |s| *s == 200));
            assert!(matches!(outcome, Outcome::Handled(200)));
        });
        counts.push(info.count_total);
    }
    // The first deliveries also grow the store's table and queues, and a queue doubles now and
    // then: read the steady state, the median of the later half.
    let mut steady = counts.split_off(100);
    steady.sort_unstable();
    let median = steady[steady.len() / 2];
    assert!(
        median <= BOUND,
        "{median} allocations per delivery, over the bound of {BOUND}"
    );
}
