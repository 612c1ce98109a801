//! `examples/actix-receiver.rs` as its users run it: a real process, configured from the environment,
//! driven over HTTP.
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests: a failed step is a failed test

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use kirim_test_support::http::{SECRET, SignedRequest, fixtures, send};
use kirim_verify::flow::{bodies, names};
use kirim_verify::{Secret, Signer};
use tokio::io::{AsyncBufReadExt, BufReader};

/// Builds the example (once per test binary) with the same cargo and profile, and returns the
/// executable cargo reports.
fn receiver_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            let mut build = Command::new(env!("CARGO"));
            build
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .args([
                    "build",
                    "-p",
                    "kirim-verify-actix",
                    "--example",
                    "actix-receiver",
                ])
                .arg("--message-format=json-render-diagnostics")
                .stderr(Stdio::inherit());
            if !cfg!(debug_assertions) {
                build.arg("--release");
            }
            let output = build.output().expect("run cargo build");
            assert!(output.status.success(), "building the example failed");
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
                .filter(|message| message["target"]["name"] == "actix-receiver")
                .find_map(|message| message["executable"].as_str().map(PathBuf::from))
                .expect("cargo reported no executable for the receiver example")
        })
        .clone()
}

fn example() -> Command {
    let mut command = Command::new(receiver_binary());
    // The variables the example reads (one list, the parser's own), and the log filter.
    for name in kirim_verify::EnvConfig::VARIABLES
        .iter()
        .chain(&["RUST_LOG"])
    {
        command.env_remove(name);
    }
    command.env("NO_COLOR", "1");
    command
}

#[test]
fn refuses_to_start_without_secrets() {
    let output = example().output().expect("run the example");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{output:?}");
    assert!(
        stderr.contains("KIRIM_WEBHOOK_SECRETS is not set"),
        "{stderr}"
    );
}

#[test]
fn refuses_to_start_with_a_bad_secret_or_setting() {
    for (name, value, message) in [
        (
            "KIRIM_WEBHOOK_SECRETS",
            "not-a-kirim-secret",
            "KIRIM_WEBHOOK_SECRETS is invalid",
        ),
        // One parser for both examples (`EnvConfig`): an empty value is an unset one.
        (
            "KIRIM_WEBHOOK_SECRETS",
            "",
            "KIRIM_WEBHOOK_SECRETS is not set",
        ),
        (
            "KIRIM_MAX_BODY_BYTES",
            "lots",
            "KIRIM_MAX_BODY_BYTES must be a whole number",
        ),
    ] {
        let mut command = example();
        command
            .env("KIRIM_WEBHOOK_SECRETS", SECRET)
            .env(name, value);
        let output = command.output().expect("run the example");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{name}={value:?}: {output:?}");
        assert!(stderr.contains(message), "{name}={value:?}: {stderr}");
        assert!(
            !stderr.contains("not-a-kirim-secret"),
            "echoed the secret: {stderr}"
        );
    }
}

