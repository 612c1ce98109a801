//! The inbox and its worker on both backends: a SQLite file, and a real PostgreSQL server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kirim_inbox::{Accepted, Event, Inbox, Worker};
use tokio::sync::mpsc;

mod common;
use common::{Db, now, store_each, wait_for, webhook, webhook_at};

on_both_backends!(
    accept_stores_once,
    a_batch_split_per_message_is_stored_for_each,
    the_handler_gets_what_was_stored,
    failing_twice_then_succeeding_is_retried_with_backoff,
    failing_always_is_dead_with_its_error_then_requeued,
    a_panicking_handler_is_retried,
    a_dead_worker_s_row_comes_back_after_its_lease,
    a_handler_outliving_its_lease_does_not_mark_the_row_retaken,
    a_late_done_mark_on_a_row_nobody_retook_is_applied_once,
    shutdown_hands_back_what_did_not_finish,
    rows_taken_ahead_wait_for_a_handler_and_go_back_at_shutdown,
    a_row_taken_ahead_for_half_its_lease_is_handed_back,
    a_done_mark_is_written_while_every_handler_stays_busy,
    done_rows_are_purged_after_the_retention,
    counts_show_the_queue,
);

fn quick(worker: Worker) -> Worker {
    worker
        .with_poll_interval(Duration::from_millis(50))
        .with_backoff(Duration::from_millis(100), Duration::from_millis(400))
        .with_lease(Duration::from_secs(30))
}

/// One run of the handler: the event id, its try number, when.
type Run = (String, i64, Instant);

/// Sends every processed event's id (and its try number) to a channel; fails as told.
fn recorder(
    fail_first: i64,
) -> (
    impl Fn(Event) -> std::future::Ready<Result<(), String>> + Send + Sync + 'static,
    mpsc::UnboundedReceiver<Run>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let handler = move |event: Event| {
        let _ = tx.send((event.event_id().to_owned(), event.tries(), Instant::now()));
        std::future::ready(if event.tries() <= fail_first {
            Err(format!("downstream refused try {}", event.tries()))
        } else {
            Ok(())
        })
    };
    (handler, rx)
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Run>) -> Run {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("the worker processes the row")
        .expect("channel open")
}

/// One row per event: the same delivery again, the same signed message under another event id,
/// and a retry re-signed later are duplicates; two statuses of one message are two events.
/// One Meta batch split into an event per message, each with the whole batch as its body and
/// the same `t`: each event id is bound to the signed body, so both are stored; a resend under
/// an id the body does not bind is still a duplicate.
async fn a_batch_split_per_message_is_stored_for_each(db: Db) {
    let inbox = Inbox::open(&db.url).await.unwrap();
    let batch = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messages":[{"id":"wamid.BATCH1","type":"text"},{"id":"wamid.BATCH2","type":"text"}]}}]}]}"#;
    let t = now();
    let first = webhook_at("message.received", "wamid.BATCH1", batch, t);
    let second = webhook_at("message.received", "wamid.BATCH2", batch, t);
    let forged = webhook_at("message.received", "wamid.FORGED", batch, t);
    assert_eq!(inbox.accept(&first).await.unwrap(), Accepted::Stored);
    assert_eq!(inbox.accept(&second).await.unwrap(), Accepted::Stored);
    assert_eq!(inbox.accept(&second).await.unwrap(), Accepted::Duplicate);
    assert_eq!(inbox.accept(&forged).await.unwrap(), Accepted::Duplicate);
    assert_eq!(inbox.counts().await.unwrap().pending, 2);
}

