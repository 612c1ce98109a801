//! The `inbox` group: the SQL inbox's ack path against a bare insert of the same row, the
//! worker's drain rate, and requests per second of a receiver persisting to the SQLite inbox
//! against the same receiver acknowledging into memory.
//!
//! - `inbox/<sqlite|postgres>/accept`: verification of a signed delivery (headers, HMAC, body)
//!   then [`Inbox::accept`]: the keys, one `INSERT … ON CONFLICT DO NOTHING` under the store
//!   timeout, committed.
//! - `inbox/<sqlite|postgres>/bare-insert`: the same row's `INSERT … ON CONFLICT DO NOTHING`,
//!   its values computed before the clock starts, through the same driver and the same kind of
//!   pool with the same settings (SQLite: four WAL connections with `synchronous = FULL` used
//!   from Tokio's blocking threads, as the inbox's; PostgreSQL: `deadpool-postgres`, 16
//!   connections, fast recycling, a cached prepared statement, `synchronous_commit = on`).
//! - `inbox/<sqlite|postgres>/drain`: rows stored beforehand, then a worker with a no-op
//!   handler until every row is done: 8 handlers and 8 rows taken ahead (the defaults), claims
//!   of up to 16; `drain-no-prefetch`: the same without rows taken ahead; `drain-32`: 32
//!   handlers, 32 ahead, claims of up to 64.
//! - `inbox/<sqlite|postgres>/paired` (printed, not a criterion benchmark): the bare insert,
//!   the ack path and the drain at the defaults in rounds, back to back on batches of the same
//!   size, each round's ratios taken within it; the median and range of the rounds. This is
//!   the measurement the floors are judged by (see [`paired`]).
//! - `inbox/http/<sqlite-inbox|memory>`: `POST /webhooks/kirim` on an axum server on 127.0.0.1
//!   behind `KirimLayer`: persisting with `Inbox::accept` (a receiver without dedup, the worker
//!   running in the same process, as the example receiver with `DATABASE_URL`), against
//!   deduplicating in the `MemoryStore` and queueing to an in-memory channel (the example
//!   without it).
//!
//! The ack path and the bare insert run from [`TASKS`] concurrent tasks; each iteration is one
//! delivery (the rate is deliveries per second). PostgreSQL is a real server started by the
//! test support (`fsync = off`: the disk is not what is compared). SQLite is a file in the
//! temporary directory, `synchronous = FULL` on both sides.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kirim_benches::{PAIRED_ROUNDS, paired_summary, wants_paired};
use kirim_inbox::{Accepted, DEFAULT_CONCURRENCY, Event, Inbox};
use kirim_test_support::http::load::{connect, load, serialize};
use kirim_test_support::http::{ROUTE, SECRET, SignedRequest, fixtures};
use kirim_test_support::postgres_server::PostgresServer;
use kirim_verify::flow::names;
use kirim_verify::{MemoryStore, Receiver, Secret, Signer, Verifier, Webhook};

/// Concurrent tasks on the ack path and the bare insert.
const TASKS: usize = 16;

/// Keep-alive connections of the HTTP client, one request in flight on each.
const CONNECTIONS: usize = 32;

/// The id inside the fixture, replaced by a unique one of the same length.
const FIXTURE_ID: &[u8] = b"evt_01HXYZABCDEFGHJKMNPQRSTVW1";

static NEXT: AtomicU64 = AtomicU64::new(0);

/// One signed delivery: its headers and body, as a receiver gets them.
#[derive(Clone)]
struct Signed {
    id: String,
    signature: String,
    body: Bytes,
    t: u64,
}

