//! The receiving flow the framework adapters share: limits, verification, dedup claims, and the
//! status each outcome maps to. Framework-free; the adapters add only I/O glue.

use alloc::string::String;
use alloc::sync::Arc;

use bytes::{Bytes, BytesMut};
use core::fmt;
use core::time::Duration;

use crate::dedup::{
    Claim, ClaimToken, DEFAULT_LEASE, DEFAULT_RETENTION, DedupKey, DedupStore, DefaultKeyStrategy,
    ErasedStore, KeyStrategy, Settled, StoreError,
};
use crate::delivery::{Delivery, names};
use crate::error::Error;
use crate::header::decimal;
use crate::rejection::{Rejection, SourceChain};
use crate::verifier::{Verification, Verified, Verifier};
use sha2::{Digest, Sha256};

/// Default limit on a webhook body: 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// Default key prefix in the dedup store.
pub const DEFAULT_KEY_PREFIX: &str = "kirim:";

/// What to do when the dedup store fails or times out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum StoreFailure {
    /// Answer 503, so Kirim retries later. Nothing is processed twice and nothing is lost, as
    /// long as the store comes back within Kirim's ~31 h of retries. The default.
    #[default]
    FailClosed,
    /// Process the delivery without dedup. Nothing is delayed; a retry may then be processed
    /// twice.
    FailOpen,
}

/// Dedup configuration: the store, how keys are made, how long claims and memories last.
///
/// ```
/// use kirim_verify::{Dedup, MemoryStore, StoreFailure};
/// use std::time::Duration;
///
/// let dedup = Dedup::new(MemoryStore::new())
///     .with_retention(Duration::from_secs(30 * 24 * 3600)) // replays of dead deliveries
///     .with_store_failure(StoreFailure::FailClosed);
/// # let _ = dedup;
/// ```
#[derive(Clone)]
pub struct Dedup {
    store: Arc<dyn ErasedStore>,
    keys: Arc<dyn KeyStrategy>,
    prefix: String,
    lease: Duration,
    retention: Duration,
    replay_guard: bool,
    on_failure: StoreFailure,
}

impl Dedup {
    /// Dedup on `store`, with the spec's defaults.
    pub fn new(store: impl DedupStore) -> Self {
        Self {
            store: Arc::new(store),
            keys: Arc::new(DefaultKeyStrategy),
            prefix: String::from(DEFAULT_KEY_PREFIX),
            lease: DEFAULT_LEASE,
            retention: DEFAULT_RETENTION,
            replay_guard: true,
            on_failure: StoreFailure::FailClosed,
        }
    }

    /// How deliveries map to events. Defaults to [`DefaultKeyStrategy`].
    #[must_use]
    pub fn with_key_strategy(mut self, keys: impl KeyStrategy) -> Self {
        self.keys = Arc::new(keys);
        self
    }

    /// Prefix of every key in the store. Defaults to `kirim:`.
    #[must_use]
    pub fn with_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long a claim holds an event before another worker may take it (a crashed worker's
    /// claim expires after this). Longer than your slowest handler. Defaults to 30 s.
    #[must_use]
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// How long a processed event is remembered. Defaults to 7 days (Kirim retries for ~31 h;
    /// raise it to 30 days if you replay dead deliveries that late).
    #[must_use]
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// What to do when the store fails. Defaults to [`StoreFailure::FailClosed`].
    #[must_use]
    pub fn with_store_failure(mut self, policy: StoreFailure) -> Self {
        self.on_failure = policy;
        self
    }

    /// Turns off the replay guard, which otherwise answers `duplicate` to a second request
    /// carrying an already accepted signature, whatever its (unsigned) event id header says.
    /// Without it, a captured delivery can be re-sent within the tolerance under a fresh event
    /// id and be processed again. Defaults to on.
    #[must_use]
    pub fn dangerous_disable_replay_guard(mut self) -> Self {
        self.replay_guard = false;
        self
    }
}

impl fmt::Debug for Dedup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dedup")
            .field("prefix", &self.prefix)
            .field("lease", &self.lease)
            .field("retention", &self.retention)
            .field("replay_guard", &self.replay_guard)
            .field("on_failure", &self.on_failure)
            .finish_non_exhaustive()
    }
}

