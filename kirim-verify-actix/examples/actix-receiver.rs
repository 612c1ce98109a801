//! A Kirim webhook receiver on actix-web: verifies, deduplicates, acknowledges at once and hands
//! each event to a background worker through a bounded queue.
//!
//! Configuration, from the environment, read by [`kirim_verify::EnvConfig`] (the table of
//! variables is there): the secrets, `KIRIM_LISTEN`, the tolerance, the body limit, and
//! `REDIS_URL` (dedup in Redis when set, shared by every instance, else in memory); `RUST_LOG`
//! is the log filter, default `info,kirim_verify=debug`.
//!
//! ```sh
//! KIRIM_WEBHOOK_SECRETS=whsec_… cargo run -p kirim-verify-actix --example actix-receiver
//! ```

use std::error::Error;
use std::io::IsTerminal;
use std::process::ExitCode;

use actix_web::http::header::{self, ContentType};
use actix_web::{App, HttpResponse, HttpServer, web};
use bytes::Bytes;
use kirim_dedup_redis::RedisStore;
use kirim_verify::flow::bodies;
use kirim_verify::{EnvConfig, MemoryStore};
use kirim_verify_actix::{KirimMiddleware, KirimWebhook};
use tokio::sync::mpsc::{self, error::TrySendError};

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

async fn run(config: EnvConfig) -> Result<(), Box<dyn Error>> {
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
