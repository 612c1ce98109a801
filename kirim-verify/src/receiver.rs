//! The receiving endpoint: its configuration, and the one flow every adapter runs.

use core::time::Duration;

use crate::dedup::Dedup;
use crate::delivery::{Delivery, names};
use crate::error::{ConfigError, VerifyError};
use crate::intake::{BodyIntake, Collected};
use crate::rejection::Rejection;
use crate::secret::Secret;
use crate::verifier::Verifier;
#[cfg(feature = "std")]
use crate::{claims, outcome::Outcome, panic, webhook::Webhook};

/// Default limit on a webhook body: 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// Default time a body may take to arrive: 10 s, Kirim's timeout for a whole attempt (a body
/// slower than that fails the attempt on Kirim's side anyway).
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// A receiving endpoint: which secrets verify, how duplicates are dropped, how large a body
/// may be; and the flow every framework adapter runs for each request.
///
/// ```
/// use kirim_verify::{MemoryStore, Receiver};
///
/// let receiver = Receiver::from_secrets("whsec_test")?
///     .with_dedup(MemoryStore::new())
///     .with_max_body_bytes(256 * 1024);
/// # let _ = receiver;
/// # Ok::<(), kirim_verify::ConfigError>(())
/// ```
///
/// # What happens to a request
///
/// This is the one description of the flow; the adapters (`kirim-verify-axum`'s `KirimLayer`,
/// `kirim-verify-actix`'s `KirimMiddleware`) only read the request and write the answer.
///
/// 1. **Before the body** ([`begin`](Self::begin)): a declared `Content-Length` over the limit
///    is refused (**413**, nothing read). `X-Kirim-Signature` is parsed (at most 8 KiB, one
///    `t`, 1 to 16 `v1`; unknown elements ignored) and its timestamp checked (300 s both ways
///    by default; exactly 300 s accepted): **400** for a missing or malformed header, **401**
///    for a stale or future one.
/// 2. **The body** ([`BodyIntake::push`], then [`BodyIntake::finish`]): read frame by frame,
///    counted against the limit (**413**, chunked bodies too) and hashed as it arrives: one
///    HMAC-SHA256 per configured secret over `t "." body`, the keyed state prepared once when
///    the [`Verifier`] was built. Every secret is compared with every `v1` in constant time:
///    **401** when none matches, or when the timestamp is out of tolerance by the time the body
///    ended. Then the event headers: **400** when `X-Kirim-Event` or `X-Kirim-Event-Id` is
///    missing.
/// 3. **Dedup** ([`process`](Self::process)), when a store is configured: the signed message
///    (the replay guard), then the event, are claimed. A duplicate is answered **200
///    `duplicate`** and the handler does not run; an event being processed by another worker
///    gets **503** with `Retry-After`; a failing store gets **503** (fail closed, the default)
///    or the delivery is processed without dedup (fail open, opt-in).
/// 4. **The handler** runs. A 2xx marks the event done; any other answer, an error or a panic
///    (answered **500**) releases it, so Kirim's retry is processed. Unknown event types are
///    verified and handed over like any other: acknowledge them.
///
/// The caller only ever gets a short generic body ([`bodies`](crate::flow::bodies)); the precise
/// reason goes to the operator through `tracing` and the [`Rejection`], never with the body, a
/// secret or a computed signature.
#[derive(Debug, Clone)]
pub struct Receiver {
    verifier: Verifier,
    dedup: Option<Dedup>,
    max_body_bytes: usize,
    body_timeout: Duration,
    #[cfg(feature = "std")]
    spawner: Option<claims::Spawner>,
}

impl Receiver {
    /// A receiver verifying with `verifier`, without dedup, with a 1 MiB body limit.
    #[must_use]
    pub fn new(verifier: Verifier) -> Self {
        Self {
            verifier,
            dedup: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            #[cfg(feature = "std")]
            spawner: None,
        }
    }

    /// A receiver for a comma-separated list of secrets, each optionally labelled
    /// (`label=whsec_…`), as [`Secret::parse_list`] reads them, with the default tolerance.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when the list is empty, a secret is malformed, or there are too many.
    pub fn from_secrets(list: &str) -> Result<Self, ConfigError> {
        Ok(Self::new(Verifier::new(Secret::parse_list(list)?)?))
    }

    /// Drops duplicate deliveries: any [`DedupStore`](crate::store::DedupStore) with the
    /// defaults (`with_dedup(MemoryStore::new())`), or a [`Dedup`] to change them. Defaults to
    /// no dedup.
    #[must_use]
    pub fn with_dedup(mut self, dedup: impl Into<Dedup>) -> Self {
        self.dedup = Some(dedup.into());
        self
    }

    /// The largest body accepted, in bytes. Defaults to 1 MiB.
    #[must_use]
    pub fn with_max_body_bytes(mut self, limit: usize) -> Self {
        self.max_body_bytes = limit;
        self
    }

    /// For adapter authors: how to run a task on the adapter's runtime. When a request is
    /// dropped while its handler runs (the client went away, the server shut down), the flow
    /// hands this the release of the request's dedup claims, so Kirim's retry is processed at
    /// once instead of after the lease. Both adapters set it (on their tokio runtime); without
    /// it the claims expire after the lease. Defaults to none.
    #[cfg(feature = "std")]
    #[must_use]
    pub fn with_spawner(mut self, spawn: impl Fn(claims::Task) + Send + Sync + 'static) -> Self {
        self.spawner = Some(claims::Spawner(alloc::sync::Arc::new(spawn)));
        self
    }

