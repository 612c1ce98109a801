//! `check` against receivers made wrong on purpose, each served on 127.0.0.1 in this test: each
//! fails exactly the cases its mistake breaks, and the check exits non-zero.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use kirim_verify::store::KeyStrategy;
use kirim_verify::{Dedup, Delivery, MemoryStore, Secret, Verifier, VerifyError, unix_now};
use support::{MAX_BODY, NEXT_SECRET, ROUTE, SECRET, check, correct_router, receiver, serve};

fn ids(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|id| (*id).to_owned()).collect()
}

const MAX_BODY_ARG: &str = "65536";

/// The cases that refuse a delivery Kirim never sends, or an attacker's.
const REFUSALS: [&str; 7] = [
    "forged-signature",
    "expired-timestamp",
    "future-timestamp",
    "malformed-signature",
    "missing-signature",
    "missing-event-id",
    "body-over-limit",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correct_receiver_passes_every_case() {
    let url = serve(correct_router(receiver())).await;
    let run = check(&url, &[SECRET, NEXT_SECRET], &["--max-body", MAX_BODY_ARG]).await;
    assert_eq!(run.code, Some(0), "{:#}", run.report);
    assert_eq!(run.with_verdict("pass").len(), 19, "{:#}", run.report);
    assert_eq!(run.report["passed"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_that_skips_verification_fails_every_refusal() {
    let router = Router::new().route(ROUTE, post(|| async { "ok" }));
    let url = serve(router).await;
    let run = check(&url, &[SECRET, NEXT_SECRET], &["--max-body", MAX_BODY_ARG]).await;
    assert_eq!(run.code, Some(1), "{:#}", run.report);
    assert_eq!(run.with_verdict("fail"), ids(&REFUSALS), "{:#}", run.report);
    // It never says `duplicate`: the check cannot tell whether it ran the handler twice.
    assert_eq!(
        run.with_verdict("advice"),
        ids(&[
            "retry-re-signed",
            "identical-resend",
            "replay-new-event-id",
            "concurrent-copies"
        ]),
        "{:#}",
        run.report
    );
    let forged = run.case("forged-signature");
    assert!(
        forged["got"].as_str().unwrap().starts_with("200 ok"),
        "{forged}"
    );
    assert!(
        forged["note"].as_str().unwrap().contains("accepted"),
        "{forged}"
    );
}

/// Deduplicates on the event id alone: a `message.status` wamid is shared by every status.
struct EventIdOnly;

impl KeyStrategy for EventIdOnly {
    fn event_key(&self, delivery: &Delivery, _body: &[u8]) -> String {
        delivery.event_id().to_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_that_dedups_status_on_the_wamid_alone_drops_the_second_status() {
    let secrets = [
        Secret::new(SECRET).unwrap(),
        Secret::new(NEXT_SECRET).unwrap(),
    ];
    let receiver = kirim_verify::Receiver::new(Verifier::new(secrets).unwrap())
        .with_dedup(Dedup::new(MemoryStore::new()).with_key_strategy(EventIdOnly))
        .with_max_body_bytes(MAX_BODY);
    let url = serve(correct_router(receiver)).await;
    let run = check(&url, &[SECRET, NEXT_SECRET], &["--max-body", MAX_BODY_ARG]).await;
    assert_eq!(run.code, Some(1), "{:#}", run.report);
    assert_eq!(
        run.with_verdict("fail"),
        ids(&["status-delivered"]),
        "{:#}",
        run.report
    );
    let case = run.case("status-delivered");
    assert!(
        case["got"].as_str().unwrap().starts_with("200 duplicate"),
        "{case}"
    );
}

/// In front of a correct receiver: a delivery whose signature matches no secret is answered
/// 200 as if it had been handled.
async fn accept_mismatches(request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY * 2).await else {
        return (axum::http::StatusCode::PAYLOAD_TOO_LARGE, "too large").into_response();
    };
    let verifier = Verifier::new([Secret::new(SECRET).unwrap()]).unwrap();
    if let Some(header) = parts.headers.get("x-kirim-signature")
        && verifier.verify_at(header.as_bytes(), &body, unix_now())
            == Err(VerifyError::SignatureMismatch)
    {
        return "ok".into_response();
    }
    next.run(Request::from_parts(parts, Body::from(body))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_that_answers_200_to_a_forged_delivery_fails_that_case() {
    let router = correct_router(receiver()).layer(middleware::from_fn(accept_mismatches));
    let url = serve(router).await;
    // One secret: the receiver's (the rotation cases with a second are skipped).
    let run = check(&url, &[SECRET], &["--max-body", MAX_BODY_ARG]).await;
    assert_eq!(run.code, Some(1), "{:#}", run.report);
    assert_eq!(
        run.with_verdict("fail"),
        ids(&["forged-signature"]),
        "{:#}",
        run.report
    );
    assert_eq!(
        run.with_verdict("skip"),
        ids(&["rotation-two-v1", "rotation-second-secret"]),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_slower_than_the_timeout_fails_the_deliveries_it_handles() {
    // Verified and deduplicated by the layer, then a handler that takes 2 s: a timeout for a
    // check that waits 1 s (Kirim waits 10).
    let receiver = std::sync::Arc::new(receiver());
    let router = Router::new()
        .route(
            ROUTE,
            post(|_webhook: kirim_verify_axum::KirimWebhook| async {
                tokio::time::sleep(Duration::from_secs(2)).await;
                "ok"
            })
            .route_layer(kirim_verify_axum::KirimLayer::new(std::sync::Arc::clone(
                &receiver,
            ))),
        )
        .with_state(receiver);
    let url = serve(router).await;
    let run = check(
        &url,
        &[SECRET, NEXT_SECRET],
        &["--max-body", MAX_BODY_ARG, "--timeout-secs", "1"],
    )
    .await;
    assert_eq!(run.code, Some(1), "{:#}", run.report);
    let failed = run.with_verdict("fail");
    for id in [
        "first-delivery",
        "rotation-unknown-v1",
        "status-sent",
        "status-delivered",
        "unknown-event-type",
    ] {
        assert!(failed.contains(id), "{id} should fail: {:#}", run.report);
        let note = run.case(id)["note"].as_str().unwrap().to_owned();
        assert!(note.contains("no answer within 1 s"), "{id}: {note}");
        assert!(note.contains("retries"), "{id}: {note}");
    }
    // Refusals are answered before the handler: fast, and right.
    for id in REFUSALS {
        assert!(!failed.contains(id), "{id} should pass: {:#}", run.report);
    }
}

/// In front of a correct receiver: `duplicate` answers are rewritten to `received`.
async fn hide_duplicates(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, 1024).await.unwrap_or_default();
    if body.as_ref() == b"duplicate" {
        return Response::from_parts(parts, Body::from("received"));
    }
    Response::from_parts(parts, Body::from(body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn advice_passes_unless_strict() {
    let router = correct_router(receiver()).layer(middleware::from_fn(hide_duplicates));
    let url = serve(router).await;
    let run = check(&url, &[SECRET, NEXT_SECRET], &["--max-body", MAX_BODY_ARG]).await;
    assert_eq!(run.code, Some(0), "{:#}", run.report);
    assert!(run.with_verdict("fail").is_empty(), "{:#}", run.report);
    assert!(run.with_verdict("advice").contains("retry-re-signed"));

    let strict = check(
        &url,
        &[SECRET, NEXT_SECRET],
        &["--max-body", MAX_BODY_ARG, "--strict"],
    )
    .await;
    assert_eq!(strict.code, Some(1), "{:#}", strict.report);
    assert_eq!(strict.report["passed"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_receiver_at_all_is_exit_4() {
    // Bind, note the port, close: nothing listens there.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let run = check(&format!("http://{addr}{ROUTE}"), &[SECRET], &[]).await;
    assert_eq!(run.code, Some(4), "{:#}", run.report);
    let first = run.case("first-delivery");
    assert!(
        first["got"].as_str().unwrap().contains("could not connect"),
        "{first}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_secret_is_a_usage_error_and_is_not_echoed() {
    let run = support::run({
        let mut command = support::kirim_webhooks();
        command.args([
            "check",
            "http://127.0.0.1:9/",
            "--secret",
            "sk_live_not_a_webhook_secret",
        ]);
        command
    })
    .await;
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("does not start with whsec_"), "{stderr}");
    assert!(!stderr.contains("sk_live_not_a_webhook_secret"), "{stderr}");

    // From the environment, comma-separated, labelled: the same parser.
    let mut command = support::kirim_webhooks();
    command
        .args(["check", "http://127.0.0.1:9/"])
        .env("KIRIM_WEBHOOK_SECRETS", "old=whsec_a,new=oops_b");
    let run = support::run(command).await;
    assert_eq!(run.status.code(), Some(2));
    assert!(!String::from_utf8_lossy(&run.stderr).contains("oops_b"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_that_is_not_http_is_a_usage_error() {
    for url in [
        "127.0.0.1:3000/webhooks/kirim",
        "ftp://127.0.0.1/",
        "not a url",
    ] {
        let mut command = support::kirim_webhooks();
        command.args(["check", url, "--secret", SECRET]);
        let output = support::run(command).await;
        assert_eq!(output.status.code(), Some(2), "{url}: {output:?}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("URL"),
            "{output:?}"
        );
    }
}
