//! A Kirim webhook receiver on actix-web: verifies, deduplicates, acknowledges at once and hands
//! each event to a background worker through a bounded queue.
//!
//! Configuration, from the environment, read by [`kirim_verify::EnvConfig`] (the table of
//! variables is there): the secrets, `KIRIM_LISTEN`, the tolerance, the body limit, and
//! `REDIS_URL` (dedup in Redis when set, shared by every instance, else in memory); `RUST_LOG`
//! is the log filter, default `info,kirim_verify=debug`.
//!
//! What "acknowledged" (200 `ok`) guarantees depends on `DATABASE_URL`:
//!
//! - Without it, the event is queued in memory and acknowledged: a crash or a deploy loses what
//!   the worker had not processed yet, and Kirim will not send it again.
//! - With `DATABASE_URL` (`sqlite://PATH` or `postgres://…`), the delivery is written to the
//!   `kirim-inbox` SQL inbox and acknowledged only once the write committed (503 when the
//!   database is down or slow); the inbox's worker, in this process, logs one `processed kirim
//!   event` line per event. A crash loses nothing acknowledged; rows being processed at the
//!   crash run again (after `KIRIM_INBOX_LEASE_SECS`, default 60).
//!
//! `KIRIM_WORK_MS` (default 0) makes the worker take that long per event: a slow downstream.
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
use kirim_inbox::{Accepted, Inbox};
use kirim_verify::flow::bodies;
use kirim_verify::{EnvConfig, MemoryStore};
use kirim_verify_actix::{KirimMiddleware, KirimWebhook};
use tokio::sync::mpsc::{self, error::TrySendError};

/// How long a client may take to send a request's head, and how long a kept-alive connection
/// may sit idle before the next one.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Open connections per worker thread at most.
const MAX_CONNECTIONS_PER_WORKER: usize = 2048;

/// Events waiting for the worker; when it falls this far behind, deliveries get 503 and Kirim
/// retries them later.
const QUEUE_CAPACITY: usize = 1024;

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

/// With `DATABASE_URL`: persist, then acknowledge. Stored (committed) is 200 `ok`, already in
/// the inbox 200 `duplicate`, a database down or slow 503: nothing is acknowledged that is not
/// stored.
async fn persist(webhook: KirimWebhook, inbox: web::Data<Inbox>) -> HttpResponse {
    let answer = |body| {
        HttpResponse::Ok()
            .insert_header(ContentType::plaintext())
            .body(body)
    };
    match inbox.accept(&webhook).await {
        Ok(Accepted::Stored) => answer(bodies::OK),
        Ok(_) => answer(bodies::DUPLICATE),
        Err(error) => {
            tracing::warn!(
                id = webhook.delivery().event_id(),
                error = %error,
                source = ?Error::source(&error).map(ToString::to_string),
                "inbox write failed; answering 503 so Kirim retries"
            );
            unavailable()
        }
    }
}

/// The inbox's worker: each stored row, after `work` (a simulated downstream).
fn start_inbox_worker(
    inbox: &Inbox,
    work: Duration,
    lease: Option<Duration>,
) -> kirim_inbox::WorkerHandle {
    let mut worker = inbox.worker();
    if let Some(lease) = lease {
        worker = worker.with_lease(lease);
    }
    worker.start(move |event: kirim_inbox::Event| async move {
        if !work.is_zero() {
            tokio::time::sleep(work).await;
        }
        tracing::info!(
            event_type = event.event(),
            id = event.event_id(),
            tries = event.tries(),
            bytes = event.body().len(),
            "processed kirim event"
        );
        Ok::<_, std::convert::Infallible>(())
    })
}

