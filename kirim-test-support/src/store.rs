//! The conformance suite every [`DedupStore`] passes, written once.
//!
//! Each case is a generic async function taking the store under test. Every case makes its own
//! unique keys, so the cases can run concurrently and several suites can share one server. Run
//! them all with [`run_all`], or generate one `#[tokio::test]` per case with
//! [`dedup_store_conformance!`](crate::dedup_store_conformance).
//!
//! The cases check the store contract (claim, complete, release, leases, retention, stale
//! tokens, concurrency) and the receiving flow built on it ([`Receiver::process`](kirim_verify::Receiver::process)): the replay guard and the default key strategy.
//!
//! Cases panic on a failed check, as tests do.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use kirim_verify::flow::Outcome;
use kirim_verify::flow::names;
use kirim_verify::store::{Claim, ClaimToken, DedupKey, DedupStore, Settled};
use kirim_verify::{Dedup, Receiver, Secret, Signer, Verifier, Webhook};

/// The short lease the timing cases use: long enough that the check right after a claim sees
/// it on a loaded machine, short enough to wait out.
pub const SHORT: Duration = Duration::from_secs(1);

/// A lease that does not run out during a case.
pub const LONG: Duration = Duration::from_secs(30);

/// How long past [`SHORT`] the timing cases wait, so that expiry has surely happened.
const MARGIN: Duration = Duration::from_millis(300);

/// How many claims [`concurrent_claims_acquire_once`] races.
pub const CONCURRENT_CLAIMS: usize = 64;

/// The secret the flow cases sign with.
const SECRET: &str = "whsec_store_conformance";

/// The secret being rotated out, in the rotation case.
const OLD_SECRET: &str = "whsec_store_conformance_old";

static NEXT_PREFIX: AtomicU64 = AtomicU64::new(0);

/// A key prefix no other case, suite or test process uses: `t:<case>:<pid>.<n>.<nanos>:`.
#[must_use]
pub fn unique_prefix(case: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "t:{case}:{}.{}.{nanos}:",
        std::process::id(),
        NEXT_PREFIX.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh event key for `case`.
#[must_use]
pub fn unique_key(case: &str) -> DedupKey {
    DedupKey::new(
        &unique_prefix(case),
        "evt",
        "evt_01HXYZABCDEFGHJKMNPQRSTVW1",
    )
}

/// One boxed case, as [`cases`] lists them.
pub type Case<S> = fn(S) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// Every case by name, for [`run_all`]: the same list as
/// [`dedup_store_conformance!`](crate::dedup_store_conformance)'s, from one place.
#[must_use]
pub fn cases<S: DedupStore + Clone>() -> Vec<(&'static str, Case<S>)> {
    macro_rules! boxed {
        ($($case:ident),* $(,)?) => {
            vec![$((
                stringify!($case),
                (|store: S| -> Pin<Box<dyn Future<Output = ()> + Send>> {
                    Box::pin(async move { $case(&store).await })
                }) as Case<S>,
            )),*]
        };
    }
    crate::__store_cases!([boxed] [])
}

/// Runs every case concurrently on `store`, each on its own task.
///
/// # Panics
///
/// When a case fails, naming it.
pub async fn run_all<S: DedupStore + Clone>(store: S) {
    let running: Vec<_> = cases::<S>()
        .into_iter()
        .map(|(name, case)| (name, tokio::spawn(case(store.clone()))))
        .collect();
    let mut failures = Vec::new();
    for (name, task) in running {
        if let Err(error) = task.await {
            failures.push(format!("{name}: {}", panic_message(error)));
        }
    }
    assert!(
        failures.is_empty(),
        "conformance cases failed:\n{}",
        failures.join("\n")
    );
}

fn panic_message(error: tokio::task::JoinError) -> String {
    match error.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| String::from("panicked")),
        Err(error) => error.to_string(),
    }
}

