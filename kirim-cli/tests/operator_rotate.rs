//! `kirim-webhooks rotate` as a process against the fake Kirim API: the whole rotation, and a
//! rerun after an interruption at each step. The receiver's metrics are a stand-in here; the
//! rotation against a real receiver is in `operator_rotate_receiver.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod operator_support;

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use kirim_test_support::fake_kirim::{FakeKirim, Fault, FaultRule};
use operator_support::{command, metrics_stub, run, scratch_dir, spawn};

fn state_text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn secret_posts(kirim: &FakeKirim) -> Vec<Option<String>> {
    kirim
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/secrets"))
        .map(|r| r.idempotency_key)
        .collect()
}

#[test]
fn the_whole_rotation_mints_once_prints_the_exact_value_and_deletes_the_old_secret() {
    let kirim = FakeKirim::start();
    let dir = scratch_dir("rotate");
    let sub = kirim.seed_subscription("https://example.com/h", &["contact.created"]);
    let old = sub.secrets[0].clone();
    let state = dir.join("state.json");
    let done = run(
        &kirim,
        &dir,
        &[
            "rotate",
            &sub.id,
            "--yes",
            "--current-secrets",
            &old.value,
            "--state-file",
            state.to_str().unwrap(),
        ],
    );
    assert_eq!(done.code, 0, "{done:?}");
    let held = kirim.subscription(&sub.id).unwrap();
    assert_eq!(held.secrets.len(), 1);
    let new = &held.secrets[0];
    assert_ne!(new.id, old.id);
    let lines: Vec<&str> = done
        .stdout
        .lines()
        .filter(|l| l.starts_with("KIRIM_WEBHOOK_SECRETS="))
        .collect();
    assert_eq!(
        lines,
        [
            format!(
                "KIRIM_WEBHOOK_SECRETS={}={},{}={}",
                new.id, new.value, old.id, old.value
            ),
            format!("KIRIM_WEBHOOK_SECRETS={}={}", new.id, new.value),
        ]
    );
    // The printed value is what a receiver reads.
    let parsed =
        kirim_verify::Secret::parse_list(lines[0].trim_start_matches("KIRIM_WEBHOOK_SECRETS="))
            .unwrap();
    assert_eq!(parsed[0].label(), Some(new.id.as_str()));
    assert!(
        done.stdout
            .contains(&format!("step 4/5: deleted secret {}", old.id))
    );
    assert!(done.stdout.contains(&format!(
        "step 5/5: on the next deploy, remove {} from the receiver",
        old.id
    )));
    assert!(!state.exists(), "the state file is removed once done");
    assert_eq!(secret_posts(&kirim).len(), 1);
}

