//! Every error class: printed with its request id where there is one, the right exit code, and
//! never the API key.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod operator_support;

use kirim_test_support::fake_kirim::{DeliverySeed, FakeKirim, Fault, FaultRule};
use operator_support::{BIN, run, scratch_dir};

fn request_id_line(stderr: &str) -> &str {
    stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("request_id: "))
        .unwrap_or_else(|| panic!("no request_id in:\n{stderr}"))
}

#[test]
fn refusals_exit_3_with_the_whole_envelope() {
    let kirim = FakeKirim::start();
    let dir = scratch_dir("errors");
    let bad = run(
        &kirim,
        &dir,
        &[
            "subscriptions",
            "create",
            "--url",
            "http://plain.example/h",
            "--events",
            "a.b",
        ],
    );
    assert_eq!(bad.code, 3, "{bad:?}");
    assert!(bad.stderr.contains("HTTP 400"));
    assert!(bad.stderr.contains("type:       invalid_request_error"));
    assert!(bad.stderr.contains("code:       invalid_webhook_url"));
    assert!(bad.stderr.contains("param:      url"));
    let id = request_id_line(&bad.stderr);
    assert!(id.starts_with("req_"));

    let missing = run(
        &kirim,
        &dir,
        &["subscriptions", "get", "wbs_01J00000000000000000000000"],
    );
    assert_eq!(missing.code, 3);
    assert!(missing.stderr.contains("type:       not_found"));
    request_id_line(&missing.stderr);

    let sub = kirim.seed_subscription("https://example.com/h", &["a.b"]);
    let ids = kirim.seed_deliveries(&sub.id, &DeliverySeed::dead(1));
    kirim.disable(&sub.id, "failures");
    let conflict = run(&kirim, &dir, &["--json", "deliveries", "replay", &ids[0]]);
    assert_eq!(conflict.code, 3);
    let doc = conflict.json();
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["error"]["status"], 409);
    assert_eq!(doc["error"]["type"], "conflict");
    assert_eq!(doc["error"]["code"], "subscription_disabled");
    assert_eq!(doc["error"]["exit_code"], 3);
    assert!(
        doc["error"]["request_id"]
            .as_str()
            .unwrap()
            .starts_with("req_")
    );

    kirim.inject(FaultRule::new("GET", "", Fault::Unavailable).times(50));
    let unavailable = run(&kirim, &dir, &["subscriptions", "get", &sub.id]);
    assert_eq!(unavailable.code, 3, "{unavailable:?}");
    assert!(unavailable.stderr.contains("HTTP 503"));
    request_id_line(&unavailable.stderr);
}

#[test]
fn a_wrong_key_exits_3_and_is_never_printed() {
    let kirim = FakeKirim::start();
    let dir = scratch_dir("badkey");
    let key = "kdv_live_THISKEYMUSTNEVERPRINT";
    for args in [
        &["subscriptions", "get", "wbs_x"][..],
        &["--json", "subscriptions", "get", "wbs_x"][..],
        &["--api-key", key, "deliveries", "list", "wbs_x"][..],
    ] {
        let output = std::process::Command::new(BIN)
            .args(args)
            .env("KIRIM_API_KEY", key)
            .env("KIRIM_API_URL", kirim.base_url())
            .current_dir(&dir)
            .output()
            .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        );
        assert_eq!(output.status.code(), Some(3), "{stdout}{stderr}");
        assert!(
            !stdout.contains("THISKEY") && !stderr.contains("THISKEY"),
            "{stdout}{stderr}"
        );
        assert!(format!("{stdout}{stderr}").contains("authentication_error"));
    }
    let help = std::process::Command::new(BIN)
        .args(["--help"])
        .env("KIRIM_API_KEY", key)
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&help.stdout).contains("THISKEY"));
    let help = std::process::Command::new(BIN)
        .args(["rotate", "--help"])
        .env("KIRIM_API_KEY", key)
        .env("KIRIM_WEBHOOK_SECRETS", "sec_1=whsec_NEVERPRINTED")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("KIRIM_WEBHOOK_SECRETS"));
    assert!(
        !text.contains("THISKEY") && !text.contains("NEVERPRINTED"),
        "{text}"
    );
}

#[test]
fn no_key_is_a_usage_error() {
    let dir = scratch_dir("nokey");
    let output = std::process::Command::new(BIN)
        .args(["subscriptions", "get", "wbs_x"])
        .env_remove("KIRIM_API_KEY")
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("KIRIM_API_KEY"));
}

#[test]
fn an_unreachable_api_exits_4() {
    let dir = scratch_dir("unreachable");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for json in [false, true] {
        let mut command = std::process::Command::new(BIN);
        if json {
            command.arg("--json");
        }
        let output = command
            .args(["subscriptions", "get", "wbs_x", "--retry-backoff", "10ms"])
            .env("KIRIM_API_KEY", "kdv_test_x")
            .env("KIRIM_API_URL", format!("http://127.0.0.1:{port}/v1"))
            .current_dir(&dir)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(4));
        if json {
            let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
            assert_eq!(doc["error"]["class"], "unreachable");
        } else {
            assert!(String::from_utf8_lossy(&output.stderr).contains("could not connect to kirim"));
        }
    }
}

#[test]
fn a_stalled_api_exits_4_after_its_deadline() {
    let kirim = FakeKirim::start();
    let dir = scratch_dir("stall");
    let sub = kirim.seed_subscription("https://example.com/h", &["a.b"]);
    kirim.inject(
        FaultRule::new(
            "GET",
            "",
            Fault::StallAfterApply(std::time::Duration::from_secs(5)),
        )
        .times(10),
    );
    let output = std::process::Command::new(BIN)
        .args([
            "subscriptions",
            "get",
            &sub.id,
            "--timeout",
            "200ms",
            "--deadline",
            "700ms",
            "--retry-backoff",
            "10ms",
        ])
        .env("KIRIM_API_KEY", kirim.api_key())
        .env("KIRIM_API_URL", kirim.base_url())
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&output.stderr).contains("did not answer in time"));
}

#[test]
fn an_id_that_cannot_be_sent_is_a_usage_error_and_nothing_is_sent() {
    let kirim = FakeKirim::start();
    let dir = scratch_dir("badid");
    let bad = run(&kirim, &dir, &["subscriptions", "get", "wbs_x/../../other"]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.stderr.contains("invalid id"));
    assert!(kirim.requests().is_empty());
}
