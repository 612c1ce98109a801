//! What the CLI's tests share: running the built `kirim-webhooks` binary, serving a receiver
//! on a free 127.0.0.1 port, and reading `check`'s JSON report.
#![allow(dead_code, unreachable_pub)] // each test file uses its own part

use std::collections::BTreeSet;
use std::process::{Command, Output};
use std::sync::Arc;

use axum::Router;
use axum::routing::post;
use kirim_verify::{Dedup, MemoryStore, Receiver, Secret, Verifier};
use kirim_verify_axum::{KirimLayer, KirimWebhook};
use serde_json::Value;

/// The receivers' secret in these tests, and the second one of a rotation.
pub const SECRET: &str = "whsec_cli_test_current";
pub const NEXT_SECRET: &str = "whsec_cli_test_next";

/// The body limit the test receivers use (small, so the too-large case stays cheap).
pub const MAX_BODY: usize = 64 * 1024;

/// The route every test receiver serves.
pub const ROUTE: &str = "/webhooks/kirim";

/// The built binary, with a clean environment for the variables it reads.
pub fn kirim_webhooks() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kirim-webhooks"));
    command.env_remove("KIRIM_WEBHOOK_SECRETS");
    command
}

/// `check`'s outcome: the exit code and the JSON report.
#[derive(Debug)]
pub struct CheckRun {
    pub code: Option<i32>,
    pub report: Value,
    pub stderr: String,
}

impl CheckRun {
    /// The ids of the cases with this verdict (`pass`, `fail`, `advice`, `skip`).
    pub fn with_verdict(&self, verdict: &str) -> BTreeSet<String> {
        self.report["cases"]
            .as_array()
            .unwrap_or_else(|| panic!("no cases in {}", self.report))
            .iter()
            .filter(|case| case["verdict"] == verdict)
            .map(|case| case["id"].as_str().unwrap().to_owned())
            .collect()
    }

    /// One case's report.
    pub fn case(&self, id: &str) -> &Value {
        self.report["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|case| case["id"] == id)
            .unwrap_or_else(|| panic!("no case {id} in {}", self.report))
    }
}

/// Runs `kirim-webhooks --json check URL --secret … <extra>` to its end (off the async
/// runtime, so the receivers served in this process keep answering).
pub async fn check(url: &str, secrets: &[&str], extra: &[&str]) -> CheckRun {
    let mut command = kirim_webhooks();
    command.args(["--json", "check", url]);
    for secret in secrets {
        command.args(["--secret", secret]);
    }
    command.args(extra);
    let output = run(command).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("check printed no JSON ({e}): {stdout}"));
    CheckRun {
        code: output.status.code(),
        report,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs a command to its end off the async runtime.
pub async fn run(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

/// Serves `router` on a free 127.0.0.1 port until the test ends; returns the webhook URL.
pub async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}{ROUTE}")
}

/// The receiving flow as our example receivers configure it: both secrets, in-memory dedup.
pub fn receiver() -> Receiver {
    let secrets = [
        Secret::new(SECRET).unwrap(),
        Secret::new(NEXT_SECRET).unwrap(),
    ];
    Receiver::new(Verifier::new(secrets).unwrap())
        .with_dedup(Dedup::new(MemoryStore::new()))
        .with_max_body_bytes(MAX_BODY)
}

/// A correct receiver: `KirimLayer` in front of a handler that acknowledges.
pub fn correct_router(receiver: Receiver) -> Router {
    let receiver = Arc::new(receiver);
    Router::new()
        .route(
            ROUTE,
            post(acknowledge).route_layer(KirimLayer::new(Arc::clone(&receiver))),
        )
        .with_state(receiver)
}

async fn acknowledge(_webhook: KirimWebhook) -> &'static str {
    "ok"
}
