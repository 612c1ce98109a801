//! The `dedup` group: the cost of the two-phase claim protocol per delivery (claim, then
//! complete) on each store, for keys never seen before.
//!
//! - `dedup/memory/claim-complete`: [`MemoryStore`], in process.
//!
//! The Redis store joins this group once `kirim-dedup-redis` exists, next to the floor it is
//! measured against: `dedup/redis/claim-complete` (the store's two round trips) and
//! `dedup/redis-raw/set-nx-px` (one bare `SET key token NX PX ttl` on the same connection).
//! Add them below, in `redis`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use kirim_verify::{Claim, DEFAULT_LEASE, DEFAULT_RETENTION, DedupKey, DedupStore, MemoryStore};

fn memory(c: &mut Criterion) {
    let mut group = c.benchmark_group("dedup");
    group
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(1));
    // Bounded at its default: after 100 000 keys every claim also evicts one, as in production.
    let store = MemoryStore::new();
    let mut next = 0u64;
    group.bench_function("memory/claim-complete", |b| {
        b.iter_batched(
            || {
                next += 1;
                DedupKey::new("kirim:", "evt", &format!("evt_{next:026}"))
            },
            |key| claim_complete(&store, &key),
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

fn claim_complete(store: &impl DedupStore, key: &DedupKey) {
    let Claim::Acquired(token) = ready(store.claim(black_box(key), DEFAULT_LEASE)) else {
        panic!("a fresh key is free");
    };
    black_box(ready(store.complete(key, &token, DEFAULT_RETENTION)));
}

/// Runs a future that completes on its first poll, as the in-memory store's do.
fn ready<F: Future<Output = Result<T, kirim_verify::StoreError>>, T>(future: F) -> T {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(Ok(value)) => value,
        Poll::Ready(Err(error)) => panic!("the in-memory store failed: {error}"),
        Poll::Pending => panic!("the in-memory store never waits"),
    }
}

criterion_group!(benches, memory);
criterion_main!(benches);