async fn accept_stores_once(db: Db) {
    let inbox = Inbox::open(&db.url).await.unwrap();
    let first = webhook("evt_01HXYZACCEPT00000000000001");
    assert_eq!(inbox.accept(&first).await.unwrap(), Accepted::Stored);
    assert_eq!(inbox.accept(&first).await.unwrap(), Accepted::Duplicate);

    // A captured signature replayed under another (unsigned) event id header.
    let body = first.body().clone();
    let t = first.verified().timestamp();
    let forged = webhook_at(
        "contact.created",
        "evt_01HXYZFORGED00000000000001",
        &body,
        t,
    );
    assert_eq!(inbox.accept(&forged).await.unwrap(), Accepted::Duplicate);
    // Kirim's retry: same event, re-signed with a later t.
    let retry = webhook_at("contact.created", first.delivery().event_id(), &body, t + 5);
    assert_eq!(inbox.accept(&retry).await.unwrap(), Accepted::Duplicate);

    let wamid = "wamid.HBgNNjI4MTIzNDU2Nzg5FQIAERgSQUJDREVGMDEyMzQ1Njc4OQA";
    for status in ["sent", "delivered"] {
        let body = format!(r#"{{"statuses":[{{"id":"{wamid}","status":"{status}"}}]}}"#);
        let status = webhook_at("message.status", wamid, body.as_bytes(), now());
        assert_eq!(inbox.accept(&status).await.unwrap(), Accepted::Stored);
        let later = webhook_at("message.status", wamid, body.as_bytes(), now() + 1);
        assert_eq!(inbox.accept(&later).await.unwrap(), Accepted::Duplicate);
    }
    let counts = inbox.counts().await.unwrap();
    assert_eq!(counts.pending, 3, "{counts:?}");
}

async fn the_handler_gets_what_was_stored(db: Db) {
    let inbox = Inbox::open(&db.url).await.unwrap();
    let stored = webhook("evt_01HXYZSTORED00000000000001");
    inbox.accept(&stored).await.unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let worker = quick(inbox.worker()).start(move |event: Event| {
        let _ = tx.send(event);
        std::future::ready(Ok::<_, String>(()))
    });
    let event = tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(event.body(), stored.body());
    assert_eq!(event.event(), "contact.created");
    assert_eq!(event.event_id(), "evt_01HXYZSTORED00000000000001");
    assert_eq!(event.source(), "kirim");
    assert_eq!(event.tries(), 1);
    assert_eq!(
        u64::try_from(event.signed_at()).unwrap(),
        stored.verified().timestamp()
    );
    wait_for(&inbox, "marked done", |c| c.done == 1).await;
    let report = worker.shutdown(Duration::from_secs(5)).await;
    assert_eq!(report.done, 1);
}

async fn failing_twice_then_succeeding_is_retried_with_backoff(db: Db) {
    let inbox = Inbox::open(&db.url).await.unwrap();
    inbox
        .accept(&webhook("evt_01HXYZRETRY000000000000001"))
        .await
        .unwrap();
    let (handler, mut rx) = recorder(2);
    let worker = quick(inbox.worker()).start(handler);
    let runs = [
        next(&mut rx).await,
        next(&mut rx).await,
        next(&mut rx).await,
    ];
    assert_eq!(runs.each_ref().map(|r| r.1), [1, 2, 3]);
    // The backoff doubles: 100 ms, then 200 ms (lower bounds only).
    assert!(runs[1].2 - runs[0].2 >= Duration::from_millis(100));
    assert!(runs[2].2 - runs[1].2 >= Duration::from_millis(200));
    wait_for(&inbox, "done after the third try", |c| c.done == 1).await;
    let report = worker.shutdown(Duration::from_secs(5)).await;
    assert_eq!((report.retried, report.done, report.dead), (2, 1, 0));
    assert!(inbox.dead(10).await.unwrap().is_empty());
}

async fn failing_always_is_dead_with_its_error_then_requeued(db: Db) {
    let inbox = Inbox::open(&db.url).await.unwrap();
    inbox
        .accept(&webhook("evt_01HXYZDEAD0000000000000001"))
        .await
        .unwrap();
    let (handler, mut rx) = recorder(i64::MAX);
    let worker = quick(inbox.worker()).with_max_tries(3).start(handler);
    for expected in 1..=3 {
        assert_eq!(next(&mut rx).await.1, expected);
    }
    wait_for(&inbox, "dead after 3 tries", |c| c.dead == 1).await;
    let dead = inbox.dead(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].tries, 3);
    assert_eq!(dead[0].event_id, "evt_01HXYZDEAD0000000000000001");
    assert_eq!(
        dead[0].last_error.as_deref(),
        Some("downstream refused try 3")
    );
    // No fourth run.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(rx.try_recv().is_err());
    worker.shutdown(Duration::from_secs(5)).await;

    // Requeued (the downstream is fixed): processed.
    assert!(inbox.requeue(dead[0].row_id).await.unwrap());
    assert!(
        !inbox.requeue(dead[0].row_id).await.unwrap(),
        "not dead any more"
    );
    let (handler, mut rx) = recorder(0);
    let worker = quick(inbox.worker()).start(handler);
    assert_eq!(
        next(&mut rx).await.1,
        1,
        "a requeued row starts its tries again"
    );
    wait_for(&inbox, "done after the requeue", |c| {
        c.done == 1 && c.dead == 0
    })
    .await;
    worker.shutdown(Duration::from_secs(5)).await;
}