    /// How long a body may take to arrive, from the moment its headers were read. The
    /// adapters stop reading then and answer 408 (Kirim retries it), and sooner when the
    /// signed timestamp leaves the tolerance first: such a body could never verify. A client
    /// trickling a forged body holds a connection this long at most. Defaults to 10 s.
    #[must_use]
    pub fn with_body_timeout(mut self, timeout: Duration) -> Self {
        self.body_timeout = timeout;
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
    /// The limit is the receiver's, or `framework_limit` when that is smaller (axum's
    /// `DefaultBodyLimit`, say); the returned intake enforces it.
    ///
    /// # Errors
    ///
    /// [`Rejection::TooLarge`]; [`Rejection::Verify`] with a missing or malformed signature
    /// header, or a timestamp outside the tolerance.
    pub fn begin<'h>(
        &self,
        get: impl Fn(&'static str) -> Option<&'h [u8]>,
        framework_limit: Option<usize>,
        now: u64,
    ) -> Result<BodyIntake<'_>, Rejection> {
        let limit = framework_limit.map_or(self.max_body_bytes, |l| l.min(self.max_body_bytes));
        let declared = get(names::CONTENT_LENGTH)
            .and_then(|v| core::str::from_utf8(v).ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|length| length > limit as u64) {
            return Err(Rejection::TooLarge { limit });
        }
        let signature = get(names::SIGNATURE).ok_or(VerifyError::MissingHeader {
            name: names::SIGNATURE,
        })?;
        let verification = self.verifier.start_at(signature, now)?;
        // The body can verify only until the signed timestamp leaves the past tolerance.
        let verifiable_for = self.verifier.past_tolerance().map(|past| {
            let expires = verification.timestamp().saturating_add(past.as_secs());
            Duration::from_secs(expires.saturating_sub(now))
        });
        let time_left =
            verifiable_for.map_or(self.body_timeout, |left| left.min(self.body_timeout));
        Ok(BodyIntake {
            verification,
            delivery: Delivery::from_lookup(get),
            received: 0,
            limit,
            time_left,
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
        framework_limit: Option<usize>,
    ) -> Result<BodyIntake<'_>, Rejection> {
        self.begin(get, framework_limit, crate::clock::unix_now())
    }

    /// Steps 3 and 4: claims the verified delivery in the dedup store and, unless it is a
    /// duplicate (or held by another worker, or the store fails closed), runs `handler`; then
    /// settles the claims: when `succeeded` says the handler's output is a success (a 2xx
    /// answer) they are completed, otherwise released, so Kirim's retry is processed. A panic
    /// in `handler`, or in the future it returns, releases them too and is reported as
    /// [`Rejection::HandlerPanicked`] (logged with its message). Refusals are logged
    /// ([`Rejection::log`]); failures to settle are logged and never change the answer.
    ///
    /// This is the one place the framework adapters decide what a handler's outcome means for
    /// dedup. A request cancelled while the handler runs (this future dropped) marks nothing
    /// done: its claims are released through the [`with_spawner`](Self::with_spawner) task, or
    /// expire after the lease.
    #[cfg(feature = "std")]
    pub async fn process<H, Fut, R>(
        &self,
        webhook: &Webhook,
        handler: H,
        succeeded: impl FnOnce(&R) -> bool,
    ) -> Outcome<R>
    where
        H: FnOnce() -> Fut,
        Fut: Future<Output = R>,
    {
        let admission = claims::admit(
            self.dedup.as_ref(),
            self.replay_retention(),
            self.spawner.as_ref(),
            webhook,
        );
        let mut ticket = match admission.await {
            Ok(claims::Admission::Process(ticket)) => ticket,
            Ok(claims::Admission::Duplicate) => return Outcome::Duplicate,
            Err(rejection) => {
                rejection.log();
                return Outcome::Refused(rejection);
            }
        };
        let meta = webhook.delivery();
        tracing::debug!(
            event = meta.event(),
            event_id = meta.event_id(),
            attempt = meta.attempt(),
            secret = webhook.verified().secret_index(),
            guarded = ticket.is_guarded(),
            "kirim webhook verified and admitted"
        );
        match panic::run_caught(handler).await {
            Ok(output) => {
                let success = succeeded(&output);
                crate::metrics::handled(if success {
                    crate::metrics::Handled::Success
                } else {
                    crate::metrics::Handled::Failure
                });
                ticket.settle(success).await;
                if !success {
                    tracing::debug!(
                        event_id = meta.event_id(),
                        "kirim webhook handler did not succeed; dedup claims released for the retry"
                    );
                }
                Outcome::Handled(output)
            }
            Err(payload) => {
                crate::metrics::handled(crate::metrics::Handled::Panic);
                ticket.settle(false).await;
                tracing::error!(
                    event_id = meta.event_id(),
                    panic = panic::panic_message(&*payload),
                    "kirim webhook handler panicked; answered 500, dedup claims released for the retry"
                );
                Outcome::Refused(Rejection::HandlerPanicked)
            }
        }
    }

    /// How long an accepted signed message is remembered: the whole window in which the
    /// timestamp check accepts it (past + future tolerance, twice the tolerance by default);
    /// with the check disabled, as long as events.
    #[cfg(feature = "std")]
    fn replay_retention(&self) -> Duration {
        match (
            self.verifier.past_tolerance(),
            self.verifier.future_tolerance(),
        ) {
            (Some(past), Some(future)) => past.saturating_add(future),
            _ => self
                .dedup
                .as_ref()
                .map_or(Duration::ZERO, |dedup| dedup.retention),
        }
    }
}