fn signed(n: u64) -> Vec<Signed> {
    let signer = Signer::new([Secret::new(SECRET).unwrap()]).unwrap();
    let at = fixtures::CONTACT_CREATED
        .windows(FIXTURE_ID.len())
        .position(|w| w == FIXTURE_ID)
        .unwrap();
    let t = kirim_verify::unix_now();
    (0..n)
        .map(|_| {
            let id = format!("evt_{:026}", NEXT.fetch_add(1, Ordering::Relaxed));
            let mut body = fixtures::CONTACT_CREATED.to_vec();
            body[at..at + FIXTURE_ID.len()].copy_from_slice(id.as_bytes());
            let signature = signer.sign(t, &body);
            Signed {
                id,
                signature,
                body: Bytes::from(body),
                t,
            }
        })
        .collect()
}

fn bare_receiver() -> Receiver {
    Receiver::new(Verifier::new([Secret::new(SECRET).unwrap()]).unwrap())
}

/// Verification as an adapter runs it: headers, then the body, then the signature.
fn verify(receiver: &Receiver, delivery: &Signed) -> Webhook {
    let headers = [
        (names::SIGNATURE, delivery.signature.as_str()),
        (names::EVENT, "contact.created"),
        (names::EVENT_ID, delivery.id.as_str()),
        (names::SOURCE, "kirim"),
    ];
    let get = |name: &'static str| {
        headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_bytes())
    };
    let mut intake = receiver.begin(get, None, delivery.t).unwrap();
    intake.push(delivery.body.clone()).unwrap();
    intake.finish(delivery.t).unwrap()
}

/// The row the inbox writes, computed in advance for the bare insert.
struct Row {
    dedup_key: String,
    guard_key: String,
    id: String,
    t: i64,
    body: Bytes,
}

fn row(receiver: &Receiver, delivery: &Signed) -> Row {
    let webhook = verify(receiver, delivery);
    Row {
        dedup_key: format!("kirim:evt:{}", delivery.id),
        guard_key: format!("kirim:sig:{}", hex::encode(webhook.replay_fingerprint())),
        id: delivery.id.clone(),
        t: i64::try_from(delivery.t).unwrap(),
        body: delivery.body.clone(),
    }
}

