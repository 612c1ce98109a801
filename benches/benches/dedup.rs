//! The `dedup` group: the cost of the two-phase claim protocol per delivery (claim, then
//! complete) on each store, for keys never seen before.
//!
//! - `dedup/memory/claim-complete`: [`MemoryStore`], in process.
//! - `dedup/redis/claim-complete`: [`RedisStore`] on a real `redis-server` (started here, on
//!   127.0.0.1), two round trips per delivery (the claim script, then the complete script).
//! - `dedup/redis-raw/set-nx-px`: the floor it is measured against, one bare
//!   `SET key token NX PX 30000` through the same kind of connection (a clone of the store's
//!   [`ConnectionManager`](kirim_dedup_redis::redis::aio::ConnectionManager)), one round trip.
//!
//! The Redis pair runs from [`TASKS`] concurrent tasks on a tokio multi-thread runtime (the
//! connection multiplexes them, as a busy receiver's requests share it): each iteration is one
//! operation, so the throughput is operations per second. The `-1task` variants run one task,
//! one operation at a time: their time is the latency of one operation. Claim + complete is two
//! round trips, so its rate is at best half the raw `SET`'s.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use kirim_dedup_redis::RedisStore;
use kirim_dedup_redis::redis;
use kirim_test_support::redis_server::RedisServer;
use kirim_verify::store::{Claim, DedupKey, DedupStore, Settled};
use kirim_verify::{DEFAULT_LEASE, DEFAULT_RETENTION, MemoryStore};

/// Concurrent tasks of the Redis throughput benchmarks.
const TASKS: usize = 64;

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
fn ready<F: Future<Output = Result<T, kirim_verify::store::StoreError>>, T>(future: F) -> T {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(Ok(value)) => value,
        Poll::Ready(Err(error)) => panic!("the in-memory store failed: {error}"),
        Poll::Pending => panic!("the in-memory store never waits"),
    }
}

fn redis(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let server = RedisServer::start();
    let store = runtime
        .block_on(RedisStore::connect(server.url()))
        .expect("connect to the benchmark's redis-server");
    let mut keys = Keys::default();

    let mut group = c.benchmark_group("dedup");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
        .throughput(Throughput::Elements(1));
    for (suffix, tasks) in [("", TASKS), ("-1task", 1)] {
        group.bench_function(format!("redis/claim-complete{suffix}"), |b| {
            b.iter_custom(|iters| {
                let batches = keys.batches(&server, iters, tasks);
                runtime.block_on(timed(batches, &store, |store, key| async move {
                    let Claim::Acquired(token) = store.claim(&key, DEFAULT_LEASE).await? else {
                        return Ok(false);
                    };
                    let settled = store.complete(&key, &token, DEFAULT_RETENTION).await?;
                    Ok(matches!(settled, Settled::Applied))
                }))
            });
        });
        group.bench_function(format!("redis-raw/set-nx-px{suffix}"), |b| {
            b.iter_custom(|iters| {
                let batches = keys.batches(&server, iters, tasks);
                let connection = store.connection().clone();
                runtime.block_on(timed(
                    batches,
                    &connection,
                    |mut connection, key| async move {
                        let set: Option<String> = redis::cmd("SET")
                            .arg(key.as_str())
                            .arg("p:0123456789abcdef0123456789abcdef")
                            .arg("NX")
                            .arg("PX")
                            .arg(30_000)
                            .query_async(&mut connection)
                            .await
                            .map_err(kirim_verify::store::StoreError::backend)?;
                        Ok(set.is_some())
                    },
                ))
            });
        });
    }
    group.finish();
    drop(server);
}

/// Fresh keys for the Redis benchmarks, never used before in this run.
#[derive(Default)]
struct Keys {
    next: u64,
    written: u64,
}

impl Keys {
    /// `iters` fresh keys split into `tasks` batches. The keys are made here, before the clock
    /// starts; the server is emptied first when the last calls left many keys behind (untimed
    /// too), so its memory stays small whatever the number of iterations.
    fn batches(&mut self, server: &RedisServer, iters: u64, tasks: usize) -> Vec<Vec<DedupKey>> {
        if self.written > 200_000 {
            assert_eq!(server.cli(&["FLUSHDB"]), "OK");
            self.written = 0;
        }
        self.written += iters;
        let mut batches = vec![Vec::new(); tasks];
        for i in 0..iters {
            self.next += 1;
            let key = DedupKey::new("kirim:", "evt", &format!("evt_{:026}", self.next));
            batches[(i % tasks as u64) as usize].push(key);
        }
        batches
    }
}

/// Runs every batch on its own task, each operation after the other, and returns the wall time
/// from the first spawn to the last task's end. Each operation answers whether it did what a
/// fresh key should (acquired, applied; set); the count is checked once the clock has stopped.
async fn timed<T, F, Fut>(batches: Vec<Vec<DedupKey>>, target: &T, operation: F) -> Duration
where
    T: Clone + Send + Sync + 'static,
    F: Fn(T, DedupKey) -> Fut + Copy + Send + 'static,
    Fut: Future<Output = Result<bool, kirim_verify::store::StoreError>> + Send,
{
    let expected: usize = batches.iter().map(Vec::len).sum();
    let start = Instant::now();
    let tasks: Vec<_> = batches
        .into_iter()
        .map(|batch| {
            let target = target.clone();
            tokio::spawn(async move {
                let mut fresh = 0_usize;
                for key in batch {
                    fresh += usize::from(operation(target.clone(), key).await.expect("redis"));
                }
                fresh
            })
        })
        .collect();
    let mut fresh = 0;
    for task in tasks {
        fresh += task.await.expect("benchmark task");
    }
    let elapsed = start.elapsed();
    assert_eq!(fresh, expected, "every key was fresh");
    elapsed
}

criterion_group!(benches, memory, redis);
criterion_main!(benches);
