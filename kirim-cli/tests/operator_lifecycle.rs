//! The whole lifecycle from the command line, as the README shows it: create, rotate, pause,
//! resume, list dead deliveries, replay them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod operator_support;

use kirim_test_support::fake_kirim::{DeliverySeed, FakeKirim};
use operator_support::{run, scratch_dir};

#[test]
fn create_rotate_pause_resume_list_and_replay() {
    let kirim = FakeKirim::start();
    let dir = scratch_dir("lifecycle");
    let created = run(
        &kirim,
        &dir,
        &[
            "--json",
            "subscriptions",
            "create",
            "--url",
            "https://example.com/webhooks/kirim",
            "--events",
            "contact.created",
        ],
    );
    assert_eq!(created.code, 0, "{created:?}");
    let doc = created.json();
    let id = doc["subscription"]["id"].as_str().unwrap().to_owned();
    let first = doc["initial_secret"].as_str().unwrap().to_owned();
    assert_eq!(kirim.subscription(&id).unwrap().secrets[0].value, first);

    let rotated = run(
        &kirim,
        &dir,
        &["rotate", &id, "--yes", "--current-secrets", &first],
    );
    assert_eq!(rotated.code, 0, "{rotated:?}");
    let held = kirim.subscription(&id).unwrap();
    assert_eq!(held.secrets.len(), 1);
    assert_ne!(held.secrets[0].value, first);

    assert_eq!(run(&kirim, &dir, &["subscriptions", "pause", &id]).code, 0);
    assert_eq!(kirim.subscription(&id).unwrap().status, "paused");
    assert_eq!(run(&kirim, &dir, &["subscriptions", "resume", &id]).code, 0);
    assert_eq!(kirim.subscription(&id).unwrap().status, "active");

    // The endpoint was down for a while: Kirim gave up on these.
    let dead = kirim.seed_deliveries(&id, &DeliverySeed::dead(12));
    let listed = run(
        &kirim,
        &dir,
        &["deliveries", "list", &id, "--status", "dead"],
    );
    assert_eq!(listed.code, 0);
    assert_eq!(listed.stdout.lines().count(), 13);
    assert!(dead.iter().all(|d| listed.stdout.contains(d.as_str())));
    let replayed = run(&kirim, &dir, &["deliveries", "replay-dead", &id]);
    assert_eq!(replayed.code, 0, "{replayed:?}");
    assert!(
        replayed.stdout.starts_with("queued 12 replays"),
        "{}",
        replayed.stdout
    );
    let pending = kirim
        .deliveries(&id)
        .into_iter()
        .filter(|d| d.status == "pending" && d.replayed_from.is_some())
        .count();
    assert_eq!(pending, 12);
}
