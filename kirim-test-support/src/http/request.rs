//! A delivery to send, signed as Kirim signs it, and the ids it carries.

use std::sync::atomic::{AtomicUsize, Ordering};

use kirim_verify::flow::names;

use super::SECRET;
use super::suite::{now, signer};

/// A delivery to send, as Kirim would send it: its headers (signed as Kirim signs) and body.
/// (Not the core's `Delivery`, which is what a receiver reads from the headers.)
#[derive(Debug, Clone)]
pub struct SignedRequest {
    /// Request headers, in order.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Vec<u8>,
}

impl SignedRequest {
    /// A Kirim-native delivery signed now with [`SECRET`].
    pub fn kirim(event: &str, event_id: &str, body: &[u8]) -> Self {
        Self::signed(
            event,
            event_id,
            "kirim",
            body,
            &signer(&[SECRET]).sign(now(), body),
        )
    }

    /// A Meta delivery signed now with [`SECRET`].
    pub fn meta(event: &str, event_id: &str, body: &[u8]) -> Self {
        Self::signed(
            event,
            event_id,
            "meta",
            body,
            &signer(&[SECRET]).sign(now(), body),
        )
    }

    /// A delivery with an explicit signature header value.
    pub fn signed(event: &str, event_id: &str, source: &str, body: &[u8], signature: &str) -> Self {
        Self {
            headers: vec![
                ("content-type".into(), "application/json".into()),
                (names::SIGNATURE.into(), signature.into()),
                (names::EVENT.into(), event.into()),
                (names::EVENT_ID.into(), event_id.into()),
                (names::SOURCE.into(), source.into()),
                (names::DELIVERY_ID.into(), format!("wbd_{}", unique())),
                (names::ATTEMPT.into(), "1".into()),
                ("user-agent".into(), "Kirim-Webhook/1.0".into()),
            ],
            body: body.to_vec(),
        }
    }

    /// Replaces (or adds) a header.
    #[must_use]
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Removes a header.
    #[must_use]
    pub fn without_header(mut self, name: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self
    }

    /// Re-signs now, as Kirim does for every retry (a fresh `t`, so a fresh signature).
    #[must_use]
    pub fn resigned(self, t: u64) -> Self {
        let signature = signer(&[SECRET]).sign(t, &self.body);
        self.with_header(names::SIGNATURE, &signature)
    }

    /// Kirim's retry of this delivery: the same event and bytes, re-signed with [`SECRET`] one
    /// second before this one's `t`, so that its signature differs whatever the clock did in
    /// between (a retry is then caught by the event's key, not by the replay guard).
    pub fn retry(self) -> Self {
        let t = self.signed_at();
        self.resigned(t - 1)
    }

    /// The `t` of this delivery's signature header.
    pub fn signed_at(&self) -> u64 {
        self.headers
            .iter()
            .find(|(name, _)| name == names::SIGNATURE)
            .and_then(|(_, value)| value.split(',').find_map(|e| e.trim().strip_prefix("t=")))
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("no t in {:?}", self.headers))
    }
}

fn unique() -> u64 {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    (now() << 20) ^ NEXT.fetch_add(1, Ordering::Relaxed) as u64
}

/// A fresh id with a prefix (`evt` → `evt_<26 digits>`), unique within the process.
pub fn unique_id(prefix: &str) -> String {
    format!("{prefix}_{:026}", unique())
}
