//! Typed events: every example body parses as its type, with the fields handlers branch on;
//! a known type whose body changed is an error naming the type and the path; an unknown type
//! never fails; and no input panics the parser (generated bodies, and example bodies with one
//! value replaced).
//!
//! Failing generated cases are saved in `kirim-verify/proptest-regressions/event.txt`.
#![cfg(feature = "serde")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use kirim_verify::event::Status;
use kirim_verify::{Event, EventError, Receiver, Secret, Signer, Verifier};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::Value;

/// The example bodies, with their event type.
const EXAMPLES: [(&str, &[u8]); 8] = [
    (
        "message.received",
        include_bytes!("../../kirim-cli/events/message.received.json"),
    ),
    (
        "message.status",
        include_bytes!("../../kirim-cli/events/message.status.sent.json"),
    ),
    (
        "message.status",
        include_bytes!("../../kirim-cli/events/message.status.delivered.json"),
    ),
    (
        "message.created",
        include_bytes!("../../kirim-cli/events/message.created.json"),
    ),
    (
        "conversation.assigned",
        include_bytes!("../../kirim-cli/events/conversation.assigned.json"),
    ),
    (
        "conversation.closed",
        include_bytes!("../../kirim-cli/events/conversation.closed.json"),
    ),
    (
        "contact.created",
        include_bytes!("../../kirim-cli/events/contact.created.json"),
    ),
    (
        "contact.updated",
        include_bytes!("../../kirim-cli/events/contact.updated.json"),
    ),
];

/// `body` delivered as `event_type`, signed and verified as a receiver would, then parsed: the
/// only way to an `Event` is through a verified `Webhook`.
fn parse(event_type: &str, body: &[u8]) -> Result<Event, EventError> {
    let secret = Secret::new("whsec_event_test").unwrap();
    let receiver = Receiver::new(Verifier::new([secret.clone()]).unwrap());
    let now = 1_716_480_000;
    let signature = Signer::new([secret]).unwrap().sign(now, body);
    let headers = |name: &'static str| match name {
        "x-kirim-signature" => Some(signature.as_bytes()),
        "x-kirim-event" => Some(event_type.as_bytes()),
        "x-kirim-event-id" => Some(&b"evt_01HXYZABCDEFGHJKMNPQRSTVW1"[..]),
        _ => None,
    };
    let mut intake = receiver.begin(headers, None, now).unwrap();
    intake.push(Bytes::copy_from_slice(body)).unwrap();
    intake.finish(now).unwrap().event()
}

#[test]
fn every_example_body_parses_as_its_type() {
    for (event_type, body) in EXAMPLES {
        let event = parse(event_type, body).unwrap_or_else(|e| panic!("{event_type}: {e}"));
        assert_eq!(event.event_type(), event_type);
        assert!(!matches!(event, Event::Unknown { .. }), "{event_type}");
    }
}

