//! `scripts/demo`, run to its end: it builds the axum example receiver, starts it, runs
//! `check` against it (the CLI this test run built), stops the receiver, and exits with
//! check's code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn the_demo_passes_every_case() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/demo");
    let mut child = Command::new(script)
        .args(["--json", "--strict"])
        .env_remove("KIRIM_WEBHOOK_SECRETS")
        // The binary this test run built: a plain `cargo build` of it would rebuild it with
        // other dependency features (the tests' dev-dependencies unify into it).
        .env("KIRIM_WEBHOOKS", env!("CARGO_BIN_EXE_kirim-webhooks"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The script may build first: generous, but bounded.
    let deadline = Instant::now() + Duration::from_secs(900);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("scripts/demo did not finish");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["passed"], true, "{report:#}");
    assert_eq!(report["summary"]["pass"], 19, "{report:#}");
    assert_eq!(
        report["summary"]["skip"], 0,
        "both secrets were given: {report:#}"
    );
    assert!(
        stderr.contains("receiver listening on http://127.0.0.1:"),
        "{stderr}"
    );
    // The generated secrets never show.
    assert!(!stdout.contains("whsec_demo_") && !stderr.contains("whsec_demo_"));
}
