//! Fault tests against a real `redis-server`: a killed server, a restarted one, a stalled one.
//! Every store call must come back with a `StoreError` within its timeout, the same store must
//! work again once the server is back, and a claim applied late by a stalled server must be
//! released with its own token, so that it neither loses the event nor holds Kirim's retry.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use kirim_dedup_redis::{DEFAULT_TIMEOUT, RedisStore};
use kirim_test_support::redis_server::RedisServer;
use kirim_test_support::store::{unique_key, unique_prefix};
use kirim_verify::flow::{Outcome, names};
use kirim_verify::store::{Claim, ClaimToken, DedupKey, DedupStore, Settled, StoreError};
use kirim_verify::{Dedup, Receiver, Rejection, Secret, Signer, Verifier};

const LEASE: Duration = Duration::from_secs(30);

/// The 1 s timeout plus slack for a loaded 2-core machine; what the bound shows is that a dead
/// or stalled server costs about the timeout, far from Kirim's 10 s per attempt, not the OS's
/// TCP timeouts.
const BOUND: Duration = Duration::from_secs(3);

async fn acquire(store: &RedisStore, key: &DedupKey, lease: Duration) -> ClaimToken {
    let token = ClaimToken::generate().unwrap();
    match store.claim(key, &token, lease).await.unwrap() {
        Claim::Acquired => token,
        other => panic!("expected to acquire, got {other:?}"),
    }
}

async fn claim(store: &RedisStore, key: &DedupKey, lease: Duration) -> Result<Claim, StoreError> {
    store
        .claim(key, &ClaimToken::generate().unwrap(), lease)
        .await
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
            outcome(timed("claim", claim(&store, &key, LEASE)).await),
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
    let fresh = ClaimToken::generate().unwrap();
    let claimed = loop {
        match store.claim(&key, &fresh, LEASE).await {
            Ok(claimed) => break claimed,
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
    assert_eq!(claimed, Claim::Acquired, "the restarted server is empty");
    assert_eq!(
        store.complete(&key, &fresh, LEASE).await.unwrap(),
        Settled::Applied
    );
    assert_eq!(claim(&store, &key, LEASE).await.unwrap(), Claim::Done);
    // The restarted server runs without persistence: the old claim is gone, so its holder is
    // stale (it would be a duplicate delivery, never a lost one).
    assert_eq!(
        store.complete(&held, &token, LEASE).await.unwrap(),
        Settled::Stale
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_server_late_claim_is_released_and_the_retry_is_processed_at_once() {
    let server = RedisServer::start();
    let store = RedisStore::connect(server.url()).await.unwrap();
    // Load the scripts first, as on any server in use: the stalled calls are then EVALSHAs.
    let warmup = unique_key("pause-warmup");
    let token = acquire(&store, &warmup, LEASE).await;
    store.release(&warmup, &token).await.unwrap();

    // Without the replay guard the delivery takes one claim, on the event key: the key Kirim's
    // retry (re-signed, so another signed message) meets again.
    let prefix = unique_prefix("pause");
    let receiver = Receiver::new(Verifier::new([Secret::new(SECRET).unwrap()]).unwrap())
        .with_dedup(
            Dedup::new(store.clone())
                .with_key_prefix(&prefix)
                .dangerous_disable_replay_guard(),
        );
    let runs = Arc::new(AtomicUsize::new(0));

    let paused = server.pause();
    let started = Instant::now();
    let outcome = deliver(&receiver, unix_now(), &runs).await;
    let refused_after = started.elapsed();
    println!("server paused: delivery -> {outcome:?} after {refused_after:?}");
    assert!(
        matches!(
            outcome,
            Outcome::Refused(Rejection::Store(StoreError::Timeout(_)))
        ),
        "{outcome:?}"
    );
    // The claim's timeout, then the release's (best effort, also stalled): both bounded.
    assert!(refused_after < BOUND + DEFAULT_TIMEOUT, "{refused_after:?}");
    paused.resume();
    let resumed = Instant::now();

    // The stalled claim lands now, and the release sent after it on the same connection frees
    // the key: Kirim's retry is processed at once, not held until the 30 s lease runs out.
    let mut failed_calls = 0;
    let outcome = loop {
        match deliver(&receiver, unix_now() + 1, &runs).await {
            Outcome::Refused(Rejection::Store(error)) => {
                // The connection may need a moment to come back after the stall.
                failed_calls += 1;
                assert!(resumed.elapsed() < BOUND, "no answer after resume: {error}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => break other,
        }
    };
    let processed_after = resumed.elapsed();
    println!(
        "retry after resume ({failed_calls} store failures first) -> {outcome:?} after \
         {processed_after:?}"
    );
    assert!(
        matches!(outcome, Outcome::Handled(true)),
        "the late claim still holds the event: {outcome:?}"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the handler ran once");
    assert!(processed_after < BOUND, "{processed_after:?}");
    // Processed and done: the next retry is a duplicate.
    assert!(matches!(
        deliver(&receiver, unix_now() + 2, &runs).await,
        Outcome::Duplicate
    ));
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
    let (_, result, elapsed) = timed("claim", claim(&store, &unique_key("short"), LEASE)).await;
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

const SECRET: &str = "whsec_redis_faults";

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// One signed delivery of the same event, signed at `t`, through the whole flow; the handler
/// counts its runs and succeeds.
async fn deliver(receiver: &Receiver, t: u64, runs: &Arc<AtomicUsize>) -> Outcome<bool> {
    let body = br#"{"id":"evt_01HXYZPAUSED00000000000000A","type":"contact.created","data":{}}"#;
    let signer = Signer::new([Secret::new(SECRET).unwrap()]).unwrap();
    let signature = signer.sign(t, body);
    let headers = [
        (names::SIGNATURE, signature.as_str()),
        (names::EVENT, "contact.created"),
        (names::EVENT_ID, "evt_01HXYZPAUSED00000000000000A"),
        (names::SOURCE, "kirim"),
    ];
    let get = |name: &'static str| {
        headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_bytes())
    };
    let mut intake = receiver.begin(get, None, t).unwrap();
    intake.push(Bytes::from_static(body)).unwrap();
    let webhook = intake.finish(t).unwrap();
    let runs = Arc::clone(runs);
    receiver
        .process(
            &webhook,
            || async move {
                runs.fetch_add(1, Ordering::SeqCst);
                true
            },
            |succeeded| *succeeded,
        )
        .await
}
