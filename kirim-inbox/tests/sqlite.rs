//! What only SQLite does: a file whose write lock another process holds (a slow database, as
//! the request path sees it) fails the write within the store timeout, stores nothing, and the
//! next delivery is stored once the lock is gone.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use kirim_inbox::{Accepted, Inbox, InboxError};

mod common;
use common::webhook;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_file_fails_within_the_store_timeout_and_stores_nothing() {
    let file = common::TempFile::new("locked.db");
    let timeout = Duration::from_millis(300);
    let inbox = Inbox::builder(file.url())
        .with_store_timeout(timeout)
        .open()
        .await
        .unwrap();
    let other = rusqlite::Connection::open(file.path()).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();

    let delivery = webhook("evt_01HXYZLOCKED00000000000001");
    let started = Instant::now();
    let failed = inbox.accept(&delivery).await;
    let elapsed = started.elapsed();
    assert!(
        matches!(failed, Err(InboxError::Timeout(_) | InboxError::Backend(_))),
        "{failed:?}"
    );
    assert!(
        elapsed < timeout + Duration::from_millis(700),
        "the failure took {elapsed:?}"
    );

    other.execute_batch("COMMIT").unwrap();
    // The failed write was not acknowledged; it may still land once the lock is gone (its
    // blocking call waits out the busy timeout). Either way Kirim's retry is acknowledged and
    // there is exactly one row: stored by the retry, or by the late write (then a duplicate).
    let retry = inbox.accept(&delivery).await.unwrap();
    assert!(
        matches!(retry, Accepted::Stored | Accepted::Duplicate),
        "{retry:?}"
    );
    assert_eq!(inbox.counts().await.unwrap().pending, 1);
}

/// Dropped payloads: a done row past the payload retention keeps its key (a retry is still a
/// duplicate) but not its body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payloads_are_dropped_before_the_keys() {
    let file = common::TempFile::new("payloads.db");
    let inbox = Inbox::open(file.url())
        .await
        .unwrap()
        .with_payload_retention(Duration::ZERO);
    let delivery = webhook("evt_01HXYZPAYLOAD0000000000001");
    inbox.accept(&delivery).await.unwrap();
    let worker = inbox
        .worker()
        .with_poll_interval(Duration::from_millis(50))
        .start(|_event: kirim_inbox::Event| std::future::ready(Ok::<_, String>(())));
    let deadline = Instant::now() + Duration::from_secs(20);
    while inbox.counts().await.unwrap().done != 1 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    worker.shutdown(Duration::from_secs(5)).await;
    let purged = inbox.purge().await.unwrap();
    assert_eq!((purged.rows, purged.payloads), (0, 1));
    let conn = rusqlite::Connection::open(file.path()).unwrap();
    let body: Option<Vec<u8>> = conn
        .query_row("SELECT body FROM kirim_inbox", [], |row| row.get(0))
        .unwrap();
    assert_eq!(body, None);
    assert_eq!(inbox.accept(&delivery).await.unwrap(), Accepted::Duplicate);
}