/// Calls `$callback!($args… case, case, …)` with every conformance case: the one list of them.
#[doc(hidden)]
#[macro_export]
macro_rules! __store_cases {
    ([$($callback:tt)+] [$($args:tt)*]) => {
        $($callback)+! {$($args)*
        first_claim_acquires,
        second_claim_is_in_progress,
        completed_key_is_done,
        released_key_is_free_again,
        stale_token_changes_nothing,
        expired_lease_frees_the_key,
        expired_retention_frees_the_key,
        late_complete_after_reclaim_is_stale,
        concurrent_claims_acquire_once,
        replayed_signature_is_a_duplicate,
        replay_with_fewer_signatures_is_a_duplicate,
        failed_handler_releases_both_claims,
        status_callbacks_are_distinct_events,
        }
    };
}

/// Generates one `#[tokio::test]` per conformance case, in a module named `$module`.
/// `$store` is an expression (evaluated in each test, inside the runtime, so it may `.await`)
/// giving a `DedupStore + Clone`, e.g. `Arc::new(MemoryStore::new())`.
///
/// ```
/// use std::sync::Arc;
/// use kirim_verify::MemoryStore;
///
/// kirim_test_support::dedup_store_conformance!(memory_store, Arc::new(MemoryStore::new()));
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! dedup_store_conformance {
    ($module:ident, $store:expr) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;

            $crate::__store_cases!([$crate::dedup_store_conformance] [@cases $store;]);
        }
    };
    (@cases $store:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let store = $store;
                $crate::store::$case(&store).await;
            }
        )*
    };
}

async fn acquire<S: DedupStore>(store: &S, key: &DedupKey, lease: Duration) -> ClaimToken {
    match store.claim(key, lease).await.expect("claim") {
        Claim::Acquired(token) => token,
        other => panic!("a free key must be acquired, got {other:?}"),
    }
}

async fn assert_in_progress<S: DedupStore>(store: &S, key: &DedupKey) -> Duration {
    match store.claim(key, LONG).await.expect("claim") {
        Claim::InProgress { retry_after } => retry_after,
        other => panic!("a held key must be in progress, got {other:?}"),
    }
}

/// A first claim of a free key acquires it.
pub async fn first_claim_acquires<S: DedupStore>(store: &S) {
    let key = unique_key("first");
    acquire(store, &key, LONG).await;
}

/// A second claim of a held key is in progress, with a `retry_after` no longer than the lease
/// and close to it.
pub async fn second_claim_is_in_progress<S: DedupStore>(store: &S) {
    let key = unique_key("second");
    acquire(store, &key, LONG).await;
    let retry_after = assert_in_progress(store, &key).await;
    assert!(
        retry_after <= LONG && retry_after > LONG - Duration::from_secs(5),
        "retry_after {retry_after:?} is not the lease left of {LONG:?}"
    );
}

/// After `complete`, a claim answers done, and keeps answering done.
pub async fn completed_key_is_done<S: DedupStore>(store: &S) {
    let key = unique_key("done");
    let token = acquire(store, &key, LONG).await;
    assert_eq!(
        store.complete(&key, &token, LONG).await.expect("complete"),
        Settled::Applied
    );
    for _ in 0..2 {
        assert_eq!(store.claim(&key, LONG).await.expect("claim"), Claim::Done);
    }
    // The holder cannot settle twice.
    assert_eq!(
        store.release(&key, &token).await.expect("release"),
        Settled::Stale
    );
    assert_eq!(store.claim(&key, LONG).await.expect("claim"), Claim::Done);
}

/// After `release`, the key can be acquired again, under a new token.
pub async fn released_key_is_free_again<S: DedupStore>(store: &S) {
    let key = unique_key("release");
    let first = acquire(store, &key, LONG).await;
    assert_eq!(
        store.release(&key, &first).await.expect("release"),
        Settled::Applied
    );
    let second = acquire(store, &key, LONG).await;
    assert_ne!(first, second, "a new claim needs a new token");
}

