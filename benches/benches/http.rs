//! The `http` group: requests per second through a real server on 127.0.0.1, the webhook route
//! behind the adapter against the same route with a bare handler, per framework.
//!
//! - `http/axum/kirim`: `POST /webhooks/kirim` behind `KirimLayer` (a [`Receiver`] with one
//!   secret and a [`MemoryStore`], replay guard on), the handler answering 200 `ok`.
//! - `http/axum/bare`: the same router without the layer, the handler taking the body as
//!   `Bytes` (as any handler reads it) and answering 200 `ok`.
//! - `http/actix/kirim`, `http/actix/bare`: the same with actix-web and `KirimMiddleware`.
//!
//! Every request is a different event: its own body (the `contact.created` fixture with a
//! unique `id`), event id, delivery id and signature, all made before the clock starts, so that
//! neither the dedup store nor the replay guard answers `duplicate` and signing is not measured.
//! The same requests go to the bare handlers. Every answer must be 200 `ok`; the count is
//! checked once the clock has stopped.
//!
//! The client keeps [`CONNECTIONS`] keep-alive HTTP/1.1 connections busy, one request in flight
//! on each, from one thread. It writes pre-serialized requests and reads `Content-Length`
//! answers, nothing more, so that as much of the CPU as possible goes to the server: client and
//! server share the machine's cores (each server runs two worker threads). Each iteration is one
//! request.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kirim_test_support::http::load::{connect, load, serialize};
use kirim_test_support::http::{ROUTE, SECRET, SignedRequest, fixtures};
use kirim_verify::{Dedup, MemoryStore, Receiver, Secret, Signer, Verifier};

/// Keep-alive connections the client keeps busy, one request in flight on each.
const CONNECTIONS: usize = 32;

/// Worker threads of each server.
const SERVER_WORKERS: usize = 2;

/// The id inside the fixture, replaced by a unique one of the same length.
const FIXTURE_ID: &[u8] = b"evt_01HXYZABCDEFGHJKMNPQRSTVW1";

fn http(c: &mut Criterion) {
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    let mut requests = Requests::new();

    let mut group = c.benchmark_group("http");
    group
        // Long enough for the verified routes' store to reach its 100 000-key bound (two keys
        // per delivery), so the samples see its steady state rather than its growth.
        .warm_up_time(Duration::from_secs(3))
        .measurement_time(Duration::from_secs(3))
        .sample_size(10)
        .throughput(Throughput::Elements(1));
    for (framework, verified) in [
        ("axum", true),
        ("axum", false),
        ("actix", true),
        ("actix", false),
    ] {
        let server = match framework {
            "axum" => Server::axum(verified),
            _ => Server::actix(verified),
        };
        let mut connections = client.block_on(connect(server.addr, CONNECTIONS));
        let name = format!("{framework}/{}", if verified { "kirim" } else { "bare" });
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let batches = requests.batches(iters, CONNECTIONS);
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
}

/// Signed deliveries, each a different event, serialized as HTTP/1.1 requests.
struct Requests {
    signer: Signer,
    next: u64,
}

impl Requests {
    fn new() -> Self {
        let secret = Secret::new(SECRET).expect("secret");
        Self {
            signer: Signer::new([secret]).expect("signer"),
            next: 0,
        }
    }

    /// `iters` fresh requests, split round robin into `connections` batches.
    fn batches(&mut self, iters: u64, connections: usize) -> Vec<Vec<Vec<u8>>> {
        let now = kirim_verify::unix_now();
        let at = fixtures::CONTACT_CREATED
            .windows(FIXTURE_ID.len())
            .position(|w| w == FIXTURE_ID)
            .expect("the fixture's id");
        let mut batches = vec![Vec::new(); connections];
        for i in 0..iters {
            self.next += 1;
            let id = format!("evt_{:026}", self.next);
            let mut body = fixtures::CONTACT_CREATED.to_vec();
            body[at..at + FIXTURE_ID.len()].copy_from_slice(id.as_bytes());
            let signature = self.signer.sign(now, &body);
            let delivery =
                SignedRequest::signed("contact.created", &id, "kirim", &body, &signature);
            batches[(i % connections as u64) as usize].push(serialize(&delivery));
        }
        batches
    }
}

/// The receiver of the verified routes: one secret, the in-memory store, defaults otherwise.
fn receiver() -> Arc<Receiver> {
    let verifier = Verifier::new([Secret::new(SECRET).expect("secret")]).expect("verifier");
    Arc::new(Receiver::new(verifier).with_dedup(Dedup::new(MemoryStore::new())))
}

/// A server under test; stopped on drop.
struct Server {
    addr: SocketAddr,
    running: Running,
}

enum Running {
    Axum(Option<tokio::runtime::Runtime>),
    Actix(actix_web::dev::ServerHandle, Option<JoinHandle<()>>),
}

impl Server {
    fn axum(verified: bool) -> Self {
        use axum::Router;
        use axum::body::Bytes;
        use axum::routing::post;
        use kirim_verify_axum::KirimLayer;

        let router = if verified {
            Router::new().route(ROUTE, post(ok).route_layer(KirimLayer::new(receiver())))
        } else {
            Router::new().route(ROUTE, post(|_body: Bytes| ok()))
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(SERVER_WORKERS)
            .enable_all()
            .build()
            .expect("server runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        runtime.spawn(async move { axum::serve(listener, router).await.expect("axum server") });
        Self {
            addr,
            running: Running::Axum(Some(runtime)),
        }
    }

    fn actix(verified: bool) -> Self {
        use actix_web::{App, HttpResponse, HttpServer, web};
        use kirim_verify_actix::KirimMiddleware;

        async fn ok() -> HttpResponse {
            HttpResponse::Ok().body("ok")
        }

        let middleware = KirimMiddleware::new(receiver());
        let (sender, bound) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    let route = if verified {
                        web::post().to(ok).wrap(middleware.clone())
                    } else {
                        web::post().to(|_body: web::Bytes| ok())
                    };
                    App::new().service(web::resource(ROUTE).route(route))
                })
                .workers(SERVER_WORKERS)
                .disable_signals()
                .shutdown_timeout(1)
                .bind(("127.0.0.1", 0))
                .expect("bind 127.0.0.1:0");
                let addr = server.addrs()[0];
                let server = server.run();
                sender.send((addr, server.handle())).expect("bench thread");
                server.await.expect("actix server");
            });
        });
        let (addr, handle) = bound.recv().expect("the server thread did not start");
        Self {
            addr,
            running: Running::Actix(handle, Some(thread)),
        }
    }
}

async fn ok() -> &'static str {
    "ok"
}

impl Drop for Server {
    fn drop(&mut self) {
        match &mut self.running {
            Running::Axum(runtime) => {
                if let Some(runtime) = runtime.take() {
                    runtime.shutdown_timeout(Duration::from_secs(1));
                }
            }
            Running::Actix(handle, thread) => {
                // `stop` sends the command at once; its future only waits for completion.
                drop(handle.stop(false));
                if let Some(thread) = thread.take() {
                    let _ = thread.join();
                }
            }
        }
    }
}

criterion_group!(benches, http);
criterion_main!(benches);
