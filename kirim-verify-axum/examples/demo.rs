//! The receiver, started in this process on a free 127.0.0.1 port with in-memory dedup, and
//! the deliveries Kirim sends (and some it does not), signed as Kirim signs them and sent over
//! HTTP; one line per delivery: what was sent, what came back, and why.
//!
//! ```text
//! cargo run -p kirim-verify-axum --example demo
//! ```
//!
//! Exits 0 only if every answer is the expected one.

#[path = "axum-receiver/app.rs"]
mod app;

use std::error::Error;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kirim_test_support::http::fixtures;
use kirim_verify::flow::bodies;
use kirim_verify::{Dedup, MemoryStore, Receiver, Secret, Signer, Verifier};
use tokio::sync::mpsc;

/// The secret in use before the rotation.
const OLD_SECRET: &str = "whsec_demo_old_MfKQ9r3Y";
/// The secret being rotated in; the receiver already knows it.
const NEW_SECRET: &str = "whsec_demo_new_T7bXc2Lp";

/// One delivery of the demo.
struct Case {
    sent: &'static str,
    event: &'static str,
    event_id: &'static str,
    source: &'static str,
    attempt: u32,
    body: &'static [u8],
    signature: String,
    expected: (u16, &'static str),
    why: &'static str,
}

#[tokio::main]
async fn main() -> Result<ExitCode, Box<dyn Error>> {
    // The receiver lists the new secret first: when both match, the report says `new`.
    let receiver = Receiver::new(Verifier::new(Secret::parse_list(&format!(
        "new={NEW_SECRET},old={OLD_SECRET}"
    ))?)?)
    .with_dedup(Dedup::new(MemoryStore::new()));
    let (queue, mut processed) = mpsc::channel(16);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let router = app::router(Arc::new(receiver), queue);
    tokio::spawn(async move { axum::serve(listener, router).await });

    let kirim = Signer::new([Secret::new(OLD_SECRET)?])?;
    let rotating = Signer::new([Secret::new(OLD_SECRET)?, Secret::new(NEW_SECRET)?])?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let contact = "evt_01HXYZABCDEFGHJKMNPQRSTVW1";
    let cases = [
        Case {
            sent: "contact.created, signed",
            event: "contact.created",
            event_id: contact,
            source: "kirim",
            attempt: 1,
            body: fixtures::CONTACT_CREATED,
            signature: kirim.sign(now, fixtures::CONTACT_CREATED),
            expected: (200, bodies::OK),
            why: "verified, first time: handled",
        },
        Case {
            sent: "the same event, retried",
            event: "contact.created",
            event_id: contact,
            source: "kirim",
            attempt: 2,
            body: fixtures::CONTACT_CREATED,
            // Kirim re-signs every attempt: a fresh timestamp, a fresh signature.
            signature: kirim.sign(now - 1, fixtures::CONTACT_CREATED),
            expected: (200, bodies::DUPLICATE),
            why: "re-signed, attempt 2, same event id: acknowledged, handler not run",
        },
        Case {
            sent: "contact.updated, during a rotation",
            event: "contact.updated",
            event_id: "evt_01HXYZABCDEFGHJKMNPQRSTVW2",
            source: "kirim",
            attempt: 1,
            body: fixtures::CONTACT_UPDATED,
            signature: rotating.sign(now, fixtures::CONTACT_UPDATED),
            expected: (200, bodies::OK),
            why: "two v1 (old and new secret): any match verifies",
        },
        Case {
            sent: "the same delivery, replayed",
            event: "contact.updated",
            // Someone who captured it: the event id header is not signed, so they change it,
            // and they keep only one of its two signatures.
            event_id: "evt_01HXYZREPLAYEDUNDERNEWID0",
            source: "kirim",
            attempt: 1,
            body: fixtures::CONTACT_UPDATED,
            signature: kirim.sign(now, fixtures::CONTACT_UPDATED),
            expected: (200, bodies::DUPLICATE),
            why: "new event id, one v1 dropped: the same signed message, handler not run",
        },
        Case {
            sent: "message.status sent",
            event: "message.status",
            event_id: fixtures::STATUS_WAMID,
            source: "meta",
            attempt: 1,
            body: fixtures::MESSAGE_STATUS_SENT,
            signature: kirim.sign(now, fixtures::MESSAGE_STATUS_SENT),
            expected: (200, bodies::OK),
            why: "Meta callback, keyed on wamid + body digest",
        },
        Case {
            sent: "message.status delivered",
            event: "message.status",
            event_id: fixtures::STATUS_WAMID,
            source: "meta",
            attempt: 1,
            body: fixtures::MESSAGE_STATUS_DELIVERED,
            signature: kirim.sign(now, fixtures::MESSAGE_STATUS_DELIVERED),
            expected: (200, bodies::OK),
            why: "same wamid, new status: not a duplicate",
        },
        Case {
            sent: "conversation.assigned, forged",
            event: "conversation.assigned",
            event_id: "evt_01HXYZABCDEFGHJKMNPQRSTVWX",
            source: "kirim",
            attempt: 1,
            body: fixtures::CONVERSATION_ASSIGNED,
            signature: kirim.forged(now, fixtures::CONVERSATION_ASSIGNED),
            expected: (401, bodies::INVALID_SIGNATURE),
            why: "signed with a secret we do not hold",
        },
        Case {
            sent: "conversation.closed, expired",
            event: "conversation.closed",
            event_id: "evt_01HXYZABCDEFGHJKMNPQRSTVWY",
            source: "kirim",
            attempt: 1,
            body: fixtures::CONVERSATION_CLOSED,
            signature: kirim.expired(now, fixtures::CONVERSATION_CLOSED),
            expected: (401, bodies::INVALID_SIGNATURE),
            why: "signed 360 s ago, over the 300 s tolerance",
        },
    ];

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let url = format!("http://{addr}{}", app::ROUTE);
    println!("receiver on {url}\n");
    println!(
        "{}",
        row(["#", "sent", "expected", "got", "matched", "why"])
    );
    let mut unexpected = 0;
    for (n, case) in (1..).zip(&cases) {
        let response = client
            .post(&url)
            .header("content-type", "application/json")
            .header("user-agent", "Kirim-Webhook/1.0")
            .header("x-kirim-signature", &case.signature)
            .header("x-kirim-event", case.event)
            .header("x-kirim-event-id", case.event_id)
            .header("x-kirim-source", case.source)
            .header("x-kirim-delivery-id", format!("wbd_demo_{n}"))
            .header("x-kirim-attempt", case.attempt.to_string())
            .body(case.body)
            .send()
            .await?;
        let status = response.status().as_u16();
        let body = response.text().await?;
        // What the handler queued for the worker, if anything: which secret verified it.
        let secret = match processed.try_recv() {
            Ok(webhook) => webhook.verified().secret_label().unwrap_or("?").to_owned(),
            Err(_) => String::from("-"),
        };
        let ok = (status, body.as_str()) == case.expected;
        unexpected += usize::from(!ok);
        let expected = format!("{} {}", case.expected.0, case.expected.1);
        let got = format!("{status} {body}");
        let n = n.to_string();
        let mark = if ok { "" } else { "  <-- UNEXPECTED" };
        println!(
            "{}{mark}",
            row([&n, case.sent, &expected, &got, &secret, case.why])
        );
    }
    println!();
    if unexpected == 0 {
        println!("all {} answers as expected", cases.len());
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{unexpected} of {} answers unexpected", cases.len());
        Ok(ExitCode::FAILURE)
    }
}

/// One line of the table.
fn row([n, sent, expected, got, matched, why]: [&str; 6]) -> String {
    format!("{n:<2} {sent:<35} {expected:<22} {got:<22} {matched:<7} {why}")
}