/// A token that does not hold the key can neither complete nor release it, and the state stays
/// as it was.
pub async fn stale_token_changes_nothing<S: DedupStore>(store: &S) {
    let key = unique_key("stale");
    let other = unique_key("stale-other");
    let holder = acquire(store, &key, LONG).await;
    let stranger = acquire(store, &other, LONG).await;
    assert_eq!(
        store
            .complete(&key, &stranger, LONG)
            .await
            .expect("complete"),
        Settled::Stale
    );
    assert_eq!(
        store.release(&key, &stranger).await.expect("release"),
        Settled::Stale
    );
    assert_in_progress(store, &key).await;
    // On an absent key too.
    let absent = unique_key("stale-absent");
    assert_eq!(
        store
            .complete(&absent, &holder, LONG)
            .await
            .expect("complete"),
        Settled::Stale
    );
    assert_eq!(
        store.release(&absent, &holder).await.expect("release"),
        Settled::Stale
    );
    acquire(store, &absent, LONG).await;
    // And on a done key: it stays done.
    assert_eq!(
        store.complete(&key, &holder, LONG).await.expect("complete"),
        Settled::Applied
    );
    assert_eq!(
        store
            .complete(&key, &stranger, LONG)
            .await
            .expect("complete"),
        Settled::Stale
    );
    assert_eq!(
        store.release(&key, &stranger).await.expect("release"),
        Settled::Stale
    );
    assert_eq!(store.claim(&key, LONG).await.expect("claim"), Claim::Done);
}

/// A claim whose lease ran out (a crashed worker) frees the key.
pub async fn expired_lease_frees_the_key<S: DedupStore>(store: &S) {
    let key = unique_key("lease");
    acquire(store, &key, SHORT).await;
    let retry_after = assert_in_progress(store, &key).await;
    assert!(
        retry_after <= SHORT,
        "retry_after {retry_after:?} beyond the lease"
    );
    tokio::time::sleep(SHORT + MARGIN).await;
    acquire(store, &key, LONG).await;
}

/// A done key is forgotten after its retention.
pub async fn expired_retention_frees_the_key<S: DedupStore>(store: &S) {
    let key = unique_key("retention");
    let token = acquire(store, &key, LONG).await;
    assert_eq!(
        store.complete(&key, &token, SHORT).await.expect("complete"),
        Settled::Applied
    );
    assert_eq!(store.claim(&key, LONG).await.expect("claim"), Claim::Done);
    tokio::time::sleep(SHORT + MARGIN).await;
    acquire(store, &key, LONG).await;
}

/// A worker whose lease ran out and whose key another worker took cannot complete (or release)
/// it: the new claim stays intact.
pub async fn late_complete_after_reclaim_is_stale<S: DedupStore>(store: &S) {
    let key = unique_key("reclaim");
    let slow = acquire(store, &key, SHORT).await;
    tokio::time::sleep(SHORT + MARGIN).await;
    let fresh = acquire(store, &key, LONG).await;
    assert_ne!(slow, fresh);
    assert_eq!(
        store.complete(&key, &slow, LONG).await.expect("complete"),
        Settled::Stale
    );
    assert_eq!(
        store.release(&key, &slow).await.expect("release"),
        Settled::Stale
    );
    assert_in_progress(store, &key).await;
    assert_eq!(
        store.complete(&key, &fresh, LONG).await.expect("complete"),
        Settled::Applied
    );
    assert_eq!(store.claim(&key, LONG).await.expect("claim"), Claim::Done);
}

/// [`CONCURRENT_CLAIMS`] concurrent claims of one key: exactly one acquires, the others are
/// in progress.
pub async fn concurrent_claims_acquire_once<S: DedupStore + Clone>(store: &S) {
    let key = unique_key("race");
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(CONCURRENT_CLAIMS));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENT_CLAIMS {
        let (store, key, barrier) = (store.clone(), key.clone(), barrier.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            store.claim(&key, LONG).await.expect("claim")
        });
    }
    let (mut acquired, mut in_progress) = (0, 0);
    while let Some(claim) = tasks.join_next().await {
        match claim.expect("claim task") {
            Claim::Acquired(_) => acquired += 1,
            Claim::InProgress { .. } => in_progress += 1,
            Claim::Done => panic!("nobody completed the key"),
            other => panic!("unexpected claim {other:?}"),
        }
    }
    assert_eq!(
        (acquired, in_progress),
        (1, CONCURRENT_CLAIMS - 1),
        "exactly one of {CONCURRENT_CLAIMS} concurrent claims must acquire"
    );
}

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