/// A running example process and what it printed so far.
struct Running {
    child: tokio::process::Child,
    addr: std::net::SocketAddr,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Running {
    /// Lines containing `needle`, waiting up to 5 s for the first.
    /// Every line so far containing `needle`, once there is one: waits up to 5 s for the
    /// first, then a moment more, so that a second one still in the pipe is counted too.
    async fn lines_with(&self, needle: &str) -> Vec<String> {
        let found = || -> Vec<String> {
            self.lines
                .lock()
                .unwrap()
                .iter()
                .filter(|l| l.contains(needle))
                .cloned()
                .collect()
        };
        for _ in 0..100 {
            if !found().is_empty() {
                tokio::time::sleep(Duration::from_millis(300)).await;
                return found();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Vec::new()
    }

    async fn stop(mut self) {
        self.child.kill().await.unwrap();
    }
}

async fn start(redis_url: Option<&str>) -> Running {
    let env: Vec<(&str, &str)> = redis_url
        .map(|url| ("REDIS_URL", url))
        .into_iter()
        .collect();
    start_with(&env, None).await
}

/// The example with extra environment, optionally under an address-space ceiling of
/// `ceiling_kib` KiB (`ulimit -v`: an allocation past it fails, and the process aborts).
async fn start_with(env: &[(&str, &str)], ceiling_kib: Option<u64>) -> Running {
    let binary = tokio::task::spawn_blocking(receiver_binary).await.unwrap();
    let mut command = match ceiling_kib {
        None => tokio::process::Command::new(binary),
        Some(kib) => {
            let mut shell = tokio::process::Command::new("sh");
            shell
                .arg("-c")
                .arg(format!("ulimit -v {kib} && exec \"$0\""))
                .arg(binary);
            shell
        }
    };
    command
        .env_remove("REDIS_URL")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .env("KIRIM_WEBHOOK_SECRETS", format!("current={SECRET}"))
        .env("KIRIM_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .kill_on_drop(true);
    command.envs(env.iter().copied());
    let mut child = command.spawn().expect("start the example");

    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    tokio::spawn({
        let lines = Arc::clone(&lines);
        async move {
            let mut addr_tx = Some(addr_tx);
            while let Ok(Some(line)) = stdout.next_line().await {
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let addr = rest.split('/').next().unwrap_or("").to_owned();
                    if let Some(tx) = addr_tx.take() {
                        let _ = tx.send(addr);
                    }
                }
                lines.lock().unwrap().push(line);
            }
        }
    });
    let addr = tokio::time::timeout(Duration::from_secs(20), addr_rx)
        .await
        .expect("the example did not say where it listens within 20 s")
        .unwrap();
    let addr = addr.parse().unwrap_or_else(|e| panic!("{addr:?}: {e}"));
    Running { child, addr, lines }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_ok_duplicate_and_401() {
    let example = start(None).await;
    assert_eq!(example.lines_with("dedup store: memory").await.len(), 1);

    let id = "evt_01HXYZABCDEFGHJKMNPQRSTVW1";
    let first = SignedRequest::kirim("contact.created", id, fixtures::CONTACT_CREATED);
    let answer = send(example.addr, &first).await;
    assert_eq!((answer.status, answer.body.as_str()), (200, bodies::OK));

    let retry = first.clone().retry().with_header(names::ATTEMPT, "2");
    let answer = send(example.addr, &retry).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, bodies::DUPLICATE)
    );

    let other = Signer::new([Secret::new("whsec_not_ours").unwrap()]).unwrap();
    let forged = first.with_header(
        names::SIGNATURE,
        &other.sign(now(), fixtures::CONTACT_CREATED),
    );
    let answer = send(example.addr, &forged).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (401, bodies::INVALID_SIGNATURE)
    );

    // The worker got the event once, and logged what it is and which secret matched.
    let processed = example.lines_with("processing kirim event").await;
    assert_eq!(processed.len(), 1, "{processed:?}");
    for field in [
        "event_type=contact.created",
        &format!("id={id}"),
        "attempt=Some(1)",
        "secret=current",
    ] {
        assert!(processed[0].contains(field), "{field} in {}", processed[0]);
    }
    example.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_url_dedup_outlives_a_restart() {
    let redis = tokio::task::spawn_blocking(kirim_test_support::redis_server::RedisServer::start)
        .await
        .unwrap();
    let url = redis.url();
    let id = "evt_01HXYZABCDEFGHJKMNPQRSTVW2";
    let first = SignedRequest::kirim("contact.created", id, fixtures::CONTACT_CREATED);

    let example = start(Some(&url)).await;
    assert_eq!(example.lines_with("dedup store: redis").await.len(), 1);
    let answer = send(example.addr, &first).await;
    assert_eq!((answer.status, answer.body.as_str()), (200, bodies::OK));
    example.stop().await;

    // Another process on the same Redis: Kirim's retry is still a duplicate.
    let example = start(Some(&url)).await;
    let retry = first.retry().with_header(names::ATTEMPT, "2");
    let answer = send(example.addr, &retry).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, bodies::DUPLICATE)
    );
    example.stop().await;
    drop(redis);
}

/// 2 000 connections that declare a 1 MiB body and send two bytes of it: a receiver that
/// reserved the declared length would need 2 GiB and abort under a 1 GiB ceiling. This one
/// grows its buffers with what arrived, and answers a valid delivery meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_declared_lengths_cost_nothing_under_a_memory_ceiling() {
    let mut example = start_with(&[], Some(1024 * 1024)).await;
    let held =
        kirim_test_support::attack::valid_delivery_during_a_declared_length_flood(example.addr)
            .await;
    assert!(
        example.child.try_wait().unwrap().is_none(),
        "the receiver died under the flood"
    );
    drop(held);
    example.stop().await;
}

/// Idle connections and forged bodies sent a byte a second: a valid delivery is still answered
/// at once; the idle ones are closed at the head deadline (5 s), the trickled ones when their
/// signed timestamp leaves the tolerance (3 s here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_trickling_connections_do_not_starve_a_valid_delivery() {
    use kirim_test_support::attack;
    let example = start_with(&[("KIRIM_TOLERANCE_SECS", "3")], None).await;
    let addr = example.addr;
    attack::idle_and_trickling_connections_leave_room(addr, Duration::from_secs(3)).await;
    example.stop().await;
}
