//! `kirim-webhooks secrets …` as a process against the fake Kirim API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod operator_support;

use kirim_test_support::fake_kirim::FakeKirim;
use operator_support::{run, scratch_dir};

#[test]
fn add_prints_the_new_secret_once_and_delete_needs_yes_off_a_terminal() {
    let kirim = FakeKirim::start();
    let dir = scratch_dir("secrets");
    let sub = kirim.seed_subscription("https://example.com/h", &["contact.created"]);
    let added = run(
        &kirim,
        &dir,
        &["secrets", "add", &sub.id, "--expires-in-hours", "48"],
    );
    assert_eq!(added.code, 0, "{added:?}");
    let held = kirim.subscription(&sub.id).unwrap();
    assert_eq!(held.secrets.len(), 2);
    let new = &held.secrets[1];
    assert!(new.expires_at.is_some());
    assert!(added.stdout.contains(&format!("added secret {}", new.id)));
    assert_eq!(added.stdout.matches(&new.value).count(), 1);

    let old = &sub.secrets[0].id;
    let refused = run(&kirim, &dir, &["secrets", "delete", &sub.id, old]);
    assert_eq!(refused.code, 5, "{refused:?}");
    assert!(refused.stderr.contains("pass --yes"));
    assert_eq!(
        kirim.subscription(&sub.id).unwrap().secrets.len(),
        2,
        "nothing deleted"
    );

    let deleted = run(
        &kirim,
        &dir,
        &["--json", "secrets", "delete", &sub.id, old, "--yes"],
    );
    assert_eq!(deleted.code, 0, "{deleted:?}");
    assert_eq!(deleted.json()["deleted"], true);
    let held = kirim.subscription(&sub.id).unwrap();
    assert_eq!(held.secrets.len(), 1);
    assert_eq!(held.secrets[0].id, new.id);
}

#[test]
fn add_can_write_the_secret_to_a_private_file() {
    let kirim = FakeKirim::start();
    let dir = scratch_dir("secrets-file");
    let sub = kirim.seed_subscription("https://example.com/h", &["contact.created"]);
    let file = dir.join("new.secret");
    std::fs::write(&file, "stale").unwrap();
    let added = run(
        &kirim,
        &dir,
        &[
            "--json",
            "secrets",
            "add",
            &sub.id,
            "--secret-file",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(added.code, 0, "{added:?}");
    let new = kirim.subscription(&sub.id).unwrap().secrets[1].clone();
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), new.value);
    assert!(!added.stdout.contains(&new.value));
    assert_eq!(added.json()["secret"]["id"], new.id.as_str());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
