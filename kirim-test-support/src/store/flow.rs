//! The receiving flow's cases on a store: the replay guard, a failed handler, the default key
//! strategy, through `Receiver::process`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use kirim_verify::flow::{Outcome, names};
use kirim_verify::store::{Claim, ClaimToken, DedupKey, DedupStore, Settled, StoreError};
use kirim_verify::{Dedup, Receiver, Rejection, Secret, Signer, Verifier, Webhook};

use super::{OLD_SECRET, SECRET, unique_prefix};

/// A receiver deduplicating on `store` under a fresh prefix.
fn receiver<S: DedupStore + Clone>(store: &S, case: &str) -> Receiver {
    receiver_with(store, &unique_prefix(case), &[SECRET])
}

/// A receiver with these secrets, deduplicating on `store` under `prefix`.
fn receiver_with<S: DedupStore + Clone>(store: &S, prefix: &str, secrets: &[&str]) -> Receiver {
    let secrets = secrets.iter().map(|s| Secret::new(*s).expect("secret"));
    Receiver::new(Verifier::new(secrets).expect("verifier"))
        .with_dedup(Dedup::new(store.clone()).with_key_prefix(prefix))
}

fn signer() -> Signer {
    signer_with(&[SECRET])
}

fn signer_with(secrets: &[&str]) -> Signer {
    Signer::new(secrets.iter().map(|s| Secret::new(*s).expect("secret"))).expect("signer")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Verifies one request (its headers and body) the way an adapter does.
fn verify(receiver: &Receiver, headers: &[(&str, &str)], body: &[u8], now: u64) -> Webhook {
    let get = |name: &'static str| {
        headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_bytes())
    };
    let mut intake = receiver.begin(get, None, now).expect("headers verify");
    for chunk in body.chunks(7) {
        intake
            .push(Bytes::copy_from_slice(chunk))
            .expect("within the limit");
    }
    intake.finish(now).expect("signature verifies")
}

/// One request through the whole flow: verify, then `Receiver::process` with a handler that
/// succeeds or fails as told. The outcome says whether the handler ran.
#[allow(clippy::too_many_arguments)]
async fn deliver(
    receiver: &Receiver,
    signature: &str,
    event: &str,
    event_id: &str,
    body: &[u8],
    now: u64,
    succeeds: bool,
) -> Outcome<bool> {
    let source = if event.starts_with("message.") {
        "meta"
    } else {
        "kirim"
    };
    let headers = [
        (names::SIGNATURE, signature),
        (names::EVENT, event),
        (names::EVENT_ID, event_id),
        (names::SOURCE, source),
    ];
    let webhook = verify(receiver, &headers, body, now);
    receiver
        .process(&webhook, || async move { succeeds }, |succeeded| *succeeded)
        .await
}

fn expect_handled(outcome: Outcome<bool>, what: &str) {
    match outcome {
        Outcome::Handled(_) => {}
        other => panic!("{what}: expected the handler to run, got {other:?}"),
    }
}

fn expect_duplicate(outcome: Outcome<bool>, what: &str) {
    assert!(
        matches!(outcome, Outcome::Duplicate),
        "{what}: expected a duplicate, got {outcome:?}"
    );
}

/// The replay guard: once a signature was accepted, a second request carrying it is a
/// duplicate, even under another (unsigned) `X-Kirim-Event-Id`.
pub async fn replayed_signature_is_a_duplicate<S: DedupStore + Clone>(store: &S) {
    let receiver = receiver(store, "replay");
    let now = now();
    let body = br#"{"id":"evt_01HXYZREPLAY0000000000000A","type":"contact.created","data":{}}"#;
    let signature = signer().sign(now, body);
    let id = "evt_01HXYZREPLAY0000000000000A";
    expect_handled(
        deliver(
            &receiver,
            &signature,
            "contact.created",
            id,
            body,
            now,
            true,
        )
        .await,
        "first delivery",
    );
    expect_duplicate(
        deliver(
            &receiver,
            &signature,
            "contact.created",
            id,
            body,
            now,
            true,
        )
        .await,
        "same delivery again",
    );
    expect_duplicate(
        deliver(
            &receiver,
            &signature,
            "contact.created",
            "evt_01HXYZFORGEDID000000000000",
            body,
            now,
            true,
        )
        .await,
        "captured signature under another event id",
    );
}

/// During a secret rotation Kirim signs with both secrets. A captured delivery resent with only
/// one of its two `v1` entries, under another event id, is still the same signed message: a
/// duplicate, on the receiver that accepted it and on one already configured with the new
/// secret alone.
pub async fn replay_with_fewer_signatures_is_a_duplicate<S: DedupStore + Clone>(store: &S) {
    let prefix = unique_prefix("rotation");
    let rotating = receiver_with(store, &prefix, &[OLD_SECRET, SECRET]);
    let rolled_out = receiver_with(store, &prefix, &[SECRET]);
    let now = now();
    let id = "evt_01HXYZROTATION00000000000A";
    let body = br#"{"id":"evt_01HXYZROTATION00000000000A","type":"contact.created","data":{}}"#;
    let both = signer_with(&[OLD_SECRET, SECRET]).sign(now, body);
    expect_handled(
        deliver(&rotating, &both, "contact.created", id, body, now, true).await,
        "first delivery, signed with both secrets",
    );
    let forged_id = "evt_01HXYZFORGEDROTATION00000A";
    for (receiver, header, what) in [
        (
            &rotating,
            signer_with(&[SECRET]).sign(now, body),
            "new v1 only",
        ),
        (
            &rotating,
            signer_with(&[OLD_SECRET]).sign(now, body),
            "old v1 only",
        ),
        (
            &rolled_out,
            both.clone(),
            "both v1, on a receiver with the new secret only",
        ),
        (
            &rolled_out,
            signer_with(&[SECRET]).sign(now, body),
            "new v1 only, same receiver",
        ),
    ] {
        expect_duplicate(
            deliver(
                receiver,
                &header,
                "contact.created",
                forged_id,
                body,
                now,
                true,
            )
            .await,
            what,
        );
    }
}

