//! `kirim-webhooks rotate --confirm-metrics` against the real example receiver
//! (`kirim-verify-axum`'s `axum-receiver`, metrics on), fed deliveries the test signs as Kirim
//! does (one `v1` per active secret): the whole rotation from one secret to the other, the old
//! one deleted only after the receiver counted a delivery verified with the new one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod operator_support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kirim_test_support::fake_kirim::FakeKirim;
use operator_support::{command, scratch_dir, spawn};

/// Builds the example (on its own, with its package's features) and gives its path.
fn receiver_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()).unwrap() {
        "debug" => "dev",
        other => other,
    };
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let status = Command::new(env!("CARGO"))
        .current_dir(&workspace)
        .args([
            "build",
            "--quiet",
            "-p",
            "kirim-verify-axum",
            "--example",
            "axum-receiver",
            "--profile",
            profile,
        ])
        .status()
        .unwrap();
    assert!(
        status.success(),
        "building the example receiver failed: {status}"
    );
    let binary = profile_dir
        .join("examples")
        .join(format!("axum-receiver{}", std::env::consts::EXE_SUFFIX));
    assert!(binary.exists(), "no example binary at {}", binary.display());
    binary
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Receiver {
    child: Child,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the receiver with `secrets` on the given ports and waits until both listen.
fn start_receiver(binary: &PathBuf, secrets: &str, port: u16, metrics_port: u16) -> Receiver {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut child = Command::new(binary)
            .env_remove("REDIS_URL")
            .env_remove("RUST_LOG")
            .env("KIRIM_WEBHOOK_SECRETS", secrets)
            .env("KIRIM_LISTEN", format!("127.0.0.1:{port}"))
            .env("KIRIM_METRICS_LISTEN", format!("127.0.0.1:{metrics_port}"))
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                // A port still held by the previous process: try again.
                assert!(
                    Instant::now() < deadline,
                    "the receiver keeps exiting: {status}"
                );
                std::thread::sleep(Duration::from_millis(100));
                break;
            }
            let up = |p: u16| TcpStream::connect(("127.0.0.1", p)).is_ok();
            if up(port) && up(metrics_port) {
                return Receiver { child };
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("the receiver did not start listening");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The body of delivery `n`: a Kirim envelope with its own event id.
fn body_of(n: u32) -> String {
    format!(
        r#"{{"id":"{}","type":"contact.created","created_at":"2026-05-23T10:00:00Z","data":{{"contact":{{"id":"ctc_1"}}}}}}"#,
        event_id(n)
    )
}

fn event_id(n: u32) -> String {
    format!("evt_01HXYZABCDEFGHJKMNPQRST{n:03}")
}

/// POSTs delivery `n`, signed now as Kirim signs it (every active secret), and gives the status.
fn deliver(kirim: &FakeKirim, subscription: &str, port: u16, n: u32) -> u16 {
    let body = body_of(n);
    let signature = kirim
        .signer(subscription)
        .sign(kirim_verify::unix_now(), body.as_bytes());
    let request = format!(
        "POST /webhooks/kirim HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nX-Kirim-Signature: {signature}\r\nX-Kirim-Event: contact.created\r\n\
         X-Kirim-Event-Id: {}\r\nX-Kirim-Source: kirim\r\nX-Kirim-Delivery-Id: wbd_{n}\r\n\
         X-Kirim-Attempt: 1\r\nConnection: close\r\n\r\n{body}",
        body.len(),
        event_id(n)
    );
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn metrics_page(port: u16) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn rotation_against_a_real_receiver_deletes_the_old_secret_only_after_the_new_one_verified() {
    let binary = receiver_binary();
    let kirim = FakeKirim::start();
    let dir = scratch_dir("rotate-receiver");
    let sub = kirim.seed_subscription("https://example.com/webhooks/kirim", &["contact.created"]);
    let old = sub.secrets[0].clone();
    let (port, metrics_port) = (free_port(), free_port());
    let current = format!("{}={}", old.id, old.value);
    let receiver = start_receiver(&binary, &current, port, metrics_port);
    assert_eq!(deliver(&kirim, &sub.id, port, 1), 200);

    let metrics_url = format!("http://127.0.0.1:{metrics_port}/metrics");
    let mut rotate = spawn(command(
        &kirim,
        &dir,
        &[
            "rotate",
            &sub.id,
            "--confirm-metrics",
            &metrics_url,
            "--current-secrets",
            &current,
            "--poll-interval",
            "100ms",
            "--confirm-timeout",
            "60s",
        ],
    ));
    let line = rotate.wait_line("KIRIM_WEBHOOK_SECRETS=", Duration::from_secs(20));
    let during = line.trim_start_matches("KIRIM_WEBHOOK_SECRETS=").to_owned();
    rotate.wait_line("step 3/5: waiting", Duration::from_secs(20));
    let held = kirim.subscription(&sub.id).unwrap();
    assert_eq!(held.secrets.len(), 2);
    let new = held.secrets[1].clone();
    assert_eq!(during, format!("{}={},{}", new.id, new.value, current));

    // Kirim signs with both now, but the receiver still runs with the old secret only: it
    // verifies with the old one, and the rotation must not go on.
    assert_eq!(deliver(&kirim, &sub.id, port, 2), 200);
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        kirim.subscription(&sub.id).unwrap().secrets.len(),
        2,
        "nothing deleted before the new secret verified"
    );
    assert!(!kirim.requests().iter().any(|r| r.method == "DELETE"));

    // The deploy: the receiver restarts with the printed value.
    drop(receiver);
    let receiver = start_receiver(&binary, &during, port, metrics_port);
    let verified_at = Instant::now();
    assert_eq!(deliver(&kirim, &sub.id, port, 3), 200);

    let run = rotate.finish(Duration::from_secs(30));
    assert_eq!(run.code, 0, "{run:?}");
    run.assert_no_key(kirim.api_key());
    let held = kirim.subscription(&sub.id).unwrap();
    assert_eq!(
        held.secrets
            .iter()
            .map(|s| s.id.as_str())
            .collect::<Vec<_>>(),
        [new.id.as_str()]
    );
    let deletes: Vec<_> = kirim
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .collect();
    assert_eq!(deletes.len(), 1);
    assert!(deletes[0].path.ends_with(&old.id));
    assert!(
        deletes[0].at > verified_at,
        "deleted only after the new secret verified a delivery"
    );
    let page = metrics_page(metrics_port);
    assert!(
        page.contains(&format!(
            "kirim_webhooks_verified_total{{secret=\"{}\"}}",
            new.id
        )),
        "{page}"
    );
    let finale = run
        .stdout
        .lines()
        .rev()
        .find(|l| l.starts_with("KIRIM_WEBHOOK_SECRETS="))
        .unwrap()
        .trim_start_matches("KIRIM_WEBHOOK_SECRETS=")
        .to_owned();
    assert_eq!(finale, format!("{}={}", new.id, new.value));

    // Step 5 done: the receiver with the new secret alone still verifies what Kirim signs.
    drop(receiver);
    let _receiver = start_receiver(&binary, &finale, port, metrics_port);
    assert_eq!(deliver(&kirim, &sub.id, port, 4), 200);
}
