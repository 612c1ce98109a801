//! The dedup store conformance suite, the key layout and the memory cost, against real
//! `redis-server` processes started by the harness: a single server and a 3-master cluster.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use kirim_dedup_redis::RedisStore;
use kirim_dedup_redis::redis::{self, AsyncCommands};
use kirim_test_support::redis_server::{RedisCluster, RedisServer};
use kirim_test_support::store::{run_all, unique_key};
use kirim_verify::DEFAULT_RETENTION;
use kirim_verify::store::{Claim, DedupKey, DedupStore, Settled, StoreError};

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

    let Claim::Acquired(token) = store.claim(&key, Duration::from_secs(30)).await.unwrap() else {
        panic!("a free key is acquired");
    };
    let value: String = redis.get(key.as_str()).await.unwrap();
    assert_eq!(value, format!("p:{}", token.as_str()));
    assert_eq!(token.as_str().len(), 32, "128-bit hex token");
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
    let token = {
        let key = unique_key("foreign-token");
        match store.claim(&key, Duration::from_secs(30)).await.unwrap() {
            Claim::Acquired(token) => token,
            other => panic!("{other:?}"),
        }
    };

    let string = unique_key("foreign-string");
    let () = redis.set(string.as_str(), "someone else's").await.unwrap();
    let hash = unique_key("foreign-hash");
    let () = redis.hset(hash.as_str(), "field", "1").await.unwrap();
    let forever = unique_key("foreign-no-ttl");
    let () = redis.set(forever.as_str(), "p:0123").await.unwrap();

    for key in [&string, &hash, &forever] {
        let claim = store.claim(key, Duration::from_secs(30)).await;
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
                let Claim::Acquired(token) =
                    store.claim(&key, Duration::from_secs(30)).await.unwrap()
                else {
                    panic!("fresh key");
                };
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
