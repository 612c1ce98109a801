//! The example receivers with `DATABASE_URL`, built and run as real processes, driven over HTTP
//! on 127.0.0.1: killed with `SIGKILL` after acknowledging deliveries their worker had not
//! processed yet, they process every one after a restart (SQLite file and PostgreSQL); two of
//! them sharing PostgreSQL store and process 32 concurrent copies of one delivery once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{OnceLock, mpsc};
use std::time::{Duration, Instant};

use kirim_test_support::http::{Answer, SignedRequest, send, unique_id};
use kirim_test_support::postgres_server::PostgresServer;

mod common;

/// Deliveries acknowledged before the kill.
const ACKED: usize = 20;

/// An example binary of `package`, built with this test's profile.
fn example(package: &str, name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()).unwrap() {
        "debug" => "dev",
        other => other,
    };
    let status = Command::new(env!("CARGO"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "--quiet", "-p", package, "--example", name])
        .args(["--profile", profile])
        .status()
        .unwrap();
    assert!(status.success(), "building {name} failed: {status}");
    let binary = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(binary.exists(), "no example binary at {}", binary.display());
    binary
}

fn axum_receiver() -> &'static PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| example("kirim-verify-axum", "axum-receiver"))
}

fn actix_receiver() -> &'static PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| example("kirim-verify-actix", "actix-receiver"))
}

/// A receiver process, killed (`SIGKILL`) when dropped; its log lines arrive on `lines`.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    addr: SocketAddr,
}