/// A failed handler releases the event and the signature: a resend of the very same bytes is
/// processed, nothing is lost. Its success then makes the next resend a duplicate.
pub async fn failed_handler_releases_both_claims<S: DedupStore + Clone>(store: &S) {
    let receiver = receiver(store, "failure");
    let now = now();
    let id = "evt_01HXYZFAILURE000000000000A";
    let body = br#"{"id":"evt_01HXYZFAILURE000000000000A","type":"contact.updated","data":{}}"#;
    let signature = signer().sign(now, body);
    expect_handled(
        deliver(
            &receiver,
            &signature,
            "contact.updated",
            id,
            body,
            now,
            false,
        )
        .await,
        "first delivery",
    );
    expect_handled(
        deliver(
            &receiver,
            &signature,
            "contact.updated",
            id,
            body,
            now,
            true,
        )
        .await,
        "resend after a failed handler",
    );
    expect_duplicate(
        deliver(
            &receiver,
            &signature,
            "contact.updated",
            id,
            body,
            now,
            true,
        )
        .await,
        "resend after success",
    );
}

/// The default key strategy: two `message.status` callbacks sharing the message's id are
/// distinct events; Kirim's retry of one of them (same bytes, re-signed with a later `t`) is a
/// duplicate.
pub async fn status_callbacks_are_distinct_events<S: DedupStore + Clone>(store: &S) {
    let receiver = receiver(store, "status");
    let now = now();
    let wamid = "wamid.HBgNNjI4MTIzNDU2Nzg5FQIAERgSQUJDREVGMDEyMzQ1Njc4OQA";
    let status = |s: &str| {
        format!(
            r#"{{"object":"whatsapp_business_account","entry":[{{"changes":[{{"value":{{"statuses":[{{"id":"{wamid}","status":"{s}"}}]}}}}]}}]}}"#
        )
    };
    let (sent, delivered) = (status("sent"), status("delivered"));
    let signer = signer();
    for body in [&sent, &delivered] {
        let signature = signer.sign(now, body.as_bytes());
        expect_handled(
            deliver(
                &receiver,
                &signature,
                "message.status",
                wamid,
                body.as_bytes(),
                now,
                true,
            )
            .await,
            "a new status of the message",
        );
    }
    let retry_at = now + 10;
    let retry = signer.sign(retry_at, delivered.as_bytes());
    expect_duplicate(
        deliver(
            &receiver,
            &retry,
            "message.status",
            wamid,
            delivered.as_bytes(),
            retry_at,
            true,
        )
        .await,
        "Kirim's retry of the delivered callback",
    );
}

/// The flow over a store whose answer to the first claim is lost (the store applied it, the
/// caller saw a timeout): the delivery is refused (503, Kirim retries), and the claim is
/// released with its token, so Kirim's next retry is processed at once, not after the lease.
pub async fn lost_claim_answer_does_not_hold_the_retry<S: DedupStore + Clone>(store: &S) {
    let prefix = unique_prefix("lost-answer");
    let losing = LosesFirstClaimAnswer {
        store: store.clone(),
        lost: std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
    };
    let receiver = receiver_with(&losing, &prefix, &[SECRET]);
    let now = now();
    let id = "evt_01HXYZLOSTANSWER0000000000A";
    let body = br#"{"id":"evt_01HXYZLOSTANSWER0000000000A","type":"contact.created","data":{}}"#;
    let signature = signer().sign(now, body);
    let outcome = deliver(
        &receiver,
        &signature,
        "contact.created",
        id,
        body,
        now,
        true,
    )
    .await;
    assert!(
        matches!(outcome, Outcome::Refused(Rejection::Store(_))),
        "a lost claim answer is a store failure, got {outcome:?}"
    );
    assert!(losing.lost.load(Ordering::SeqCst), "the answer was lost");
    // Kirim's retry: re-signed a second later, the same event.
    let retry_at = now + 1;
    let retry = signer().sign(retry_at, body);
    expect_handled(
        deliver(
            &receiver,
            &retry,
            "contact.created",
            id,
            body,
            retry_at,
            true,
        )
        .await,
        "Kirim's retry after the lost answer",
    );
}

/// A real store whose first claim is applied but answered as a timeout, as when the reply is
/// lost on the way back.
#[derive(Clone)]
struct LosesFirstClaimAnswer<S> {
    store: S,
    lost: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl<S: DedupStore + Clone> DedupStore for LosesFirstClaimAnswer<S> {
    async fn claim(
        &self,
        key: &DedupKey,
        token: &ClaimToken,
        lease: Duration,
    ) -> Result<Claim, StoreError> {
        let claim = self.store.claim(key, token, lease).await?;
        if self.lost.swap(true, Ordering::SeqCst) {
            Ok(claim)
        } else {
            Err(StoreError::Timeout(Duration::from_secs(1)))
        }
    }

    async fn complete(
        &self,
        key: &DedupKey,
        token: &ClaimToken,
        retention: Duration,
    ) -> Result<Settled, StoreError> {
        self.store.complete(key, token, retention).await
    }

    async fn release(&self, key: &DedupKey, token: &ClaimToken) -> Result<Settled, StoreError> {
        self.store.release(key, token).await
    }
}
