//! The dedup store conformance suite, the key layout and the memory cost, against real
//! `redis-server` processes started by the harness: a single server and a 3-master cluster.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use kirim_dedup_redis::RedisStore;
use kirim_dedup_redis::redis::{self, AsyncCommands};
use kirim_test_support::redis_server::{RedisCluster, RedisServer};
use kirim_test_support::store::{run_all, unique_key};
use kirim_verify::DEFAULT_RETENTION;

const LEASE: Duration = Duration::from_secs(30);
use kirim_verify::store::{Claim, ClaimToken, DedupKey, DedupStore, Settled, StoreError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_on_a_single_server() {
    let server = RedisServer::start();
    let store = RedisStore::connect(server.url()).await.unwrap();
    run_all(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_on_a_three_master_cluster() {
    let cluster = RedisCluster::start();
    let store = RedisStore::connect_cluster(cluster.urls()).await.unwrap();
    run_all(store).await;
    // The suite's keys hash all over the slot space: every master took some.
    for node in cluster.nodes() {
        let keys: u64 = node.cli(&["dbsize"]).parse().unwrap();
        assert!(keys > 0, "node {} holds no key", node.port());
    }
}

#[tokio::test]
async fn key_layout_and_ttls() {
    let server = RedisServer::start();
    let store = RedisStore::connect(server.url()).await.unwrap();
    let mut redis = store.connection().clone();
    let key = unique_key("layout");

    let token = ClaimToken::generate().unwrap();
    assert_eq!(
        store
            .claim(&key, &token, Duration::from_secs(30))
            .await
            .unwrap(),
        Claim::Acquired
    );
    let value: String = redis.get(key.as_str()).await.unwrap();
    assert_eq!(value, format!("p:{}", token.as_str()));
    assert_eq!(token.as_str().len(), 48, "the caller's token");
    let pttl: i64 = redis.pttl(key.as_str()).await.unwrap();
    assert!((29_000..=30_000).contains(&pttl), "lease TTL {pttl} ms");

    let week = Duration::from_secs(7 * 24 * 3600);
    assert_eq!(
        store.complete(&key, &token, week).await.unwrap(),
        Settled::Applied
    );
    let value: String = redis.get(key.as_str()).await.unwrap();
    assert_eq!(value, "d");
    let pttl: i64 = redis.pttl(key.as_str()).await.unwrap();
    let week_ms = i64::try_from(week.as_millis()).unwrap();
    assert!(
        (week_ms - 5_000..=week_ms).contains(&pttl),
        "retention TTL {pttl} ms"
    );
}

#[tokio::test]
async fn values_this_crate_did_not_write_are_unexpected() {
    let server = RedisServer::start();
    let store = RedisStore::connect(server.url()).await.unwrap();
    let mut redis = store.connection().clone();
    let token = ClaimToken::generate().unwrap();
    let claim = store
        .claim(
            &unique_key("foreign-token"),
            &token,
            Duration::from_secs(30),
        )
        .await;
    assert!(matches!(claim, Ok(Claim::Acquired)), "{claim:?}");

    let string = unique_key("foreign-string");
    let () = redis.set(string.as_str(), "someone else's").await.unwrap();
    let hash = unique_key("foreign-hash");
    let () = redis.hset(hash.as_str(), "field", "1").await.unwrap();
    let forever = unique_key("foreign-no-ttl");
    let () = redis.set(forever.as_str(), "p:0123").await.unwrap();

    for key in [&string, &hash, &forever] {
        let claim = store
            .claim(
                key,
                &ClaimToken::generate().unwrap(),
                Duration::from_secs(30),
            )
            .await;
        assert!(
            matches!(claim, Err(StoreError::UnexpectedValue)),
            "{key}: {claim:?}"
        );
    }
    for key in [&string, &hash] {
        let complete = store.complete(key, &token, DEFAULT_RETENTION).await;
        assert!(
            matches!(complete, Err(StoreError::UnexpectedValue)),
            "{complete:?}"
        );
        let release = store.release(key, &token).await;
        assert!(
            matches!(release, Err(StoreError::UnexpectedValue)),
            "{release:?}"
        );
    }
    // Nothing was overwritten.
    let value: String = redis.get(string.as_str()).await.unwrap();
    assert_eq!(value, "someone else's");
}

/// What goes on the wire: a claim of a free key is one `SET`, a complete one `EVALSHA` (whose
/// `GET` and `SET` run inside the server), and nothing else: no `PING`, no `SCRIPT LOAD` once
/// the script is known, no extra reads. Counted by the server (`INFO commandstats`).
#[tokio::test]
async fn each_operation_is_one_command_on_the_wire() {
    const EVENTS: u64 = 20;
    let server = RedisServer::start();
    let store = RedisStore::connect(server.url()).await.unwrap();
    // Load the complete script, as on any server in use.
    let warmup = unique_key("wire-warmup");
    let token = ClaimToken::generate().unwrap();
    store.claim(&warmup, &token, LEASE).await.unwrap();
    store.complete(&warmup, &token, LEASE).await.unwrap();
    assert_eq!(server.cli(&["CONFIG", "RESETSTAT"]), "OK");

    for n in 0..EVENTS {
        let key = DedupKey::new("kirim:", "evt", &format!("evt_wire_{n}"));
        let token = ClaimToken::generate().unwrap();
        assert_eq!(
            store.claim(&key, &token, LEASE).await.unwrap(),
            Claim::Acquired
        );
        assert_eq!(
            store.complete(&key, &token, LEASE).await.unwrap(),
            Settled::Applied
        );
    }

    let stats = server.cli(&["INFO", "commandstats"]);
    let mut calls: Vec<(String, u64)> = stats
        .lines()
        .filter_map(|line| {
            let (name, rest) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let count = rest
                .strip_prefix("calls=")?
                .split(',')
                .next()?
                .parse()
                .ok()?;
            Some((name.to_owned(), count))
        })
        // The counting itself.
        .filter(|(name, _)| name != "info" && name != "config|resetstat")
        .collect();
    calls.sort();
    // `SET`: one per claim and one inside each complete script; `GET`: inside the scripts.
    let expected: Vec<(String, u64)> = [("evalsha", EVENTS), ("get", EVENTS), ("set", 2 * EVENTS)]
        .into_iter()
        .map(|(name, count)| (name.to_owned(), count))
        .collect();
    assert_eq!(calls, expected, "{stats}");
}

/// What a remembered event costs: `MEMORY USAGE` of one done key, and the growth of
/// `used_memory` over many, with the keys the receiver writes (`kirim:evt:evt_<ULID>`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_per_remembered_event() {
    const EVENTS: usize = 10_000;
    let server = RedisServer::start();
    let store = RedisStore::connect(server.url()).await.unwrap();
    let mut redis = store.connection().clone();
    let used_memory = |info: String| -> i64 {
        info.lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(&mut redis)
        .await
        .unwrap();
    let before = used_memory(info);

    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..32 {
        let store = store.clone();
        tasks.spawn(async move {
            for n in (worker..EVENTS).step_by(32) {
                // A ULID-shaped id: 26 characters of Crockford base32.
                let id = format!("evt_01HXYZ{n:016}");
                let key = DedupKey::new("kirim:", "evt", &id);
                let token = ClaimToken::generate().unwrap();
                let claim = store.claim(&key, &token, Duration::from_secs(30)).await;
                assert!(matches!(claim, Ok(Claim::Acquired)), "fresh key: {claim:?}");
                store
                    .complete(&key, &token, DEFAULT_RETENTION)
                    .await
                    .unwrap();
            }
        });
    }
    while let Some(task) = tasks.join_next().await {
        task.unwrap();
    }
    let elapsed = started.elapsed();

    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(&mut redis)
        .await
        .unwrap();
    let per_event = (used_memory(info) - before) / i64::try_from(EVENTS).unwrap();
    let sample = DedupKey::new("kirim:", "evt", "evt_01HXYZ0000000000000042");
    let usage: i64 = redis::cmd("MEMORY")
        .arg("USAGE")
        .arg(sample.as_str())
        .query_async(&mut redis)
        .await
        .unwrap();
    println!(
        "{EVENTS} events claimed and completed in {elapsed:?}; MEMORY USAGE of one done key \
         ({} bytes of key): {usage} bytes; used_memory growth: {per_event} bytes per event",
        sample.as_str().len()
    );
    assert!((40..=200).contains(&usage), "MEMORY USAGE {usage}");
    assert!(
        (40..=250).contains(&per_event),
        "used_memory growth {per_event}"
    );
}

#[tokio::test]
async fn debug_output_leaves_the_connection_out() {
    let client = redis::Client::open("redis://:hunter2@127.0.0.1:1/").unwrap();
    let manager = redis::aio::ConnectionManager::new_lazy_with_config(
        client,
        RedisStore::manager_config(Duration::from_secs(1)),
    )
    .unwrap();
    let store = RedisStore::new(manager).with_timeout(Duration::from_millis(250));
    let debug = format!("{store:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(debug.contains("250ms"), "{debug}");
}

#[tokio::test]
async fn connecting_to_nothing_fails_within_the_timeout() {
    // A port nobody listens on: bind, read it, let it go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = Instant::now();
    let result = RedisStore::connect(format!("redis://127.0.0.1:{port}/")).await;
    assert!(result.is_err());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}
