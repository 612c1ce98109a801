//! The replay guard's edge cases, through the public flow on the in-memory store: a captured
//! delivery resent under another event id is a duplicate; two genuine events that share their
//! bytes and their second (one Meta batch split into an event per message) are both processed,
//! because each event id is bound to the signed body.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/signed.rs"]
mod signed;

use kirim_verify::flow::Outcome;
use kirim_verify::{MemoryStore, Receiver, Webhook};

const SECRET: &str = "whsec_replay_guard_tests";
const NOW: u64 = 1_716_480_000;

fn receiver() -> Receiver {
    Receiver::from_secrets(SECRET)
        .unwrap()
        .with_dedup(MemoryStore::new())
}

fn verify(receiver: &Receiver, event: &str, event_id: &str, body: &[u8]) -> Webhook {
    signed::webhook(receiver, SECRET, NOW, (event, event_id), body)
}

/// Whether the handler ran for this delivery (it succeeds, so the event is then done).
async fn handled(receiver: &Receiver, event: &str, event_id: &str, body: &[u8]) -> bool {
    let webhook = verify(receiver, event, event_id, body);
    match receiver
        .process(&webhook, || async { true }, |ok| *ok)
        .await
    {
        Outcome::Handled(_) => true,
        Outcome::Duplicate => false,
        Outcome::Refused(rejection) => panic!("refused: {rejection}"),
    }
}

const BATCH: &[u8] = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messages":[{"id":"wamid.FIRST","type":"text"},{"id":"wamid.SECOND","type":"text"}]}}]}]}"#;

#[tokio::test]
async fn one_batch_split_into_an_event_per_message_is_processed_for_each() {
    let receiver = receiver();
    assert!(handled(&receiver, "message.received", "wamid.FIRST", BATCH).await);
    assert!(
        handled(&receiver, "message.received", "wamid.SECOND", BATCH).await,
        "the second message of the batch is a genuine event, not a replay"
    );
    // Each is still deduplicated under its own id.
    assert!(!handled(&receiver, "message.received", "wamid.SECOND", BATCH).await);
}

#[tokio::test]
async fn a_capture_resent_under_an_unbound_id_is_a_duplicate() {
    let receiver = receiver();
    assert!(handled(&receiver, "message.received", "wamid.FIRST", BATCH).await);
    assert!(
        !handled(&receiver, "message.received", "wamid.FORGED", BATCH).await,
        "an id that is not a message of the signed body is a replay"
    );

    let envelope = br#"{"id":"evt_01HXYZBOUND0000000000000001","type":"contact.created","data":{"note":"evt_01HXYZMENTIONED000000000001"}}"#;
    assert!(
        handled(
            &receiver,
            "contact.created",
            "evt_01HXYZBOUND0000000000000001",
            envelope
        )
        .await
    );
    assert!(
        !handled(
            &receiver,
            "contact.created",
            "evt_01HXYZMENTIONED000000000001",
            envelope
        )
        .await,
        "an id that merely occurs in the body is not a binding"
    );
    assert!(
        !handled(
            &receiver,
            "contact.created",
            "evt_01HXYZOTHER0000000000000001",
            envelope
        )
        .await
    );
}

#[tokio::test]
async fn bodies_that_bind_nothing_keep_the_guard() {
    let receiver = receiver();
    for (first, second, body) in [
        ("evt_a", "evt_b", &b"not json at all \xff"[..]),
        ("evt_c", "evt_d", &br#"[{"id":"evt_c"}]"#[..]),
        ("evt_e", "evt_f", &br#"{"id":42,"entry":"none"}"#[..]),
    ] {
        assert!(handled(&receiver, "contact.updated", first, body).await);
        assert!(
            !handled(&receiver, "contact.updated", second, body).await,
            "{body:?}"
        );
    }
}

#[tokio::test]
async fn status_callbacks_bound_by_their_status_id() {
    // `message.status_updated` is a status event too: the body digest is part of its key, so a
    // later status of the same wamid is processed, and the retry of one is a duplicate.
    let receiver = receiver();
    let status = |s: &str| {
        format!(
            r#"{{"object":"whatsapp_business_account","entry":[{{"changes":[{{"value":{{"statuses":[{{"id":"wamid.OUT","status":"{s}"}}]}}}}]}}]}}"#
        )
    };
    for name in ["message.status", "message.status_updated"] {
        let receiver = if name == "message.status" {
            receiver.clone()
        } else {
            self::receiver()
        };
        assert!(
            handled(&receiver, name, "wamid.OUT", status("sent").as_bytes()).await,
            "{name}"
        );
        assert!(
            handled(&receiver, name, "wamid.OUT", status("delivered").as_bytes()).await,
            "{name}"
        );
        assert!(
            !handled(&receiver, name, "wamid.OUT", status("delivered").as_bytes()).await,
            "{name}"
        );
    }
}
