//! `check` against the project's two example receivers, each built and started as a process
//! the way its users run it (configured from the environment, in-memory dedup): every case
//! passes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::{MAX_BODY, NEXT_SECRET, SECRET, check};

/// Builds an example of a sibling crate (a no-op when `cargo test --workspace` already built
/// it) and returns the executable cargo reports.
fn example_binary(package: &str, example: &str, features: &[&str]) -> PathBuf {
    let mut build = Command::new(env!("CARGO"));
    build
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "-p", package, "--example", example])
        .args(features)
        .arg("--message-format=json-render-diagnostics")
        .stderr(Stdio::inherit());
    if !cfg!(debug_assertions) {
        build.arg("--release");
    }
    let output = build.output().unwrap();
    assert!(output.status.success(), "building {example} failed");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["target"]["name"] == example)
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| panic!("cargo reported no executable for {example}"))
}

/// A receiver process, killed when dropped.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Running {
    fn start(binary: PathBuf) -> Self {
        let mut command = Command::new(binary);
        for name in ["KIRIM_TOLERANCE_SECS", "REDIS_URL", "RUST_LOG"] {
            command.env_remove(name);
        }
        let mut child = command
            .env(
                "KIRIM_WEBHOOK_SECRETS",
                format!("current={SECRET},next={NEXT_SECRET}"),
            )
            .env("KIRIM_LISTEN", "127.0.0.1:0")
            .env("KIRIM_MAX_BODY_BYTES", MAX_BODY.to_string())
            .env("NO_COLOR", "1")
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

    /// The webhook URL from the receiver's `listening on …` log line.
    fn url(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .expect("no `listening on` line");
            if let Some(rest) = line.split("listening on ").nth(1) {
                let address = rest.split_whitespace().next().unwrap();
                let address = address.trim_start_matches("http://");
                return format!("http://{address}");
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

async fn passes_every_case(binary: PathBuf) {
    let receiver = Running::start(binary);
    let url = receiver.url();
    let run = check(
        &url,
        &[SECRET, NEXT_SECRET],
        &["--max-body", &MAX_BODY.to_string(), "--strict"],
    )
    .await;
    assert_eq!(run.code, Some(0), "{:#}\n{}", run.report, run.stderr);
    let passed = run.with_verdict("pass");
    assert_eq!(passed.len(), 19, "{:#}", run.report);
    for id in [
        "retry-re-signed",
        "replay-new-event-id",
        "status-delivered",
        "forged-signature",
        "body-over-limit",
        "concurrent-copies",
    ] {
        assert!(passed.contains(id), "{id}: {:#}", run.report);
    }
    // Our receivers say `duplicate`: the concurrency case counted exactly one first answer.
    let concurrent = run.case("concurrent-copies");
    assert!(
        concurrent["got"]
            .as_str()
            .unwrap()
            .starts_with("1 first-time 2xx"),
        "{concurrent}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_axum_example_receiver_passes_every_case() {
    let binary = example_binary(
        "kirim-verify-axum",
        "axum-receiver",
        &["--features", "json"],
    );
    passes_every_case(binary).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_actix_example_receiver_passes_every_case() {
    let binary = example_binary("kirim-verify-actix", "actix-receiver", &[]);
    passes_every_case(binary).await;
}
