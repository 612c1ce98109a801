//! The workspace's HTTP conformance suite, against `KirimMiddleware` + `KirimWebhook` on a real
//! actix server.
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests: a failed step is a failed test

mod support;

use actix_web::web;
use kirim_test_support::http::{Probe, ROUTE, TestServer};
use kirim_verify::Receiver;
use kirim_verify_actix::KirimMiddleware;

async fn spawn(receiver: Receiver, probe: Probe) -> TestServer {
    let middleware = KirimMiddleware::new(receiver);
    support::serve(move |cfg| {
        cfg.app_data(web::Data::new(probe.clone())).service(
            web::resource(ROUTE).route(
                web::post()
                    .to(support::probe_handler)
                    .wrap(middleware.clone()),
            ),
        );
    })
    .await
}

kirim_test_support::http_conformance!(spawn);

kirim_test_support::http_store_down_conformance!(redis: spawn);
