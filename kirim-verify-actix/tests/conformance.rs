//! The workspace's HTTP conformance suite, against `KirimMiddleware` + `KirimWebhook` on a real
//! actix server.
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests: a failed step is a failed test

mod support;

use actix_web::web;
use kirim_test_support::http::{Delivery, LIMIT, Probe, ROUTE, TestServer, send, send_chunked};
use kirim_verify::{Receiver, bodies};
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

// Every case but `oversized_bodies_are_413`: that case sends the same at-limit body twice
// under two event ids within one second, so both carry the same signature and the replay
// guard rightly answers the second `duplicate`. `oversized_bodies_are_413_distinct_bodies`
// below runs the same checks with two distinct at-limit bodies.
kirim_test_support::http_conformance!(@cases spawn;
    first_delivery_is_processed,
    retry_is_a_duplicate,
    replayed_signature_is_a_duplicate,
    rotation_is_accepted,
    message_status_changes_are_distinct,
    unknown_event_and_odd_bodies_are_acknowledged,
    bad_headers_are_400,
    bad_signatures_are_401,
    concurrent_identical_deliveries_run_once,
    failed_handler_is_retried,
    panicking_handler_is_retried,
    in_progress_is_503_with_retry_after,
    without_dedup_every_delivery_runs,
);

fn event_id(n: u32) -> String {
    format!(
        "evt_{:026}",
        u64::from(n) + std::process::id() as u64 * 1000
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_are_413_distinct_bodies() {
    let probe = Probe::default();
    let server = spawn(kirim_test_support::http::receiver(), probe.clone()).await;
    let big = vec![b'a'; LIMIT + 1];
    let over = Delivery::kirim("contact.created", &event_id(1), &big);
    let answer = send(server.addr, &over).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (413, bodies::TOO_LARGE)
    );
    let over = Delivery::kirim("contact.created", &event_id(2), &big);
    let answer = send_chunked(server.addr, &over, 4096).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (413, bodies::TOO_LARGE)
    );

    let at_limit = vec![b'b'; LIMIT];
    let fits = Delivery::kirim("contact.created", &event_id(3), &at_limit);
    let answer = send(server.addr, &fits).await;
    assert_eq!((answer.status, answer.body.as_str()), (200, bodies::OK));
    let also_at_limit = vec![b'c'; LIMIT];
    let fits = Delivery::kirim("contact.created", &event_id(4), &also_at_limit);
    let answer = send_chunked(server.addr, &fits, 1000).await;
    assert_eq!((answer.status, answer.body.as_str()), (200, bodies::OK));

    let bodies: Vec<Vec<u8>> = probe.calls().into_iter().map(|c| c.body).collect();
    assert_eq!(bodies, [at_limit, also_at_limit]);
}

/// A real Redis store whose server was killed after it connected.
async fn redis_down() -> (kirim_dedup_redis::RedisStore, Box<dyn std::any::Any + Send>) {
    let mut server = kirim_test_support::redis_server::RedisServer::start();
    let store = kirim_dedup_redis::RedisStore::connect(server.url())
        .await
        .unwrap();
    server.kill();
    (store, Box::new(server))
}

kirim_test_support::http_store_down_conformance!(spawn, redis_down);
