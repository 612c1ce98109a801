//! A verified webhook: the raw body, the delivery headers, and which secret verified it.

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::delivery::Delivery;
#[cfg(feature = "json")]
use crate::rejection::Rejection;
use crate::verifier::Verified;

/// A verified webhook: the raw body exactly as received and hashed, the typed delivery
/// headers, and the verification result. Only the flow makes one ([`BodyIntake::finish`](crate::flow::BodyIntake::finish)), so
/// code that receives it knows the signature, the timestamp and the body limit were checked,
/// and that the body is the one the signature covers.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub(crate) body: Bytes,
    pub(crate) delivery: Delivery,
    pub(crate) verified: Verified,
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

    /// Whether the (unsigned) event id header is bound to the signed body: the Kirim envelope's
    /// top-level `id`, or the `id` of one of Meta's `entry[].changes[].value.messages[]` or
    /// `.statuses[]`, equals it exactly. A bound id is authenticated by the signature, so two
    /// genuine events that share their bytes and `t` (one Meta batch split per message) are told
    /// apart by their event keys, and the replay guard does not take the second for a replay.
    /// An id that merely occurs somewhere in the body binds nothing. Without the `json`
    /// feature, nothing is bound. The receiving flow and the SQL inbox both ask this.
    #[must_use]
    pub fn event_id_is_bound(&self) -> bool {
        crate::binding::event_id_is_bound(self.delivery.event_id(), &self.body)
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
        let mut hasher = Sha256::new();
        hasher.update(self.verified.timestamp_digits());
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
    /// [`Rejection::InvalidJson`] (400) when the body is not JSON of type `T`, logged for the
    /// operator; only the position is kept, as a JSON parser's message may quote the body.
    #[cfg(feature = "json")]
    pub fn json<'a, T: serde::Deserialize<'a>>(&'a self) -> Result<T, Rejection> {
        serde_json::from_slice(&self.body).map_err(|error| {
            let rejection = Rejection::InvalidJson {
                line: error.line(),
                column: error.column(),
            };
            rejection.log();
            rejection
        })
    }
}