async fn a_panicking_handler_is_retried(db: Db) {
    let inbox = Inbox::open(&db.url).await.unwrap();
    inbox
        .accept(&webhook("evt_01HXYZPANIC000000000000001"))
        .await
        .unwrap();
    let tries = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&tries);
    let worker = quick(inbox.worker())
        .with_max_tries(2)
        .start(move |event: Event| {
            seen.lock().unwrap().push(event.tries());
            assert!(event.tries() > 1, "the handler panics on its first try");
            std::future::ready(Ok::<_, String>(()))
        });
    wait_for(&inbox, "done after a panic", |c| c.done == 1).await;
    let report = worker.shutdown(Duration::from_secs(5)).await;
    assert_eq!(*tries.lock().unwrap(), [1, 2]);
    assert_eq!((report.retried, report.done), (1, 1));
}

/// A worker that dies holding a row (its runtime dropped mid-handler: nothing hands the row
/// back) leaves it running; another worker takes it once its lease has run out.
async fn a_dead_worker_s_row_comes_back_after_its_lease(db: Db) {
    let lease = Duration::from_millis(600);
    let inbox = Inbox::open(&db.url).await.unwrap();
    inbox
        .accept(&webhook("evt_01HXYZLEASE000000000000001"))
        .await
        .unwrap();
    let url = db.url.clone();
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let doomed = std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let inbox = Inbox::open(url).await.unwrap();
            let _worker = quick(inbox.worker())
                .with_lease(lease)
                .start(move |_event: Event| {
                    let _ = started_tx.send(Instant::now());
                    std::future::pending::<Result<(), String>>()
                });
            tokio::time::sleep(Duration::from_millis(200)).await;
        });
        // Dropping the runtime ends the worker where it stands, as a crash would.
        runtime.shutdown_background();
    });
    let taken_at =
        tokio::task::spawn_blocking(move || started_rx.recv_timeout(Duration::from_secs(20)))
            .await
            .unwrap()
            .expect("the first worker takes the row");
    doomed.join().unwrap();
    assert_eq!(inbox.counts().await.unwrap().running, 1);

    let (handler, mut rx) = recorder(0);
    let worker = quick(inbox.worker()).start(handler);
    let (id, tries, at) = next(&mut rx).await;
    assert_eq!((id.as_str(), tries), ("evt_01HXYZLEASE000000000000001", 2));
    assert!(
        at - taken_at >= lease,
        "taken again before the lease ran out"
    );
    wait_for(&inbox, "done by the second worker", |c| c.done == 1).await;
    worker.shutdown(Duration::from_secs(5)).await;
}

/// A handler that outlives its lease: the row is taken again (here by the same worker, under a
/// new token) and done by that run; the late run's done mark, sent with a later claim, finds
/// the row done by another token and is counted as a lost lease, not applied.
async fn a_handler_outliving_its_lease_does_not_mark_the_row_retaken(db: Db) {
    let lease = Duration::from_millis(300);
    let inbox = Inbox::open(&db.url).await.unwrap();
    inbox
        .accept(&webhook("evt_01HXYZOUTLIVE0000000000001"))
        .await
        .unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let worker = quick(inbox.worker())
        .with_lease(lease)
        .with_concurrency(2)
        .start(move |event: Event| {
            let tx = tx.clone();
            async move {
                if event.tries() == 1 {
                    tokio::time::sleep(lease * 3).await;
                }
                let _ = tx.send(event.tries());
                Ok::<_, String>(())
            }
        });
    let first = tokio::time::timeout(Duration::from_secs(20), rx.recv()).await;
    let second = tokio::time::timeout(Duration::from_secs(20), rx.recv()).await;
    assert_eq!(
        (first.unwrap(), second.unwrap()),
        (Some(2), Some(1)),
        "the retaken run ends first"
    );
    // The late run's mark rides on the worker's next claim, or is sent at shutdown: counted
    // either way.
    let report = worker.shutdown(Duration::from_secs(5)).await;
    assert_eq!((report.done, report.lost_leases), (1, 1), "{report:?}");
    let counts = inbox.counts().await.unwrap();
    assert_eq!((counts.pending, counts.running, counts.done), (0, 0, 1));
}