/// A receiving endpoint's configuration, and the flow every adapter runs:
///
/// 1. [`begin`](Self::begin): refuse a declared `Content-Length` over the limit, parse the
///    signature header and check its timestamp, all before reading the body;
/// 2. [`BodyIntake::push`] each chunk (counted against the limit, hashed as it arrives), then
///    [`BodyIntake::finish`]: a [`Webhook`];
/// 3. [`process`](Self::process): claim the event (and its signature) in the dedup store, run
///    the handler unless it is a duplicate, and settle the claims from its outcome: success
///    completes them, a failure or a panic releases them. ([`admit`](Self::admit) and
///    [`Ticket::settle`] are the same step in two halves, for a caller that runs the handler
///    itself.)
///
/// ```
/// use kirim_verify::{Dedup, MemoryStore, Receiver, Secret, Verifier};
///
/// let receiver = Receiver::new(Verifier::new(Secret::parse_list("whsec_test")?)?)
///     .with_dedup(Dedup::new(MemoryStore::new()))
///     .with_max_body_bytes(256 * 1024);
/// # let _ = receiver;
/// # Ok::<(), kirim_verify::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Receiver {
    verifier: Verifier,
    dedup: Option<Dedup>,
    max_body_bytes: usize,
}

impl Receiver {
    /// A receiver verifying with `verifier`, without dedup, with a 1 MiB body limit.
    #[must_use]
    pub fn new(verifier: Verifier) -> Self {
        Self {
            verifier,
            dedup: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }

    /// Drops duplicate deliveries through `dedup`. Defaults to no dedup.
    #[must_use]
    pub fn with_dedup(mut self, dedup: Dedup) -> Self {
        self.dedup = Some(dedup);
        self
    }

    /// The largest body accepted, in bytes. Defaults to 1 MiB.
    #[must_use]
    pub fn with_max_body_bytes(mut self, limit: usize) -> Self {
        self.max_body_bytes = limit;
        self
    }

    /// The verifier.
    #[must_use]
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// The body limit in bytes.
    #[must_use]
    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    /// Whether a dedup store is configured.
    #[must_use]
    pub fn has_dedup(&self) -> bool {
        self.dedup.is_some()
    }

    /// Step 1: reads the headers through `get` (raw value of a lowercase header name), refuses
    /// a declared `Content-Length` over the limit, parses the signature header and checks its
    /// timestamp against `now` (unix seconds). Nothing of the body is needed yet.
    ///
    /// # Errors
    ///
    /// [`Rejection::TooLarge`]; [`Rejection::Verify`] with a missing or malformed signature
    /// header, or a timestamp outside the tolerance.
    pub fn begin<'h>(
        &self,
        get: impl Fn(&'static str) -> Option<&'h [u8]>,
        now: u64,
    ) -> Result<BodyIntake<'_>, Rejection> {
        let declared = get(CONTENT_LENGTH)
            .and_then(|v| core::str::from_utf8(v).ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let intake_limit = self.max_body_bytes;
        check_declared(declared, intake_limit)?;
        let signature = get(names::SIGNATURE).ok_or(Error::MissingHeader {
            name: names::SIGNATURE,
        })?;
        let verification = self.verifier.start_at(signature, now)?;
        Ok(BodyIntake {
            verification,
            delivery: Delivery::from_lookup(get),
            declared,
            received: 0,
            limit: intake_limit,
            body: Collected::Empty,
        })
    }

    /// [`begin`](Self::begin) with the system clock.
    ///
    /// # Errors
    ///
    /// As [`begin`](Self::begin).
    #[cfg(feature = "std")]
    pub fn begin_now<'h>(
        &self,
        get: impl Fn(&'static str) -> Option<&'h [u8]>,
    ) -> Result<BodyIntake<'_>, Rejection> {
        self.begin(get, crate::unix_now())
    }

    /// Step 3, first half: claims the event in the dedup store. Without a store, always
    /// [`Admission::Process`]. Prefer [`process`](Self::process), which also runs the handler
    /// and settles the claims.
    ///
    /// With the replay guard on, the signature is claimed first: a signature already accepted
    /// is a duplicate whatever the event id header says. Then the event key. Whatever was
    /// claimed is carried by the [`Ticket`] and settled together.
    ///
    /// # Errors
    ///
    /// [`Rejection::InProgress`] when another worker holds the event or the signature;
    /// [`Rejection::Store`] when the store fails and the policy is to fail closed.
    pub async fn admit(&self, webhook: &Webhook) -> Result<Admission, Rejection> {
        let Some(dedup) = &self.dedup else {
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
            replay_retention: self.replay_retention(dedup),
        };
        match self.claim_both(dedup, &mut ticket, event_key, replay).await {
            Ok(None) => Ok(Admission::Process(ticket)),
            Ok(Some(Ok(Admission::Duplicate))) => {
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
                // Give back whatever was taken before the failure; the store is failing, so
                // this is best effort and the leases bound the damage.
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

    /// Claims the signature (if guarded), then the event, recording acquired claims in
    /// `ticket`. `Ok(None)` means process; `Ok(Some(..))` is the final answer.
    async fn claim_both(
        &self,
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
                // The event is done; remember this signature as accepted too, so a re-send of
                // it under another event id is also a duplicate.
                ticket.settle(true).await;
                Ok(Some(Ok(Admission::Duplicate)))
            }
            Claim::InProgress { retry_after } => {
                ticket.settle(false).await;
                Ok(Some(Err(Rejection::InProgress { retry_after })))
            }
        }
    }

    /// How long an accepted signature is remembered: the whole window in which the timestamp
    /// check accepts it (past + future tolerance, twice the tolerance by default); with the
    /// check disabled, as long as events.
    fn replay_retention(&self, dedup: &Dedup) -> Duration {
        match (
            self.verifier.past_tolerance(),
            self.verifier.future_tolerance(),
        ) {
            (Some(past), Some(future)) => past.saturating_add(future),
            _ => dedup.retention,
        }
    }
}

/// Step 2 of the flow: the body as it arrives, counted, hashed and kept (the frames themselves,
/// joined only when there are several). Made by [`Receiver::begin`].
#[derive(Debug)]
pub struct BodyIntake<'r> {
    verification: Verification<'r>,
    delivery: Result<Delivery, Error>,
    declared: Option<u64>,
    received: usize,
    limit: usize,
    body: Collected,
}