async fn run_with_inbox(config: EnvConfig, url: &str) -> Result<(), Box<dyn Error>> {
    // No dedup on the receiver: the inbox's unique keys are the dedup.
    let middleware = KirimMiddleware::new(config.receiver()?);
    // The URL may hold a password: it is never printed.
    let inbox = Inbox::open(url)
        .await
        .map_err(|e| format!("DATABASE_URL: cannot open the inbox: {e}"))?;
    tracing::info!("persisting to the SQL inbox (DATABASE_URL) before acknowledging");
    let worker = start_inbox_worker(&inbox, config.work, config.inbox_lease);
    let inbox = web::Data::new(inbox);
    let server = HttpServer::new(move || {
        App::new().app_data(inbox.clone()).service(
            web::resource("/webhooks/kirim")
                .route(web::post().to(persist).wrap(middleware.clone())),
        )
    })
    .bind(config.listen.as_str())
    .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    for addr in server.addrs() {
        tracing::info!("listening on http://{addr}/webhooks/kirim");
    }
    server.run().await?;
    let report = worker.shutdown(Duration::from_secs(10)).await;
    tracing::info!(?report, "inbox worker stopped");
    Ok(())
}

/// Where the real work goes (a database write, a call to another service…).
async fn worker(mut queue: mpsc::Receiver<Event>, work: Duration) {
    while let Some(event) = queue.recv().await {
        if !work.is_zero() {
            tokio::time::sleep(work).await;
        }
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

async fn run(config: EnvConfig) -> Result<(), Box<dyn Error>> {
    if let Some(url) = config.database_url.clone() {
        return run_with_inbox(config, &url).await;
    }
    let receiver = config.receiver()?;
    let receiver = match &config.redis_url {
        Some(url) => {
            tracing::info!("dedup store: redis");
            receiver.with_dedup(RedisStore::connect(url.as_str()).await?)
        }
        None => {
            tracing::info!("dedup store: memory (set REDIS_URL to share it across instances)");
            receiver.with_dedup(MemoryStore::new())
        }
    };
    let middleware = KirimMiddleware::new(receiver);

    let (sender, queue) = mpsc::channel(QUEUE_CAPACITY);
    actix_web::rt::spawn(worker(queue, config.work));
    let sender = web::Data::new(sender);

    let server = HttpServer::new(move || {
        App::new().app_data(sender.clone()).service(
            web::resource("/webhooks/kirim").route(web::post().to(kirim).wrap(middleware.clone())),
        )
    })
    // Requests nobody signed must cost almost nothing: a deadline for the head, an idle
    // keep-alive connection closed after as long, a cap on open connections (per worker; more
    // wait in the backlog), well under the usual descriptor limit. The body has its own
    // deadline in the flow (the receiver's body timeout, or the signed timestamp's tolerance).
    .client_request_timeout(HEADER_READ_TIMEOUT)
    .keep_alive(HEADER_READ_TIMEOUT)
    .client_disconnect_timeout(Duration::from_secs(1))
    .max_connections(MAX_CONNECTIONS_PER_WORKER)
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

    let config = match EnvConfig::from_env() {
        Ok(config) => config,
        Err(error) => {
            match Error::source(&error) {
                Some(reason) => eprintln!("receiver: refusing to start: {error}: {reason}"),
                None => eprintln!("receiver: refusing to start: {error}"),
            }
            return ExitCode::from(2);
        }
    };
    // Outside the actix system: the exporter then serves from a thread of its own.
    if let Some(listen) = &config.metrics_listen {
        let serving = listen
            .parse::<std::net::SocketAddr>()
            .map_err(|e| e.to_string())
            .and_then(|addr| {
                metrics_exporter_prometheus::PrometheusBuilder::new()
                    .with_http_listener(addr)
                    .install()
                    .map_err(|e| e.to_string())
            });
        match serving {
            Ok(()) => tracing::info!("metrics on http://{listen}/metrics"),
            Err(error) => {
                eprintln!("receiver: refusing to start: KIRIM_METRICS_LISTEN={listen}: {error}");
                return ExitCode::from(2);
            }
        }
    }
    match actix_web::rt::System::new().block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("receiver: {error}");
            ExitCode::FAILURE
        }
    }
}
