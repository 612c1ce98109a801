//! The dedup store contract: claims with a lease, completed or released by their token.

use alloc::boxed::Box;
use alloc::string::String;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::time::Duration;

use crate::key::DedupKey;

/// The answer to [`DedupStore::claim`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Claim {
    /// The key was free (or its lease had expired): it is now held by this token, in progress,
    /// until [`DedupStore::complete`], [`DedupStore::release`] or the lease runs out.
    Acquired(ClaimToken),
    /// The key was completed before and is still retained: a duplicate.
    Done,
    /// Another worker holds a live lease on the key.
    InProgress {
        /// How long the lease has left, as far as the store knows: a fair `Retry-After`.
        retry_after: Duration,
    },
}

/// The answer to [`DedupStore::complete`] and [`DedupStore::release`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Settled {
    /// The key held this token and was changed.
    Applied,
    /// The key no longer held this token (the lease expired and it was taken, or it expired and
    /// vanished): nothing was changed.
    Stale,
}

/// An opaque token naming one claim. Stores make them; only the holder of a claim can settle it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ClaimToken(String);

impl ClaimToken {
    /// Wraps a store-chosen token. It must be unique among all live claims on every process that
    /// shares the store (a random 128-bit value, for a shared store).
    #[must_use]
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token as the store wrote it.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Redacted: whoever holds a token (and reaches the store) can settle its claim.
impl fmt::Debug for ClaimToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClaimToken(…)")
    }
}

/// Boxed backend error, kept as the [`StoreError`]'s source.
pub type BoxError = Box<dyn core::error::Error + Send + Sync + 'static>;

/// Why a store call failed. Every failure means the same to the receiver: it does not know
/// whether the event was processed, so by default it answers 503 and Kirim retries.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// The call took longer than the store's timeout.
    Timeout(Duration),
    /// The backend failed (connection refused, reset, an error reply); the error is the source.
    Backend(BoxError),
    /// The store holds a value under the key that this crate did not write.
    UnexpectedValue,
    /// The store is at its bound and nothing in it may be dropped (every key is a claim in
    /// progress).
    Full,
}

impl StoreError {
    /// Wraps a backend error.
    pub fn backend(error: impl Into<BoxError>) -> Self {
        Self::Backend(error.into())
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout(after) => write!(f, "dedup store did not answer within {after:?}"),
            Self::Backend(_) => f.write_str("dedup store backend failed"),
            Self::UnexpectedValue => {
                f.write_str("dedup store holds a value under the key that it did not write")
            }
            Self::Full => f.write_str(
                "dedup store is full of claims in progress; raise its bound or lower the lease",
            ),
        }
    }
}

impl core::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Backend(error) => Some(&**error),
            _ => None,
        }
    }
}

/// A store of claims: the two-phase protocol that lets several workers receive retries of the
/// same event concurrently and process it once, without ever marking done an event whose
/// handler did not succeed.
///
/// A key is in one of three states: *absent*, *in progress* (held by a token, with a lease), or
/// *done* (with a retention). Every method is atomic with respect to every other call on the
/// same key, from any process sharing the store.
///
/// Each call must return within a bounded time of the store's choosing (say 1 s) with
/// [`StoreError::Timeout`] rather than hang: Kirim gives the whole request 10 s. A store call
/// that fails may still have been applied; the protocol is safe either way (a claim that is
/// applied late expires after its lease).
///
/// Run the conformance suite (`kirim-test-support`) against any implementation.
pub trait DedupStore: Send + Sync + 'static {
    /// Atomically: if the key is absent (or its lease or retention expired), set it in progress
    /// under a fresh token for `lease` and return [`Claim::Acquired`]; if it is done, return
    /// [`Claim::Done`]; if it is in progress, return [`Claim::InProgress`] with the lease left.
    fn claim(
        &self,
        key: &DedupKey,
        lease: Duration,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send;

    /// Atomically: if the key is in progress under `token`, make it done for `retention` and
    /// return [`Settled::Applied`]; otherwise change nothing and return [`Settled::Stale`].
    fn complete(
        &self,
        key: &DedupKey,
        token: &ClaimToken,
        retention: Duration,
    ) -> impl Future<Output = Result<Settled, StoreError>> + Send;

    /// Atomically: if the key is in progress under `token`, remove it and return
    /// [`Settled::Applied`]; otherwise change nothing and return [`Settled::Stale`].
    fn release(
        &self,
        key: &DedupKey,
        token: &ClaimToken,
    ) -> impl Future<Output = Result<Settled, StoreError>> + Send;
}

impl<S: DedupStore> DedupStore for alloc::sync::Arc<S> {
    fn claim(
        &self,
        key: &DedupKey,
        lease: Duration,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send {
        (**self).claim(key, lease)
    }

    fn complete(
        &self,
        key: &DedupKey,
        token: &ClaimToken,
        retention: Duration,
    ) -> impl Future<Output = Result<Settled, StoreError>> + Send {
        (**self).complete(key, token, retention)
    }

    fn release(
        &self,
        key: &DedupKey,
        token: &ClaimToken,
    ) -> impl Future<Output = Result<Settled, StoreError>> + Send {
        (**self).release(key, token)
    }
}

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// [`DedupStore`] made object-safe, so a receiver's configuration is not generic over its store.
pub(crate) trait ErasedStore: Send + Sync + 'static {
    fn claim<'a>(
        &'a self,
        key: &'a DedupKey,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Claim, StoreError>>;
    fn complete<'a>(
        &'a self,
        key: &'a DedupKey,
        token: &'a ClaimToken,
        retention: Duration,
    ) -> BoxFuture<'a, Result<Settled, StoreError>>;
    fn release<'a>(
        &'a self,
        key: &'a DedupKey,
        token: &'a ClaimToken,
    ) -> BoxFuture<'a, Result<Settled, StoreError>>;
}

impl<S: DedupStore> ErasedStore for S {
    fn claim<'a>(
        &'a self,
        key: &'a DedupKey,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Claim, StoreError>> {
        Box::pin(DedupStore::claim(self, key, lease))
    }

    fn complete<'a>(
        &'a self,
        key: &'a DedupKey,
        token: &'a ClaimToken,
        retention: Duration,
    ) -> BoxFuture<'a, Result<Settled, StoreError>> {
        Box::pin(DedupStore::complete(self, key, token, retention))
    }

    fn release<'a>(
        &'a self,
        key: &'a DedupKey,
        token: &'a ClaimToken,
    ) -> BoxFuture<'a, Result<Settled, StoreError>> {
        Box::pin(DedupStore::release(self, key, token))
    }
}
