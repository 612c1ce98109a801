//! The example receiver (`examples/axum-receiver/`), built and started as a real process, and driven
//! over HTTP on 127.0.0.1. (The demo, `scripts/demo`, runs `kirim-webhooks check` against it; the
//! CLI's tests run the demo.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kirim_test_support::attack;
use kirim_test_support::http::{SECRET, SignedRequest, fixtures, send};
use kirim_verify::flow::bodies;
use kirim_verify::{Secret, Signer};

/// The receiver example, built.
fn receiver_binary() -> &'static PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| example_binary("axum-receiver"))
}

/// Builds an example with this test's profile and features (a no-op when `cargo test` already
/// built it, as it does by default) and returns its path.
fn example_binary(name: &str) -> PathBuf {
    {
        // This test runs from <target>/<profile>/deps/; the examples are in
        // <target>/<profile>/examples/.
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()).unwrap() {
            "debug" => "dev",
            other => other,
        };
        let mut build = Command::new(env!("CARGO"));
        build
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args([
                "build",
                "--quiet",
                "-p",
                "kirim-verify-axum",
                "--example",
                name,
            ])
            .args(["--profile", profile]);
        if cfg!(feature = "json") {
            build.args(["--features", "json"]);
        } else {
            build.arg("--no-default-features");
        }
        let status = build.status().unwrap();
        assert!(status.success(), "building the example failed: {status}");
        let binary = profile_dir
            .join("examples")
            .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
        assert!(binary.exists(), "no example binary at {}", binary.display());
        binary
    }
}

/// The example, with a clean environment for the variables it reads.
fn receiver_command() -> Command {
    configured(Command::new(receiver_binary()))
}

/// The example under an address-space ceiling of `kib` KiB (`ulimit -v`): an allocation past
/// it fails, and the process aborts.
fn receiver_command_within(kib: u64) -> Command {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!("ulimit -v {kib} && exec \"$0\""))
        .arg(receiver_binary());
    configured(command)
}

fn configured(mut command: Command) -> Command {
    // The variables the example reads (one list, the parser's own), and the log filter.
    for name in kirim_verify::EnvConfig::VARIABLES
        .iter()
        .chain(&["RUST_LOG"])
    {
        command.env_remove(name);
    }
    command
        .env("KIRIM_LISTEN", "127.0.0.1:0")
        .env("NO_COLOR", "1");
    command
}

/// Runs the example to completion (it must stop by itself) and returns what it printed.
fn run_to_exit(mut command: Command) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("the example did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn refuses_to_start_without_secrets() {
    let output = run_to_exit(receiver_command());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("KIRIM_WEBHOOK_SECRETS is not set"),
        "{stderr}"
    );

    let mut bad = receiver_command();
    bad.env(
        "KIRIM_WEBHOOK_SECRETS",
        "current=whsec_test,base64-without-prefix",
    );
    let output = run_to_exit(bad);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains(
            "KIRIM_WEBHOOK_SECRETS is invalid: webhook secret does not start with whsec_"
        ),
        "{stderr}"
    );
    assert!(
        !stderr.contains("whsec_test"),
        "a secret was printed: {stderr}"
    );

    let mut bad = receiver_command();
    bad.env("KIRIM_WEBHOOK_SECRETS", "whsec_test")
        .env("KIRIM_TOLERANCE_SECS", "five minutes");
    let output = run_to_exit(bad);
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("KIRIM_TOLERANCE_SECS"),
        "{output:?}"
    );
}

/// A running receiver process, killed when dropped; its log lines arrive on `lines`.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Running {
    fn start(mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    /// Waits for a log line containing every one of `needles`.
    fn wait_for(&self, needles: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|e| panic!("no log line with {needles:?}: {e}"));
            if needles.iter().all(|needle| line.contains(needle)) {
                return line;
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_signed_deliveries() {
    let mut command = receiver_command();
    command.env("KIRIM_WEBHOOK_SECRETS", format!("current={SECRET}"));
    let receiver = Running::start(command);
    let addr = listening_addr(&receiver);

    let id = "evt_01HXYZABCDEFGHJKMNPQRSTVW1";
    let first = SignedRequest::kirim("contact.created", id, fixtures::CONTACT_CREATED);
    let answer = send(addr, &first).await;
    assert_eq!((answer.status, answer.body.as_str()), (200, bodies::OK));
    // The worker processed it after the ack, and logged what it processed.
    let processed = receiver.wait_for(&["processed webhook", id]);
    for field in [
        "event=\"contact.created\"",
        "attempt=1",
        "secret=\"current\"",
    ] {
        assert!(processed.contains(field), "{field} in {processed}");
    }

    let retry = first.clone().retry().with_header("x-kirim-attempt", "2");
    let answer = send(addr, &retry).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, bodies::DUPLICATE)
    );

    let now = first.signed_at();
    let signer = Signer::new([Secret::new(SECRET).unwrap()]).unwrap();
    let forged = first.with_header(
        "x-kirim-signature",
        &signer.forged(now, fixtures::CONTACT_CREATED),
    );
    let answer = send(addr, &forged).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (401, bodies::INVALID_SIGNATURE)
    );
    // The refusal's reason is in the operator's log.
    receiver.wait_for(&[
        "kirim webhook refused",
        "status=401",
        "no signature matched",
    ]);
}

