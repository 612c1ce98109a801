//! The dedup store contract: claims with a lease, taken, completed and released under a token
//! the caller chose.

use alloc::boxed::Box;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::time::Duration;

use crate::key::DedupKey;

/// The answer to [`DedupStore::claim`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Claim {
    /// The key was free (or its lease had expired): it is now held by the token given to
    /// [`DedupStore::claim`], in progress, until [`DedupStore::complete`],
    /// [`DedupStore::release`] or the lease runs out.
    Acquired,
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

/// The number of characters of a [`ClaimToken`].
pub const CLAIM_TOKEN_LEN: usize = 48;

/// A token naming one claim, chosen by the caller before it claims: if the store's answer is
/// lost (a timeout), the caller still knows the token and can release the claim, should it have
/// landed, instead of leaving the event to wait out its lease.
///
/// Unique among all live claims of every process sharing a store: 128 random bits drawn once
/// per process, then a per-process counter, as 48 lowercase hex digits. Whoever holds a token
/// (and reaches the store) can settle its claim, which anyone reaching the store could do
/// anyway; the randomness is for uniqueness across processes, not secrecy.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ClaimToken {
    /// ASCII hex digits only.
    text: [u8; CLAIM_TOKEN_LEN],
}

impl ClaimToken {
    /// A fresh token for the next claim.
    ///
    /// # Errors
    ///
    /// [`StoreError::NoRandomness`] when the operating system gives no random bytes for this
    /// process's prefix (only ever asked until it first succeeds).
    #[cfg(feature = "std")]
    pub fn generate() -> Result<Self, StoreError> {
        use core::sync::atomic::{AtomicU64, Ordering};
        use std::sync::OnceLock;

        static PREFIX: OnceLock<[u8; 32]> = OnceLock::new();
        static COUNTER: AtomicU64 = AtomicU64::new(0);

        let prefix = match PREFIX.get() {
            Some(prefix) => prefix,
            None => {
                let mut random = [0_u8; 16];
                getrandom::fill(&mut random).map_err(|e| StoreError::NoRandomness(Box::new(e)))?;
                let mut prefix = [0_u8; 32];
                hex_into(&random, &mut prefix);
                // Two threads may race here: one prefix wins and both use it.
                PREFIX.get_or_init(|| prefix)
            }
        };
        let count = COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut text = [0_u8; CLAIM_TOKEN_LEN];
        text[..32].copy_from_slice(prefix);
        hex_into(&count.to_be_bytes(), &mut text[32..]);
        Ok(Self { text })
    }

    /// The token as the store writes it: [`CLAIM_TOKEN_LEN`] lowercase hex digits.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Always hex; the fallback is never taken.
        core::str::from_utf8(&self.text).unwrap_or_default()
    }
}

/// Writes `bytes` as lowercase hex into `out`, two digits per byte, as far as `out` goes.
#[cfg(feature = "std")]
fn hex_into(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (byte, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0xf)];
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
    /// No claim token could be made: the operating system gave no random bytes (the source).
    NoRandomness(BoxError),
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
            Self::NoRandomness(_) => f.write_str("no random bytes for a dedup claim token"),
        }
    }
}

