//! A Kirim webhook receiver: `POST /webhooks/kirim`, verified, deduplicated, acknowledged at
//! once and processed by a background worker.
//!
//! ```text
//! KIRIM_WEBHOOK_SECRETS=sec_2024=whsec_… cargo run -p kirim-verify-axum --example axum-receiver
//! ```
//!
//! Environment:
//!
//! - `KIRIM_WEBHOOK_SECRETS` (required): the signing secrets, comma-separated, each `whsec_…`
//!   or `label=whsec_…` (the label is logged when that secret verifies a delivery: during a
//!   rotation, delete the old secret once it stops appearing);
//! - `KIRIM_LISTEN`: the address to listen on, default `127.0.0.1:3000`;
//! - `KIRIM_TOLERANCE_SECS`: the signature timestamp tolerance, default 300;
//! - `KIRIM_MAX_BODY_BYTES`: the body limit, default 1 MiB;
//! - `REDIS_URL`: dedup in Redis, shared by every instance (`redis://host:6379/0`); without it,
//!   dedup is in this process's memory;
//! - `RUST_LOG`: the log filter, default `info,kirim_verify=debug`.
//!
//! The handler only queues the event (a bounded channel) and answers 200 `ok`; a full queue is
//! answered 503 so Kirim retries later. An event in the queue is acknowledged but not yet
//! processed: when losing it on a crash is not acceptable, persist it in the handler (a table,
//! a durable queue) before answering.

mod app;

use std::error::Error;
use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use kirim_dedup_redis::RedisStore;
use kirim_verify::{
    DEFAULT_MAX_BODY_BYTES, DEFAULT_TOLERANCE, Dedup, MemoryStore, Receiver, Secret, Verifier,
};
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
    let config = Config::from_env()?;
    let verifier = Verifier::new(config.secrets)?.with_tolerance(config.tolerance);
    let dedup = match &config.redis_url {
        // The URL may hold a password: it is never printed.
        Some(url) => {
            let store = RedisStore::connect(url.as_str()).await.map_err(|error| {
                format!("REDIS_URL: cannot connect to Redis: {}", Chain(&error))
            })?;
            tracing::info!("dedup in Redis (REDIS_URL)");
            Dedup::new(store)
        }
        None => {
            tracing::info!("dedup in memory (set REDIS_URL to share it between instances)");
            Dedup::new(MemoryStore::new())
        }
    };
    let receiver = Arc::new(
        Receiver::new(verifier)
            .with_dedup(dedup)
            .with_max_body_bytes(config.max_body_bytes),
    );

    let (queue, events) = mpsc::channel(QUEUE_CAPACITY);
    let worker = tokio::spawn(work(events));

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
    axum::serve(listener, app::router(receiver, queue))
        .with_graceful_shutdown(shutdown())
        .await?;
    // The server and its queue sender are gone: the worker drains what was acknowledged.
    worker.await?;
    tracing::info!("stopped");
    Ok(())
}

/// The background worker: here each event is logged; a real one routes on the event type and
/// parses the body (`webhook.json::<T>()`), leniently.
async fn work(mut events: mpsc::Receiver<KirimWebhook>) {
    while let Some(webhook) = events.recv().await {
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

struct Config {
    secrets: Vec<Secret>,
    listen: String,
    tolerance: Duration,
    max_body_bytes: usize,
    redis_url: Option<String>,
}

impl Config {
    fn from_env() -> Result<Self, BoxError> {
        let secrets = match std::env::var("KIRIM_WEBHOOK_SECRETS") {
            Ok(list) => Secret::parse_list(&list)
                .map_err(|error| format!("KIRIM_WEBHOOK_SECRETS: {error}"))?,
            Err(_) => {
                return Err(
                    "KIRIM_WEBHOOK_SECRETS is not set: give the signing secret(s) Kirim \
                            issued, comma-separated, each whsec_… or label=whsec_…"
                        .into(),
                );
            }
        };
        Ok(Self {
            secrets,
            listen: var("KIRIM_LISTEN")?.unwrap_or_else(|| String::from("127.0.0.1:3000")),
            tolerance: Duration::from_secs(
                number("KIRIM_TOLERANCE_SECS")?.unwrap_or(DEFAULT_TOLERANCE.as_secs()),
            ),
            max_body_bytes: number("KIRIM_MAX_BODY_BYTES")?.unwrap_or(DEFAULT_MAX_BODY_BYTES),
            redis_url: var("REDIS_URL")?,
        })
    }
}

/// An optional variable; set but empty counts as unset.
fn var(name: &str) -> Result<Option<String>, BoxError> {
    match std::env::var(name) {
        Ok(value) if value.trim().is_empty() => Ok(None),
        Ok(value) => Ok(Some(value)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!("{name} is not UTF-8").into()),
    }
}

fn number<T: std::str::FromStr>(name: &str) -> Result<Option<T>, BoxError> {
    var(name)?
        .map(|value| {
            value
                .trim()
                .parse()
                .map_err(|_| format!("{name}={value}: not a whole number").into())
        })
        .transpose()
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
