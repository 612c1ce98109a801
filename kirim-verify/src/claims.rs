//! The claims a delivery takes in the dedup store before its handler runs, and how they are
//! settled from the handler's outcome.

use alloc::sync::Arc;
use core::fmt;
use core::time::Duration;

use crate::dedup::{Dedup, StoreFailure};
use crate::dedup_store::{Claim, ClaimToken, ErasedStore, Settled, StoreError};
use crate::key::DedupKey;
use crate::rejection::{Rejection, SourceChain};
use crate::webhook::Webhook;

/// Whether to run the handler.
#[derive(Debug)]
#[must_use = "a ticket must be settled, or its claims wait for their lease to expire"]
pub(crate) enum Admission {
    /// First time (or dedup is off, or failing open): run the handler, then settle the ticket.
    Process(Ticket),
    /// Seen before: answer 200 `duplicate` without running the handler.
    Duplicate,
}

/// Claims the delivery in the dedup store. With the replay guard on, the signed message is
/// claimed first: one already accepted is a duplicate whatever the event id header says. Then
/// the event key. Whatever was claimed is carried by the [`Ticket`] and settled together.
///
/// `replay_retention` is how long an accepted signed message is remembered.
pub(crate) async fn admit(
    dedup: Option<&Dedup>,
    replay_retention: Duration,
    webhook: &Webhook,
) -> Result<Admission, Rejection> {
    let Some(dedup) = dedup else {
        return Ok(Admission::Process(Ticket::unguarded()));
    };
    let event_key = DedupKey::new(
        &dedup.prefix,
        "evt",
        &dedup.keys.event_key(webhook.delivery(), webhook.body()),
    );
    let replay = dedup
        .replay_guard
        .then(|| DedupKey::from_digest(&dedup.prefix, "sig", &webhook.replay_fingerprint()));
    let mut ticket = Ticket {
        store: Some(Arc::clone(&dedup.store)),
        event: None,
        replay: None,
        retention: dedup.retention,
        replay_retention,
    };
    match claim_both(dedup, &mut ticket, event_key, replay).await {
        Ok(None) => Ok(Admission::Process(ticket)),
        Ok(Some(Ok(Admission::Duplicate))) => {
            crate::metrics::duplicate();
            let meta = webhook.delivery();
            tracing::debug!(
                event = meta.event(),
                event_id = meta.event_id(),
                attempt = meta.attempt(),
                "kirim webhook is a duplicate; handler not run"
            );
            Ok(Admission::Duplicate)
        }
        Ok(Some(rejection_or_duplicate)) => rejection_or_duplicate,
        Err(error) => {
            crate::metrics::store_failure();
            // Give back whatever was taken before the failure; the store is failing, so this
            // is best effort and the leases bound the damage.
            ticket.settle(false).await;
            match dedup.on_failure {
                StoreFailure::FailClosed => Err(Rejection::Store(error)),
                StoreFailure::FailOpen => {
                    tracing::warn!(
                        error = %error,
                        source = %SourceChain(&error),
                        "dedup store failed; processing without dedup (fail open)"
                    );
                    Ok(Admission::Process(Ticket::unguarded()))
                }
            }
        }
    }
}

/// Claims the signed message (if guarded), then the event, recording acquired claims in
/// `ticket`. `Ok(None)` means process; `Ok(Some(..))` is the final answer.
async fn claim_both(
    dedup: &Dedup,
    ticket: &mut Ticket,
    event_key: DedupKey,
    replay: Option<DedupKey>,
) -> Result<Option<Result<Admission, Rejection>>, StoreError> {
    if let Some(replay) = replay {
        match dedup.store.claim(&replay, dedup.lease).await? {
            Claim::Acquired(token) => ticket.replay = Some((replay, token)),
            Claim::Done => return Ok(Some(Ok(Admission::Duplicate))),
            Claim::InProgress { retry_after } => {
                return Ok(Some(Err(Rejection::InProgress { retry_after })));
            }
        }
    }
    match dedup.store.claim(&event_key, dedup.lease).await? {
        Claim::Acquired(token) => {
            ticket.event = Some((event_key, token));
            Ok(None)
        }
        Claim::Done => {
            // The event is done; remember this signed message as accepted too, so a re-send
            // of it under another event id is also a duplicate.
            ticket.settle(true).await;
            Ok(Some(Ok(Admission::Duplicate)))
        }
        Claim::InProgress { retry_after } => {
            ticket.settle(false).await;
            Ok(Some(Err(Rejection::InProgress { retry_after })))
        }
    }
}

/// The claims a delivery holds while its handler runs. Settled with the handler's outcome:
/// success marks the event done; failure releases it, so Kirim's retry is processed.
///
/// A ticket dropped without being settled (the request was cancelled) leaves its claims to
/// expire after the lease; nothing is marked done.
#[must_use = "settle the ticket with the handler's outcome"]
pub(crate) struct Ticket {
    store: Option<Arc<dyn ErasedStore>>,
    event: Option<(DedupKey, ClaimToken)>,
    replay: Option<(DedupKey, ClaimToken)>,
    retention: Duration,
    replay_retention: Duration,
}

impl Ticket {
    fn unguarded() -> Self {
        Self {
            store: None,
            event: None,
            replay: None,
            retention: Duration::ZERO,
            replay_retention: Duration::ZERO,
        }
    }

    /// Whether this ticket holds dedup claims (false without a store, or when failing open).
    pub(crate) fn is_guarded(&self) -> bool {
        self.event.is_some() || self.replay.is_some()
    }

    /// Settles every claim: `succeeded` completes them (the event for the retention, the
    /// signed message for the replay window), otherwise they are released. Failures are
    /// logged with `tracing`; they never turn a success into an error: a possible duplicate
    /// later beats a lost event.
    pub(crate) async fn settle(&mut self, succeeded: bool) {
        let Some(store) = self.store.take() else {
            return;
        };
        let claims = [
            (self.event.take(), self.retention),
            (self.replay.take(), self.replay_retention),
        ];
        for (claim, retention) in claims {
            let Some((key, token)) = claim else { continue };
            let result = if succeeded {
                store.complete(&key, &token, retention).await
            } else {
                store.release(&key, &token).await
            };
            match result {
                Ok(Settled::Applied) => {}
                Ok(_) => {
                    tracing::warn!(
                        key = %key,
                        "dedup claim expired before the handler finished; raise the lease"
                    );
                }
                Err(error) => {
                    crate::metrics::store_failure();
                    tracing::warn!(
                        key = %key,
                        completing = succeeded,
                        error = %error,
                        source = %SourceChain(&error),
                        "dedup store failed while settling a claim; its lease will expire"
                    );
                }
            }
        }
    }
}

impl fmt::Debug for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ticket")
            .field("event", &self.event.as_ref().map(|(key, _)| key))
            .field("replay", &self.replay.as_ref().map(|(key, _)| key))
            .finish_non_exhaustive()
    }
}
