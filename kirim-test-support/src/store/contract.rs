//! The store contract's cases: claim, complete, release, leases, retention, stale tokens,
//! concurrency.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use kirim_verify::store::{Claim, ClaimToken, DedupKey, DedupStore, Settled};

use super::{CONCURRENT_CLAIMS, LONG, MARGIN, SHORT, unique_key};

async fn acquire<S: DedupStore>(store: &S, key: &DedupKey, lease: Duration) -> ClaimToken {
    let token = token();
    match store.claim(key, &token, lease).await.expect("claim") {
        Claim::Acquired => token,
        other => panic!("a free key must be acquired, got {other:?}"),
    }
}

/// A fresh token, as the flow makes one for every claim.
fn token() -> ClaimToken {
    ClaimToken::generate().expect("claim token")
}

/// A claim under a fresh token.
async fn claim<S: DedupStore>(store: &S, key: &DedupKey, lease: Duration) -> Claim {
    store.claim(key, &token(), lease).await.expect("claim")
}

async fn assert_in_progress<S: DedupStore>(store: &S, key: &DedupKey) -> Duration {
    match claim(store, key, LONG).await {
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
        assert_eq!(claim(store, &key, LONG).await, Claim::Done);
    }
    // The holder cannot settle twice.
    assert_eq!(
        store.release(&key, &token).await.expect("release"),
        Settled::Stale
    );
    assert_eq!(claim(store, &key, LONG).await, Claim::Done);
}

/// After `release`, the key can be acquired again, under a new token; the old one no longer
/// holds it.
pub async fn released_key_is_free_again<S: DedupStore>(store: &S) {
    let key = unique_key("release");
    let first = acquire(store, &key, LONG).await;
    assert_eq!(
        store.release(&key, &first).await.expect("release"),
        Settled::Applied
    );
    let second = acquire(store, &key, LONG).await;
    assert_ne!(first, second, "a new claim needs a new token");
    assert_eq!(
        store.release(&key, &first).await.expect("release"),
        Settled::Stale
    );
    assert_in_progress(store, &key).await;
}

/// A claim whose answer was lost: the caller chose the token, so it releases the claim with it
/// and the key is free at once, not after the lease. A release that arrives before its claim
/// (the claim still on its way) changes nothing, and the claim then holds the key.
pub async fn late_claim_is_released_with_its_own_token<S: DedupStore>(store: &S) {
    let key = unique_key("lost-reply");
    let lost = token();
    // The store applied the claim; the caller never saw the answer.
    let _unseen = store.claim(&key, &lost, LONG).await.expect("claim");
    assert_eq!(
        store.release(&key, &lost).await.expect("release"),
        Settled::Applied
    );
    acquire(store, &key, LONG).await;

    let early = unique_key("lost-reply-early");
    let late = token();
    assert_eq!(
        store.release(&early, &late).await.expect("release"),
        Settled::Stale
    );
    assert_eq!(
        store.claim(&early, &late, LONG).await.expect("claim"),
        Claim::Acquired
    );
    assert_in_progress(store, &early).await;
    assert_eq!(
        store.complete(&early, &late, LONG).await.expect("complete"),
        Settled::Applied
    );
    assert_eq!(claim(store, &early, LONG).await, Claim::Done);
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
    assert_eq!(claim(store, &key, LONG).await, Claim::Done);
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
    assert_eq!(claim(store, &key, LONG).await, Claim::Done);
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
    assert_eq!(claim(store, &key, LONG).await, Claim::Done);
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
            claim(&store, &key, LONG).await
        });
    }
    let (mut acquired, mut in_progress) = (0, 0);
    while let Some(claim) = tasks.join_next().await {
        match claim.expect("claim task") {
            Claim::Acquired => acquired += 1,
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
