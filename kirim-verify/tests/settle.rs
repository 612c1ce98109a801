//! The two claims of a guarded delivery (its signed message and its event) are settled by
//! concurrent calls, so that a network store answers both in one round trip. The store here
//! holds every `complete` until two are in flight: settled one after the other, the first
//! would wait forever.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

#[path = "support/signed.rs"]
mod signed;

use kirim_verify::flow::Outcome;
use kirim_verify::store::{Claim, ClaimToken, DedupKey, DedupStore, Settled, StoreError};
use kirim_verify::{MemoryStore, Receiver};
use tokio::sync::Barrier;

const SECRET: &str = "whsec_settle_tests";
const NOW: u64 = 1_716_480_000;

/// The in-memory store, with each `complete` held at a barrier of two.
struct Paired {
    inner: MemoryStore,
    barrier: Arc<Barrier>,
}

impl DedupStore for Paired {
    fn claim(
        &self,
        key: &DedupKey,
        token: &ClaimToken,
        lease: Duration,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send {
        self.inner.claim(key, token, lease)
    }

    async fn complete(
        &self,
        key: &DedupKey,
        token: &ClaimToken,
        retention: Duration,
    ) -> Result<Settled, StoreError> {
        self.barrier.wait().await;
        self.inner.complete(key, token, retention).await
    }

    fn release(
        &self,
        key: &DedupKey,
        token: &ClaimToken,
    ) -> impl Future<Output = Result<Settled, StoreError>> + Send {
        self.inner.release(key, token)
    }
}

#[tokio::test]
async fn both_claims_are_completed_by_concurrent_calls() {
    let receiver = Receiver::from_secrets(SECRET).unwrap().with_dedup(Paired {
        inner: MemoryStore::new(),
        barrier: Arc::new(Barrier::new(2)),
    });
    let body = br#"{"id":"evt_settle_1","type":"contact.created"}"#;
    let webhook = signed::webhook(
        &receiver,
        SECRET,
        NOW,
        ("contact.created", "evt_settle_1"),
        body,
    );
    let processed = receiver.process(&webhook, || async { true }, |ok| *ok);
    let outcome = tokio::time::timeout(Duration::from_secs(5), processed)
        .await
        .expect("the two completes were not in flight together");
    assert!(matches!(outcome, Outcome::Handled(true)));
    // Both were applied: the event is done, and so is its signed message.
    let again = receiver
        .process(&webhook, || async { true }, |ok| *ok)
        .await;
    assert!(matches!(again, Outcome::Duplicate));
}