impl BodyIntake<'_> {
    /// Counts the next chunk against the body limit, hashes it and keeps it.
    ///
    /// # Errors
    ///
    /// [`Rejection::TooLarge`] once the body exceeds the limit; stop reading then.
    pub fn push(&mut self, chunk: Bytes) -> Result<(), Rejection> {
        self.received = self.received.saturating_add(chunk.len());
        if self.received > self.limit {
            return Err(Rejection::TooLarge {
                limit: Some(self.limit),
            });
        }
        self.verification.update(&chunk);
        let capacity = self
            .declared
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0)
            .min(self.limit);
        self.body.push(chunk, capacity);
        Ok(())
    }

    /// Lowers the body limit to a framework's own, when that is smaller (axum's
    /// `DefaultBodyLimit`, say), and checks the declared `Content-Length` against it.
    ///
    /// # Errors
    ///
    /// [`Rejection::TooLarge`] when the declared length or what was already pushed is over it.
    pub fn within(mut self, framework_limit: usize) -> Result<Self, Rejection> {
        self.limit = self.limit.min(framework_limit);
        check_declared(self.declared, self.limit)?;
        if self.received > self.limit {
            return Err(Rejection::TooLarge {
                limit: Some(self.limit),
            });
        }
        Ok(self)
    }

    /// The body limit in force, in bytes.
    #[must_use]
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Checks the timestamp again against `now`, the time the body ended (a body trickled in
    /// slowly must not outlast the tolerance, nor the replay guard's memory of its signature),
    /// compares the signature and, only once it verified, checks the delivery headers.
    ///
    /// # Errors
    ///
    /// [`Rejection::Verify`] with [`Error::TooOld`] or [`Error::TooNew`],
    /// [`Error::SignatureMismatch`], or a missing or invalid event header.
    pub fn finish(self, now: u64) -> Result<Webhook, Rejection> {
        let verified = self.verification.finish_at(now)?;
        let delivery = self.delivery?;
        Ok(Webhook {
            body: self.body.into_bytes(),
            delivery,
            verified,
        })
    }

    /// [`finish`](Self::finish) with the system clock.
    ///
    /// # Errors
    ///
    /// As [`finish`](Self::finish).
    #[cfg(feature = "std")]
    pub fn finish_now(self) -> Result<Webhook, Rejection> {
        self.finish(crate::unix_now())
    }
}

/// The frames of a body: kept as they are when there is one (no copy), joined otherwise.
#[derive(Debug)]
enum Collected {
    Empty,
    One(Bytes),
    Many(BytesMut),
}

impl Collected {
    fn push(&mut self, chunk: Bytes, capacity: usize) {
        *self = match core::mem::replace(self, Self::Empty) {
            Self::Empty => Self::One(chunk),
            Self::One(first) => {
                let mut joined = BytesMut::with_capacity(capacity.max(first.len() + chunk.len()));
                joined.extend_from_slice(&first);
                joined.extend_from_slice(&chunk);
                Self::Many(joined)
            }
            Self::Many(mut joined) => {
                joined.extend_from_slice(&chunk);
                Self::Many(joined)
            }
        };
    }

    fn into_bytes(self) -> Bytes {
        match self {
            Self::Empty => Bytes::new(),
            Self::One(body) => body,
            Self::Many(joined) => joined.freeze(),
        }
    }
}

/// A verified webhook: the raw body exactly as received and hashed, the typed delivery
/// headers, and the verification result. Only the flow makes one ([`BodyIntake::finish`]), so
/// code that receives it knows the signature, the timestamp and the body limit were checked,
/// and that the body is the one the signature covers.
#[derive(Debug, Clone)]
pub struct Webhook {
    body: Bytes,
    delivery: Delivery,
    verified: Verified,
}

