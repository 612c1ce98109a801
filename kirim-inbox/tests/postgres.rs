//! What only PostgreSQL does: workers on several processes sharing rows (`SKIP LOCKED`),
//! `NOTIFY` waking a worker of another process, handlers writing in the transaction that marks
//! their row done, and a server that goes away under load and comes back.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kirim_inbox::{Accepted, Event, Inbox, InboxError, Transaction};
use kirim_test_support::postgres_server::PostgresServer;
use tokio::sync::mpsc;

mod common;
use common::{wait_for, webhook};

/// A worker that would poll only once a minute processes a delivery stored through another
/// pool (another process, as far as it can tell) at once: woken by `NOTIFY`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notify_wakes_the_worker_of_another_process() {
    let server = PostgresServer::start();
    let url = server.create_database();
    let receiving = Inbox::open(&url).await.unwrap();
    let working = Inbox::open(&url).await.unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let worker = working
        .worker()
        .with_poll_interval(Duration::from_secs(60))
        .start(move |event: Event| {
            let _ = tx.send(event.event_id().to_owned());
            std::future::ready(Ok::<_, String>(()))
        });
    // Let the worker's first look (and the LISTEN connection) happen.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for n in 0..3 {
        let id = format!("evt_01HXYZNOTIFY0000000000000{n}");
        assert_eq!(
            receiving.accept(&webhook(&id)).await.unwrap(),
            Accepted::Stored
        );
        let processed = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("woken well before its next poll")
            .unwrap();
        assert_eq!(processed, id);
    }
    worker.shutdown(Duration::from_secs(5)).await;
}

/// Two workers on two pools take rows from one table: each row is processed once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_share_the_rows_without_overlap() {
    const ROWS: usize = 200;
    let server = PostgresServer::start();
    let url = server.create_database();
    let inbox = Inbox::open(&url).await.unwrap();
    for n in 0..ROWS {
        inbox
            .accept(&webhook(&format!("evt_01HXYZSHARED00000000{n:06}")))
            .await
            .unwrap();
    }
    let seen: Arc<Mutex<HashMap<String, Vec<usize>>>> = Arc::default();
    let mut workers = Vec::new();
    for worker in 0..2 {
        let seen = Arc::clone(&seen);
        let inbox = Inbox::open(&url).await.unwrap();
        workers.push(
            inbox
                .worker()
                .with_batch_size(8)
                .with_concurrency(4)
                .with_poll_interval(Duration::from_millis(20))
                .start(move |event: Event| {
                    let seen = Arc::clone(&seen);
                    async move {
                        tokio::time::sleep(Duration::from_millis(2)).await;
                        seen.lock()
                            .unwrap()
                            .entry(event.event_id().to_owned())
                            .or_default()
                            .push(worker);
                        Ok::<_, String>(())
                    }
                }),
        );
    }
    wait_for(&inbox, "all processed", |c| c.done == ROWS as u64).await;
    let mut reports = Vec::new();
    for worker in workers {
        reports.push(worker.shutdown(Duration::from_secs(5)).await);
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), ROWS);
    let twice: Vec<_> = seen.iter().filter(|(_, runs)| runs.len() != 1).collect();
    assert!(twice.is_empty(), "processed more than once: {twice:?}");
    assert_eq!(reports.iter().map(|r| r.done).sum::<u64>(), ROWS as u64);
}

