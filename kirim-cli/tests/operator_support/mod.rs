//! Running `kirim-webhooks` as a process against the fake Kirim API.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use kirim_test_support::fake_kirim::FakeKirim;

pub const BIN: &str = env!("CARGO_BIN_EXE_kirim-webhooks");

/// A finished run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", self.stdout))
    }

    /// Asserts the API key appears nowhere in what was printed.
    pub fn assert_no_key(&self, key: &str) {
        assert!(
            !self.stdout.contains(key),
            "the API key leaked to stdout:\n{}",
            self.stdout
        );
        assert!(
            !self.stderr.contains(key),
            "the API key leaked to stderr:\n{}",
            self.stderr
        );
    }
}

/// A fresh directory for one test's files (state files, secret files).
pub fn scratch_dir(name: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "kirim-cli-{name}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The command, configured for the fake: its URL and key by environment, fast retries.
pub fn command(kirim: &FakeKirim, dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .args([
            "--retry-backoff",
            "10ms",
            "--timeout",
            "2s",
            "--deadline",
            "10s",
        ])
        .env("KIRIM_API_KEY", kirim.api_key())
        .env("KIRIM_API_URL", kirim.base_url())
        .env_remove("KIRIM_WEBHOOK_SECRETS")
        .current_dir(dir)
        .stdin(Stdio::null());
    command
}

pub fn run(kirim: &FakeKirim, dir: &Path, args: &[&str]) -> Run {
    let output = command(kirim, dir, args).output().unwrap();
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    run.assert_no_key(kirim.api_key());
    run
}

/// A running CLI whose stdout is read line by line.
pub struct Running {
    pub child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

pub fn spawn(mut command: Command) -> Running {
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Running {
        child,
        lines,
        seen: Vec::new(),
    }
}

impl Running {
    /// Waits for a stdout line starting with `prefix`.
    pub fn wait_line(&mut self, prefix: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.starts_with(prefix) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no line starting with {prefix:?}; saw:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Waits for the process to end, collects the rest of its output.
    pub fn finish(mut self, timeout: Duration) -> Run {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the CLI did not finish; saw:\n{}", self.seen.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
            self.seen.push(line);
        }
        let mut stderr = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = err.read_to_string(&mut stderr);
        }
        Run {
            code: status.code().unwrap_or(-1),
            stdout: self.seen.join("\n"),
            stderr,
        }
    }

    /// Kills the process (an interruption).
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A stand-in metrics endpoint serving `kirim_webhooks_verified_total{secret=<label>}` with a
/// count the test sets: for the CLI's steps that do not need a real receiver.
pub struct MetricsStub {
    pub url: String,
    pub count: Arc<AtomicU64>,
    pub label: Arc<std::sync::Mutex<String>>,
}

pub fn metrics_stub() -> MetricsStub {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/metrics", listener.local_addr().unwrap());
    let count = Arc::new(AtomicU64::new(0));
    let label = Arc::new(std::sync::Mutex::new(String::new()));
    let (c, l) = (count.clone(), label.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 2048];
            let _ = stream.read(&mut buf);
            let body = format!(
                "# TYPE kirim_webhooks_verified_total counter\nkirim_webhooks_verified_total{{secret=\"{}\"}} {}\n",
                l.lock().unwrap(),
                c.load(Ordering::SeqCst)
            );
            let _ = write!(
                stream,
                "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
    });
    MetricsStub { url, count, label }
}
