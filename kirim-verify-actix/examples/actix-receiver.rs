//! A Kirim webhook receiver on actix-web: verifies, deduplicates, acknowledges at once and hands
//! each event to a background worker through a bounded queue.
//!
//! Configuration, from the environment:
//!
//! - `KIRIM_WEBHOOK_SECRETS` (required): the subscription's secrets, comma-separated, each
//!   optionally labelled (`current=whsec_…,next=whsec_…`);
//! - `KIRIM_LISTEN`: where to listen, default `127.0.0.1:3000`;
//! - `KIRIM_TOLERANCE_SECS`: timestamp tolerance, default 300;
//! - `KIRIM_MAX_BODY_BYTES`: body limit, default 1 MiB;
//! - `REDIS_URL`: dedup in Redis when set (shared by every instance), else in memory;
//! - `RUST_LOG`: the log filter, default `info,kirim_verify=debug`.
//!
//! ```sh
//! KIRIM_WEBHOOK_SECRETS=whsec_… cargo run -p kirim-verify-actix --example actix-receiver
//! ```

use std::error::Error;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use actix_web::http::header::{self, ContentType};
use actix_web::{App, HttpResponse, HttpServer, web};
use bytes::Bytes;
use kirim_dedup_redis::RedisStore;
use kirim_verify::{
    DEFAULT_MAX_BODY_BYTES, DEFAULT_TOLERANCE, Dedup, MemoryStore, Receiver, Secret, Verifier,
    bodies,
};
use kirim_verify_actix::{KirimMiddleware, KirimWebhook};
use tokio::sync::mpsc::{self, error::TrySendError};

/// Events waiting for the worker; when it falls this far behind, deliveries get 503 and Kirim
/// retries them later.
const QUEUE_CAPACITY: usize = 1024;

struct Config {
    secrets: Vec<Secret>,
    listen: String,
    tolerance: Duration,
    max_body_bytes: usize,
    redis_url: Option<String>,
}

impl Config {
    fn from_env() -> Result<Self, String> {
        let secrets = match std::env::var("KIRIM_WEBHOOK_SECRETS") {
            Ok(list) => Secret::parse_list(&list)
                .map_err(|e| format!("KIRIM_WEBHOOK_SECRETS is invalid: {e}"))?,
            Err(_) => {
                return Err(
                    "KIRIM_WEBHOOK_SECRETS is not set: set it to the subscription's \
                            webhook secret(s) from Kirim, comma-separated, each optionally \
                            labelled (current=whsec_…,next=whsec_…)"
                        .into(),
                );
            }
        };
        let number = |name: &str, default: u64| match std::env::var(name) {
            Err(_) => Ok(default),
            Ok(value) => value
                .trim()
                .parse::<u64>()
                .map_err(|_| format!("{name} must be a whole number, got {value:?}")),
        };
        let default_max = u64::try_from(DEFAULT_MAX_BODY_BYTES).unwrap_or(u64::MAX);
        let max_body_bytes = usize::try_from(number("KIRIM_MAX_BODY_BYTES", default_max)?)
            .map_err(|_| "KIRIM_MAX_BODY_BYTES is too large".to_owned())?;
        Ok(Self {
            secrets,
            listen: std::env::var("KIRIM_LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".into()),
            tolerance: Duration::from_secs(number(
                "KIRIM_TOLERANCE_SECS",
                DEFAULT_TOLERANCE.as_secs(),
            )?),
            max_body_bytes,
            redis_url: std::env::var("REDIS_URL")
                .ok()
                .filter(|url| !url.is_empty()),
        })
    }
}

/// What the worker gets: enough to process the event later.
struct Event {
    event_type: String,
    id: String,
    attempt: Option<u32>,
    secret: String,
    body: Bytes,
}

async fn kirim(webhook: KirimWebhook, queue: web::Data<mpsc::Sender<Event>>) -> HttpResponse {
    let verified = webhook.verified();
    let secret = verified
        .secret_label()
        .map_or_else(|| format!("#{}", verified.secret_index()), str::to_owned);
    let delivery = webhook.delivery();
    let event = Event {
        event_type: delivery.event().to_owned(),
        id: delivery.event_id().to_owned(),
        attempt: delivery.attempt(),
        secret,
        body: webhook.body().clone(),
    };
    match queue.try_send(event) {
        Ok(()) => HttpResponse::Ok()
            .insert_header(ContentType::plaintext())
            .body(bodies::OK),
        // Not acknowledged: the middleware releases the claim and Kirim retries later.
        Err(TrySendError::Full(event)) => {
            tracing::warn!(id = %event.id, "worker queue full; answering 503 so Kirim retries");
            unavailable()
        }
        Err(TrySendError::Closed(event)) => {
            tracing::error!(id = %event.id, "worker stopped; answering 503 so Kirim retries");
            unavailable()
        }
    }
}

fn unavailable() -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .insert_header(ContentType::plaintext())
        .insert_header((header::RETRY_AFTER, 5))
        .body(bodies::UNAVAILABLE)
}

/// Where the real work goes (a database write, a call to another service…).
async fn worker(mut queue: mpsc::Receiver<Event>) {
    while let Some(event) = queue.recv().await {
        tracing::info!(
            event_type = %event.event_type,
            id = %event.id,
            attempt = ?event.attempt,
            secret = %event.secret,
            bytes = event.body.len(),
            "processing kirim event"
        );
    }
}

async fn run(config: Config) -> Result<(), Box<dyn Error>> {
    let verifier = Verifier::new(config.secrets)?.with_tolerance(config.tolerance);
    let dedup = match &config.redis_url {
        Some(url) => {
            let store = RedisStore::connect(url.as_str()).await?;
            tracing::info!("dedup store: redis");
            Dedup::new(store)
        }
        None => {
            tracing::info!("dedup store: memory (set REDIS_URL to share it across instances)");
            Dedup::new(MemoryStore::new())
        }
    };
    let receiver = Receiver::new(verifier)
        .with_dedup(dedup)
        .with_max_body_bytes(config.max_body_bytes);
    let middleware = KirimMiddleware::new(receiver);

    let (sender, queue) = mpsc::channel(QUEUE_CAPACITY);
    actix_web::rt::spawn(worker(queue));
    let sender = web::Data::new(sender);

    let server = HttpServer::new(move || {
        App::new().app_data(sender.clone()).service(
            web::resource("/webhooks/kirim").route(web::post().to(kirim).wrap(middleware.clone())),
        )
    })
    .bind(config.listen.as_str())
    .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    for addr in server.addrs() {
        tracing::info!("listening on http://{addr}/webhooks/kirim");
    }
    server.run().await?;
    Ok(())
}

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,kirim_verify=debug"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal())
        .init();

    let config = match Config::from_env() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("receiver: refusing to start: {message}");
            return ExitCode::from(2);
        }
    };
    match actix_web::rt::System::new().block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("receiver: {error}");
            ExitCode::FAILURE
        }
    }
}
