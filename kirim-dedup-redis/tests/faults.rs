//! Fault tests against a real `redis-server`: a killed server, a restarted one, a stalled one.
//! Every store call must come back with a `StoreError` within its timeout, the same store must
//! work again once the server is back, and a claim applied late by a stalled server must not
//! lose the event.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use kirim_dedup_redis::{DEFAULT_TIMEOUT, RedisStore};
use kirim_test_support::redis_server::RedisServer;
use kirim_test_support::store::unique_key;
use kirim_verify::store::{Claim, ClaimToken, DedupStore, Settled, StoreError};

const LEASE: Duration = Duration::from_secs(30);

/// The 1 s timeout plus slack for a loaded 2-core machine; what the bound shows is that a dead
/// or stalled server costs about the timeout, far from Kirim's 10 s per attempt, not the OS's
/// TCP timeouts.
const BOUND: Duration = Duration::from_secs(3);

async fn acquire(
    store: &RedisStore,
    key: &kirim_verify::store::DedupKey,
    lease: Duration,
) -> ClaimToken {
    match store.claim(key, lease).await.unwrap() {
        Claim::Acquired(token) => token,
        other => panic!("expected to acquire, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_server_fails_fast_and_the_same_store_recovers_after_restart() {
    let mut server = RedisServer::start();
    let store = RedisStore::connect(server.url()).await.unwrap();
    assert_eq!(store.timeout(), DEFAULT_TIMEOUT);
    let held = unique_key("kill-held");
    let token = acquire(&store, &held, LEASE).await;

    server.kill();
    let key = unique_key("kill");
    let mut slowest = Duration::ZERO;
    for round in 0..2 {
        let calls = [
            outcome(timed("claim", store.claim(&key, LEASE)).await),
            outcome(timed("complete", store.complete(&held, &token, LEASE)).await),
            outcome(timed("release", store.release(&held, &token)).await),
        ];
        for (name, result, elapsed) in calls {
            println!("server killed, round {round}: {name} -> {result:?} after {elapsed:?}");
            assert!(result.is_err(), "{name} must fail while the server is down");
            assert!(elapsed < BOUND, "{name} took {elapsed:?}");
            slowest = slowest.max(elapsed);
        }
    }

    server.restart();
    let restarted = Instant::now();
    // The same store value: the connection manager reconnects by itself.
    let claim = loop {
        match store.claim(&key, LEASE).await {
            Ok(claim) => break claim,
            Err(error) => {
                assert!(
                    restarted.elapsed() < Duration::from_secs(10),
                    "the store did not recover: {error}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let recovered = restarted.elapsed();
    println!("slowest call while down: {slowest:?}; recovered {recovered:?} after the restart");
    let Claim::Acquired(fresh) = claim else {
        panic!("the restarted server is empty, got {claim:?}");
    };
    assert_eq!(
        store.complete(&key, &fresh, LEASE).await.unwrap(),
        Settled::Applied
    );
    assert_eq!(store.claim(&key, LEASE).await.unwrap(), Claim::Done);
    // The restarted server runs without persistence: the old claim is gone, so its holder is
    // stale (it would be a duplicate delivery, never a lost one).
    assert_eq!(
        store.complete(&held, &token, LEASE).await.unwrap(),
        Settled::Stale
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_server_times_out_and_the_late_claim_does_not_lose_the_event() {
    let server = RedisServer::start();
    let store = RedisStore::connect(server.url()).await.unwrap();
    // Load the script first, as on any server in use: the stalled call is then one EVALSHA.
    acquire(&store, &unique_key("pause-warmup"), LEASE).await;

    let key = unique_key("pause");
    // Long enough to outlast reconnecting after the resume, so the late claim is still there.
    let lease = Duration::from_secs(4);
    let paused = server.pause();
    let (_, result, elapsed) = timed("claim", store.claim(&key, lease)).await;
    println!("server paused: claim -> {result:?} after {elapsed:?}");
    assert!(
        matches!(result, Err(StoreError::Timeout(t)) if t == DEFAULT_TIMEOUT),
        "{result:?}"
    );
    assert!(elapsed >= DEFAULT_TIMEOUT && elapsed < BOUND, "{elapsed:?}");
    paused.resume();
    let resumed = Instant::now();

    // The claim the stalled server read before it stopped is applied when it resumes: the
    // event is held, not lost, and not processed by anyone yet.
    // The connection may need a moment (and a failed call or two) to come back: a connection
    // attempt made while the server was stopped timed out.
    let mut failed_calls = 0;
    let claim = loop {
        match store.claim(&key, LEASE).await {
            Ok(claim) => break claim,
            Err(error) => {
                failed_calls += 1;
                assert!(resumed.elapsed() < lease, "no answer after resume: {error}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let Claim::InProgress { retry_after } = claim else {
        panic!("the late claim must be visible, got {claim:?}");
    };
    assert!(retry_after <= lease, "{retry_after:?}");

    // Its owner gave up (it answered 503), so nobody settles it: after the lease, Kirim's retry
    // acquires it.
    tokio::time::sleep(retry_after + Duration::from_millis(100)).await;
    let token = acquire(&store, &key, LEASE).await;
    println!(
        "late claim visible after resume ({failed_calls} failed calls first) with {retry_after:?} \
         left; retry acquired {:?} after resume",
        resumed.elapsed()
    );
    assert_eq!(
        store.complete(&key, &token, LEASE).await.unwrap(),
        Settled::Applied
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shorter_timeout_is_honoured() {
    let server = RedisServer::start();
    let timeout = Duration::from_millis(100);
    let store = RedisStore::connect(server.url())
        .await
        .unwrap()
        .with_timeout(timeout);
    acquire(&store, &unique_key("short-warmup"), LEASE).await;
    let paused = server.pause();
    let (_, result, elapsed) = timed("claim", store.claim(&unique_key("short"), LEASE)).await;
    drop(paused);
    assert!(
        matches!(result, Err(StoreError::Timeout(t)) if t == timeout),
        "{result:?}"
    );
    // Below the 1 s default, with slack for a loaded machine: the shorter timeout applied.
    assert!(
        elapsed >= timeout && elapsed < Duration::from_millis(900),
        "{elapsed:?}"
    );
}

async fn timed<T>(
    name: &'static str,
    call: impl Future<Output = Result<T, StoreError>>,
) -> (&'static str, Result<T, StoreError>, Duration) {
    let started = Instant::now();
    let result = call.await;
    (name, result, started.elapsed())
}

fn outcome<T>(
    (name, result, elapsed): (&'static str, Result<T, StoreError>, Duration),
) -> (&'static str, Result<(), StoreError>, Duration) {
    (name, result.map(|_| ()), elapsed)
}