#[test]
fn the_old_secret_is_deleted_only_after_the_metrics_count_the_new_one() {
    let kirim = FakeKirim::start();
    let dir = scratch_dir("rotate-metrics");
    let sub = kirim.seed_subscription("https://example.com/h", &["contact.created"]);
    let metrics = metrics_stub();
    let args = [
        "rotate",
        &sub.id,
        "--confirm-metrics",
        &metrics.url,
        "--confirm-timeout",
        "400ms",
        "--poll-interval",
        "50ms",
    ];
    // Nothing verified with the new secret yet: a failed check, nothing deleted.
    let waiting = run(&kirim, &dir, &args);
    assert_eq!(waiting.code, 1, "{waiting:?}");
    assert!(
        waiting.stderr.contains("not seen verifying"),
        "{}",
        waiting.stderr
    );
    let held = kirim.subscription(&sub.id).unwrap();
    assert_eq!(held.secrets.len(), 2);
    let new = held.secrets[1].clone();
    let state = dir.join(format!("kirim-rotate-{}.json", sub.id));
    let text = state_text(&state);
    assert!(text.contains("\"step\": \"minted\""), "{text}");
    assert!(
        !text.contains("whsec_"),
        "the state file holds no secret: {text}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&state).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    // The old secret's label counting is not enough.
    *metrics.label.lock().unwrap() = sub.secrets[0].id.clone();
    metrics.count.store(9, Ordering::SeqCst);
    let still = run(&kirim, &dir, &args);
    assert_eq!(still.code, 1);
    assert_eq!(kirim.subscription(&sub.id).unwrap().secrets.len(), 2);

    *metrics.label.lock().unwrap() = new.id.clone();
    metrics.count.store(2, Ordering::SeqCst);
    let done = run(&kirim, &dir, &args);
    assert_eq!(done.code, 0, "{done:?}");
    assert!(done.stdout.contains(&format!(
        "confirmed: the receiver verified 2 delivery(ies) with {}",
        new.id
    )));
    let held = kirim.subscription(&sub.id).unwrap();
    assert_eq!(held.secrets.len(), 1);
    assert_eq!(
        held.secrets[0].id, new.id,
        "the same new secret, not a second one"
    );
    let keys = secret_posts(&kirim);
    assert_eq!(keys.len(), 3);
    assert!(
        keys.iter().all(|k| *k == keys[0]),
        "one idempotency key for the whole rotation"
    );
    assert!(!state.exists());
}

#[test]
fn an_interruption_during_step_1_continues_with_the_secret_it_minted() {
    let kirim = FakeKirim::start();
    let dir = scratch_dir("rotate-step1");
    let sub = kirim.seed_subscription("https://example.com/h", &["contact.created"]);
    kirim.inject(FaultRule::new(
        "POST",
        "/secrets",
        Fault::StallAfterApply(Duration::from_secs(30)),
    ));
    let running = spawn(command(&kirim, &dir, &["rotate", &sub.id, "--yes"]));
    let started = Instant::now();
    while secret_posts(&kirim).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "step 1 was never sent"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    running.kill();
    let held = kirim.subscription(&sub.id).unwrap();
    assert_eq!(
        held.secrets.len(),
        2,
        "Kirim applied step 1 before the interruption"
    );
    let minted = held.secrets[1].id.clone();
    let state = dir.join(format!("kirim-rotate-{}.json", sub.id));
    assert!(state_text(&state).contains("\"step\": \"minting\""));

    let done = run(&kirim, &dir, &["rotate", &sub.id, "--yes"]);
    assert_eq!(done.code, 0, "{done:?}");
    assert!(done.stdout.contains("continuing the rotation"));
    let held = kirim.subscription(&sub.id).unwrap();
    assert_eq!(held.secrets.len(), 1);
    assert_eq!(held.secrets[0].id, minted);
    let keys = secret_posts(&kirim);
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0], keys[1]);
}

#[test]
fn an_interruption_while_waiting_for_the_deploy_continues_without_minting_again() {
    let kirim = FakeKirim::start();
    let dir = scratch_dir("rotate-step2");
    let sub = kirim.seed_subscription("https://example.com/h", &["contact.created"]);
    let metrics = metrics_stub();
    let args = [
        "rotate",
        &sub.id,
        "--confirm-metrics",
        &metrics.url,
        "--poll-interval",
        "50ms",
    ];
    let mut running = spawn(command(&kirim, &dir, &args));
    let line = running.wait_line("KIRIM_WEBHOOK_SECRETS=", Duration::from_secs(10));
    running.wait_line("step 3/5: waiting", Duration::from_secs(10));
    running.kill();
    let held = kirim.subscription(&sub.id).unwrap();
    assert_eq!(held.secrets.len(), 2);
    let new = held.secrets[1].clone();
    assert!(
        line.starts_with(&format!(
            "KIRIM_WEBHOOK_SECRETS={}={},{}=<",
            new.id, new.value, sub.secrets[0].id
        )),
        "{line}"
    );

    *metrics.label.lock().unwrap() = new.id.clone();
    metrics.count.store(1, Ordering::SeqCst);
    let done = run(&kirim, &dir, &args);
    assert_eq!(done.code, 0, "{done:?}");
    let held = kirim.subscription(&sub.id).unwrap();
    assert_eq!(
        held.secrets
            .iter()
            .map(|s| s.id.as_str())
            .collect::<Vec<_>>(),
        [new.id.as_str()]
    );
    assert_eq!(secret_posts(&kirim).len(), 2);
}

