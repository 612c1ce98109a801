//! The dedup contract: a store of claims, and the keys deliveries are claimed under.

use alloc::boxed::Box;
use alloc::string::String;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::time::Duration;

use sha2::{Digest, Sha256};

use crate::delivery::Delivery;

/// Default lease of a claim: how long a worker may hold an event before another may take it.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// Default retention of a processed event: 7 days, beyond Kirim's ~31 h of retries.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// Ids longer than this, in bytes, are hashed into the key.
pub const MAX_RAW_ID_BYTES: usize = 128;

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

/// A store key: `<prefix><kind>:<id>`, where the id is kept readable when it is short and made
/// of `[A-Za-z0-9._:-]`, and replaced by `h:<sha256 hex>` otherwise. Hashing also strips `{` and
/// `}`, so a sender-chosen id cannot pin a Redis Cluster hash slot.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DedupKey(String);

impl DedupKey {
    /// Builds a key from a prefix (configuration, trusted, used as is), a kind (`evt`, `sig`)
    /// and an id (from the request, normalised).
    #[must_use]
    pub fn new(prefix: &str, kind: &str, id: &str) -> Self {
        let mut key = String::with_capacity(prefix.len() + kind.len() + 1 + 66);
        key.push_str(prefix);
        key.push_str(kind);
        key.push(':');
        let readable = id.len() <= MAX_RAW_ID_BYTES
            && !id.is_empty()
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
        if readable {
            key.push_str(id);
        } else {
            key.push_str("h:");
            key.push_str(&hex::encode(Sha256::digest(id.as_bytes())));
        }
        Self(key)
    }

    /// A key for a digest: `<prefix><kind>:<hex>`, written without an intermediate string.
    pub(crate) fn from_digest(prefix: &str, kind: &str, digest: &[u8; 32]) -> Self {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut key = String::with_capacity(prefix.len() + kind.len() + 1 + 64);
        key.push_str(prefix);
        key.push_str(kind);
        key.push(':');
        for byte in digest {
            key.push(char::from(DIGITS[usize::from(byte >> 4)]));
            key.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
        }
        Self(key)
    }

    /// The key as stored.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for DedupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DedupKey").field(&self.0).finish()
    }
}

impl fmt::Display for DedupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Decides which deliveries are the same event. Return the event's identity; it is normalised
/// and prefixed into a [`DedupKey`] by the receiver.
pub trait KeyStrategy: Send + Sync + 'static {
    /// The identity of the event a verified delivery carries.
    fn event_key(&self, delivery: &Delivery, body: &[u8]) -> String;
}

/// The spec's default: the event id, except for `message.status`, whose id is the outbound
/// message's wamid, shared by its `sent`, `delivered`, `read` and `failed` callbacks. There the
/// key is the id plus a digest of the raw body: a retry of the same callback has the same bytes,
/// a new status does not.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultKeyStrategy;

impl KeyStrategy for DefaultKeyStrategy {
    fn event_key(&self, delivery: &Delivery, body: &[u8]) -> String {
        let mut key = String::from(delivery.event_id());
        if delivery.event() == "message.status" {
            key.push_str(":b:");
            // 128 bits of the body digest: collisions between two statuses of one message are
            // not a practical concern, and the key stays short.
            key.push_str(&hex::encode(&Sha256::digest(body)[..16]));
        }
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_keys_are_lowercase_hex() {
        let digest = [0xab; 32];
        let key = DedupKey::from_digest("p:", "sig", &digest);
        assert_eq!(
            key.as_str(),
            alloc::format!("p:sig:{}", hex::encode(digest))
        );
        assert_eq!(key, DedupKey::new("p:", "sig", &hex::encode(digest)));
    }

    #[test]
    fn readable_ids_stay_readable() {
        let key = DedupKey::new("kirim:", "evt", "evt_01HXYZABCDEFGHJKMNPQRSTVW1");
        assert_eq!(key.as_str(), "kirim:evt:evt_01HXYZABCDEFGHJKMNPQRSTVW1");
    }

    #[test]
    fn other_ids_are_hashed() {
        for id in [
            "wamid.HBgN==",
            "{slot}",
            "",
            "a b",
            &"a".repeat(MAX_RAW_ID_BYTES + 1),
        ] {
            let key = DedupKey::new("p:", "evt", id);
            let hashed = key.as_str().strip_prefix("p:evt:h:").unwrap();
            assert_eq!(hashed.len(), 64, "{id:?}");
            assert!(!key.as_str().contains(['{', '}']));
        }
        let at_limit = "a".repeat(MAX_RAW_ID_BYTES);
        assert!(
            DedupKey::new("", "evt", &at_limit)
                .as_str()
                .ends_with(&at_limit)
        );
        assert_ne!(
            DedupKey::new("", "evt", "a b"),
            DedupKey::new("", "evt", "a  b")
        );
    }
}
