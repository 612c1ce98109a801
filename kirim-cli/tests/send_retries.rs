//! `send` against receivers served on 127.0.0.1 in this test: Kirim's headers and signature,
//! and Kirim's retries (re-signed, attempt counting up, stopping the way Kirim stops).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use kirim_verify::{Delivery, Secret, Verifier, unix_now};
use support::{NEXT_SECRET, ROUTE, SECRET, kirim_webhooks, run, serve};

/// What the receiver saw of one attempt.
#[derive(Debug, Clone)]
struct Seen {
    t: u64,
    attempt: Option<u32>,
    event_id: String,
    delivery_id: Option<String>,
    verified_with: Option<usize>,
}

#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<Seen>>>);

/// A receiver that verifies each attempt, records it, and answers `answers[n]` to attempt n
/// (the last answer for every later one).
fn recording(log: Log, answers: Vec<StatusCode>) -> Router {
    Router::new()
        .route(
            ROUTE,
            post(
                move |State(log): State<Log>, headers: HeaderMap, body: Bytes| {
                    let answers = answers.clone();
                    async move {
                        let get = |name: &'static str| headers.get(name).map(|v| v.as_bytes());
                        let delivery = Delivery::from_lookup(get).unwrap();
                        let signature = get("x-kirim-signature").unwrap();
                        let header = std::str::from_utf8(signature).unwrap();
                        let t = header
                            .split(',')
                            .find_map(|element| element.strip_prefix("t="))
                            .unwrap()
                            .parse()
                            .unwrap();
                        // Only the second secret: proves one v1 per --secret.
                        let verifier = Verifier::new([Secret::new(NEXT_SECRET).unwrap()]).unwrap();
                        let verified = verifier.verify_at(signature, &body, unix_now()).ok();
                        let mut seen = log.0.lock().unwrap();
                        seen.push(Seen {
                            t,
                            attempt: delivery.attempt(),
                            event_id: delivery.event_id().to_owned(),
                            delivery_id: delivery.delivery_id().map(str::to_owned),
                            verified_with: verified.map(|v| v.secret_index()),
                        });
                        let status = answers[(seen.len() - 1).min(answers.len() - 1)];
                        (
                            status,
                            if status.is_success() {
                                "ok"
                            } else {
                                "try later"
                            },
                        )
                    }
                },
            ),
        )
        .with_state(log)
}