#[test]
fn a_failed_deletion_is_finished_by_the_rerun() {
    let kirim = FakeKirim::start();
    let dir = scratch_dir("rotate-step4");
    let sub = kirim.seed_subscription("https://example.com/h", &["contact.created"]);
    kirim.inject(FaultRule::new("DELETE", "", Fault::Unauthorized));
    let failed = run(&kirim, &dir, &["rotate", &sub.id, "--yes"]);
    assert_eq!(failed.code, 3, "{failed:?}");
    assert!(failed.stderr.contains("authentication_error"));
    assert!(
        failed
            .stdout
            .contains("run the same command again to continue")
    );
    let state = dir.join(format!("kirim-rotate-{}.json", sub.id));
    assert!(state_text(&state).contains("\"step\": \"confirmed\""));
    assert_eq!(kirim.subscription(&sub.id).unwrap().secrets.len(), 2);

    let done = run(&kirim, &dir, &["rotate", &sub.id, "--yes"]);
    assert_eq!(done.code, 0, "{done:?}");
    assert!(done.stdout.contains("step 3/5: already confirmed"));
    let held = kirim.subscription(&sub.id).unwrap();
    assert_eq!(held.secrets.len(), 1);
    assert_ne!(held.secrets[0].id, sub.secrets[0].id);
    assert!(!state.exists());
}

#[test]
fn an_interruption_after_the_deletion_finishes_without_deleting_again() {
    let kirim = FakeKirim::start();
    let dir = scratch_dir("rotate-step5");
    let sub = kirim.seed_subscription("https://example.com/h", &["contact.created"]);
    kirim.inject(FaultRule::new("DELETE", "", Fault::Unauthorized));
    assert_eq!(run(&kirim, &dir, &["rotate", &sub.id, "--yes"]).code, 3);
    // The old secret went by hand before the rerun (or the interrupted run deleted it just
    // before it could record so).
    let old = &sub.secrets[0].id;
    assert_eq!(
        run(&kirim, &dir, &["secrets", "delete", &sub.id, old, "--yes"]).code,
        0
    );
    let done = run(&kirim, &dir, &["rotate", &sub.id, "--yes"]);
    assert_eq!(done.code, 0, "{done:?}");
    assert!(!done.stdout.contains("step 4/5: deleted"));
    assert!(done.stdout.contains("step 5/5"));
    let deletes = kirim
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .count();
    assert_eq!(
        deletes, 2,
        "the failed one and the manual one, none by the rerun"
    );
    assert_eq!(kirim.subscription(&sub.id).unwrap().secrets.len(), 1);
    assert!(!dir.join(format!("kirim-rotate-{}.json", sub.id)).exists());
}

#[test]
fn off_a_terminal_without_metrics_or_yes_nothing_is_deleted() {
    let kirim = FakeKirim::start();
    let dir = scratch_dir("rotate-noconfirm");
    let sub = kirim.seed_subscription("https://example.com/h", &["contact.created"]);
    let refused = run(&kirim, &dir, &["rotate", &sub.id]);
    assert_eq!(refused.code, 5, "{refused:?}");
    assert!(
        refused
            .stderr
            .contains("pass --confirm-metrics URL or --yes")
    );
    assert_eq!(kirim.subscription(&sub.id).unwrap().secrets.len(), 2);

    let other = kirim.seed_subscription("https://example.com/o", &["contact.created"]);
    let state = dir.join(format!("kirim-rotate-{}.json", sub.id));
    let wrong = run(
        &kirim,
        &dir,
        &[
            "rotate",
            &other.id,
            "--yes",
            "--state-file",
            state.to_str().unwrap(),
        ],
    );
    assert_eq!(wrong.code, 5);
    assert!(wrong.stderr.contains("is for"));
    assert_eq!(kirim.subscription(&other.id).unwrap().secrets.len(), 1);
}

#[test]
fn with_a_secret_file_and_json_the_secret_is_never_printed() {
    let kirim = FakeKirim::start();
    let dir = scratch_dir("rotate-json");
    let sub = kirim.seed_subscription("https://example.com/h", &["contact.created"]);
    let file = dir.join("new.secret");
    let done = run(
        &kirim,
        &dir,
        &[
            "--json",
            "rotate",
            &sub.id,
            "--yes",
            "--secret-file",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(done.code, 0, "{done:?}");
    let held = kirim.subscription(&sub.id).unwrap();
    let new = &held.secrets[0];
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), new.value);
    assert!(!done.stdout.contains(&new.value) && !done.stderr.contains(&new.value));
    assert!(done.stderr.contains(&format!(
        "KIRIM_WEBHOOK_SECRETS={}=$(cat {})",
        new.id,
        file.display()
    )));
    let doc = done.json();
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["finished"], true);
    assert_eq!(doc["new_secret_id"], new.id.as_str());
    assert_eq!(doc["deleted"][0], sub.secrets[0].id.as_str());
    assert_eq!(
        doc["steps_done"],
        serde_json::json!(["mint", "confirm", "delete", "finish"])
    );
}