impl Running {
    fn start(binary: &PathBuf, database_url: &str, work_ms: u64) -> Self {
        let mut command = Command::new(binary);
        for name in [
            "REDIS_URL",
            "KIRIM_METRICS_LISTEN",
            "KIRIM_TOLERANCE_SECS",
            "KIRIM_MAX_BODY_BYTES",
            "RUST_LOG",
        ] {
            command.env_remove(name);
        }
        command
            .env("KIRIM_WEBHOOK_SECRETS", kirim_test_support::http::SECRET)
            .env("KIRIM_LISTEN", "127.0.0.1:0")
            .env("DATABASE_URL", database_url)
            .env("KIRIM_WORK_MS", work_ms.to_string())
            .env("KIRIM_INBOX_LEASE_SECS", "2")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command.spawn().unwrap();
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
        let mut running = Self {
            child,
            lines,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let line = running.wait_for(&["listening on "]);
        running.addr = line
            .split("listening on ")
            .nth(1)
            .map(|rest| rest.trim_start_matches("http://"))
            .and_then(|rest| rest.split('/').next())
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        running
    }

    fn wait_for(&self, needles: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
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

    /// The event ids of the worker's `processed …` lines logged so far (and within `wait`).
    fn processed(&self, wait: Duration) -> Vec<String> {
        let deadline = Instant::now() + wait;
        let mut ids = Vec::new();
        while let Ok(line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            if line.contains(" processed ")
                && let Some(id) = line
                    .split("id=")
                    .nth(1)
                    .and_then(|rest| rest.split_whitespace().next())
            {
                ids.push(id.trim_matches('"').to_owned());
            }
        }
        ids
    }

    /// `SIGKILL`, as a crash would: nothing is flushed, nothing handed back.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn delivery(id: &str) -> SignedRequest {
    let body = format!(r#"{{"id":"{id}","type":"contact.created","data":{{}}}}"#);
    SignedRequest::kirim("contact.created", id, body.as_bytes())
}

async fn ack(addr: SocketAddr, delivery: &SignedRequest) -> Answer {
    let answer = send(addr, delivery).await;
    assert_eq!((answer.status, answer.body.as_str()), (200, "ok"));
    answer
}

/// Acknowledges [`ACKED`] deliveries to a receiver whose downstream takes a minute per event,
/// kills it before it processed any, starts it again: every acknowledged delivery is processed.
async fn survives_sigkill(binary: &PathBuf, database_url: &str) {
    let first = Running::start(binary, database_url, 60_000);
    let ids: Vec<String> = (0..ACKED).map(|_| unique_id("evt")).collect();
    for id in &ids {
        ack(first.addr, &delivery(id)).await;
    }
    let early = first.processed(Duration::from_millis(200));
    assert!(early.is_empty(), "processed before the kill: {early:?}");
    first.kill();

    // The rows the dead worker held (its handlers were mid-way) come back after their lease;
    // the others at once.
    let second = Running::start(binary, database_url, 0);
    let mut left: HashSet<&str> = ids.iter().map(String::as_str).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !left.is_empty() {
        assert!(
            Instant::now() < deadline,
            "acknowledged but never processed: {left:?}"
        );
        for id in second.processed(Duration::from_millis(200)) {
            left.remove(id.as_str());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_receiver_on_sqlite_survives_sigkill() {
    let file = common::TempFile::new("receiver.db");
    survives_sigkill(axum_receiver(), &file.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_receiver_on_postgres_survives_sigkill() {
    let server = PostgresServer::start();
    survives_sigkill(axum_receiver(), &server.create_database()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actix_receiver_on_sqlite_survives_sigkill() {
    let file = common::TempFile::new("receiver.db");
    survives_sigkill(actix_receiver(), &file.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actix_receiver_on_postgres_survives_sigkill() {
    let server = PostgresServer::start();
    survives_sigkill(actix_receiver(), &server.create_database()).await;
}

/// 32 concurrent copies of one delivery, half to each of two receivers sharing PostgreSQL:
/// one row, one `ok` (31 `duplicate`), one processing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_receivers_sharing_postgres_store_and_process_once() {
    let server = PostgresServer::start();
    let url = server.create_database();
    let receivers = [
        Running::start(axum_receiver(), &url, 0),
        Running::start(axum_receiver(), &url, 0),
    ];
    let id = unique_id("evt");
    let copy = delivery(&id);
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(32));
    let sends: Vec<_> = (0..32)
        .map(|n| {
            let (addr, copy, barrier) = (receivers[n % 2].addr, copy.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let answer = send(addr, &copy).await;
                (answer.status, answer.body)
            })
        })
        .collect();
    let mut answers = Vec::new();
    for send in sends {
        answers.push(send.await.unwrap());
    }
    let ok = answers
        .iter()
        .filter(|a| **a == (200, String::from("ok")))
        .count();
    let duplicate = answers
        .iter()
        .filter(|a| **a == (200, String::from("duplicate")))
        .count();
    assert_eq!((ok, duplicate), (1, 31), "{answers:?}");

    // Processed once, by one of the two, and not again.
    let mut processed = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while processed.is_empty() && Instant::now() < deadline {
        for receiver in &receivers {
            processed.extend(receiver.processed(Duration::from_millis(100)));
        }
    }
    for receiver in &receivers {
        processed.extend(receiver.processed(Duration::from_millis(1000)));
    }
    assert_eq!(processed, [id], "one processing of the one row");
}

/// The database stops while deliveries arrive: the receiver answers 503 (never 200 without a
/// row), and once the server is back the same receiver process stores and acknowledges again;
/// every delivery it acknowledged is processed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_receiver_answers_503_while_postgres_is_down_and_recovers() {
    let mut server = PostgresServer::start();
    let url = server.create_database();
    let receiver = Running::start(axum_receiver(), &url, 0);
    let mut acked = Vec::new();
    let mut unavailable = 0;
    let send_one = async |acked: &mut Vec<String>, unavailable: &mut usize| {
        let id = unique_id("evt");
        let answer = send(receiver.addr, &delivery(&id)).await;
        match (answer.status, answer.body.as_str()) {
            (200, "ok") => acked.push(id),
            (503, _) => *unavailable += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    };
    for _ in 0..10 {
        send_one(&mut acked, &mut unavailable).await;
    }
    assert_eq!((acked.len(), unavailable), (10, 0));

    server.stop();
    for _ in 0..10 {
        send_one(&mut acked, &mut unavailable).await;
    }
    assert_eq!(
        acked.len(),
        10,
        "nothing acknowledged while the database is down"
    );
    assert_eq!(unavailable, 10);

    server.restart();
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.len() < 20 {
        assert!(Instant::now() < deadline, "the receiver did not recover");
        send_one(&mut acked, &mut unavailable).await;
    }
    let mut left: HashSet<&str> = acked.iter().map(String::as_str).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !left.is_empty() {
        assert!(
            Instant::now() < deadline,
            "acknowledged, not processed: {left:?}"
        );
        for id in receiver.processed(Duration::from_millis(200)) {
            left.remove(id.as_str());
        }
    }
}