async fn send(url: &str, extra: &[&str]) -> (Option<i32>, serde_json::Value) {
    let mut command = kirim_webhooks();
    command
        .args([
            "--json",
            "send",
            url,
            "--secret",
            SECRET,
            "--secret",
            NEXT_SECRET,
        ])
        .args(extra);
    let output = run(command).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("send printed no JSON ({e}): {stdout}"));
    (output.status.code(), report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_fast_until_delivered_each_attempt_re_signed() {
    let log = Log::default();
    let failing_twice = vec![
        StatusCode::INTERNAL_SERVER_ERROR,
        StatusCode::SERVICE_UNAVAILABLE,
        StatusCode::OK,
    ];
    let url = serve(recording(log.clone(), failing_twice)).await;
    let (code, report) = send(
        &url,
        &[
            "--event",
            "message.status",
            "--retries",
            "--schedule",
            "fast",
        ],
    )
    .await;
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["delivered"], true);
    let attempts = report["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3, "{report:#}");
    let counted: Vec<_> = attempts.iter().map(|a| a["counted"].clone()).collect();
    assert_eq!(counted, ["retried", "retried", "delivered"]);

    let seen = log.0.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(
        seen.iter().map(|s| s.attempt).collect::<Vec<_>>(),
        [Some(1), Some(2), Some(3)]
    );
    // Re-signed: three different t, each verified (by the second secret's v1).
    assert!(seen[0].t < seen[1].t && seen[1].t < seen[2].t, "{seen:?}");
    assert!(seen.iter().all(|s| s.verified_with == Some(0)), "{seen:?}");
    // One event: the same id on every attempt, a new delivery id each time.
    assert!(seen.iter().all(|s| s.event_id == seen[0].event_id));
    assert!(seen[0].event_id.starts_with("wamid."), "{seen:?}");
    assert_ne!(seen[0].delivery_id, seen[1].delivery_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_4xx_is_not_retried() {
    let log = Log::default();
    let url = serve(recording(log.clone(), vec![StatusCode::BAD_REQUEST])).await;
    let (code, report) = send(&url, &["--retries", "--schedule", "fast"]).await;
    assert_eq!(code, Some(1), "{report:#}");
    assert_eq!(report["delivered"], false);
    assert_eq!(report["attempts"].as_array().unwrap().len(), 1);
    assert_eq!(report["attempts"][0]["counted"], "failed");
    assert_eq!(log.0.lock().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_retries_one_attempt_and_a_given_body() {
    let log = Log::default();
    let url = serve(recording(
        log.clone(),
        vec![StatusCode::SERVICE_UNAVAILABLE],
    ))
    .await;
    let dir = std::env::temp_dir().join(format!("kirim-cli-send-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("body.bin");
    // Not UTF-8: sent and signed byte for byte.
    std::fs::write(&file, b"{\"x\":\"\xff\"}").unwrap();
    let (code, report) = send(
        &url,
        &[
            "--event",
            "custom.event",
            "--event-id",
            "evt_01HXYZABCDEFGHJKMNPQRSTVW9",
            "--body",
            file.to_str().unwrap(),
        ],
    )
    .await;
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(code, Some(1), "{report:#}");
    assert_eq!(report["attempts"].as_array().unwrap().len(), 1);
    assert_eq!(report["attempts"][0]["status"], 503);
    let seen = log.0.lock().unwrap().clone();
    assert_eq!(seen[0].event_id, "evt_01HXYZABCDEFGHJKMNPQRSTVW9");
    assert_eq!(
        seen[0].verified_with,
        Some(0),
        "the raw bytes are what was signed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_event_without_a_body_is_a_usage_error() {
    let mut command = kirim_webhooks();
    command.args([
        "send",
        "http://127.0.0.1:9/",
        "--secret",
        SECRET,
        "--event",
        "nope.nope",
    ]);
    let output = run(command).await;
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no built-in example"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured_when_longer_than_the_schedule() {
    let calls = Arc::new(Mutex::new(0u32));
    let router = Router::new()
        .route(
            ROUTE,
            post(|State(calls): State<Arc<Mutex<u32>>>| async move {
                let mut calls = calls.lock().unwrap();
                *calls += 1;
                match *calls {
                    1 => (
                        StatusCode::TOO_MANY_REQUESTS,
                        [("retry-after", "60")],
                        "slow down",
                    ),
                    2 => (StatusCode::REQUEST_TIMEOUT, [("retry-after", "1")], "again"),
                    _ => (StatusCode::OK, [("retry-after", "0")], "ok"),
                }
            }),
        )
        .with_state(Arc::clone(&calls));
    let url = serve(router).await;
    let (code, report) = send(&url, &["--retries", "--schedule", "fast"]).await;
    assert_eq!(code, Some(0), "{report:#}");
    let attempts = report["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3, "{report:#}");
    // 429 asked for 60 s, longer than the schedule's 10 s: 60 s, divided by 1000.
    assert_eq!(attempts[0]["next_in_ms"], 60, "{report:#}");
    // 408 asked for 1 s, shorter than the schedule's 30 s: the schedule's.
    assert_eq!(attempts[1]["next_in_ms"], 30, "{report:#}");
    assert_eq!(attempts[1]["counted"], "retried");
    assert_eq!(*calls.lock().unwrap(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_from_standard_input_is_sent_as_read() {
    use std::io::Write as _;
    use std::process::Stdio;

    let log = Log::default();
    let url = serve(recording(log.clone(), vec![StatusCode::OK])).await;
    let mut command = kirim_webhooks();
    command
        .args(["--json", "send", &url, "--secret", NEXT_SECRET])
        .args([
            "--event",
            "contact.created",
            "--event-id",
            "evt_01HXYZSTDIN0000000000000001",
        ])
        .args(["--body", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let output = tokio::task::spawn_blocking(move || {
        let mut child = command.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(br#"{"id":"evt_01HXYZSTDIN0000000000000001"}"#)
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let seen = log.0.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].verified_with, Some(0));
    assert_eq!(seen[0].event_id, "evt_01HXYZSTDIN0000000000000001");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_timeout_is_a_usage_error() {
    let mut command = kirim_webhooks();
    command.args([
        "send",
        "http://127.0.0.1:9/",
        "--secret",
        SECRET,
        "--timeout-secs",
        "0",
    ]);
    assert_eq!(run(command).await.status.code(), Some(2));
}
