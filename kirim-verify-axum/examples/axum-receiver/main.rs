//! A Kirim webhook receiver: `POST /webhooks/kirim`, verified, deduplicated, acknowledged at
//! once and processed by a background worker.
//!
//! ```text
//! KIRIM_WEBHOOK_SECRETS=sec_2024=whsec_… cargo run -p kirim-verify-axum --example axum-receiver
//! ```
//!
//! Environment: the variables [`kirim_verify::EnvConfig`] reads (the table is there): the
//! secrets (each optionally labelled; the label is logged when that secret verifies a delivery,
//! so during a rotation the old one can be deleted once it stops appearing), `KIRIM_LISTEN`,
//! the tolerance, the body limit, and `REDIS_URL` (dedup in Redis, shared by every instance;
//! without it, in this process's memory); `RUST_LOG` is the log filter, default
//! `info,kirim_verify=debug`.
//!
//! What "acknowledged" (200 `ok`) guarantees depends on `DATABASE_URL`:
//!
//! - Without it, the handler only queues the event (a bounded channel) and answers 200 `ok`; a
//!   full queue is answered 503 so Kirim retries later. An event in the queue is acknowledged
//!   but not yet processed: a crash or a deploy loses it, and Kirim will not send it again.
//! - With `DATABASE_URL` (`sqlite://PATH` or `postgres://…`), the handler writes the delivery to
//!   the `kirim-inbox` SQL inbox and answers 200 `ok` only once the write committed (503 when
//!   the database is down or slow); the inbox's worker, in this process, processes the rows. A
//!   crash loses nothing acknowledged; rows being processed at the crash run again (after
//!   `KIRIM_INBOX_LEASE_SECS`, default 60). Several instances may share one PostgreSQL.
//!
//! Either way the worker logs one `processed webhook` line per event, after `KIRIM_WORK_MS`
//! (default 0: a simulated slow downstream).

mod app;
mod inbox;
mod serve;

use std::error::Error;
use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use kirim_dedup_redis::RedisStore;
use kirim_inbox::Inbox;
use kirim_verify::{EnvConfig, MemoryStore, Receiver};
use kirim_verify_axum::KirimWebhook;
use tokio::sync::mpsc;
use tracing_subscriber::EnvFilter;

type BoxError = Box<dyn Error + Send + Sync>;

/// Events acknowledged but not yet processed, at most.
const QUEUE_CAPACITY: usize = 1024;

#[tokio::main]
async fn main() -> ExitCode {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,kirim_verify=debug"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal())
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("receiver: {}", Chain(&*error));
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), BoxError> {
    let config = EnvConfig::from_env()?;
    if let Some(listen) = &config.metrics_listen {
        let addr: std::net::SocketAddr = listen
            .parse()
            .map_err(|_| format!("KIRIM_METRICS_LISTEN={listen}: not a socket address"))?;
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .with_http_listener(addr)
            .install()
            .map_err(|error| format!("KIRIM_METRICS_LISTEN={listen}: {error}"))?;
        tracing::info!("metrics on http://{addr}/metrics");
    }
    let receiver = config.receiver()?;
    if let Some(url) = &config.database_url {
        // The URL may hold a password: it is never printed.
        let inbox = Inbox::open(url.as_str())
            .await
            .map_err(|error| format!("DATABASE_URL: cannot open the inbox: {}", Chain(&error)))?;
        tracing::info!("persisting to the SQL inbox (DATABASE_URL) before acknowledging");
        let worker = inbox::start_worker(&inbox, config.work, config.inbox_lease);
        let receiver = Arc::new(receiver);
        let listener = listen(&config, &receiver).await?;
        serve::serve(listener, inbox::router(receiver, inbox), shutdown()).await?;
        inbox::stop_worker(worker).await;
        tracing::info!("stopped");
        return Ok(());
    }
    let receiver = Arc::new(match &config.redis_url {
        // The URL may hold a password: it is never printed.
        Some(url) => {
            let store = RedisStore::connect(url.as_str()).await.map_err(|error| {
                format!("REDIS_URL: cannot connect to Redis: {}", Chain(&error))
            })?;
            tracing::info!("dedup in Redis (REDIS_URL)");
            receiver.with_dedup(store)
        }
        None => {
            tracing::info!("dedup in memory (set REDIS_URL to share it between instances)");
            receiver.with_dedup(MemoryStore::new())
        }
    });

    let (queue, events) = mpsc::channel(QUEUE_CAPACITY);
    let worker = tokio::spawn(work(events, config.work));

    let listener = listen(&config, &receiver).await?;
    serve::serve(listener, app::router(receiver, queue), shutdown()).await?;
    // The server and its queue sender are gone: the worker drains what was acknowledged.
    worker.await?;
    tracing::info!("stopped");
    Ok(())
}

async fn listen(
    config: &EnvConfig,
    receiver: &Receiver,
) -> Result<tokio::net::TcpListener, BoxError> {
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .map_err(|error| format!("KIRIM_LISTEN={}: cannot listen: {error}", config.listen))?;
    tracing::info!(
        secrets = receiver.verifier().secret_count(),
        tolerance_secs = config.tolerance.as_secs(),
        max_body_bytes = receiver.max_body_bytes(),
        "listening on {}{}",
        listener.local_addr()?,
        app::ROUTE,
    );
    Ok(listener)
}

/// The background worker: here each event is logged, after `work` (a simulated downstream);
/// a real one routes on the event type and parses the body (`webhook.json::<T>()`), leniently.
async fn work(mut events: mpsc::Receiver<KirimWebhook>, work: Duration) {
    while let Some(webhook) = events.recv().await {
        if !work.is_zero() {
            tokio::time::sleep(work).await;
        }
        let delivery = webhook.delivery();
        let verified = webhook.verified();
        let kind = match delivery.event() {
            "message.received" | "message.status" => "meta payload",
            "message.created"
            | "conversation.assigned"
            | "conversation.closed"
            | "contact.created"
            | "contact.updated" => "kirim envelope",
            // Unknown types were acknowledged too: the catalogue grows.
            _ => "unknown type, ignored",
        };
        tracing::info!(
            event = delivery.event(),
            id = delivery.event_id(),
            attempt = delivery.attempt(),
            secret = verified.secret_label().unwrap_or("(unlabelled)"),
            secret_index = verified.secret_index(),
            bytes = webhook.body().len(),
            kind,
            "processed webhook"
        );
    }
}

/// Ctrl-C, or SIGTERM from an orchestrator.
async fn shutdown() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}

/// An error and its sources, joined with `: `.
struct Chain<'a>(&'a (dyn Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        while let Some(error) = next {
            write!(f, ": {error}")?;
            next = error.source();
        }
        Ok(())
    }
}