/// A handler that outlives its lease while nothing takes the row again (one handler slot, so
/// its worker claims nothing meanwhile): the done mark, sent with the next claim, still holds
/// the row and is applied; that claim does not take the same row again.
async fn a_late_done_mark_on_a_row_nobody_retook_is_applied_once(db: Db) {
    let lease = Duration::from_millis(300);
    let inbox = Inbox::open(&db.url).await.unwrap();
    inbox
        .accept(&webhook("evt_01HXYZLATEMARK000000000001"))
        .await
        .unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let worker = quick(inbox.worker())
        .with_lease(lease)
        .with_concurrency(1)
        .start(move |event: Event| {
            let tx = tx.clone();
            async move {
                tokio::time::sleep(lease * 3).await;
                let _ = tx.send(event.tries());
                Ok::<_, String>(())
            }
        });
    let first = tokio::time::timeout(Duration::from_secs(20), rx.recv()).await;
    assert_eq!(first.unwrap(), Some(1));
    wait_for(&inbox, "done", |c| c.done == 1).await;
    // Long enough for a second run to have started and ended, had the claim taken the row.
    tokio::time::sleep(lease * 4).await;
    let report = worker.shutdown(Duration::from_secs(5)).await;
    assert!(rx.try_recv().is_err(), "the row ran again");
    assert_eq!((report.done, report.lost_leases), (1, 0), "{report:?}");
}

