//! `kirim-webhooks deliveries …` as a process against the fake Kirim API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod operator_support;

use std::collections::HashSet;

use kirim_test_support::fake_kirim::{DeliverySeed, FakeKirim};
use operator_support::{run, scratch_dir};

#[test]
fn list_shows_a_table_filtered_and_limited() {
    let kirim = FakeKirim::start();
    let dir = scratch_dir("list");
    let sub = kirim.seed_subscription("https://example.com/h", &["contact.created"]);
    let dead = kirim.seed_deliveries(&sub.id, &DeliverySeed::dead(130));
    kirim.seed_deliveries(&sub.id, &DeliverySeed::dead(5).with_status("delivered"));
    let listed = run(
        &kirim,
        &dir,
        &[
            "deliveries",
            "list",
            &sub.id,
            "--status",
            "dead",
            "--limit",
            "120",
        ],
    );
    assert_eq!(listed.code, 0, "{listed:?}");
    let lines: Vec<&str> = listed.stdout.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["ID", "EVENT", "STATUS", "ATTEMPTS", "LAST", "CODE"]
    );
    assert_eq!(lines.len(), 121);
    // Newest first.
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        [dead[129].as_str(), "contact.created", "dead", "8", "500"]
    );
    assert!(lines[1..].iter().all(|l| l.contains(" dead ")));

    let json = run(
        &kirim,
        &dir,
        &["--json", "deliveries", "list", &sub.id, "--limit", "500"],
    );
    assert_eq!(json.json()["deliveries"].as_array().unwrap().len(), 135);
}

#[test]
fn replay_one_then_replay_dead_through_the_cap() {
    let kirim = FakeKirim::start();
    let dir = scratch_dir("replay");
    let sub = kirim.seed_subscription("https://example.com/h", &["contact.created"]);
    let start = 1_790_000_000;
    let dead = kirim.seed_deliveries(&sub.id, &DeliverySeed::dead(2300).starting_at_unix(start));
    kirim.seed_deliveries(
        &sub.id,
        &DeliverySeed::dead(40)
            .with_event_type("message.status")
            .starting_at_unix(start),
    );

    let one = run(&kirim, &dir, &["deliveries", "replay", &dead[0]]);
    assert_eq!(one.code, 0, "{one:?}");
    assert!(
        one.stdout
            .starts_with(&format!("replaying {}: new delivery wbd_", dead[0]))
    );

    // Created at start+100 ..= start+2249: 2150 deliveries, three capped requests.
    let bulk = run(
        &kirim,
        &dir,
        &[
            "--json",
            "deliveries",
            "replay-dead",
            &sub.id,
            "--since",
            "2026-09-21T14:14:59Z",
            "--until",
            "2026-09-21T14:50:50Z",
            "--event-type",
            "contact.created",
        ],
    );
    assert_eq!(bulk.code, 0, "{bulk:?}");
    assert!(
        bulk.stderr.is_empty(),
        "no progress bar on a pipe: {}",
        bulk.stderr
    );
    let doc = bulk.json();
    assert_eq!(
        (doc["enqueued"].as_u64(), doc["requests"].as_u64()),
        (Some(2150), Some(3))
    );
    let replayed: Vec<String> = kirim
        .deliveries(&sub.id)
        .into_iter()
        .filter_map(|d| d.replayed_from)
        .collect();
    assert_eq!(replayed.len(), 2151);
    let bulk_set: HashSet<&String> = replayed[1..].iter().collect();
    assert_eq!(bulk_set, dead[100..2250].iter().collect::<HashSet<_>>());

    let human = run(
        &kirim,
        &dir,
        &[
            "deliveries",
            "replay-dead",
            &sub.id,
            "--event-type",
            "message.status",
        ],
    );
    assert_eq!(human.code, 0);
    assert!(
        human
            .stdout
            .starts_with("queued 40 replays of dead deliveries"),
        "{}",
        human.stdout
    );
}