/// The handler's writes and the done mark commit together: a failing or panicking try leaves
/// no effect behind, the successful one exactly one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transactional_handler_commits_with_the_done_mark() {
    let server = PostgresServer::start();
    let url = server.create_database();
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .batch_execute("CREATE TABLE effects (event_id TEXT NOT NULL, try BIGINT NOT NULL)")
        .await
        .unwrap();
    let inbox = Inbox::open(&url).await.unwrap();
    for id in [
        "evt_01HXYZTXFAILS0000000000001",
        "evt_01HXYZTXPANIC0000000000001",
    ] {
        inbox.accept(&webhook(id)).await.unwrap();
    }
    let worker = inbox
        .worker()
        .with_poll_interval(Duration::from_millis(50))
        .with_backoff(Duration::from_millis(50), Duration::from_millis(100))
        .start_transactional(|event: Event, tx: Transaction| async move {
            tx.client()
                .execute(
                    "INSERT INTO effects (event_id, try) VALUES ($1, $2)",
                    &[&event.event_id(), &event.tries()],
                )
                .await
                .map_err(|e| e.to_string())?;
            if event.tries() == 1 {
                if event.event_id().contains("PANIC") {
                    panic!("the handler panics after its write");
                }
                return Err(String::from("the handler fails after its write"));
            }
            Ok(())
        });
    wait_for(&inbox, "both done", |c| c.done == 2).await;
    worker.shutdown(Duration::from_secs(5)).await;
    let rows = client
        .query("SELECT event_id, try FROM effects ORDER BY event_id", &[])
        .await
        .unwrap();
    let effects: Vec<(String, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        effects,
        [
            (String::from("evt_01HXYZTXFAILS0000000000001"), 2),
            (String::from("evt_01HXYZTXPANIC0000000000001"), 2),
        ],
        "only the successful tries' writes committed"
    );
}

/// The database stops while deliveries arrive: they fail (the receiver answers 503) within the
/// store timeout, nothing is acknowledged without a row, and the same inbox recovers once the
/// server is back, without being reopened. Every acknowledged delivery is processed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_stopped_under_load() {
    let mut server = PostgresServer::start();
    let url = server.create_database();
    let timeout = Duration::from_millis(500);
    let inbox = Inbox::builder(&url)
        .with_store_timeout(timeout)
        .open()
        .await
        .unwrap();
    let acked: Arc<Mutex<HashSet<String>>> = Arc::default();
    let failures = Arc::new(Mutex::new(Vec::new()));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut senders = Vec::new();
    for sender in 0..4 {
        let (inbox, acked, failures) = (inbox.clone(), Arc::clone(&acked), Arc::clone(&failures));
        let stop_rx = stop_rx.clone();
        senders.push(tokio::spawn(async move {
            let mut n = 0;
            while !*stop_rx.borrow() {
                n += 1;
                let id = format!("evt_01HXYZLOAD{sender}{n:016}");
                let started = Instant::now();
                match inbox.accept(&webhook(&id)).await {
                    Ok(Accepted::Stored) => {
                        acked.lock().unwrap().insert(id);
                    }
                    Ok(other) => panic!("a fresh id is stored, got {other:?}"),
                    Err(error) => {
                        failures.lock().unwrap().push((started.elapsed(), error));
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
        }));
    }
    let acked_count = || acked.lock().unwrap().len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = acked_count();
    assert!(before > 0, "deliveries are stored while the server is up");

    server.stop();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let during = acked_count();
    assert!(
        !failures.lock().unwrap().is_empty(),
        "a stopped server fails deliveries"
    );
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked_count() < during + 20 {
        assert!(
            Instant::now() < deadline,
            "the inbox did not recover after the restart"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop_tx.send(true);
    for sender in senders {
        sender.await.unwrap();
    }
    {
        let failures = failures.lock().unwrap();
        for (elapsed, error) in failures.iter() {
            assert!(
                *elapsed < timeout + Duration::from_millis(500),
                "a failure took {elapsed:?}: {error}"
            );
            assert!(
                matches!(error, InboxError::Timeout(_) | InboxError::Backend(_)),
                "{error:?}"
            );
        }
    }

    // Every acknowledged delivery has its row: the worker processes each one.
    let acked = acked.lock().unwrap().clone();
    let processed: Arc<Mutex<HashSet<String>>> = Arc::default();
    let seen = Arc::clone(&processed);
    let worker = inbox
        .worker()
        .with_poll_interval(Duration::from_millis(50))
        .start(move |event: Event| {
            seen.lock().unwrap().insert(event.event_id().to_owned());
            std::future::ready(Ok::<_, String>(()))
        });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let counts = inbox.counts().await.unwrap();
        if counts.pending == 0 && counts.running == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{counts:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    worker.shutdown(Duration::from_secs(5)).await;
    let processed = processed.lock().unwrap();
    let lost: Vec<_> = acked.difference(&processed).collect();
    assert!(lost.is_empty(), "acknowledged but not processed: {lost:?}");
}