async fn shutdown_hands_back_what_did_not_finish(db: Db) {
    let inbox = Inbox::open(&db.url).await.unwrap();
    store_each(&inbox, "evt_01HXYZSHUTDOWN0000000000", 3).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let worker = quick(inbox.worker())
        .with_concurrency(3)
        .start(move |event: Event| {
            let tx = tx.clone();
            async move {
                let fast = event.event_id().ends_with("00");
                let _ = tx.send(());
                if !fast {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
                Ok::<_, String>(())
            }
        });
    for _ in 0..3 {
        tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .unwrap();
    }
    wait_for(&inbox, "the fast one done", |c| c.done == 1).await;
    let report = worker.shutdown(Duration::from_millis(200)).await;
    assert_eq!((report.done, report.handed_back), (1, 2), "{report:?}");
    let counts = inbox.counts().await.unwrap();
    assert_eq!((counts.pending, counts.running, counts.done), (2, 0, 1));

    // The next worker takes them at once, as first tries.
    let (handler, mut rx) = recorder(0);
    let worker = quick(inbox.worker()).start(handler);
    let mut tries = vec![next(&mut rx).await.1, next(&mut rx).await.1];
    tries.sort_unstable();
    assert_eq!(tries, [1, 1]);
    worker.shutdown(Duration::from_secs(5)).await;
}

/// With every handler busy, the worker holds rows taken ahead without starting them; at
/// shutdown they go back with the one still running.
async fn rows_taken_ahead_wait_for_a_handler_and_go_back_at_shutdown(db: Db) {
    let inbox = Inbox::open(&db.url).await.unwrap();
    store_each(&inbox, "evt_01HXYZAHEAD0000000000000", 3).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let worker = quick(inbox.worker())
        .with_concurrency(1)
        .with_prefetch(2)
        .start(move |event: Event| {
            let _ = tx.send(event.event_id().to_owned());
            async move {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok::<_, String>(())
            }
        });
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .unwrap();
    wait_for(&inbox, "one running and two taken ahead", |c| {
        c.running == 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(rx.try_recv().is_err(), "a second handler started");
    let report = worker.shutdown(Duration::from_millis(200)).await;
    assert_eq!((report.done, report.handed_back), (0, 3), "{report:?}");
    let counts = inbox.counts().await.unwrap();
    assert_eq!((counts.pending, counts.running), (3, 0));
}

/// A row taken ahead that waited half its lease for a handler is handed back, not started with
/// too little lease left, and the worker takes no more rows ahead: each row runs once.
async fn a_row_taken_ahead_for_half_its_lease_is_handed_back(db: Db) {
    let inbox = Inbox::open(&db.url).await.unwrap();
    let ids = store_each(&inbox, "evt_01HXYZHALFLEASE000000000", 3).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let worker = quick(inbox.worker())
        .with_lease(Duration::from_millis(500))
        .with_concurrency(1)
        .with_prefetch(1)
        .start(move |event: Event| {
            let _ = tx.send((event.event_id().to_owned(), event.tries()));
            async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                Ok::<_, String>(())
            }
        });
    wait_for(&inbox, "all three done", |c| c.done == 3).await;
    let report = worker.shutdown(Duration::from_secs(5)).await;
    let mut runs = Vec::new();
    while let Ok(run) = rx.try_recv() {
        runs.push(run);
    }
    runs.sort();
    let expected: Vec<(String, i64)> = ids.into_iter().map(|id| (id, 1)).collect();
    assert_eq!(runs, expected, "each row once, as its first try");
    assert_eq!((report.done, report.handed_back), (3, 1), "{report:?}");
}

/// A finished handler's done mark waits for the next claim only briefly: with the one handler
/// busy on the row taken ahead (so no claim comes), the first row is still marked done.
async fn a_done_mark_is_written_while_every_handler_stays_busy(db: Db) {
    let inbox = Inbox::open(&db.url).await.unwrap();
    store_each(&inbox, "evt_01HXYZBUSYMARK0000000000", 2).await;
    let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = Arc::clone(&runs);
    let worker = quick(inbox.worker())
        .with_poll_interval(Duration::from_secs(3600))
        .with_concurrency(1)
        .with_prefetch(1)
        .start(move |_event: Event| {
            // The first row returns at once; the second holds the only handler.
            let first = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0;
            async move {
                if !first {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
                Ok::<_, String>(())
            }
        });
    wait_for(&inbox, "the first row done, the second running", |c| {
        c.done == 1 && c.running == 1
    })
    .await;
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 2);
    let report = worker.shutdown(Duration::from_millis(100)).await;
    assert_eq!((report.done, report.handed_back), (1, 1), "{report:?}");
}

async fn done_rows_are_purged_after_the_retention(db: Db) {
    let inbox = Inbox::open(&db.url)
        .await
        .unwrap()
        .with_retention(Duration::from_millis(600))
        .with_payload_retention(Duration::from_millis(1));
    let first = webhook("evt_01HXYZPURGE000000000000001");
    inbox.accept(&first).await.unwrap();
    let (handler, mut rx) = recorder(0);
    let worker = quick(inbox.worker())
        .with_purge_interval(Duration::from_millis(100))
        .start(handler);
    next(&mut rx).await;
    wait_for(&inbox, "done", |c| c.done == 1).await;
    // Still remembered (its payload may be gone already): a duplicate.
    assert_eq!(inbox.accept(&first).await.unwrap(), Accepted::Duplicate);
    wait_for(&inbox, "purged", |c| c.done == 0).await;
    // Forgotten after the retention: stored again.
    assert_eq!(inbox.accept(&first).await.unwrap(), Accepted::Stored);
    worker.shutdown(Duration::from_secs(5)).await;
}

async fn counts_show_the_queue(db: Db) {
    let inbox = Inbox::open(&db.url).await.unwrap();
    assert_eq!(
        inbox.counts().await.unwrap(),
        kirim_inbox::Counts::default()
    );
    store_each(&inbox, "evt_01HXYZCOUNTS000000000000", 5).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let counts = inbox.counts().await.unwrap();
    assert_eq!(counts.pending, 5);
    let age = counts.oldest_pending_age.expect("an oldest pending row");
    assert!(
        age >= Duration::from_millis(40) && age < Duration::from_secs(60),
        "{age:?}"
    );
    let mut per_id: HashMap<String, i64> = HashMap::new();
    let (handler, mut rx) = recorder(0);
    let worker = quick(inbox.worker()).start(handler);
    for _ in 0..5 {
        let (id, tries, _) = next(&mut rx).await;
        *per_id.entry(id).or_default() += tries;
    }
    assert_eq!(per_id.len(), 5);
    wait_for(&inbox, "all done", |c| c.done == 5 && c.pending == 0).await;
    assert_eq!(inbox.counts().await.unwrap().oldest_pending_age, None);
    worker.shutdown(Duration::from_secs(5)).await;
}
