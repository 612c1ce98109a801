//! Store keys, and which deliveries are the same event.

use alloc::string::String;
use core::fmt;

use sha2::{Digest, Sha256};

use crate::delivery::Delivery;

/// Ids longer than this, in bytes, are hashed into the key.
pub const MAX_RAW_ID_BYTES: usize = 128;

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

/// The spec's default: the event id, except for status callbacks (`message.status` and every
/// event type that begins with it, such as `message.status_updated`), whose id is the outbound
/// message's wamid, shared by its `sent`, `delivered`, `read` and `failed` callbacks. There the
/// key is the id plus a digest of the raw body: a retry of the same callback has the same bytes,
/// a new status does not.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultKeyStrategy;

impl KeyStrategy for DefaultKeyStrategy {
    fn event_key(&self, delivery: &Delivery, body: &[u8]) -> String {
        let mut key = String::from(delivery.event_id());
        if is_status_event(delivery.event()) {
            key.push_str(":b:");
            // 128 bits of the body digest: collisions between two statuses of one message are
            // not a practical concern, and the key stays short.
            key.push_str(&hex::encode(&Sha256::digest(body)[..16]));
        }
        key
    }
}

/// Whether an event type is a status callback, by any of the names Kirim uses for it.
fn is_status_event(event: &str) -> bool {
    event.starts_with("message.status")
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