fn listening_addr(receiver: &Running) -> SocketAddr {
    let line = receiver.wait_for(&["listening on "]);
    line.split("listening on ")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_share_dedup_through_redis() {
    let mut redis = kirim_test_support::redis_server::RedisServer::start();
    let start = || {
        let mut command = receiver_command();
        command
            .env("KIRIM_WEBHOOK_SECRETS", format!("current={SECRET}"))
            .env("REDIS_URL", redis.url());
        Running::start(command)
    };
    let (one, two) = (start(), start());
    one.wait_for(&["dedup in Redis"]);
    two.wait_for(&["dedup in Redis"]);
    let (one_addr, two_addr) = (listening_addr(&one), listening_addr(&two));

    let id = "evt_01HXYZABCDEFGHJKMNPQRSTVW2";
    let first = SignedRequest::kirim("contact.updated", id, fixtures::CONTACT_UPDATED);
    let answer = send(one_addr, &first).await;
    assert_eq!((answer.status, answer.body.as_str()), (200, bodies::OK));
    one.wait_for(&["processed webhook", id]);

    // Kirim's retry lands on the other instance: it knows the event through Redis.
    let retry = first.retry().with_header("x-kirim-attempt", "2");
    let answer = send(two_addr, &retry).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, bodies::DUPLICATE)
    );

    // Redis gone: the instance fails closed, 503 with Retry-After, so Kirim retries later;
    // the operator's log says why (at warn), and no handler ran.
    redis.kill();
    let next = SignedRequest::kirim(
        "conversation.closed",
        "evt_01HXYZABCDEFGHJKMNPQRSTVWY",
        fixtures::CONVERSATION_CLOSED,
    );
    let answer = send(two_addr, &next).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (503, bodies::UNAVAILABLE)
    );
    assert!(answer.headers.contains_key("retry-after"), "{answer:?}");
    let warning = two.wait_for(&["WARN", "kirim webhook refused", "status=503"]);
    assert!(warning.contains("dedup store"), "{warning}");
}

/// `KIRIM_METRICS_LISTEN`: the counters an operator graphs, and that a rotation reads to see the
/// new secret verify, in Prometheus text format.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_its_counters_on_the_metrics_listener() {
    let metrics_addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut command = receiver_command();
    command
        .env("KIRIM_WEBHOOK_SECRETS", format!("current={SECRET}"))
        .env("KIRIM_METRICS_LISTEN", metrics_addr.to_string());
    let receiver = Running::start(command);
    receiver.wait_for(&["metrics on"]);
    let addr = listening_addr(&receiver);

    let first = SignedRequest::kirim(
        "contact.created",
        "evt_01HXYZMETRICS000000000000A",
        fixtures::CONTACT_CREATED,
    );
    assert_eq!(send(addr, &first).await.status, 200);
    assert_eq!(send(addr, &first.clone().retry()).await.status, 200);
    let signer = Signer::new([Secret::new(SECRET).unwrap()]).unwrap();
    let forged = first.with_header(
        "x-kirim-signature",
        &signer.forged(kirim_verify::unix_now(), fixtures::CONTACT_CREATED),
    );
    assert_eq!(send(addr, &forged).await.status, 401);

    let text = reqwest::get(format!("http://{metrics_addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "kirim_webhooks_verified_total{secret=\"current\"} 2",
        "kirim_webhooks_duplicates_total 1",
        "kirim_webhooks_handled_total{outcome=\"success\"} 1",
        "kirim_webhooks_rejected_total{reason=\"signature_mismatch\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
    }
}

/// 2 000 connections that declare a 1 MiB body and send two bytes of it: a receiver that
/// reserved the declared length would need 2 GiB and abort under a 1 GiB ceiling. This one
/// grows its buffers with what arrived, and answers a valid delivery meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_declared_lengths_cost_nothing_under_a_memory_ceiling() {
    let mut command = receiver_command_within(1024 * 1024);
    command.env("KIRIM_WEBHOOK_SECRETS", format!("current={SECRET}"));
    let mut receiver = Running::start(command);
    let addr = listening_addr(&receiver);
    let held = attack::valid_delivery_during_a_declared_length_flood(addr).await;
    assert!(
        receiver.child.try_wait().unwrap().is_none(),
        "the receiver died under the flood"
    );
    drop(held);
}

/// Idle connections and forged bodies sent a byte a second: a valid delivery is still answered
/// at once; the idle ones are closed at the head deadline (5 s), the trickled ones when their
/// signed timestamp leaves the tolerance (3 s here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_trickling_connections_do_not_starve_a_valid_delivery() {
    let mut command = receiver_command();
    command
        .env("KIRIM_WEBHOOK_SECRETS", format!("current={SECRET}"))
        .env("KIRIM_TOLERANCE_SECS", "3");
    let receiver = Running::start(command);
    let addr = listening_addr(&receiver);
    attack::idle_and_trickling_connections_leave_room(addr, Duration::from_secs(3)).await;
}