/// Runs `work` on each item from [`TASKS`] tasks and returns the wall time.
async fn spread<T: Send + 'static, F, Fut>(items: Vec<T>, work: F) -> Duration
where
    F: Fn(T) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let mut batches: Vec<Vec<T>> = (0..TASKS).map(|_| Vec::new()).collect();
    for (i, item) in items.into_iter().enumerate() {
        batches[i % TASKS].push(item);
    }
    let start = Instant::now();
    let tasks: Vec<_> = batches
        .into_iter()
        .map(|batch| {
            let work = work.clone();
            tokio::spawn(async move {
                for item in batch {
                    work(item).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    start.elapsed()
}

/// The bare insert's pool, per backend.
#[derive(Clone)]
enum Bare {
    Sqlite(Arc<SqlitePool>),
    Postgres(deadpool_postgres::Pool),
}

/// As the inbox's SQLite pool: a few connections, used from blocking threads.
struct SqlitePool {
    idle: std::sync::Mutex<Vec<rusqlite::Connection>>,
    permits: Arc<tokio::sync::Semaphore>,
}

const SQLITE_INSERT: &str = "INSERT INTO kirim_inbox (dedup_key, guard_key, event, event_id, \
     source, delivery_id, attempt, signed_at, body, received_at, run_after) VALUES (?1, ?2, \
     'contact.created', ?3, 'kirim', NULL, NULL, ?4, ?5, \
     CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER), \
     CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)) ON CONFLICT DO NOTHING";

const POSTGRES_INSERT: &str = "INSERT INTO kirim_inbox (dedup_key, guard_key, event, event_id, \
     source, delivery_id, attempt, signed_at, body, received_at, run_after) VALUES ($1, $2, \
     'contact.created', $3, 'kirim', NULL, NULL, $4, $5, \
     (extract(epoch from now()) * 1000)::bigint, (extract(epoch from now()) * 1000)::bigint) \
     ON CONFLICT DO NOTHING";

impl Bare {
    fn sqlite(path: &std::path::Path) -> Self {
        let connections = (0..4)
            .map(|_| {
                let conn = rusqlite::Connection::open(path).unwrap();
                conn.busy_timeout(Duration::from_secs(10)).unwrap();
                conn.pragma_update(None, "journal_mode", "WAL").unwrap();
                conn.pragma_update(None, "synchronous", "FULL").unwrap();
                conn
            })
            .collect();
        Self::Sqlite(Arc::new(SqlitePool {
            idle: std::sync::Mutex::new(connections),
            permits: Arc::new(tokio::sync::Semaphore::new(4)),
        }))
    }

    fn postgres(url: &str) -> Self {
        let mut config: tokio_postgres::Config = url.parse().unwrap();
        config.options("-c synchronous_commit=on");
        let manager = deadpool_postgres::Manager::from_config(
            config,
            tokio_postgres::NoTls,
            deadpool_postgres::ManagerConfig {
                recycling_method: deadpool_postgres::RecyclingMethod::Fast,
            },
        );
        Self::Postgres(
            deadpool_postgres::Pool::builder(manager)
                .max_size(16)
                .build()
                .unwrap(),
        )
    }

    async fn insert(&self, row: Row) {
        match self {
            Self::Sqlite(pool) => {
                let permit = Arc::clone(&pool.permits).acquire_owned().await.unwrap();
                let pool = Arc::clone(pool);
                tokio::task::spawn_blocking(move || {
                    let _permit = permit;
                    let conn = pool.idle.lock().unwrap().pop().unwrap();
                    let changed = conn
                        .prepare_cached(SQLITE_INSERT)
                        .unwrap()
                        .execute(rusqlite::params![
                            row.dedup_key,
                            row.guard_key,
                            row.id,
                            row.t,
                            &row.body[..]
                        ])
                        .unwrap();
                    assert_eq!(changed, 1);
                    pool.idle.lock().unwrap().push(conn);
                })
                .await
                .unwrap();
            }
            Self::Postgres(pool) => {
                let client = pool.get().await.unwrap();
                let statement = client.prepare_cached(POSTGRES_INSERT).await.unwrap();
                let changed = client
                    .execute(
                        &statement,
                        &[
                            &row.dedup_key,
                            &row.guard_key,
                            &row.id,
                            &row.t,
                            &&row.body[..],
                        ],
                    )
                    .await
                    .unwrap();
                assert_eq!(changed, 1);
            }
        }
    }
}

fn inbox(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("kirim-inbox-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let server = PostgresServer::start();
    let backends = [
        (
            "sqlite",
            format!("sqlite://{}", dir.join("inbox.db").display()),
        ),
        ("postgres", server.create_database()),
    ];

    let mut group = c.benchmark_group("inbox");
    group.sample_size(10).throughput(Throughput::Elements(1));
    for (name, url) in &backends {
        // A generous store timeout: a shared machine's disk can stall a commit for a second.
        let inbox = runtime
            .block_on(
                Inbox::builder(url.as_str())
                    .with_store_timeout(Duration::from_secs(10))
                    .open(),
            )
            .unwrap();
        let bare = match *name {
            "sqlite" => Bare::sqlite(&dir.join("inbox.db")),
            _ => Bare::postgres(url),
        };
        let receiver = Arc::new(bare_receiver());
        group.bench_function(format!("{name}/accept"), |b| {
            b.iter_custom(|iters| runtime.block_on(accept(&inbox, &receiver, iters)));
        });
        group.bench_function(format!("{name}/bare-insert"), |b| {
            b.iter_custom(|iters| runtime.block_on(bare_insert(&bare, &receiver, iters)));
        });
        for (label, concurrency, prefetch) in [
            ("drain", DEFAULT_CONCURRENCY, None),
            ("drain-no-prefetch", DEFAULT_CONCURRENCY, Some(0)),
            ("drain-32", 32, None),
        ] {
            group.bench_function(format!("{name}/{label}"), |b| {
                b.iter_custom(|iters| {
                    runtime.block_on(drain(&inbox, &receiver, iters, concurrency, prefetch))
                });
            });
        }
        if wants_paired("inbox") {
            runtime.block_on(paired(name, &inbox, &bare, &receiver));
        }
    }

    // The HTTP receivers.
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for kind in ["sqlite-inbox", "memory"] {
        let server =
            HttpServer::start(kind, &format!("sqlite://{}", dir.join("http.db").display()));
        let mut connections = client.block_on(connect(server.addr, CONNECTIONS));
        group.bench_function(format!("http/{kind}"), |b| {
            b.iter_custom(|iters| {
                let batches = requests(iters);
                let (elapsed, returned) =
                    client.block_on(load(std::mem::take(&mut connections), batches));
                connections = returned;
                elapsed
            });
        });
        drop(connections);
        drop(server);
    }
    group.finish();
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Times `iters` deliveries through the ack path: verification, then [`Inbox::accept`].
async fn accept(inbox: &Inbox, receiver: &Arc<Receiver>, iters: u64) -> Duration {
    let (inbox, receiver) = (inbox.clone(), Arc::clone(receiver));
    spread(signed(iters), move |delivery: Signed| {
        let (inbox, receiver) = (inbox.clone(), Arc::clone(&receiver));
        async move {
            let webhook = verify(&receiver, &delivery);
            assert_eq!(inbox.accept(&webhook).await.unwrap(), Accepted::Stored);
        }
    })
    .await
}

/// Times the bare insert of `iters` rows, computed before the clock starts.
async fn bare_insert(bare: &Bare, receiver: &Receiver, iters: u64) -> Duration {
    let rows: Vec<Row> = signed(iters).iter().map(|d| row(receiver, d)).collect();
    let bare = bare.clone();
    spread(rows, move |row: Row| {
        let bare = bare.clone();
        async move { bare.insert(row).await }
    })
    .await
}

/// `inbox/<backend>/paired`: the two floors measured as pairs. Criterion runs all the samples
/// of one benchmark, then all of the next, and on a shared machine the rate of everything
/// drifts by more than the gap being measured within those seconds (the same code gave the ack
/// path 0.72x to 1.04x its bare insert in runs minutes apart). Here each round runs the bare
/// insert, the ack path and the drain (defaults, no-op handler) on batches of the same size,
/// back to back, in an order that turns each round, and takes each round's ratios: the drift
/// across rounds cancels, and the median of the rounds is printed with their range.
async fn paired(name: &str, inbox: &Inbox, bare: &Bare, receiver: &Arc<Receiver>) {
    let rows: u64 = if name == "sqlite" { 2_000 } else { 8_000 };
    let (mut acks, mut drains) = (Vec::new(), Vec::new());
    for round in 0..PAIRED_ROUNDS {
        let mut times = [Duration::ZERO; 3];
        for step in 0..3 {
            let which = (step + round) % 3;
            times[which] = match which {
                0 => bare_insert(bare, receiver, rows).await,
                1 => accept(inbox, receiver, rows).await,
                _ => drain(inbox, receiver, rows, DEFAULT_CONCURRENCY, None).await,
            };
        }
        // Rates are rows over time, and the rows are the same: a rate ratio is a time ratio.
        let [bare_time, ack_time, drain_time] = times.map(|t| t.as_secs_f64());
        acks.push(bare_time / ack_time);
        drains.push(bare_time / drain_time);
    }
    println!(
        "inbox/{name}/paired: {PAIRED_ROUNDS} rounds of {rows} rows; against the bare insert of \
         the same round: accept {}, drain {}",
        paired_summary(&mut acks),
        paired_summary(&mut drains)
    );
}

/// Stores `iters` rows, then times a worker with a no-op handler (`concurrency` handlers,
/// claims of up to twice that, `prefetch` rows taken ahead or the default) until every row is
/// done.
async fn drain(
    inbox: &Inbox,
    receiver: &Receiver,
    iters: u64,
    concurrency: usize,
    prefetch: Option<usize>,
) -> Duration {
    for delivery in signed(iters) {
        let webhook = verify(receiver, &delivery);
        inbox.accept(&webhook).await.unwrap();
    }
    let processed = Arc::new(AtomicU64::new(0));
    let all = Arc::new(tokio::sync::Notify::new());
    let (seen, done) = (Arc::clone(&processed), Arc::clone(&all));
    let start = Instant::now();
    let mut worker = inbox
        .worker()
        .with_concurrency(concurrency)
        .with_batch_size(concurrency * 2);
    if let Some(rows) = prefetch {
        worker = worker.with_prefetch(rows);
    }
    let worker = worker.start(move |_event: Event| {
        if seen.fetch_add(1, Ordering::Relaxed) + 1 == iters {
            done.notify_one();
        }
        std::future::ready(Ok::<_, String>(()))
    });
    all.notified().await;
    let elapsed = start.elapsed();
    worker.shutdown(Duration::from_secs(5)).await;
    elapsed
}

/// An axum server on its own runtime (two worker threads), stopped on drop.
struct HttpServer {
    addr: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
}

impl HttpServer {
    fn start(kind: &str, url: &str) -> Self {
        use axum::Router;
        use axum::extract::State;
        use axum::http::StatusCode;
        use axum::routing::post;
        use kirim_verify_axum::{KirimLayer, KirimWebhook};

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let router = match kind {
            "sqlite-inbox" => {
                let inbox = runtime
                    .block_on(
                        Inbox::builder(url)
                            .with_store_timeout(Duration::from_secs(10))
                            .open(),
                    )
                    .unwrap();
                let _guard = runtime.enter();
                // The worker runs in the server's process, as in the example receiver.
                std::mem::forget(
                    inbox
                        .worker()
                        .start(|_event: Event| std::future::ready(Ok::<_, String>(()))),
                );
                async fn persist(
                    State(inbox): State<Inbox>,
                    webhook: KirimWebhook,
                ) -> (StatusCode, &'static str) {
                    match inbox.accept(&webhook).await {
                        Ok(Accepted::Stored) => (StatusCode::OK, "ok"),
                        Ok(_) => (StatusCode::OK, "duplicate"),
                        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
                    }
                }
                Router::new()
                    .route(
                        ROUTE,
                        post(persist).route_layer(KirimLayer::new(bare_receiver())),
                    )
                    .with_state(inbox)
            }
            _ => {
                let receiver = bare_receiver().with_dedup(MemoryStore::new());
                let (queue, mut events) = tokio::sync::mpsc::channel::<KirimWebhook>(1024);
                runtime.spawn(async move { while events.recv().await.is_some() {} });
                async fn enqueue(
                    State(queue): State<tokio::sync::mpsc::Sender<KirimWebhook>>,
                    webhook: KirimWebhook,
                ) -> (StatusCode, &'static str) {
                    match queue.try_send(webhook) {
                        Ok(()) => (StatusCode::OK, "ok"),
                        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
                    }
                }
                Router::new()
                    .route(ROUTE, post(enqueue).route_layer(KirimLayer::new(receiver)))
                    .with_state(queue)
            }
        };
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        runtime.spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self {
            addr,
            runtime: Some(runtime),
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

/// `iters` fresh signed requests, split round robin over the connections.
fn requests(iters: u64) -> Vec<Vec<Vec<u8>>> {
    let mut batches = vec![Vec::new(); CONNECTIONS];
    for (i, delivery) in signed(iters).into_iter().enumerate() {
        let delivery = SignedRequest::signed(
            "contact.created",
            &delivery.id,
            "kirim",
            &delivery.body,
            &delivery.signature,
        );
        batches[i % CONNECTIONS].push(serialize(&delivery));
    }
    batches
}

criterion_group!(benches, inbox);
criterion_main!(benches);
