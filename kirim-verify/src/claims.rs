//! The claims a delivery takes in the dedup store before its handler runs, and how they are
//! settled from the handler's outcome.

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::fmt;
use core::future::{Future, poll_fn};
use core::pin::{Pin, pin};
use core::task::Poll;
use core::time::Duration;

use crate::dedup::{Dedup, StoreFailure};
use crate::dedup_store::{Claim, ClaimToken, Settled, SharedStore, StoreError};
use crate::key::DedupKey;
use crate::rejection::{Rejection, SourceChain};
use crate::webhook::Webhook;

/// Whether to run the handler.
#[derive(Debug)]
#[must_use = "a ticket must be settled, or its claims wait for their lease to expire"]
// Returned once per request and matched at once: boxing the ticket would cost an allocation
// per request to save a move of a couple of hundred bytes.
#[allow(clippy::large_enum_variant)]
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
    spawner: Option<&Spawner>,
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
    let replay = dedup.replay_guard.then(|| Guard {
        key: DedupKey::from_digest(&dedup.prefix, "sig", &webhook.replay_fingerprint()),
        webhook,
    });
    let mut ticket = Ticket {
        store: Some(dedup.store.clone()),
        event: None,
        replay: None,
        retention: dedup.retention,
        replay_retention,
        spawner: spawner.cloned(),
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
            // Give back whatever was taken before the failure, the claim whose answer was lost
            // included; the store is failing, so this is best effort and the leases bound the
            // damage.
            ticket.release_after_failure().await;
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

/// The replay guard's key for one delivery, and the delivery, asked whether its event id is
/// bound to the signed body only when the signed message was seen before (then that does not
/// make it a duplicate): parsing the body is left to the rare case.
struct Guard<'w> {
    key: DedupKey,
    webhook: &'w Webhook,
}

/// Claims the signed message (if guarded), then the event, recording acquired claims in
/// `ticket`. `Ok(None)` means process; `Ok(Some(..))` is the final answer.
async fn claim_both(
    dedup: &Dedup,
    ticket: &mut Ticket,
    event_key: DedupKey,
    replay: Option<Guard<'_>>,
) -> Result<Option<Result<Admission, Rejection>>, StoreError> {
    if let Some(Guard { key, webhook }) = replay {
        match claim_into(dedup, key, &mut ticket.replay).await? {
            Claim::Acquired => {}
            // An event id bound to the signed body is authenticated: the event key alone tells
            // events apart, so two genuine events with the same bytes and `t` are not taken for
            // a replay. Its signed message is still remembered, so a resend under an unbound id
            // is one.
            Claim::Done | Claim::InProgress { .. } if webhook.event_id_is_bound() => {}
            Claim::Done => return Ok(Some(Ok(Admission::Duplicate))),
            Claim::InProgress { retry_after } => {
                return Ok(Some(Err(Rejection::InProgress { retry_after })));
            }
        }
    }
    match claim_into(dedup, event_key, &mut ticket.event).await? {
        Claim::Acquired => Ok(None),
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

/// Claims `key` under a fresh token, chosen before the call. The claim goes into `slot` when
/// acquired, and also when the call failed: its answer may have been lost after the store
/// applied it, so the failure path releases it with the same token instead of leaving the
/// event to its lease.
async fn claim_into(
    dedup: &Dedup,
    key: DedupKey,
    slot: &mut Option<(DedupKey, ClaimToken)>,
) -> Result<Claim, StoreError> {
    let token = ClaimToken::generate()?;
    let claim = dedup.store.claim(&key, &token, dedup.lease).await;
    if matches!(claim, Ok(Claim::Acquired) | Err(_)) {
        *slot = Some((key, token));
    }
    claim
}

/// The claims a delivery holds while its handler runs. Settled with the handler's outcome:
/// success marks the event done; failure releases it, so Kirim's retry is processed.
///
/// A ticket dropped without being settled (the request was cancelled mid-handler: the client
/// went away, the server shut down) hands the release of its claims to the [`Spawner`], when
/// the adapter gave one, so Kirim's retry is processed at once; without one, or when the
/// release fails, they expire after the lease. Nothing is marked done either way.
#[must_use = "settle the ticket with the handler's outcome"]
pub(crate) struct Ticket {
    store: Option<SharedStore>,
    event: Option<(DedupKey, ClaimToken)>,
    replay: Option<(DedupKey, ClaimToken)>,
    retention: Duration,
    replay_retention: Duration,
    spawner: Option<Spawner>,
}

/// A task the adapter's runtime runs to completion: the release of a dropped request's claims.
pub type Task = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// How a request dropped mid-handler gives its claims back: the adapter's way of running a
/// [`Task`] on its runtime (the core has none). See
/// [`Receiver::with_spawner`](crate::Receiver::with_spawner).
#[derive(Clone)]
pub(crate) struct Spawner(pub(crate) Arc<dyn Fn(Task) + Send + Sync>);

impl fmt::Debug for Spawner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Spawner(..)")
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let claims = [self.event.take(), self.replay.take()];
        if claims.iter().all(Option::is_none) {
            return;
        }
        let (Some(store), Some(spawner)) = (self.store.take(), self.spawner.take()) else {
            return;
        };
        (spawner.0)(Box::pin(async move {
            for (key, token) in claims.into_iter().flatten() {
                match store.settle(&key, &token, None).await {
                    Ok(_) => tracing::debug!(
                        key = %key,
                        "request dropped mid-handler; its dedup claim was released for the retry"
                    ),
                    Err(error) => {
                        crate::metrics::store_failure();
                        tracing::warn!(
                            key = %key,
                            error = %error,
                            source = %SourceChain(&error),
                            "request dropped mid-handler; releasing its dedup claim failed, its \
                             lease will expire"
                        );
                    }
                }
            }
        }));
    }
}

impl Ticket {
    fn unguarded() -> Self {
        Self {
            store: None,
            event: None,
            replay: None,
            retention: Duration::ZERO,
            replay_retention: Duration::ZERO,
            spawner: None,
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
        self.settle_all(succeeded, true).await;
    }

    /// Releases every claim after a store failure. A claim whose call failed may never have
    /// landed, so a stale release is expected and not worth a warning.
    async fn release_after_failure(&mut self) {
        self.settle_all(false, false).await;
    }

    async fn settle_all(&mut self, succeeded: bool, warn_stale: bool) {
        let Some(store) = self.store.take() else {
            return;
        };
        let claims = [
            (self.event.take(), self.retention),
            (self.replay.take(), self.replay_retention),
        ];
        // Both calls go out at once: over a network store, one round trip for the two instead
        // of one each.
        let [event, replay] = claims.each_ref().map(|(claim, retention)| {
            claim
                .as_ref()
                .map(|(key, token)| store.settle(key, token, succeeded.then_some(*retention)))
        });
        let (mut event, mut replay) = (pin!(event), pin!(replay));
        let mut results = [None, None];
        poll_fn(|cx| {
            let mut pending = false;
            let calls = [event.as_mut(), replay.as_mut()];
            for (mut call, result) in calls.into_iter().zip(&mut results) {
                let Some(future) = call.as_mut().as_pin_mut() else {
                    continue;
                };
                match future.poll(cx) {
                    Poll::Ready(answer) => {
                        *result = Some(answer);
                        call.set(None);
                    }
                    Poll::Pending => pending = true,
                }
            }
            if pending {
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
        .await;
        for ((claim, _), result) in claims.iter().zip(results) {
            let (Some((key, _)), Some(result)) = (claim, result) else {
                continue;
            };
            match result {
                Ok(Settled::Applied) => {}
                Ok(_) if !warn_stale => {}
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