impl core::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Backend(error) | Self::NoRandomness(error) => Some(&**error),
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
/// that fails may still have been applied; the protocol is safe either way. The caller picks
/// the claim's token before the call, so after a failed claim it releases the key with that
/// token (best effort): a claim that landed is freed at once, and one that lands later than
/// the release expires after its lease. Calls on one key from one caller should reach the
/// backend in the order they were made (one connection, or a queue), so that a release sent
/// after a stalled claim is applied after it.
///
/// Run the conformance suite (`kirim-test-support`) against any implementation.
pub trait DedupStore: Send + Sync + 'static {
    /// Atomically: if the key is absent (or its lease or retention expired), set it in progress
    /// under `token` for `lease` and return [`Claim::Acquired`]; if it is done, return
    /// [`Claim::Done`]; if it is in progress (under any token), return [`Claim::InProgress`]
    /// with the lease left. The caller makes a new token for every claim.
    fn claim(
        &self,
        key: &DedupKey,
        token: &ClaimToken,
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
        token: &ClaimToken,
        lease: Duration,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send {
        (**self).claim(key, token, lease)
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

/// The store as a receiver holds it. The in-memory store is called directly: its answers are
/// immediate, and boxing each call's future (four per delivery) was a measurable share of what
/// the verified route adds over a bare handler. Any other store goes through [`ErasedStore`].
#[derive(Clone)]
pub(crate) enum SharedStore {
    #[cfg(feature = "std")]
    Memory(alloc::sync::Arc<crate::memory::MemoryStore>),
    Erased(alloc::sync::Arc<dyn ErasedStore>),
}

impl SharedStore {
    /// Holds `store`, recognising the in-memory store, given as is or in an `Arc`.
    pub(crate) fn new<S: DedupStore>(store: S) -> Self {
        let erased: alloc::sync::Arc<dyn ErasedStore> = alloc::sync::Arc::new(store);
        #[cfg(feature = "std")]
        {
            use crate::memory::MemoryStore;
            use alloc::sync::Arc;
            let any: Arc<dyn core::any::Any + Send + Sync> = erased.clone();
            match any.downcast::<MemoryStore>() {
                Ok(memory) => return Self::Memory(memory),
                Err(any) => {
                    if let Ok(shared) = any.downcast::<Arc<MemoryStore>>() {
                        return Self::Memory(Arc::clone(&shared));
                    }
                }
            }
        }
        Self::Erased(erased)
    }

    pub(crate) async fn claim(
        &self,
        key: &DedupKey,
        token: &ClaimToken,
        lease: Duration,
    ) -> Result<Claim, StoreError> {
        match self {
            #[cfg(feature = "std")]
            Self::Memory(store) => DedupStore::claim(&**store, key, token, lease).await,
            Self::Erased(store) => store.claim(key, token, lease).await,
        }
    }

    /// Completes the claim for `retain`, or releases it when `None`.
    pub(crate) async fn settle(
        &self,
        key: &DedupKey,
        token: &ClaimToken,
        retain: Option<Duration>,
    ) -> Result<Settled, StoreError> {
        match (self, retain) {
            #[cfg(feature = "std")]
            (Self::Memory(store), Some(retention)) => {
                DedupStore::complete(&**store, key, token, retention).await
            }
            #[cfg(feature = "std")]
            (Self::Memory(store), None) => DedupStore::release(&**store, key, token).await,
            (Self::Erased(store), Some(retention)) => store.complete(key, token, retention).await,
            (Self::Erased(store), None) => store.release(key, token).await,
        }
    }
}

/// [`DedupStore`] made object-safe, so a receiver's configuration is not generic over its store.
/// `Any`, so that [`SharedStore::new`] can recognise the in-memory store.
pub(crate) trait ErasedStore: core::any::Any + Send + Sync + 'static {
    fn claim<'a>(
        &'a self,
        key: &'a DedupKey,
        token: &'a ClaimToken,
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
        token: &'a ClaimToken,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Claim, StoreError>> {
        Box::pin(DedupStore::claim(self, key, token, lease))
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

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    #[test]
    fn tokens_share_a_random_prefix_and_count_up() {
        let (a, b) = (
            ClaimToken::generate().unwrap(),
            ClaimToken::generate().unwrap(),
        );
        assert_ne!(a, b);
        for token in [&a, &b] {
            assert_eq!(token.as_str().len(), CLAIM_TOKEN_LEN);
            assert!(
                token
                    .as_str()
                    .bytes()
                    .all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
            );
        }
        assert_eq!(a.as_str()[..32], b.as_str()[..32]);
        let count = |t: &ClaimToken| u64::from_str_radix(&t.as_str()[32..], 16).unwrap();
        assert!(count(&b) > count(&a));
        assert_eq!(alloc::format!("{a:?}"), "ClaimToken(…)");
    }

    #[test]
    fn the_memory_store_is_called_directly_however_it_is_given() {
        use crate::memory::MemoryStore;
        use alloc::sync::Arc;
        let direct = SharedStore::new(MemoryStore::new());
        let shared = SharedStore::new(Arc::new(MemoryStore::new()));
        assert!(matches!(direct, SharedStore::Memory(_)));
        assert!(matches!(shared, SharedStore::Memory(_)));
        // Any other store, an `Arc` of an `Arc` included, goes through the erased trait.
        let nested = SharedStore::new(Arc::new(Arc::new(MemoryStore::new())));
        assert!(matches!(nested, SharedStore::Erased(_)));
    }
}
