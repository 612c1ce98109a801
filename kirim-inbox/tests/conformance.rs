//! The dedup store conformance suite against the SQL store: on a SQLite file and on a real
//! PostgreSQL server started by the harness.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use kirim_inbox::Inbox;
use kirim_test_support::postgres_server::PostgresServer;
use kirim_test_support::store::{run_all, unique_key};
use kirim_verify::store::{Claim, ClaimToken, DedupStore, Settled};

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_on_a_sqlite_file() {
    let file = common::TempFile::new("conformance.db");
    let inbox = Inbox::open(file.url()).await.unwrap();
    run_all(inbox.dedup_store()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_on_postgres() {
    let server = PostgresServer::start();
    let inbox = Inbox::open(server.create_database()).await.unwrap();
    run_all(inbox.dedup_store()).await;
}

/// Expired keys go in batches; live ones stay.
#[tokio::test]
async fn expired_keys_are_purged_in_batches() {
    let file = common::TempFile::new("purge.db");
    let inbox = Inbox::open(file.url()).await.unwrap();
    let store = inbox.dedup_store();
    let short = Duration::from_millis(50);
    for _ in 0..25 {
        let key = unique_key("purge");
        let token = ClaimToken::generate().unwrap();
        let Claim::Acquired = store.claim(&key, &token, short).await.unwrap() else {
            panic!("fresh key");
        };
        assert_eq!(
            store.complete(&key, &token, short).await.unwrap(),
            Settled::Applied
        );
    }
    let live = unique_key("live");
    let holder = ClaimToken::generate().unwrap();
    let _ = store
        .claim(&live, &holder, Duration::from_secs(60))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(store.purge_expired(10).await.unwrap(), 25);
    assert!(matches!(
        store
            .claim(
                &live,
                &ClaimToken::generate().unwrap(),
                Duration::from_secs(60)
            )
            .await
            .unwrap(),
        Claim::InProgress { .. }
    ));
}
