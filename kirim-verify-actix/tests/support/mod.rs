//! Test servers: a real actix `HttpServer` on 127.0.0.1, on its own thread and actix system.

use std::net::SocketAddr;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use kirim_test_support::http::{BEHAVIOUR_HEADER, Call, Outcome, Probe, TestServer};
use kirim_verify::flow::bodies;
use kirim_verify_actix::KirimWebhook;

/// Stops the server when the test drops its [`TestServer`].
struct Stop(ServerHandle);

impl Drop for Stop {
    fn drop(&mut self) {
        // `stop` sends the command at once; its future only waits for completion.
        drop(self.0.stop(false));
    }
}

/// Starts an `HttpServer` whose app is configured by `configure`, bound to 127.0.0.1:0.
pub(crate) async fn serve(
    configure: impl Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
) -> TestServer {
    let (sender, bound) = tokio::sync::oneshot::channel::<(SocketAddr, ServerHandle)>();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = HttpServer::new(move || App::new().configure(configure.clone()))
                .workers(2)
                .disable_signals()
                .shutdown_timeout(1)
                .bind(("127.0.0.1", 0))
                .expect("bind 127.0.0.1:0");
            let addr = server.addrs()[0];
            let server = server.run();
            sender.send((addr, server.handle())).ok();
            server.await
        })
    });
    let (addr, handle) = bound.await.expect("the server thread did not start");
    TestServer {
        addr,
        guard: Box::new(Stop(handle)),
    }
}

/// The handler the conformance suite expects: report the delivery to the probe, answer as
/// told.
pub(crate) async fn probe_handler(
    webhook: KirimWebhook,
    req: HttpRequest,
    probe: web::Data<Probe>,
) -> HttpResponse {
    let call = Call::of(&webhook);
    let behaviour = req.headers().get(BEHAVIOUR_HEADER).map(|v| v.as_bytes());
    match probe.handle(call, behaviour).await {
        Outcome::Ok => HttpResponse::Ok().body(bodies::OK),
        Outcome::Fail => HttpResponse::InternalServerError().body("handler failed"),
        Outcome::Panic => panic!("the handler panics, as the test asked"),
    }
}
