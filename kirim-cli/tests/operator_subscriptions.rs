//! `kirim-webhooks subscriptions …` as a process against the fake Kirim API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod operator_support;

use kirim_test_support::fake_kirim::FakeKirim;
use operator_support::{run, scratch_dir};

#[test]
fn create_get_update_pause_resume() {
    let kirim = FakeKirim::start();
    let dir = scratch_dir("subs");
    let created = run(
        &kirim,
        &dir,
        &[
            "subscriptions",
            "create",
            "--url",
            "https://example.com/hook",
            "--events",
            "contact.created,message.status",
            "--description",
            "crm",
        ],
    );
    assert_eq!(created.code, 0, "{created:?}");
    let subs = kirim.subscriptions();
    assert_eq!(subs.len(), 1);
    let sub = &subs[0];
    assert_eq!(sub.events, ["contact.created", "message.status"]);
    assert_eq!(sub.description.as_deref(), Some("crm"));
    assert!(
        created
            .stdout
            .contains(&format!("created subscription {}", sub.id))
    );
    // The initial secret is printed, once.
    assert_eq!(
        created.stdout.matches(&sub.secrets[0].value).count(),
        1,
        "{}",
        created.stdout
    );

    let got = run(&kirim, &dir, &["subscriptions", "get", &sub.id]);
    assert_eq!(got.code, 0);
    assert!(got.stdout.contains(&sub.secrets[0].id));
    assert!(
        !got.stdout.contains(&sub.secrets[0].value),
        "get never shows a secret"
    );

    let updated = run(
        &kirim,
        &dir,
        &[
            "subscriptions",
            "update",
            &sub.id,
            "--events",
            "contact.created",
            "--description",
            "",
        ],
    );
    assert_eq!(updated.code, 0, "{updated:?}");
    assert!(updated.stdout.contains("updated events, description"));
    let held = kirim.subscription(&sub.id).unwrap();
    assert_eq!(held.events, ["contact.created"]);
    assert_eq!(held.description, None);

    let paused = run(&kirim, &dir, &["subscriptions", "pause", &sub.id]);
    assert_eq!(paused.code, 0);
    assert!(paused.stdout.contains("paused"));
    assert_eq!(kirim.subscription(&sub.id).unwrap().status, "paused");
    let resumed = run(
        &kirim,
        &dir,
        &["--json", "subscriptions", "resume", &sub.id],
    );
    assert_eq!(resumed.code, 0);
    let doc = resumed.json();
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["subscription"]["status"], "active");
    assert_eq!(kirim.subscription(&sub.id).unwrap().status, "active");

    let nothing = run(&kirim, &dir, &["subscriptions", "update", &sub.id]);
    assert_eq!(nothing.code, 2);
}

#[test]
fn resume_turns_a_disabled_subscription_back_on() {
    let kirim = FakeKirim::start();
    let dir = scratch_dir("disabled");
    let sub = kirim.seed_subscription("https://example.com/h", &["contact.created"]);
    kirim.disable(&sub.id, "24 consecutive failures");
    let got = run(&kirim, &dir, &["subscriptions", "get", &sub.id]);
    assert!(
        got.stdout.contains("status:      disabled"),
        "{}",
        got.stdout
    );
    assert!(got.stdout.contains("24 consecutive failures"));
    let refused = run(
        &kirim,
        &dir,
        &[
            "subscriptions",
            "update",
            &sub.id,
            "--url",
            "https://example.com/x",
        ],
    );
    assert_eq!(refused.code, 3);
    assert!(refused.stderr.contains("subscription_disabled"));
    let resumed = run(&kirim, &dir, &["subscriptions", "resume", &sub.id]);
    assert_eq!(resumed.code, 0);
    let held = kirim.subscription(&sub.id).unwrap();
    assert_eq!(
        (held.status.as_str(), held.consecutive_failures),
        ("active", 0)
    );
}

#[test]
fn the_initial_secret_can_go_to_a_private_file_instead() {
    let kirim = FakeKirim::start();
    let dir = scratch_dir("secretfile");
    let file = dir.join("initial.secret");
    let created = run(
        &kirim,
        &dir,
        &[
            "--json",
            "subscriptions",
            "create",
            "--url",
            "https://example.com/h",
            "--events",
            "a.b",
            "--secret-file",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(created.code, 0, "{created:?}");
    let sub = &kirim.subscriptions()[0];
    let value = &sub.secrets[0].value;
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), value);
    assert!(!created.stdout.contains(value) && !created.stderr.contains(value));
    assert_eq!(created.json()["secret_file"], file.to_str().unwrap());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
