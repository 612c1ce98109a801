//! The one place this crate calls into the core: what an inbox row is made of, and the two keys
//! it is stored under, computed with the core's own functions so that the inbox and the dedup
//! stores agree on what "the same event" and "the same signed message" are.

use bytes::Bytes;
use kirim_verify::Webhook;
use kirim_verify::store::{DedupKey, KeyStrategy};

/// One verified delivery, as the inbox writes it.
#[derive(Debug, Clone)]
pub(crate) struct NewRow {
    pub(crate) dedup_key: String,
    pub(crate) guard_key: Option<String>,
    /// Whether the event id is bound to the signed body: then an earlier row with the same
    /// signed message is another genuine event of it, not a replay, and this row is stored
    /// without the guard key (which the first one holds) rather than answered `duplicate`.
    pub(crate) bound: bool,
    pub(crate) event: String,
    pub(crate) event_id: String,
    pub(crate) source: String,
    pub(crate) delivery_id: Option<String>,
    pub(crate) attempt: Option<i64>,
    pub(crate) signed_at: i64,
    pub(crate) body: Bytes,
}

impl NewRow {
    /// The row for `webhook`: its event key (the strategy's identity, normalised by
    /// [`DedupKey::new`] under `prefix`) and, with the replay guard on, its guard key (the
    /// signed message's digest, as the receiving flow claims it).
    pub(crate) fn new(
        webhook: &Webhook,
        keys: &dyn KeyStrategy,
        prefix: &str,
        replay_guard: bool,
    ) -> Self {
        let delivery = webhook.delivery();
        let event_key = keys.event_key(delivery, webhook.body());
        let guard_key = replay_guard.then(|| {
            DedupKey::new(prefix, "sig", &lower_hex(&webhook.replay_fingerprint()))
                .as_str()
                .to_owned()
        });
        Self {
            dedup_key: DedupKey::new(prefix, "evt", &event_key).as_str().to_owned(),
            guard_key,
            bound: webhook.event_id_is_bound(),
            event: delivery.event().to_owned(),
            event_id: delivery.event_id().to_owned(),
            source: delivery.source().as_str().to_owned(),
            delivery_id: delivery.delivery_id().map(str::to_owned),
            attempt: delivery.attempt().map(i64::from),
            signed_at: i64::try_from(webhook.verified().timestamp()).unwrap_or(i64::MAX),
            body: webhook.body().clone(),
        }
    }
}

/// Lowercase hex, as the core writes digests into keys (so the guard key here is the very key
/// the receiving flow claims).
pub(crate) fn lower_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// A fresh random 128-bit token, in hex: unique among every process sharing the database.
pub(crate) fn random_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)?;
    Ok(lower_hex(&bytes))
}