impl Webhook {
    /// The raw body, exactly as received (not necessarily UTF-8).
    #[must_use]
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The raw body, owned.
    #[must_use]
    pub fn into_body(self) -> Bytes {
        self.body
    }

    /// The delivery headers: event type, event id, source, delivery id, attempt. Not covered
    /// by the signature (only its timestamp is): they are what the sender claims.
    #[must_use]
    pub fn delivery(&self) -> &Delivery {
        &self.delivery
    }

    /// The verification result: the signed timestamp and which configured secret matched.
    #[must_use]
    pub fn verified(&self) -> &Verified {
        &self.verified
    }

    /// The replay guard's identity of this delivery: SHA-256 of the message Kirim signed,
    /// `t "." body`. Every valid `v1` of a delivery signs exactly that message, so a resend
    /// that keeps the bytes but drops a `v1`, carries another secret's, or changes the unsigned
    /// event id header has the same fingerprint, whichever secrets each receiver has
    /// configured; another body or `t` needs a new signature. It cannot be turned back into a
    /// signature or the body.
    ///
    /// Computed on demand (one SHA-256 over the body): only a receiver with the replay guard
    /// on asks.
    #[must_use]
    pub fn replay_fingerprint(&self) -> [u8; 32] {
        let mut digits = [0u8; 20];
        let mut hasher = Sha256::new();
        hasher.update(decimal(self.verified.timestamp(), &mut digits));
        hasher.update(b".");
        hasher.update(&self.body);
        hasher.finalize().into()
    }

    /// The body as typed JSON. Parse leniently (unknown fields are normal, and an unknown
    /// event type should be acknowledged): a strict type turns a new field into a permanent
    /// failure.
    ///
    /// # Errors
    ///
    /// [`Rejection::InvalidJson`] (400) when the body is not JSON of type `T`; only the
    /// position is kept, as a JSON parser's message may quote the body.
    #[cfg(feature = "json")]
    pub fn json<'a, T: serde::Deserialize<'a>>(&'a self) -> Result<T, Rejection> {
        serde_json::from_slice(&self.body).map_err(|error| Rejection::InvalidJson {
            line: error.line(),
            column: error.column(),
        })
    }
}

/// The answer to [`Receiver::admit`].
#[derive(Debug)]
#[must_use = "a ticket must be settled, or its claims wait for their lease to expire"]
pub enum Admission {
    /// First time (or dedup is off, or failing open): run the handler, then settle the ticket.
    Process(Ticket),
    /// Seen before: answer 200 [`bodies::DUPLICATE`](crate::bodies::DUPLICATE) without running the handler.
    Duplicate,
}

/// The claims a delivery holds while its handler runs. Settle it with the handler's outcome:
/// success marks the event done; failure releases it, so Kirim's retry is processed.
///
/// A ticket dropped without being settled (the request was cancelled) leaves its claims to
/// expire after the lease; nothing is marked done.
#[must_use = "settle the ticket with the handler's outcome"]
pub struct Ticket {
    store: Option<Arc<dyn ErasedStore>>,
    event: Option<(DedupKey, ClaimToken)>,
    replay: Option<(DedupKey, ClaimToken)>,
    retention: Duration,
    replay_retention: Duration,
}

/// What settling a ticket did, for the operator.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct SettleReport {
    /// Store failures while settling. After a successful handler these do not change the
    /// answer (2xx): a possible duplicate later beats a lost event.
    pub errors: usize,
    /// Claims that were no longer held (the lease expired before the handler finished).
    pub stale: usize,
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
    #[must_use]
    pub fn is_guarded(&self) -> bool {
        self.event.is_some() || self.replay.is_some()
    }

    /// Settles every claim: `succeeded` completes them (the event for the retention, the
    /// signature for the replay window), otherwise they are released. Failures are logged with
    /// `tracing` and counted; they never turn a success into an error.
    pub async fn settle(&mut self, succeeded: bool) -> SettleReport {
        let mut report = SettleReport::default();
        let Some(store) = self.store.take() else {
            return report;
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
                    report.stale += 1;
                    tracing::warn!(
                        key = %key,
                        "dedup claim expired before the handler finished; raise the lease"
                    );
                }
                Err(error) => {
                    report.errors += 1;
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
        report
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

/// The lowercase `Content-Length` header name, as the header lookup is asked for it.
const CONTENT_LENGTH: &str = "content-length";

fn check_declared(declared: Option<u64>, limit: usize) -> Result<(), Rejection> {
    match declared {
        Some(length) if length > limit as u64 => Err(Rejection::TooLarge { limit: Some(limit) }),
        _ => Ok(()),
    }
}