#[test]
fn the_fields_handlers_branch_on_are_there_and_the_rest_is_kept() {
    let Ok(Event::MessageReceived(payload)) = parse(EXAMPLES[0].0, EXAMPLES[0].1) else {
        panic!("message.received")
    };
    let message = payload.messages().next().unwrap();
    assert_eq!(
        (message.from.as_str(), message.kind.as_str()),
        ("628111111111", "text")
    );
    assert_eq!(
        message.text.as_ref().unwrap().body,
        "Halo, mau tanya soal pesanan"
    );
    let contact = &payload.changes().next().unwrap().contacts[0];
    assert_eq!(contact.wa_id, "628111111111");

    let statuses: Vec<_> = [EXAMPLES[1], EXAMPLES[2]]
        .into_iter()
        .map(|(event_type, body)| match parse(event_type, body) {
            Ok(Event::MessageStatus(payload)) => payload.statuses().next().unwrap().clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(statuses[0].status, Status::Sent);
    assert_eq!(statuses[1].status, Status::Delivered);
    assert_eq!(statuses[0].id, statuses[1].id, "one message, one wamid");
    // Fields the struct does not name (Meta's pricing) are kept.
    assert_eq!(statuses[0].rest["pricing"]["category"], "service");

    let Ok(Event::ContactUpdated(updated)) = parse(EXAMPLES[7].0, EXAMPLES[7].1) else {
        panic!("contact.updated")
    };
    assert_eq!(updated.id, "evt_01HXYZABCDEFGHJKMNPQRSTVW2");
    assert_eq!(updated.livemode, Some(true));
    assert_eq!(updated.data.changed_fields, ["name", "email", "metadata"]);
    assert_eq!(
        updated.data.contact.email.as_deref(),
        Some("john@example.com")
    );
    assert_eq!(updated.data.contact.rest["object"], "contact");

    let Ok(Event::ConversationAssigned(assigned)) = parse(EXAMPLES[4].0, EXAMPLES[4].1) else {
        panic!("conversation.assigned")
    };
    // No `livemode` in this example: absent, not an error.
    assert_eq!(assigned.livemode, None);
    assert_eq!(
        assigned.data.assignee.unwrap().user_id.as_deref(),
        Some("usr_…")
    );

    let Ok(Event::ConversationClosed(closed)) = parse(EXAMPLES[5].0, EXAMPLES[5].1) else {
        panic!("conversation.closed")
    };
    assert_eq!(closed.data.conversation.status.as_deref(), Some("resolved"));
}

/// A number kept in an untyped field comes back as the same number when the event is written
/// out as JSON and read again: a long literal is parsed to the nearest float, not one that is
/// a bit off (found by the `event` fuzz target: 131026222… with 63 digits read back one ulp
/// away).
#[test]
fn a_long_number_in_a_kept_field_survives_a_round_trip() {
    let digits = format!("13102622{}", "2".repeat(55));
    let body = String::from_utf8(EXAMPLES[1].1.to_vec()).unwrap().replacen(
        "\"sent\"",
        &format!("\"sent\",\"n\":{digits}"),
        1,
    );
    let Ok(Event::MessageStatus(payload)) = parse("message.status", body.as_bytes()) else {
        panic!("a message.status body")
    };
    let kept = payload.statuses().next().unwrap().rest["n"].as_f64();
    assert_eq!(
        kept,
        Some(digits.parse::<f64>().unwrap()),
        "the nearest float"
    );
    let written = serde_json::to_vec(&payload).unwrap();
    let Ok(Event::MessageStatus(again)) = parse("message.status", &written) else {
        panic!("its own JSON parses again")
    };
    assert_eq!(again, payload);
}

#[test]
fn an_unknown_status_is_kept_as_sent() {
    let body = String::from_utf8(EXAMPLES[1].1.to_vec())
        .unwrap()
        .replace("\"sent\"", "\"deleted\"");
    let Ok(Event::MessageStatus(payload)) = parse("message.status", body.as_bytes()) else {
        panic!()
    };
    let status = &payload.statuses().next().unwrap().status;
    assert_eq!(status, &Status::Other(String::from("deleted")));
    assert_eq!(status.as_str(), "deleted");
}

#[test]
fn a_known_type_whose_body_changed_names_the_type_and_the_path() {
    let body = String::from_utf8(EXAMPLES[1].1.to_vec())
        .unwrap()
        .replace("\"status\": \"sent\"", "\"status\": 3");
    let error = parse("message.status", body.as_bytes()).unwrap_err();
    assert!(matches!(error, EventError::Mismatch { .. }), "{error:?}");
    assert_eq!(error.event_type(), "message.status");
    assert_eq!(error.path(), "entry[0].changes[0].value.statuses[0].status");
    // The message names where, never what the body said.
    let message = error.to_string();
    assert!(
        message.starts_with("message.status body does not match its type at entry[0]"),
        "{message}"
    );

    // A Kirim body under a Meta type is an error, not a silent `Unknown`.
    let error = parse("message.received", EXAMPLES[6].1).unwrap_err();
    assert_eq!(error.path(), "object", "{error}");
}

#[test]
fn an_unknown_type_is_never_an_error() {
    for body in [&b""[..], b"\xff\xfe", b"[1,2", EXAMPLES[0].1] {
        let event = parse("message.reaction", body).unwrap();
        let Event::Unknown {
            event_type,
            body: kept,
        } = event
        else {
            panic!()
        };
        assert_eq!(
            (event_type.as_str(), kept.as_ref()),
            ("message.reaction", body)
        );
    }
}

#[test]
fn the_type_comes_from_the_delivery_not_the_body() {
    // A contact.created body delivered as contact.updated parses as contact.updated (its
    // `data` has what contact.updated needs): the header decides, never a guess at the shape.
    let event = parse("contact.updated", EXAMPLES[6].1).unwrap();
    assert_eq!(event.event_type(), "contact.updated");
    // And as conversation.closed it does not match: an error, not a fallback.
    let error = parse("conversation.closed", EXAMPLES[6].1).unwrap_err();
    assert_eq!(error.path(), "data.conversation", "{error}");
}

fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/proptest-regressions/event.txt"
        )))),
        cases: 512,
        ..ProptestConfig::default()
    }
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Replaces the `n`th value (in a walk of the document) with `with`.
fn replace_nth(value: &mut Value, n: &mut usize, with: &Value) -> bool {
    if *n == 0 {
        *value = with.clone();
        return true;
    }
    *n -= 1;
    match value {
        Value::Array(items) => items.iter_mut().any(|item| replace_nth(item, n, with)),
        Value::Object(map) => map.values_mut().any(|item| replace_nth(item, n, with)),
        _ => false,
    }
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary bytes under every known type: an event or an error naming that type.
    #[test]
    fn arbitrary_bytes_never_panic(
        index in 0..Event::KNOWN_TYPES.len(),
        body in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let event_type = Event::KNOWN_TYPES[index];
        match parse(event_type, &body) {
            Ok(event) => prop_assert_eq!(event.event_type(), event_type),
            Err(error) => prop_assert_eq!(error.event_type(), event_type),
        }
    }

    /// An example body with one value replaced by any JSON: parses, or fails with a path.
    #[test]
    fn mutated_examples_never_panic(
        example in 0..EXAMPLES.len(),
        position in 0usize..64,
        with in json_value(),
    ) {
        let (event_type, body) = EXAMPLES[example];
        let mut document: Value = serde_json::from_slice(body).unwrap();
        let mut n = position;
        replace_nth(&mut document, &mut n, &with);
        let bytes = serde_json::to_vec(&document).unwrap();
        match parse(event_type, &bytes) {
            Ok(event) => prop_assert_eq!(event.event_type(), event_type),
            Err(error) => {
                prop_assert!(matches!(error, EventError::Mismatch { .. }), "{:?}", error);
                prop_assert!(!error.path().is_empty());
            }
        }
    }
}
